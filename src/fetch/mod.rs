//! Reads from the network with a size cap and a deadline on every request.

use std::time::Duration;

mod error;
pub use error::{Cause, FetchError};

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
        .map_err(|e| FetchError::unreachable("", e.to_string()))
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
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::of_http(url, &e))?
    {
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

/// Where a log (or any prefix of static files) is read from.
#[derive(Clone)]
pub enum Fetcher {
    Http {
        base: String,
        /// No request starts, and no retry waits, past this instant.
        deadline: Option<std::time::Instant>,
    },
    File {
        base: std::path::PathBuf,
        /// No read starts past this instant.
        deadline: Option<std::time::Instant>,
    },
}

/// How many times a transient failure is retried, and the first backoff.
pub const RETRIES: u32 = 3;
pub const BACKOFF: Duration = Duration::from_millis(200);

impl Fetcher {
    /// `http(s)://…` or `file:///…`; a trailing slash is optional.
    pub fn new(url: &str) -> Result<Fetcher, FetchError> {
        let bad = |msg: String| FetchError::unreachable(url, msg);
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        match parsed.scheme() {
            "http" | "https" => Ok(Fetcher::Http {
                base: url.trim_end_matches('/').to_string(),
                deadline: None,
            }),
            "file" => {
                let base = parsed
                    .to_file_path()
                    .map_err(|_| bad("not a local path".into()))?;
                Ok(Fetcher::File {
                    base,
                    deadline: None,
                })
            }
            s => Err(bad(format!(
                "unsupported scheme {s:?} (http, https or file)"
            ))),
        }
    }

    /// Bounds the whole use of this fetcher: requests get at most the time
    /// left, and nothing is retried past `deadline`.
    pub fn with_deadline(mut self, at: std::time::Instant) -> Self {
        match &mut self {
            Fetcher::Http { deadline, .. } | Fetcher::File { deadline, .. } => *deadline = Some(at),
        }
        self
    }

    pub fn describe(&self, path: &str) -> String {
        match self {
            Fetcher::Http { base, .. } => format!("{base}/{path}"),
            Fetcher::File { base, .. } => base.join(path).display().to_string(),
        }
    }

    /// Reads `path` under the prefix, up to `cap` bytes. `Ok(None)` when it
    /// does not exist (404 or no such file). Transient failures (connection
    /// errors, 5xx, 429) are retried with backoff; anything larger than
    /// `cap` is refused without reading the rest.
    pub fn get(&self, path: &str, cap: usize) -> Result<Option<Vec<u8>>, FetchError> {
        let url = self.describe(path);
        match self {
            Fetcher::File { base, deadline } => {
                match read_local(&base.join(path), cap, *deadline) {
                    Ok(b) => Ok(Some(b)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        Err(FetchError::TooLarge { url, cap })
                    }
                    Err(e) => Err(FetchError::unreachable(
                        url,
                        match crate::fsutil::not_regular(&e) {
                            Some(nr) => format!("{}, not a regular file", nr.kind),
                            None => e.to_string(),
                        },
                    )),
                }
            }
            Fetcher::Http { deadline, .. } => {
                let client =
                    blocking_client().map_err(|msg| FetchError::unreachable(url.clone(), msg))?;
                let mut wait = BACKOFF;
                let mut last = None;
                for attempt in 0..=RETRIES {
                    let left =
                        deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
                    if attempt > 0 {
                        if left.is_some_and(|l| l <= wait) {
                            break;
                        }
                        std::thread::sleep(wait);
                        wait *= 2;
                    }
                    let left =
                        deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
                    if left.is_some_and(|l| l.is_zero()) {
                        last.get_or_insert(FetchError::unreachable(
                            url.clone(),
                            "the verification deadline passed",
                        ));
                        break;
                    }
                    match http_once(client, &url, cap, left) {
                        Ok(r) => return Ok(r),
                        Err((e, transient)) => {
                            if !transient {
                                return Err(e);
                            }
                            last = Some(e);
                        }
                    }
                }
                Err(last.unwrap_or(FetchError::unreachable(url, "no attempt")))
            }
        }
    }
}

/// Reads a file of a `file://` log: only a regular file (a FIFO planted in
/// the log directory would hang the read, `fsutil::open_regular`), up to
/// `cap` bytes, and none once `deadline` has passed. (A regular file is read
/// at the disk's pace; the cap bounds how long.)
fn read_local(
    path: &std::path::Path,
    cap: usize,
    deadline: Option<std::time::Instant>,
) -> std::io::Result<Vec<u8>> {
    if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the verification deadline passed",
        ));
    }
    crate::fsutil::read_capped(path, cap)
}

