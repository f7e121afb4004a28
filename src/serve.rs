//! `bt-log serve`: static HTTP for a log directory (tests and small setups;
//! production serves the same directory with nginx or a CDN).
//! `tower-http`'s `ServeDir` does the file serving (HEAD, Range, no path
//! traversal); this adds caching headers, content types and hides `.bt-log/`.

use std::path::Path;

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tower_http::services::ServeDir;

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
    // Hidden files (the log's private state) are never served, however the
    // path is spelled: check the decoded segments.
    let decoded = percent_encoding::percent_decode_str(&path).decode_utf8_lossy();
    let hidden = |seg: &str| seg.starts_with('.') || seg.contains('\\') || seg.contains('\0');
    if decoded.split('/').any(hidden) {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
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

pub fn router(dir: &Path) -> Router {
    Router::new()
        .fallback_service(ServeDir::new(dir).append_index_html_on_directories(false))
        .layer(middleware::from_fn(headers))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(60),
        ))
}

/// Serves `dir` until `stop` fires.
pub async fn serve(
    dir: &Path,
    listener: tokio::net::TcpListener,
    stop: crate::httpd::StopSignal,
) -> std::io::Result<()> {
    crate::httpd::serve(listener, router(dir), stop).await
}
