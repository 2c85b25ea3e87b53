#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use tidings_net::compress::DeflateStream;
use tidings_net::tls::{self, ClientCertPolicy, ServerTrust};
use tidings_net::{NetError, Stream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Deterministic, somewhat compressible test data.
fn data(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i % 7 == 0 {
                b'\n'
            } else {
                b"abcdefgh news. article"[(x % 22) as usize]
            }
        })
        .collect()
}

/// Writes `payload` in pieces of `chunk` (flushing after each) and reads it back on the other
/// side with reads of at most `read_size`; both directions at once.
async fn round_trip<A, B>(
    a: A,
    b: B,
    payload_ab: Vec<u8>,
    payload_ba: Vec<u8>,
    chunk: usize,
    read_size: usize,
) where
    A: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = tokio::io::split(b);
    let expect_ab = payload_ab.clone();
    let expect_ba = payload_ba.clone();
    let w1 = tokio::spawn(async move {
        for piece in payload_ab.chunks(chunk) {
            aw.write_all(piece).await.unwrap();
            aw.flush().await.unwrap();
        }
        aw
    });
    let w2 = tokio::spawn(async move {
        for piece in payload_ba.chunks(chunk) {
            bw.write_all(piece).await.unwrap();
            bw.flush().await.unwrap();
        }
        bw
    });
    let r1 = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = vec![0u8; read_size];
        while got.len() < expect_ab.len() {
            let n = br.read(&mut buf).await.unwrap();
            assert!(n > 0, "early end");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got == expect_ab, "a->b data differs");
    });
    let r2 = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut buf = vec![0u8; read_size];
        while got.len() < expect_ba.len() {
            let n = ar.read(&mut buf).await.unwrap();
            assert!(n > 0, "early end");
            got.extend_from_slice(&buf[..n]);
        }
        assert!(got == expect_ba, "b->a data differs");
    });
    let all = async {
        w1.await.unwrap();
        w2.await.unwrap();
        r1.await.unwrap();
        r2.await.unwrap();
    };
    tokio::time::timeout(T * 4, all).await.unwrap();
}

#[tokio::test]
async fn duplex_round_trips() {
    // Large and small writes, large and tiny reads, a tiny pipe (partial reads and writes).
    for (pipe, len, chunk, read_size) in [
        (64, 20_000, 7_000, 1),
        (64, 2_000, 1, 3),
        (1 << 16, 300_000, 1 << 20, 1 << 16),
        (7, 8_000, 4096, 4096),
        (1024, 0, 1, 10),
    ] {
        let (x, y) = tokio::io::duplex(pipe);
        round_trip(
            DeflateStream::new(x),
            DeflateStream::new(y),
            data(len, 1),
            data(len / 2 + 1, 2),
            chunk,
            read_size,
        )
        .await;
    }
}

#[tokio::test]
async fn flush_delivers_a_small_reply_at_once() {
    let (x, y) = tokio::io::duplex(1 << 16);
    let mut server = DeflateStream::new(x);
    let mut client = DeflateStream::new(y);
    server.write_all(b"200 hello\r\n").await.unwrap();
    server.flush().await.unwrap();
    let mut buf = [0u8; 11];
    tokio::time::timeout(T, client.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"200 hello\r\n");
    // Flushing with nothing new writes nothing more.
    let (total_in, total_out) = server.write_totals();
    server.flush().await.unwrap();
    assert_eq!(server.write_totals(), (total_in, total_out));
}

