//! Reads from the network with a size cap and a deadline on every request.

use std::time::Duration;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum FetchError {
    #[error("{url}: {msg}")]
    Unreachable { url: String, msg: String },
    #[error("{url}: more than {cap} bytes; refused without reading the rest")]
    TooLarge { url: String, cap: usize },
    #[error("{url}: HTTP {status}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
}

/// Timeouts for one request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// An HTTP client with rustls, bounded redirects and the timeouts above.
pub fn client() -> Result<reqwest::Client, FetchError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("bt-exec/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Unreachable {
            url: String::new(),
            msg: e.to_string(),
        })
}

/// Reads a response body, failing as soon as it passes `cap` bytes.
pub async fn read_capped(
    url: &str,
    mut resp: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, FetchError> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(FetchError::TooLarge {
            url: url.into(),
            cap,
        });
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| FetchError::Unreachable {
        url: url.into(),
        msg: e.to_string(),
    })? {
        if out.len() + chunk.len() > cap {
            return Err(FetchError::TooLarge {
                url: url.into(),
                cap,
            });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}