/// The blocking client: rustls, bounded redirects, the timeouts above.
/// One per process, built on first use (so the warm path never pays for
/// it; each one starts a thread and loads the root certificates, and
/// `prior_revisions` probes every CAS URL of every earlier release), so
/// connections to one host are reused across logs and probes too.
fn blocking_client() -> Result<&'static reqwest::blocking::Client, String> {
    static CLIENT: std::sync::OnceLock<Result<reqwest::blocking::Client, String>> =
        std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            reqwest::blocking::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(REQUEST_TIMEOUT)
                .redirect(reqwest::redirect::Policy::limited(3))
                .user_agent(concat!("bt-exec/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn time_left(url: &str, deadline: std::time::Instant) -> Result<Duration, FetchError> {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    if left.is_zero() {
        return Err(FetchError::unreachable(url, "the deadline passed"));
    }
    Ok(left.min(REQUEST_TIMEOUT))
}

/// Whether `url` (http, https or file) serves `size` bytes now: a HEAD
/// request answered 200 whose `Content-Length` header, when given, is
/// `size`. A server that does not allow HEAD (405, 501) is asked for the
/// first byte instead (see [`range_probe`]). Every request is bounded by
/// `deadline`.
pub fn available(url: &str, size: u64, deadline: std::time::Instant) -> Result<bool, FetchError> {
    let bad = |msg: String| FetchError::unreachable(url, msg);
    match local_path(url)? {
        Some(p) => Ok(std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() == size)),
        None => {
            let client = blocking_client().map_err(bad)?;
            let resp = client
                .head(url)
                .timeout(time_left(url, deadline)?)
                .send()
                .map_err(|e| FetchError::of_http(url, &e))?;
            // Not `resp.content_length()`: on a HEAD response that is the
            // size of the (empty) body, never the length the server states.
            match resp.status().as_u16() {
                200 => Ok(match stated_length(resp.headers()) {
                    Length::NotStated => true,
                    Length::Is(n) => n == size,
                    Length::Invalid => false,
                }),
                405 | 501 => range_probe(client, url, size, deadline),
                _ => Ok(false),
            }
        }
    }
}

/// For servers that do not implement HEAD: a GET of `bytes=0-0`, answered
/// 206 with a `Content-Range` whose total is `size`, or 200 (the range
/// ignored) with a `Content-Length` of `size`. The body is never read.
fn range_probe(
    client: &reqwest::blocking::Client,
    url: &str,
    size: u64,
    deadline: std::time::Instant,
) -> Result<bool, FetchError> {
    let resp = client
        .get(url)
        .header(reqwest::header::RANGE, "bytes=0-0")
        .timeout(time_left(url, deadline)?)
        .send()
        .map_err(|e| FetchError::of_http(url, &e))?;
    let ok = match resp.status().as_u16() {
        206 => {
            let mut ranges = resp
                .headers()
                .get_all(reqwest::header::CONTENT_RANGE)
                .iter();
            match (ranges.next(), ranges.next()) {
                (Some(v), None) => content_range_total(v.as_bytes()) == Some(size),
                _ => false,
            }
        }
        200 => stated_length(resp.headers()) == Length::Is(size),
        _ => false,
    };
    // Dropped unread: at most the connection is closed early.
    drop(resp);
    Ok(ok)
}

/// What a response's `Content-Length` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Length {
    /// No such header.
    NotStated,
    Is(u64),
    /// Not a decimal u64, or several headers that disagree.
    Invalid,
}

