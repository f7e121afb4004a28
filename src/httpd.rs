//! The HTTP server loop shared by `bt-log serve` and `bt-log witness serve`:
//! HTTP/1.1 with a deadline on reading request headers (a client that
//! trickles bytes cannot hold a connection), a cap on open connections, and
//! graceful shutdown on SIGTERM or Ctrl-C (in-flight requests finish).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// A client must send its request headers within this time.
pub const HEADER_DEADLINE: Duration = Duration::from_secs(10);
/// At most this many connections are served at once; more wait in the
/// kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 1024;
/// In-flight requests get this long to finish after a shutdown signal.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Binds a TCP address such as `127.0.0.1:8080` (port 0 picks a free one).
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    TcpListener::bind(addr).await
}

/// Serves `router` on `listener` until `stop` fires (SIGTERM or Ctrl-C).
pub async fn serve(listener: TcpListener, router: Router, stop: StopSignal) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_DEADLINE)
        .keep_alive(true);
    let builder = Arc::new(builder.http1_only());
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let shutdown = stop.wait();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                // Out of file descriptors and the like: back off, keep serving.
                Err(_) => { tokio::time::sleep(Duration::from_millis(50)).await; continue; }
            },
            _ = &mut shutdown => break,
        };
        // Responses go out as headers then body: without TCP_NODELAY, Nagle
        // and the client's delayed ACK add ~40 ms to every request.
        let _ = stream.set_nodelay(true);
        // Handlers that need the client's address (quotas) read it here.
        let service = TowerToHyperService::new(router.clone().map_request(
            move |mut r: axum::extract::Request<hyper::body::Incoming>| {
                r.extensions_mut().insert(axum::extract::ConnectInfo(peer));
                r
            },
        ));
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_DEADLINE, graceful.shutdown()).await;
    Ok(())
}

/// SIGTERM and SIGINT handlers, installed when this is made: make it before
/// announcing the server, so a signal sent right after is never lost.
pub struct StopSignal {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignal {
    /// Installs the handlers (inside a Tokio runtime).
    pub fn install() -> std::io::Result<StopSignal> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(StopSignal {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Resolves on the first SIGTERM or SIGINT.
    pub async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
    }
}