#[tokio::test]
async fn raw_deflate_interoperates_with_flate2() {
    use std::io::Write;
    // What we write is raw deflate: a plain flate2 raw decoder reads it.
    let (x, mut y) = tokio::io::duplex(1 << 20);
    let mut ours = DeflateStream::new(x);
    let payload = data(50_000, 3);
    ours.write_all(&payload).await.unwrap();
    ours.flush().await.unwrap();
    drop(ours);
    let mut compressed = Vec::new();
    y.read_to_end(&mut compressed).await.unwrap();
    assert!(compressed.len() < payload.len());
    // The stream is never finished (no final block), only sync-flushed: decode what is there.
    let mut dec = flate2::write::DeflateDecoder::new(Vec::new());
    dec.write_all(&compressed).unwrap();
    dec.flush().unwrap();
    assert!(dec.get_ref() == &payload);

    // And what a plain raw encoder writes, we read; a prefix already read is honoured.
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(&payload).unwrap();
    let compressed = enc.finish().unwrap();
    let (x, mut y) = tokio::io::duplex(1 << 20);
    y.write_all(&compressed[100..]).await.unwrap();
    drop(y);
    let mut ours = DeflateStream::with_prefix(x, compressed[..100].to_vec(), 6);
    let mut got = Vec::new();
    ours.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, payload);
}

#[tokio::test]
async fn garbage_is_an_error_not_a_panic() {
    for garbage in [
        vec![0xffu8; 64],
        b"GROUP misc.test\r\n".to_vec(),
        vec![0x07; 3],
    ] {
        let (x, mut y) = tokio::io::duplex(1024);
        let mut ours = DeflateStream::new(x);
        y.write_all(&garbage).await.unwrap();
        drop(y);
        let mut buf = [0u8; 256];
        let mut result = Ok(0);
        for _ in 0..10 {
            result = ours.read(&mut buf).await;
            if !matches!(result, Ok(n) if n > 0) {
                break;
            }
        }
        match result {
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{e}"),
            // A truncated (not invalid) stream just ends.
            Ok(n) => assert_eq!(n, 0, "{garbage:?}"),
        }
    }
    // 0xff: final block of the reserved type 3 is invalid.
    let (x, mut y) = tokio::io::duplex(1024);
    let mut ours = DeflateStream::new(x);
    y.write_all(&[0xff; 8]).await.unwrap();
    let e = ours.read(&mut [0u8; 16]).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
}

#[tokio::test]
async fn a_bomb_is_read_in_bounded_pieces() {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&vec![b'a'; 8 << 20]).unwrap();
    let bomb = enc.finish().unwrap();
    assert!(bomb.len() < 20_000);
    let (x, mut y) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        y.write_all(&bomb).await.unwrap();
    });
    let mut ours = DeflateStream::new(x);
    let mut buf = vec![0u8; 1 << 20];
    let n = ours.read(&mut buf).await.unwrap();
    assert!(n <= tidings_net::compress::MAX_INFLATE_PER_READ, "{n}");
}

#[tokio::test]
async fn compress_over_plain_tcp_stream() {
    let (c, s) = tcp_pair().await;
    let client = Stream::from_tcp(c).compress(Vec::new()).unwrap();
    let server = Stream::from_tcp(s).compress(Vec::new()).unwrap();
    assert!(server.is_compressed() && server.info().compressed);
    assert!(server.info().to_string().contains("deflate"));
    let e = server.compress(Vec::new()).unwrap_err();
    assert!(matches!(e, NetError::AlreadyCompressed));
    let (c2, s2) = tcp_pair().await;
    drop(client);
    round_trip(
        Stream::from_tcp(c2).compress(Vec::new()).unwrap(),
        Stream::from_tcp(s2)
            .compress_with_level(Vec::new(), 1)
            .unwrap(),
        data(400_000, 4),
        data(10_000, 5),
        1000,
        512,
    )
    .await;
}

#[tokio::test]
async fn compress_inside_tls() {
    let dir = tempfile::tempdir().unwrap();
    let paths = self_signed(dir.path(), "localhost");
    let acceptor = acceptor_for(&paths, ClientCertPolicy::None);
    let connector =
        tls::connector(&ServerTrust::Pinned(vec![fingerprint_of(&paths)]), None).unwrap();
    let (c, s) = tls_pair(&acceptor, &connector, "localhost").await;
    let client = c.unwrap().compress(Vec::new()).unwrap();
    let server = s.unwrap().compress(Vec::new()).unwrap();
    assert!(server.is_tls() && server.is_compressed());
    round_trip(
        client,
        server,
        data(300_000, 6),
        data(300_000, 7),
        4000,
        1000,
    )
    .await;
}