fn stated_length(headers: &reqwest::header::HeaderMap) -> Length {
    let mut found = Length::NotStated;
    for v in headers.get_all(reqwest::header::CONTENT_LENGTH) {
        match (decimal(v.as_bytes()), found) {
            (None, _) => return Length::Invalid,
            (Some(n), Length::Is(m)) if n != m => return Length::Invalid,
            (Some(n), _) => found = Length::Is(n),
        }
    }
    found
}

/// A non-empty run of ASCII digits that fits a u64; nothing else (no sign,
/// no spaces, no list).
fn decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// The complete length in a `Content-Range: bytes FIRST-LAST/TOTAL` value
/// (RFC 9110 §14.4) with FIRST <= LAST < TOTAL; `None` for anything else,
/// including an unknown total (`/*`) and the unsatisfied form (`*/TOTAL`).
fn content_range_total(v: &[u8]) -> Option<u64> {
    let unit = v.get(..6)?;
    if !unit.eq_ignore_ascii_case(b"bytes ") {
        return None;
    }
    let rest = v.get(6..)?;
    let slash = rest.iter().position(|&b| b == b'/')?;
    let (range, total) = (rest.get(..slash)?, rest.get(slash + 1..)?);
    let dash = range.iter().position(|&b| b == b'-')?;
    let first = decimal(range.get(..dash)?)?;
    let last = decimal(range.get(dash + 1..)?)?;
    let total = decimal(total)?;
    (first <= last && last < total).then_some(total)
}

/// A `file://` URL's path, `None` for http(s); other schemes are errors.
fn local_path(url: &str) -> Result<Option<std::path::PathBuf>, FetchError> {
    let bad = |msg: String| FetchError::unreachable(url, msg);
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    match parsed.scheme() {
        "file" => parsed
            .to_file_path()
            .map(Some)
            .map_err(|_| bad("not a local path".into())),
        "http" | "https" => Ok(None),
        s => Err(bad(format!("unsupported scheme {s:?}"))),
    }
}

/// Streams exactly `size` bytes from `url` (http, https or file) into `out`,
/// by `deadline`; more or fewer bytes are an error, and nothing past `size`
/// is read. `progress` is told the bytes received so far.
pub fn download(
    url: &str,
    size: u64,
    deadline: std::time::Instant,
    out: &mut dyn std::io::Write,
    progress: &mut dyn FnMut(u64),
) -> Result<(), FetchError> {
    use std::io::Read;
    let bad = |msg: String| FetchError::unreachable(url, msg);
    let mut body: Box<dyn Read> = match local_path(url)? {
        // Only a regular file: a FIFO or device named by a log entry could
        // block past any deadline.
        Some(p) => Box::new(crate::fsutil::open_regular(&p).map_err(|e| bad(e.to_string()))?),
        None => {
            let client = blocking_client().map_err(bad)?;
            let resp = client
                .get(url)
                .timeout(time_left(url, deadline)?)
                .send()
                .map_err(|e| FetchError::of_http(url, &e))?;
            let status = resp.status().as_u16();
            if status != 200 {
                return Err(FetchError::Status {
                    url: url.into(),
                    status,
                    body: String::new(),
                });
            }
            if resp.content_length().is_some_and(|n| n != size) {
                return Err(bad(format!(
                    "serves {} bytes, the release has {size}",
                    resp.content_length().unwrap_or_default()
                )));
            }
            Box::new(resp)
        }
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        if std::time::Instant::now() >= deadline {
            return Err(bad("the deadline passed".into()));
        }
        let n = body
            .read(&mut buf)
            .map_err(|e| FetchError::of_body(url, &e))?;
        if n == 0 {
            break;
        }
        got += n as u64;
        if got > size {
            return Err(FetchError::TooLarge {
                url: url.into(),
                cap: usize::try_from(size).unwrap_or(usize::MAX),
            });
        }
        out.write_all(buf.get(..n).unwrap_or_default())
            .map_err(|e| bad(e.to_string()))?;
        progress(got);
    }
    if got != size {
        return Err(bad(format!("ended after {got} of {size} bytes")));
    }
    Ok(())
}

/// An answer to a POST: status, `Retry-After` in seconds when given, and
/// the body (at most the cap asked for).
#[derive(Debug, Clone)]
pub struct Posted {
    pub status: u16,
    pub retry_after: Option<u64>,
    pub body: Vec<u8>,
}

