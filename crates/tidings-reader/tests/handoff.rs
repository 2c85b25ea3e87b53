//! Hand-off of transit commands to the peering layer, and back.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::*;
use tidings_net::{Fingerprint, Stream};
use tidings_reader::{Resume, SessionEnd, TransitGate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Peers: 127.0.0.1 by address, or the user `feeder` after AUTHINFO.
struct Gate;
impl TransitGate for Gate {
    fn allows(&self, peer: SocketAddr, _fp: Option<&Fingerprint>, user: Option<&str>) -> bool {
        peer.ip().is_loopback() || user == Some("alice")
    }
    fn auth_could_help(&self) -> bool {
        true
    }
}

fn gated() -> Server {
    server(Options {
        transit: Some(Arc::new(Gate)),
        ..Options::default()
    })
}

/// A session whose outcome the test can inspect.
async fn spawn(
    s: &Server,
    peer: SocketAddr,
    resume: Option<Resume>,
) -> (Stream, tokio::task::JoinHandle<SessionEnd>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (c, sv) = tokio::join!(tokio::net::TcpStream::connect(addr), l.accept());
    let svc = Arc::clone(&s.services);
    let sig = s.shutdown.signal();
    let st = Stream::from_tcp(sv.unwrap().0);
    let task = tokio::spawn(async move {
        match resume {
            None => tidings_reader::serve_connection(svc, st, peer, plain(), sig).await,
            Some(r) => tidings_reader::resume_connection(svc, st, peer, plain(), sig, r).await,
        }
    });
    (Stream::from_tcp(c.unwrap()), task)
}

async fn read_until(st: &mut Stream, buf: &mut Vec<u8>, lines: usize) -> Vec<String> {
    loop {
        let text = String::from_utf8_lossy(buf).into_owned();
        if text.matches("\r\n").count() >= lines {
            return text.lines().map(str::to_owned).collect();
        }
        let mut tmp = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, st.read(&mut tmp))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed");
        buf.extend_from_slice(&tmp[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_peer_is_handed_over_with_pipelined_bytes() {
    let s = gated();
    let (mut c, task) = spawn(&s, "127.0.0.1:4000".parse().unwrap(), None).await;
    c.write_all(
        b"CAPABILITIES\r\nDATE\r\nTAKETHIS <a@b>\r\nPath: x\r\n\r\nbody\r\n.\r\nCHECK <c@d>\r\n",
    )
    .await
    .unwrap();
    let end = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    let mut buf = Vec::new();
    let lines = read_until(&mut c, &mut buf, 3).await;
    assert!(lines[0].starts_with("200"), "{lines:?}");
    let text = String::from_utf8_lossy(&buf);
    assert!(
        text.contains("\r\nIHAVE\r\n") && text.contains("\r\nSTREAMING\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\n111 "),
        "replies before the hand-off are written: {text}"
    );
    match end {
        SessionEnd::Transit { unread, user, .. } => {
            assert_eq!(
                unread,
                b"TAKETHIS <a@b>\r\nPath: x\r\n\r\nbody\r\n.\r\nCHECK <c@d>\r\n"
            );
            assert_eq!(user, None);
        }
        SessionEnd::Closed => panic!("expected a hand-off"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_peers_get_480_then_502_and_no_capability() {
    let s = gated();
    let remote: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let mut c = s.connect_as(remote, plain()).await;
    assert!(c.line().await.starts_with("20"));
    assert!(c.cmd("IHAVE <a@b>").await.starts_with("480"));
    assert!(c.cmd("MODE STREAM").await.starts_with("480"));
    let caps = {
        c.send(b"CAPABILITIES\r\n").await;
        assert!(c.line().await.starts_with("101"));
        c.lines().await
    };
    assert!(
        !caps.iter().any(|l| l == "IHAVE" || l == "STREAMING"),
        "{caps:?}"
    );
    // Authenticated as a user that is not a peer: 502.
    assert!(c.cmd("AUTHINFO USER bob").await.starts_with("381"));
    assert!(c.cmd("AUTHINFO PASS hunter2").await.starts_with("281"));
    assert!(c.cmd("CHECK <a@b>").await.starts_with("502"));
    // Without a gate at all: 502.
    let s = server(Options::default());
    let mut c = s.connect().await;
    assert!(c.line().await.starts_with("20"));
    assert!(c.cmd("IHAVE <a@b>").await.starts_with("502"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peer_by_user_after_authinfo_and_resume() {
    let s = gated();
    let remote: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let (mut c, task) = spawn(&s, remote, None).await;
    c.write_all(b"AUTHINFO USER alice\r\nAUTHINFO PASS secret\r\nMODE STREAM\r\n")
        .await
        .unwrap();
    let end = tokio::time::timeout(WAIT, task).await.unwrap().unwrap();
    let SessionEnd::Transit {
        stream,
        unread,
        user,
    } = end
    else {
        panic!("expected a hand-off");
    };
    assert_eq!(unread, b"MODE STREAM\r\n");
    assert_eq!(user.as_deref(), Some("alice"));
    // Handed back (as a transit session would after MODE READER): no greeting, the unread
    // command first, still authenticated.
    drop(stream);
    let (mut c2, task2) = spawn(
        &s,
        remote,
        Some(Resume {
            unread: b"MODE READER\r\n".to_vec(),
            user: Some("alice".into()),
        }),
    )
    .await;
    let mut buf = Vec::new();
    let l = read_until(&mut c2, &mut buf, 1).await;
    assert!(l[0].starts_with("200 Posting allowed"), "{l:?}");
    c2.write_all(b"AUTHINFO USER alice\r\nQUIT\r\n")
        .await
        .unwrap();
    let l = read_until(&mut c2, &mut buf, 3).await;
    assert!(l[1].starts_with("502"), "already authenticated: {l:?}");
    assert!(matches!(
        tokio::time::timeout(WAIT, task2).await.unwrap().unwrap(),
        SessionEnd::Closed
    ));
    drop(c);
}
