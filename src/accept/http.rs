//! `POST /bt/add-entry`: one release entry (the CBOR leaf its publisher
//! signed) in the body, `?wait=SECONDS` (at most 60) in the query.
//!
//! - 200: a C2SP tlog-proof (`extra` = the leaf) against a published
//!   checkpoint that covers the entry and carries every configured
//!   witness's cosignature, when there is one within `wait`;
//! - 202: `index N` and `Retry-After`: the entry is durable at index N;
//! - 400, 403, 408 (the body did not arrive in time), 413, 429 and 503
//!   (with `Retry-After`): refused, the reason in the body.
//!
//! Every read has a cap and a deadline: a body is at most a leaf's size
//! and must arrive within [`BODY_DEADLINE`]; a submission waits at most
//! [`MAX_WAIT`] for its proof and [`DURABLE_DEADLINE`] for its queue write.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use super::service::{Progress, Service, Submitted};
use crate::entry::MAX_LEAF_BYTES;
use crate::tlog::TlogProof;

/// A body must arrive within this time (a client trickling bytes holds
/// one connection, never the log).
pub const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// The longest `wait` honoured.
pub const MAX_WAIT: u64 = 60;
/// An accepted entry not on disk by then is answered 503 (the disk is
/// stuck; the entry may still be logged, and a resubmission finds it).
pub const DURABLE_DEADLINE: Duration = Duration::from_secs(30);

/// Who may say where a request came from.
#[derive(Clone, Default)]
pub struct Proxies(pub Arc<Vec<IpAddr>>);

#[derive(Clone)]
struct App {
    service: Arc<Service>,
    proxies: Proxies,
}

/// The route, for merging into the static server's router.
pub fn router(service: Arc<Service>, proxies: Proxies) -> Router {
    Router::new()
        .route("/bt/add-entry", post(add_entry))
        .with_state(App { service, proxies })
}

fn answer(status: u16, body: String, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (code, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(s) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

fn refuse(status: u16, reason: impl std::fmt::Display, retry_after: Option<u64>) -> Response {
    answer(status, format!("{reason}\n"), retry_after)
}

/// `wait=N` from a query string; absent is 0, anything else malformed.
pub fn parse_wait(query: Option<&str>) -> Result<u64, String> {
    let mut wait = 0;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("wait", v)) => {
                wait = v
                    .parse::<u64>()
                    .map_err(|_| format!("wait={v:?}: a whole number of seconds"))?
            }
            _ => return Err(format!("unknown query parameter {pair:?}")),
        }
    }
    Ok(wait.min(MAX_WAIT))
}

/// The client's address: the peer's, or — when the peer is a trusted
/// proxy — the last address the proxy appended to `X-Forwarded-For`
/// (anything before it is what the client claimed, and is ignored: a
/// client could otherwise pick a fresh address for every request and
/// escape its address quota).
pub fn client_address(peer: IpAddr, headers: &HeaderMap, proxies: &Proxies) -> IpAddr {
    if !proxies.0.contains(&peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or(peer)
}

async fn add_entry(
    State(app): State<App>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let wait = match parse_wait(req.uri().query()) {
        Ok(w) => w,
        Err(e) => return refuse(400, e, None),
    };
    let addr = client_address(peer.ip(), req.headers(), &app.proxies);
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let too_large = || {
        refuse(
            413,
            format!("an entry is at most {MAX_LEAF_BYTES} bytes"),
            None,
        )
    };
    if declared.is_some_and(|n| n > MAX_LEAF_BYTES as u64) {
        return too_large();
    }
    let body: Body = req.into_body();
    let read = axum::body::to_bytes(body, MAX_LEAF_BYTES + 1);
    let body = match tokio::time::timeout(BODY_DEADLINE, read).await {
        Err(_) => return refuse(408, "the entry did not arrive in time", None),
        Ok(Err(_)) => return too_large(),
        Ok(Ok(b)) => b,
    };
    let svc = app.service.clone();
    let index = match svc.submit(&body, addr) {
        Submitted::Index(i) => i,
        Submitted::Refused {
            status,
            reason,
            retry_after,
        } => return refuse(status, reason, retry_after),
    };
    if let Err(r) = durable(&svc, index).await {
        return r;
    }
    let retry = svc.interval.as_secs().max(1);
    match proof(&svc, index, &body, wait).await {
        Some(p) => answer(200, p, None),
        None => answer(202, format!("index {index}\n"), Some(retry)),
    }
}

/// Waits until entry `index` is on disk.
async fn durable(svc: &Service, index: u64) -> Result<(), Response> {
    let mut rx = svc.watch();
    let done = |p: &Progress| p.durable > index || p.broken.is_some();
    let p = match tokio::time::timeout(DURABLE_DEADLINE, rx.wait_for(done)).await {
        Ok(Ok(p)) => p.clone(),
        _ => {
            return Err(refuse(
                503,
                "the entry was not written in time; submit it again later",
                Some(10),
            ))
        }
    };
    if p.durable > index {
        return Ok(());
    }
    let why = p.broken.as_deref().unwrap_or("stopped");
    Err(refuse(
        503,
        format!("this log stopped accepting entries: {why}"),
        Some(60),
    ))
}

/// The tlog-proof of `leaf` at `index` against the first published,
/// fully cosigned checkpoint that covers it, waiting up to `wait` seconds.
async fn proof(svc: &Arc<Service>, index: u64, leaf: &[u8], wait: u64) -> Option<String> {
    let mut rx = svc.watch();
    let covers = |p: &Progress| {
        p.published
            .as_ref()
            .is_some_and(|c| c.complete && c.size > index)
    };
    let wait_for = rx.wait_for(covers);
    let p = match tokio::time::timeout(Duration::from_secs(wait), wait_for).await {
        Ok(Ok(p)) => p.clone(),
        _ => return None,
    };
    let published = p.published?;
    let (svc, leaf) = (svc.clone(), leaf.to_vec());
    let made = tokio::task::spawn_blocking(move || {
        let proof = crate::log::inclusion_proof(svc.dir(), index, published.size).ok()?;
        let p = TlogProof {
            extra: Some(leaf),
            index,
            proof,
            checkpoint: published.note.clone(),
        };
        String::from_utf8(p.encode()).ok()
    });
    made.await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_read_strictly_and_capped() {
        assert_eq!(parse_wait(None), Ok(0));
        assert_eq!(parse_wait(Some("wait=5")), Ok(5));
        assert_eq!(parse_wait(Some("wait=600")), Ok(MAX_WAIT));
        for bad in [
            "wait=-1",
            "wait=1.5",
            "wait=",
            "w=1",
            "wait=99999999999999999999",
        ] {
            assert!(parse_wait(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let proxies = Proxies(Arc::new(vec![proxy]));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 192.0.2.7".parse().unwrap());
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(client_address(proxy, &h, &proxies), client);
        // Another peer's header is ignored.
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(client_address(other, &h, &proxies), other);
        // Garbage from the proxy: the proxy's own address.
        h.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(client_address(proxy, &h, &proxies), proxy);
    }
}