/// POSTs `body` to `url` (http or https) once, waiting at most `timeout`
/// for the whole answer, of which at most `cap` bytes are read (a longer
/// one is an error). Any status is an answer; only a failure to get one is
/// an error.
pub fn post(url: &str, body: Vec<u8>, cap: usize, timeout: Duration) -> Result<Posted, FetchError> {
    use std::io::Read;
    let client = blocking_client().map_err(|msg| FetchError::unreachable(url, msg))?;
    let resp = client
        .post(url)
        .timeout(timeout)
        .body(body)
        .send()
        .map_err(|e| FetchError::of_http(url, &e))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| decimal(v.as_bytes()));
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            cap,
        });
    }
    let mut out = Vec::new();
    resp.take(cap as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| FetchError::of_body(url, &e))?;
    if out.len() > cap {
        return Err(FetchError::TooLarge {
            url: url.to_string(),
            cap,
        });
    }
    Ok(Posted {
        status,
        retry_after,
        body: out,
    })
}

/// One GET; the error says whether it is worth retrying.
fn http_once(
    client: &reqwest::blocking::Client,
    url: &str,
    cap: usize,
    left: Option<Duration>,
) -> Result<Option<Vec<u8>>, (FetchError, bool)> {
    let limit = left.map_or(REQUEST_TIMEOUT, |l| l.min(REQUEST_TIMEOUT));
    let until = std::time::Instant::now() + body_time(cap, left);
    let req = client.get(url).timeout(limit);
    let resp = req
        .send()
        .map_err(|e| (FetchError::of_http(url, &e), true))?;
    let status = resp.status().as_u16();
    if status == 404 || status == 410 {
        return Ok(None);
    }
    if status != 200 {
        let transient = status >= 500 || status == 429;
        return Err((
            FetchError::Status {
                url: url.to_string(),
                status,
                body: String::new(),
            },
            transient,
        ));
    }
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err((
            FetchError::TooLarge {
                url: url.to_string(),
                cap,
            },
            false,
        ));
    }
    let out = read_body(resp, url, cap, until)?;
    if out.len() > cap {
        return Err((
            FetchError::TooLarge {
                url: url.to_string(),
                cap,
            },
            false,
        ));
    }
    Ok(Some(out))
}

/// The slowest link a body is waited for: a body of `cap` bytes gets
/// `cap / MIN_BODY_RATE` seconds, never less than [`REQUEST_TIMEOUT`].
pub const MIN_BODY_RATE: usize = 16 << 10;

/// How long a body of at most `cap` bytes may take to arrive: in
/// proportion to the cap, at least [`REQUEST_TIMEOUT`], never past the
/// deadline (`left`).
fn body_time(cap: usize, left: Option<Duration>) -> Duration {
    let by_size = Duration::from_secs((cap / MIN_BODY_RATE) as u64).max(REQUEST_TIMEOUT);
    left.map_or(by_size, |l| l.min(by_size))
}

/// The body of `resp`, at most `cap + 1` bytes, read by `until`.
///
/// Attack stopped: a server (or a path) dripping a body a byte at a time.
/// The blocking client's timeout bounds each read, not the whole body, so
/// a drip within it would hold a request — a monitor pass, which has no
/// overall deadline — for as long as the cap allows (days for a 1 MiB
/// checkpoint). The whole body is bounded here instead ([`body_time`]: a
/// 16 MiB entry bundle on a slow link still arrives).
fn read_body(
    resp: reqwest::blocking::Response,
    url: &str,
    cap: usize,
    until: std::time::Instant,
) -> Result<Vec<u8>, (FetchError, bool)> {
    use std::io::Read;
    let mut body = resp.take(cap as u64 + 1);
    let mut out = Vec::new();
    let mut buf = [0u8; 16 << 10];
    loop {
        if std::time::Instant::now() >= until {
            return Err((
                FetchError::unreachable(url, "the body was not read within the request's time"),
                true,
            ));
        }
        match body.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err((FetchError::of_body(url, &e), true)),
        }
    }
}

#[cfg(test)]
mod tests;
