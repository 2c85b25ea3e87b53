//! Block decoding (un-stuffing) and stuffing of a 500 KB yEnc-like body.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidings_proto::block::{BlockDecoder, BlockStep};
use tidings_proto::stuff::{Stuffed, write_stuffed};

/// 500 KB of 128-byte lines of random high bytes (no NUL/CR/LF, as yEnc
/// escapes those), about one line in 50 starting with '.'.
fn yenc_like() -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut body = Vec::with_capacity(512 * 1024);
    while body.len() < 500 * 1024 {
        let r = next();
        if r % 50 == 0 {
            body.push(b'.');
        }
        for _ in body.len() % 130..128 {
            let mut b = (next() & 0xff) as u8;
            if matches!(b, 0 | b'\r' | b'\n') {
                b = b'=';
            }
            body.push(b);
        }
        body.extend_from_slice(b"\r\n");
    }
    body
}

fn benches(c: &mut Criterion) {
    let body = yenc_like();
    let mut wire = Vec::new();
    write_stuffed(&body, &mut wire);
    // Sanity: dotted lines exist and decoding restores the body.
    assert!(wire.len() > body.len() + 50);
    match BlockDecoder::new(1 << 21).decode(&wire).unwrap() {
        BlockStep::Done { block, .. } => assert_eq!(block, body),
        BlockStep::NeedMore { .. } => unreachable!(),
    }

    let mut g = c.benchmark_group("dot_block");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("unstuff_500k", |b| {
        b.iter(|| {
            let mut dec = BlockDecoder::new(1 << 21);
            match dec.decode(black_box(&wire)).unwrap() {
                BlockStep::Done { block, .. } => block.len(),
                BlockStep::NeedMore { .. } => unreachable!(),
            }
        });
    });
    g.bench_function("unstuff_500k_16k_chunks", |b| {
        b.iter(|| {
            let mut dec = BlockDecoder::new(1 << 21);
            let mut rest: &[u8] = black_box(&wire);
            let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024 + 8);
            loop {
                let take = rest.len().min(16 * 1024);
                buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                match dec.decode(&buf).unwrap() {
                    BlockStep::Done { block, .. } => break block.len(),
                    BlockStep::NeedMore { consumed } => {
                        buf.drain(..consumed);
                    }
                }
            }
        });
    });
    g.throughput(Throughput::Bytes(body.len() as u64));
    g.bench_function("stuff_500k_into_vec", |b| {
        let mut out = Vec::with_capacity(wire.len() + 64);
        b.iter(|| {
            out.clear();
            write_stuffed(black_box(&body), &mut out);
            out.len()
        });
    });
    g.bench_function("stuff_500k_slices", |b| {
        b.iter(|| {
            Stuffed::new(black_box(&body))
                .map(<[u8]>::len)
                .sum::<usize>()
        });
    });
    g.finish();
}

criterion_group!(unstuff, benches);
criterion_main!(unstuff);
