#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use tidings_net::listener::{
    self, Connection, Connections, Limiter, ListenOptions, ListenerConfig, Refusal, RefusalReason,
    TlsMode,
};
use tidings_net::tls::{self, ClientCertPolicy, ServerTrust};
use tidings_net::{NetError, Shutdown, Stream, read_with_idle_timeout};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

const IDLE: Duration = Duration::from_millis(300);

/// Greets, then echoes until end of file, an idle timeout ("idle\r\n" then close) or shutdown.
async fn echo(conn: Connection) {
    let Connection {
        mut stream,
        mut shutdown,
        permit,
        ..
    } = conn;
    let _permit = permit;
    let tls = if stream.is_tls() { "tls" } else { "plain" };
    stream
        .write_all(format!("hi {tls}\r\n").as_bytes())
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let mut buf = [0u8; 1024];
    loop {
        let n = tokio::select! {
            () = shutdown.wait() => {
                let _ = stream.write_all(b"bye\r\n").await;
                return;
            }
            r = read_with_idle_timeout(&mut stream, &mut buf, IDLE) => r,
        };
        match n {
            Ok(0) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                let _ = stream.write_all(b"idle\r\n").await;
                let _ = stream.shutdown().await;
                return;
            }
            Err(_) => return,
        }
    }
}

fn refuse(r: &Refusal) -> Vec<u8> {
    match r.reason {
        RefusalReason::TooManyConnections => b"400 server full\r\n".to_vec(),
        RefusalReason::TooManyFromAddress => b"400 too many from you\r\n".to_vec(),
    }
}

struct Server {
    addr: SocketAddr,
    shutdown: Shutdown,
    task: JoinHandle<Result<Connections, NetError>>,
    limiter: Arc<Limiter>,
}

async fn start(
    listener: TcpListener,
    mode: TlsMode,
    tls: Option<TlsAcceptor>,
    limiter: Limiter,
) -> Server {
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let limiter = Arc::new(limiter);
    let mut options = ListenOptions::new(mode, tls, limiter.clone());
    options.handshake_timeout = Duration::from_millis(300);
    options.refusal_timeout = Duration::from_secs(2);
    let task = tokio::spawn(listener::run(
        listener,
        options,
        echo,
        refuse,
        shutdown.signal(),
    ));
    Server {
        addr,
        shutdown,
        task,
        limiter,
    }
}

async fn start_plain(limiter: Limiter) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    start(listener, TlsMode::None, None, limiter).await
}

async fn line<S: AsyncRead + Unpin>(s: &mut S) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    loop {
        let n = tokio::time::timeout(T, s.read(&mut b))
            .await
            .unwrap()
            .unwrap();
        if n == 0 {
            break;
        }
        out.push(b[0]);
        if out.ends_with(b"\r\n") {
            break;
        }
    }
    String::from_utf8(out).unwrap()
}

async fn echoes<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, text: &str) {
    s.write_all(format!("{text}\r\n").as_bytes()).await.unwrap();
    s.flush().await.unwrap();
    assert_eq!(line(s).await, format!("{text}\r\n"));
}

async fn eof<S: AsyncRead + Unpin>(s: &mut S) {
    let mut b = [0u8; 64];
    let n = tokio::time::timeout(T, s.read(&mut b))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "expected end of stream, got {:?}", &b[..n]);
}

#[tokio::test]
async fn plain_accept_and_echo_then_shutdown() {
    let server = start_plain(Limiter::new(10, 10)).await;
    let mut c = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut c).await, "hi plain\r\n");
    echoes(&mut c, "hello").await;
    assert_eq!(server.limiter.active(), 1);

    server.shutdown.trigger();
    let conns = tokio::time::timeout(T, server.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // The session saw the shutdown and said goodbye.
    assert_eq!(line(&mut c).await, "bye\r\n");
    assert_eq!(conns.drain(T).await, 0);
    assert_eq!(server.limiter.active(), 0);
    // No longer accepting: the listening socket is closed.
    assert!(TcpStream::connect(server.addr).await.is_err());
}

#[tokio::test]
async fn drain_aborts_stuck_connections_after_deadline() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new();
    let limiter = Arc::new(Limiter::new(10, 10));
    let options = ListenOptions::new(TlsMode::None, None, limiter.clone());
    // A handler that ignores the shutdown signal.
    let task = tokio::spawn(listener::run(
        listener,
        options,
        |conn: Connection| async move {
            let _conn = conn;
            tokio::time::sleep(Duration::from_secs(60)).await;
        },
        refuse,
        shutdown.signal(),
    ));
    let _c = TcpStream::connect(addr).await.unwrap();
    let deadline = tokio::time::Instant::now() + T;
    while limiter.active() == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.trigger();
    let conns = task.await.unwrap().unwrap();
    assert_eq!(conns.drain(Duration::from_millis(100)).await, 1);
    assert_eq!(limiter.active(), 0, "the aborted task released its slot");
}

