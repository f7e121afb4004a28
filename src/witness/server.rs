//! `bt-log witness serve`: a C2SP tlog-witness. `POST /add-checkpoint`
//! (the decision is src/witness/decide.rs), and the monitoring view the
//! spec asks witnesses to serve: `GET /monitor/<sha256 of the origin, hex>/checkpoint`,
//! the latest checkpoint cosigned for that log with the log's signature
//! and this witness's cosignature. The set of logs can be replaced while
//! serving ([`Witness::set_logs`]; src/witness/lists.rs reads it); each
//! log's state is a file named by its origin that no list change removes,
//! so a log that leaves the lists and comes back is still held to the size
//! it had.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sha2::{Digest, Sha256};

use crate::fsutil::{self, Durability, Lock};
use crate::note::{self, SecretKey};
use crate::tlog::{Checkpoint, MAX_CHECKPOINT_BYTES};

pub use super::decide::{
    authenticate, check, decide, origin_of, Decision, Signed, MAX_REQUEST_BYTES, REQUEST_DEADLINE,
};
use super::lists::LogSet;
use super::rate::Bucket;

/// The witness: its key, durable state and the logs it cosigns now.
pub struct Witness {
    key: SecretKey,
    state: PathBuf,
    logs: RwLock<Arc<LogSet>>,
    /// One per origin ever asked about: check-and-persist is atomic per log.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    rates: Mutex<HashMap<String, Bucket>>,
    started: std::time::Instant,
    _lock: Lock,
}

/// The file holding the latest checkpoint cosigned for `origin`: named by
/// the SHA-256 of the origin, as the monitoring URL names it.
fn state_file(state: &Path, origin: &str) -> PathBuf {
    state_file_of(state, &hex::encode(Sha256::digest(origin.as_bytes())))
}

fn state_file_of(state: &Path, origin_hash: &str) -> PathBuf {
    state.join("logs").join(format!("{origin_hash}.checkpoint"))
}

/// What an add-checkpoint request got: status, content type, body, and
/// seconds for `Retry-After`.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub retry_after: Option<u64>,
}

fn answer(status: u16, body: String) -> Answer {
    Answer {
        status,
        content_type: "text/plain; charset=utf-8",
        body,
        retry_after: None,
    }
}

fn refusal(d: Decision) -> Answer {
    match d {
        Decision::Refuse(409, size) => Answer {
            status: 409,
            content_type: "text/x.tlog.size",
            body: size,
            retry_after: None,
        },
        Decision::Refuse(code, msg) => answer(code, format!("{msg}\n")),
        Decision::Cosign(_) => answer(500, "internal error\n".into()),
    }
}

impl Witness {
    /// Opens the state directory (one witness process per state directory).
    pub fn open(key: SecretKey, state: &Path, logs: LogSet) -> std::io::Result<Witness> {
        std::fs::create_dir_all(state.join("logs"))?;
        let lock = Lock::try_exclusive(&state.join("lock"))?.ok_or_else(|| {
            std::io::Error::other(format!(
                "{} is in use by another witness process",
                state.display()
            ))
        })?;
        Self::remove_temporaries(state);
        Ok(Witness {
            key,
            state: state.to_path_buf(),
            logs: RwLock::new(Arc::new(logs)),
            locks: Mutex::default(),
            rates: Mutex::default(),
            started: std::time::Instant::now(),
            _lock: lock,
        })
    }

