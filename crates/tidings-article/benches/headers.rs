#![allow(clippy::unwrap_used, missing_docs)]
//! Parse + transit validation + overview extraction of a realistic ~1 KB header block.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tidings_article::{Headers, Overview, validate_transit};

include!("common/sample_article.rs");

fn bench(c: &mut Criterion) {
    let art = article();
    let header_len = Headers::parse(&art).unwrap().body_offset();
    let mut g = c.benchmark_group("headers");
    g.throughput(Throughput::Elements(1));
    g.bench_function(
        format!("parse+validate+overview ({header_len} B headers)"),
        |b| {
            b.iter(|| {
                let h = Headers::parse(black_box(&art)).unwrap();
                validate_transit(&h).unwrap();
                black_box(Overview::from_headers(&h))
            })
        },
    );
    g.bench_function("parse only", |b| {
        b.iter(|| Headers::parse(black_box(&art)).unwrap().len())
    });
    let h = Headers::parse(&art).unwrap();
    g.bench_function("validate only", |b| {
        b.iter(|| validate_transit(black_box(&h)).unwrap())
    });
    g.bench_function("overview only", |b| {
        b.iter(|| Overview::from_headers(black_box(&h)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