#[tokio::test]
async fn per_address_limit_refuses_extra_connection() {
    let server = start_plain(Limiter::new(100, 2)).await;
    let mut a = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut a).await, "hi plain\r\n");
    let mut b = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut b).await, "hi plain\r\n");

    let mut c = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut c).await, "400 too many from you\r\n");
    eof(&mut c).await;

    // The others are unaffected, and a slot comes back when one leaves.
    echoes(&mut a, "still here").await;
    echoes(&mut b, "me too").await;
    drop(a);
    let deadline = tokio::time::Instant::now() + T;
    while server.limiter.active() > 1 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut d = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut d).await, "hi plain\r\n");
    echoes(&mut d, "back").await;
    server.shutdown.trigger();
}

#[tokio::test]
async fn total_limit_refuses_extra_connection() {
    let server = start_plain(Limiter::new(2, 100)).await;
    let mut a = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut a).await, "hi plain\r\n");
    let mut b = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut b).await, "hi plain\r\n");
    // Several refusals in a row; the server stays responsive.
    for _ in 0..5 {
        let mut c = TcpStream::connect(server.addr).await.unwrap();
        assert_eq!(line(&mut c).await, "400 server full\r\n");
        eof(&mut c).await;
    }
    echoes(&mut a, "x").await;
    echoes(&mut b, "y").await;
    assert_eq!(server.limiter.active(), 2);
    server.shutdown.trigger();
}

#[tokio::test]
async fn idle_connection_is_closed() {
    let server = start_plain(Limiter::new(10, 10)).await;
    let mut c = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut c).await, "hi plain\r\n");
    let started = std::time::Instant::now();
    assert_eq!(line(&mut c).await, "idle\r\n");
    assert!(started.elapsed() >= IDLE - Duration::from_millis(50));
    eof(&mut c).await;
    let deadline = tokio::time::Instant::now() + T;
    while server.limiter.active() > 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.shutdown.trigger();
}

#[tokio::test]
async fn implicit_tls_listener_with_handshake_timeout_and_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let paths = self_signed(dir.path(), "localhost");
    let acceptor = acceptor_for(&paths, ClientCertPolicy::None);
    let connector =
        tls::connector(&ServerTrust::Pinned(vec![fingerprint_of(&paths)]), None).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = start(
        listener,
        TlsMode::Implicit,
        Some(acceptor),
        Limiter::new(1, 1),
    )
    .await;

    // A client that connects and never handshakes loses its slot after the timeout.
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    let deadline = tokio::time::Instant::now() + T;
    while server.limiter.active() == 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while server.limiter.active() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "handshake never timed out"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = tls::server_name("localhost").unwrap();
    let mut c = Stream::connect_tls(tcp, &connector, name.clone(), T)
        .await
        .unwrap();
    assert_eq!(line(&mut c).await, "hi tls\r\n");
    echoes(&mut c, "secret").await;

    // Over the limit on a TLS port: the refusal comes over TLS.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut r = Stream::connect_tls(tcp, &connector, name, T).await.unwrap();
    assert_eq!(line(&mut r).await, "400 server full\r\n");
    echoes(&mut c, "still fine").await;
    server.shutdown.trigger();
}

#[tokio::test]
async fn starttls_listener_hands_over_the_acceptor() {
    let dir = tempfile::tempdir().unwrap();
    let paths = self_signed(dir.path(), "localhost");
    let acceptor = acceptor_for(&paths, ClientCertPolicy::None);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shutdown = Shutdown::new();
    let options = ListenOptions::new(
        TlsMode::StartTls,
        Some(acceptor),
        Arc::new(Limiter::new(10, 10)),
    );
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = std::sync::Mutex::new(Some(tx));
    let _task = tokio::spawn(listener::run(
        listener,
        options,
        move |conn: Connection| {
            let report = (conn.mode, conn.starttls.is_some(), conn.stream.is_tls());
            if let Some(tx) = tx.lock().unwrap().take() {
                let _ = tx.send(report);
            }
            async move {
                let _conn = conn;
            }
        },
        refuse,
        shutdown.signal(),
    ));
    let _c = TcpStream::connect(addr).await.unwrap();
    let report = tokio::time::timeout(T, rx).await.unwrap().unwrap();
    assert_eq!(report, (TlsMode::StartTls, true, false));

    // A TLS mode without an acceptor is a configuration error.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = ListenOptions::new(TlsMode::Implicit, None, Arc::new(Limiter::new(1, 1)));
    let r = listener::run(listener, options, echo, refuse, shutdown.signal()).await;
    assert!(matches!(r, Err(NetError::TlsConfig(_))));
    shutdown.trigger();
}