    /// The logs cosigned now.
    pub fn logs(&self) -> Arc<LogSet> {
        match self.logs.read() {
            Ok(l) => Arc::clone(&l),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the logs cosigned from now on; requests in flight finish
    /// under the set they started with. No log's state is touched.
    pub fn set_logs(&self, logs: LogSet) {
        let new = Arc::new(logs);
        match self.logs.write() {
            Ok(mut l) => *l = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// The latest checkpoint this witness cosigned for `origin`: `Ok(None)`
    /// when it never did. The file was written only after the log's
    /// signature verified, so it is not verified again: a log whose key a
    /// list later replaces is still held to the size and root it had. A
    /// file that cannot be read or parsed is an error, never "no state",
    /// which would let any fork be cosigned from size 0.
    pub fn latest(&self, origin: &str) -> Result<Option<Checkpoint>, String> {
        let hash = hex::encode(Sha256::digest(origin.as_bytes()));
        Ok(self.stored(&hash)?.map(|(_, cp)| cp))
    }

    /// The state file of the log whose origin hashes to `origin_hash`, and
    /// its checkpoint: `Ok(None)` when there is none; an error when it
    /// cannot be read or does not hold a checkpoint of that origin.
    fn stored(&self, origin_hash: &str) -> Result<Option<(Vec<u8>, Checkpoint)>, String> {
        let path = state_file_of(&self.state, origin_hash);
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let Some(note) = fsutil::read_optional(&path, MAX_CHECKPOINT_BYTES).map_err(|e| at(&e))?
        else {
            return Ok(None);
        };
        let cp = Checkpoint::of_note(&note).map_err(|e| at(&e))?;
        if hex::encode(Sha256::digest(cp.origin.as_bytes())) != origin_hash {
            return Err(at(&format!("holds {}", cp.origin)));
        }
        Ok(Some((note, cp)))
    }

    fn lock_of(&self, origin: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = match self.locks.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        Arc::clone(locks.entry(origin.to_string()).or_default())
    }

    /// Takes one request of `origin`'s rate: `Err(seconds to wait)` when it
    /// has none left.
    fn take_rate(&self, origin: &str, qpd: f64) -> Result<(), u64> {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let mut rates = match self.rates.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        rates
            .entry(origin.to_string())
            .or_insert_with(|| Bucket::new(qpd, now))
            .take(qpd, now)
    }

    /// Handles one add-checkpoint body at `now` (UNIX seconds).
    pub async fn add_checkpoint(&self, body: &[u8], now: u64) -> Answer {
        let logs = self.logs();
        let req = match authenticate(body, |o| logs.get(o).map(|k| k.key.clone())) {
            Ok(r) => r,
            Err(d) => return refusal(d),
        };
        let origin = req.checkpoint.checkpoint.origin.clone();
        let qpd = logs.get(&origin).map_or(0.0, |k| k.qpd);
        // Check-and-persist is atomic per log (the spec's rollback race).
        let lock = self.lock_of(&origin);
        let _guard = lock.lock().await;
        let prev = match self.latest(&origin) {
            Ok(p) => p,
            Err(e) => return answer(500, format!("the witness's state is unreadable: {e}\n")),
        };
        let cp = match decide(&req, prev.as_ref()) {
            Decision::Cosign(cp) => cp,
            d => {
                // Kept only when it proves a fork by itself: two trees of
                // one size, both signed by the log.
                let got = &req.checkpoint.checkpoint;
                if let Some(p) = prev
                    .as_ref()
                    .filter(|p| p.size == got.size && p.root != got.root)
                {
                    self.keep_evidence(&origin, p.size, &req.checkpoint.verified_note);
                }
                return refusal(d);
            }
        };
        let line = note::sign_cosignature_line(&self.key, now, &cp.encode());
        // The log's rate is spent only on a tree this witness has not
        // cosigned: anyone can replay a log's published checkpoint, and
        // counting replays (or 409s, or bad proofs) would let them use up
        // its rate and keep it from being cosigned (src/witness/rate.rs).
        let grows = prev.as_ref().map_or(true, |p| cp.size > p.size);
        if !grows {
            return answer(200, format!("{line}\n"));
        }
        if let Err(wait) = self.take_rate(&origin, qpd) {
            let mut a = answer(
                429,
                format!("{origin} is over its rate of {qpd} requests a day; retry in {wait} s\n"),
            );
            a.retry_after = Some(wait);
            return a;
        }
        // The log's verified signature and ours: what the monitoring view
        // serves (no line this witness did not check).
        let mut kept = req.checkpoint.verified_note;
        kept.extend_from_slice(line.as_bytes());
        kept.push(b'\n');
        let path = state_file(&self.state, &origin);
        if let Err(e) = fsutil::write_atomic(&path, &kept, 0o644, Durability::Sync) {
            return answer(500, format!("cannot persist state: {e}\n"));
        }
        answer(200, format!("{line}\n"))
    }

    /// A checkpoint the log signed that contradicts one this witness
    /// cosigned at the same size: one kept per log and size (the first;
    /// one proves the fork, and more would let the log's key holder fill
    /// the disk), with only the log's signature.
    fn keep_evidence(&self, origin: &str, size: u64, note: &[u8]) {
        let dir = self.state.join("evidence");
        let name = hex::encode(Sha256::digest(origin.as_bytes()));
        let path = dir.join(format!("{name}-{size}.checkpoint"));
        if !path.exists() {
            let _ = fsutil::write_atomic(&path, note, 0o644, Durability::Sync);
        }
    }

    /// The monitoring view of the log whose origin hashes to `origin_hash`
    /// (64 lowercase hex digits), whether or not it is still listed:
    /// `Ok(None)` when it never cosigned one; an error when the file is
    /// not a checkpoint of that origin.
    pub fn cosigned(&self, origin_hash: &str) -> Result<Option<Vec<u8>>, String> {
        let hex_ok = origin_hash.len() == 64
            && origin_hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex_ok {
            return Ok(None);
        }
        Ok(self.stored(origin_hash)?.map(|(note, _)| note))
    }

    /// Removes what a killed write left in the state directory.
    fn remove_temporaries(state: &Path) {
        let dirs = [state.join("logs"), state.join("evidence")];
        for e in dirs
            .iter()
            .filter_map(|d| std::fs::read_dir(d).ok())
            .flatten()
            .flatten()
        {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.contains(".tmp.") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

async fn handle(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let a = w.add_checkpoint(&body, now).await;
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, [(header::CONTENT_TYPE, a.content_type)], a.body).into_response();
    if let Some(s) = a.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(s));
    }
    resp
}

async fn monitor(State(w): State<Arc<Witness>>, UrlPath(hash): UrlPath<String>) -> Response {
    match w.cosigned(&hash) {
        Ok(Some(note)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            note,
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            "no checkpoint cosigned for that log\n",
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the witness's state for that log is unreadable\n",
        )
            .into_response(),
    }
}

/// The router: `POST /add-checkpoint` and `GET /monitor/<hash>/checkpoint`,
/// capped and deadline-bound.
pub fn router(w: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(handle))
        .route("/monitor/:hash/checkpoint", get(monitor))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_DEADLINE,
        ))
        .with_state(w)
}

/// Serves until `stop` fires.
pub async fn serve(
    w: Arc<Witness>,
    listener: tokio::net::TcpListener,
    stop: crate::serve::httpd::StopSignal,
) -> std::io::Result<()> {
    crate::serve::httpd::serve(listener, router(w), stop).await
}
