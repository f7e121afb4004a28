//! The HTTP server loop shared by `bt-log serve` and `bt-log witness serve`:
//! HTTP/1.1 with a deadline on reading request headers that starts when a
//! connection is accepted and again whenever it is idle between requests
//! (a client that trickles bytes, or sends none, cannot hold a connection),
//! a cap on open connections overall and per client address, and graceful
//! shutdown on SIGTERM or Ctrl-C (in-flight requests finish).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// A client must send its request headers within this time of connecting,
/// or of its previous answer on a kept-alive connection.
pub const HEADER_DEADLINE: Duration = Duration::from_secs(10);
/// At most this many connections are served at once; more wait in the
/// kernel's accept queue.
pub const MAX_CONNECTIONS: usize = 1024;
/// At most this many of them from one address (loopback excepted: a
/// reverse proxy on this machine speaks for every client), so that one
/// client cannot take every slot.
pub const MAX_PER_ADDRESS: usize = 64;
/// In-flight requests get this long to finish after a shutdown signal.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Binds a TCP address such as `127.0.0.1:8080` (port 0 picks a free one).
pub async fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let addr: SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    TcpListener::bind(addr).await
}

/// Open connections per client address.
#[derive(Clone, Default)]
struct PerAddress(Arc<Mutex<HashMap<IpAddr, usize>>>);

/// One connection counted against its address; uncounted when dropped.
struct Counted(PerAddress, IpAddr);

impl PerAddress {
    /// Counts a connection from `ip`, or `None` when it has its share.
    fn admit(&self, ip: IpAddr) -> Option<Counted> {
        if ip.is_loopback() {
            return Some(Counted(self.clone(), ip));
        }
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= MAX_PER_ADDRESS {
            return None;
        }
        *n += 1;
        Some(Counted(self.clone(), ip))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.1.is_loopback() {
            return;
        }
        let mut m = (self.0).0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Serves `router` on `listener` until `stop` fires (SIGTERM or Ctrl-C).
pub async fn serve(listener: TcpListener, router: Router, stop: StopSignal) -> std::io::Result<()> {
    // hyper's own HTTP/1 server, not the auto-detecting one: that one waits
    // for a connection's first bytes (to tell HTTP/1 from HTTP/2) with no
    // deadline at all, so idle connections were held for ever.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_DEADLINE)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let per_address = PerAddress::default();
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
        // Over its address's share: closed at once.
        let Some(counted) = per_address.admit(peer.ip()) else {
            drop(stream);
            continue;
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
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(counted);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_gets_its_share_and_loopback_is_not_counted() {
        let p = PerAddress::default();
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let held: Vec<_> = (0..MAX_PER_ADDRESS).map(|_| p.admit(ip).unwrap()).collect();
        assert!(p.admit(ip).is_none());
        assert!(p.admit("192.0.2.2".parse().unwrap()).is_some());
        drop(held);
        assert!(p.admit(ip).is_some());
        let lo: Vec<_> = (0..2 * MAX_PER_ADDRESS)
            .map(|_| p.admit("127.0.0.1".parse().unwrap()))
            .collect();
        assert!(lo.iter().all(Option::is_some));
        assert!(p.0.lock().unwrap().get(&ip).is_none());
    }
}