#[tokio::test]
async fn ipv6_loopback_listener() {
    let config = ListenerConfig {
        addr: "[::1]:0".parse().unwrap(),
        mode: TlsMode::None,
    };
    let listener = match config.bind().await {
        Ok(l) => l,
        Err(e) => {
            println!("note: no IPv6 loopback here ({e}); skipping");
            return;
        }
    };
    let server = start(listener, TlsMode::None, None, Limiter::new(10, 1)).await;
    assert!(server.addr.is_ipv6());
    let mut c = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut c).await, "hi plain\r\n");
    echoes(&mut c, "v6").await;
    let mut d = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(line(&mut d).await, "400 too many from you\r\n");
    server.shutdown.trigger();
}

#[test]
fn tls_mode_names() {
    for mode in [TlsMode::None, TlsMode::StartTls, TlsMode::Implicit] {
        assert_eq!(mode.to_string().parse::<TlsMode>().unwrap(), mode);
    }
    assert_eq!("NNTPS".parse::<TlsMode>().unwrap(), TlsMode::Implicit);
    assert!("ssl3".parse::<TlsMode>().is_err());
}

#[test]
fn limiter_counts_mapped_addresses_together() {
    let limiter = Arc::new(Limiter::new(10, 1));
    let v4: std::net::IpAddr = "192.0.2.1".parse().unwrap();
    let mapped: std::net::IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    let p = limiter.try_acquire(v4).unwrap();
    assert_eq!(
        limiter.try_acquire(mapped).unwrap_err(),
        RefusalReason::TooManyFromAddress
    );
    assert_eq!(limiter.active_for(mapped), 1);
    drop(p);
    assert_eq!(limiter.active(), 0);
    assert!(limiter.try_acquire(mapped).is_ok());
}

#[tokio::test]
async fn read_buf_with_idle_timeout_appends_or_times_out() {
    let (mut a, mut b) = tokio::io::duplex(64);
    let mut buf = b"old".to_vec();
    b.write_all(b"new").await.unwrap();
    let n = tidings_net::read_buf_with_idle_timeout(&mut a, &mut buf, 100, IDLE)
        .await
        .unwrap();
    assert_eq!((n, buf.as_slice()), (3, &b"oldnew"[..]));
    let e =
        tidings_net::read_buf_with_idle_timeout(&mut a, &mut buf, 100, Duration::from_millis(50))
            .await
            .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(buf, b"oldnew");
    // Cancelled (dropped in a select!) before any byte came: the buffer is unchanged, and
    // at most `max` bytes are appended.
    tokio::select! {
        _ = tidings_net::read_buf_with_idle_timeout(&mut a, &mut buf, 100, IDLE) => {
            panic!("nothing was sent")
        }
        () = tokio::time::sleep(Duration::from_millis(20)) => {}
    }
    assert_eq!(buf, b"oldnew");
    b.write_all(b"0123456789").await.unwrap();
    let n = tidings_net::read_buf_with_idle_timeout(&mut a, &mut buf, 4, IDLE)
        .await
        .unwrap();
    assert_eq!((n, buf.as_slice()), (4, &b"oldnew0123"[..]));
}

#[tokio::test]
async fn ipv6_listeners_are_ipv6_only() {
    // So that `0.0.0.0:119` and `[::]:119` can both be bound whatever the system's
    // bindv6only says. (Checked on loopback: tests bind no wildcard address.)
    match listener::bind_tcp("[::1]:0".parse().unwrap()) {
        Ok(v6) => assert!(socket2::SockRef::from(&v6).only_v6().unwrap()),
        Err(e) => println!("note: no IPv6 loopback here ({e}); skipping"),
    }
}

#[test]
fn per_address_limit_counts_ipv6_per_64() {
    let limiter = Arc::new(Limiter::new(100, 2));
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let _a = limiter.try_acquire(ip("2001:db8:1:2::1")).unwrap();
    let _b = limiter.try_acquire(ip("2001:db8:1:2:ffff::9")).unwrap();
    // a third address of the same /64 is over the limit
    assert!(matches!(
        limiter.try_acquire(ip("2001:db8:1:2:abcd::1")),
        Err(RefusalReason::TooManyFromAddress)
    ));
    assert_eq!(limiter.active_for(ip("2001:db8:1:2::77")), 2);
    // another /64, and IPv4 (also IPv4-mapped) per address
    let _c = limiter.try_acquire(ip("2001:db8:1:3::1")).unwrap();
    let _d = limiter.try_acquire(ip("192.0.2.1")).unwrap();
    let _e = limiter.try_acquire(ip("::ffff:192.0.2.1")).unwrap();
    assert!(limiter.try_acquire(ip("192.0.2.1")).is_err());
    let _f = limiter.try_acquire(ip("192.0.2.2")).unwrap();
    drop(_a);
    let _g = limiter.try_acquire(ip("2001:db8:1:2::5")).unwrap();
}
