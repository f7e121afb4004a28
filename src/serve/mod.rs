//! `bt-log serve`: static HTTP for a log directory (tests and small setups;
//! production serves the same directory with nginx or a CDN).
//! Every request is confined to the directory, symbolic links included
//! ([`open_confined`]); `tower-http`'s `ServeFile` does the HTTP side of
//! serving the file opened (HEAD, Range, conditional requests); this adds
//! caching headers, content types and hides `.bt-log/`.
//!
//! [`httpd`] is the HTTP server loop every bt-log role serves through
//! (`serve`, `serve --accept`, `witness serve`).

pub mod httpd;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::fsutil;

/// Cache-Control of a path in a log directory.
pub fn cache_control(path: &str) -> &'static str {
    let full_tile = path.starts_with("/tile/") && !path.contains(".p/");
    if full_tile || path.starts_with("/cas/sha256/") {
        "public, max-age=31536000, immutable"
    } else if path == "/checkpoint" {
        "no-cache, max-age=5"
    } else {
        "public, max-age=60"
    }
}

fn content_type(path: &str) -> &'static str {
    if path == "/checkpoint" || path.ends_with(".tlog-proof") {
        "text/plain; charset=utf-8"
    } else {
        "application/octet-stream"
    }
}

async fn headers(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let mut resp = next.run(req).await;
    if resp.status().is_success() || resp.status() == StatusCode::PARTIAL_CONTENT {
        let h = resp.headers_mut();
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control(&path)),
        );
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(&path)),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
    }
    resp
}

/// The log directory, canonical (no link in its path): every file served
/// resolves beneath it.
#[derive(Clone)]
struct Root(Arc<PathBuf>);

/// The path of a request as a plain relative path: percent-decoded, no
/// empty, `.`, `..` or hidden segment. `None` for anything else.
fn relative(path: &str) -> Option<PathBuf> {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let mut rel = PathBuf::new();
    for seg in decoded.split('/').filter(|s| !s.is_empty()) {
        if hidden(seg) {
            return None;
        }
        rel.push(seg);
    }
    (!rel.as_os_str().is_empty()).then_some(rel)
}

/// A segment never served: hidden files (the log's private state in
/// `.bt-log/`, and `.` and `..`), and anything a path should not hold.
fn hidden(seg: &str) -> bool {
    seg.starts_with('.') || seg.contains('\\') || seg.contains('\0')
}

/// Opens the file a request names, confined to `root`.
///
/// The attack: a symbolic link in the log directory (planted by whoever can
/// write there, or copied in with a mirror) pointing outside it — at the
/// log's secret key beside the directory, at `/etc` — would have the server
/// hand out any file it can read. Both halves of the usual answers are
/// used, because neither alone does: links are resolved first
/// (canonicalized), so links that stay inside the log, relative or
/// absolute, still work — opening with `O_NOFOLLOW` alone would refuse
/// them — and the target must be beneath the log and not hidden; then that
/// resolved path, which holds no link, is opened component by component
/// with `O_NOFOLLOW` ([`fsutil::open_beneath`]), so a link swapped in after
/// the check fails the open rather than being followed — a check by
/// canonicalizing alone would be a second lookup of the path, open to that
/// race. Only a regular file is served: a FIFO would hold a worker thread
/// forever.
fn open_confined(root: &Path, rel: &Path) -> Option<std::fs::File> {
    let target = std::fs::canonicalize(root.join(rel)).ok()?;
    let inside = target.strip_prefix(root).ok()?;
    if inside.iter().any(|s| s.to_str().map_or(true, hidden)) {
        return None;
    }
    fsutil::open_beneath(root, inside).ok()
}

/// Serves the file a request names, or 404.
async fn file(State(root): State<Root>, req: Request) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found\n").into_response();
    let Some(rel) = relative(req.uri().path()) else {
        return not_found();
    };
    let opened = tokio::task::spawn_blocking(move || open_confined(&root.0, &rel)).await;
    let Ok(Some(f)) = opened else {
        return not_found();
    };
    // ServeFile (Range, HEAD, conditional requests) opens the very file
    // already opened and checked, through its descriptor, never the path
    // again; `f` stays open until it has.
    let by_fd = format!("/proc/self/fd/{}", f.as_raw_fd());
    let resp = ServeFile::new(by_fd).oneshot(req).await;
    drop(f);
    match resp {
        Ok(r) => r.into_response(),
        Err(e) => match e {},
    }
}

/// The router serving the log directory `dir`.
pub fn router(dir: &Path) -> std::io::Result<Router> {
    let root = Root(Arc::new(std::fs::canonicalize(dir)?));
    Ok(Router::new()
        .fallback(file)
        .with_state(root)
        .layer(middleware::from_fn(headers))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(60),
        )))
}

/// Serves `dir` until `stop` fires.
pub async fn serve(
    dir: &Path,
    listener: tokio::net::TcpListener,
    stop: crate::serve::httpd::StopSignal,
) -> std::io::Result<()> {
    crate::serve::httpd::serve(listener, router(dir)?, stop).await
}
