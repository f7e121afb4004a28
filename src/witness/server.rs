//! `bt-log witness serve`: a C2SP tlog-witness. The checks are a pure
//! function ([`check`]) of the request, the known log keys and the latest
//! checkpoint cosigned for that origin; the server around it serialises
//! requests per log and persists before it answers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use sha2::{Digest, Sha256};

use crate::fsutil::{self, Durability, Lock};
use crate::note::{self, SecretKey, VerifierKey};
use crate::tlog::checkpoint::{parse_hash, parse_size};
use crate::tlog::{
    empty_root, verify_consistency, Checkpoint, Hash, SignedCheckpoint, TlogError,
    MAX_CHECKPOINT_BYTES, MAX_PROOF_HASHES,
};

/// A request body is read up to this many bytes.
pub const MAX_REQUEST_BYTES: usize = MAX_CHECKPOINT_BYTES + 64 * 64;
/// A client has this long to send its request and get its answer.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// What the witness decided about one request.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// Cosign this checkpoint (and persist it as the latest).
    Cosign(Checkpoint),
    /// HTTP status and message of a refusal; 409 carries our size.
    Refuse(u16, String),
}

/// The pure decision of tlog-witness add-checkpoint.
pub fn check(
    body: &[u8],
    logs: &HashMap<String, VerifierKey>,
    latest: impl Fn(&str) -> Option<Checkpoint>,
) -> Decision {
    let refuse = |code: u16, msg: &str| Decision::Refuse(code, msg.to_string());
    let Some((head, note_bytes)) = split_body(body) else {
        return refuse(
            400,
            "malformed request: expected old size, proof lines, empty line, checkpoint",
        );
    };
    let Some((old, proof)) = parse_head(head) else {
        return refuse(400, "malformed old size or consistency proof lines");
    };
    let origin = note_bytes
        .split(|&b| b == b'\n')
        .next()
        .and_then(|o| std::str::from_utf8(o).ok())
        .unwrap_or("");
    let Some(key) = logs.get(origin) else {
        return refuse(404, "unknown log origin");
    };
    let cp = match SignedCheckpoint::verify(note_bytes, origin, key, &[]) {
        Ok(sc) => sc.checkpoint,
        Err(TlogError::BadCheckpoint(m)) => {
            return refuse(400, &format!("malformed checkpoint: {m}"))
        }
        Err(e) => return refuse(403, &format!("checkpoint signature: {e}")),
    };
    if old > cp.size {
        return refuse(400, "old size is larger than the checkpoint size");
    }
    let prev = latest(origin);
    let (prev_size, prev_root) = prev
        .as_ref()
        .map_or((0, empty_root()), |p| (p.size, p.root));
    if old != prev_size {
        return Decision::Refuse(409, format!("{prev_size}\n"));
    }
    if cp.size == 0 && cp.root != empty_root() {
        return refuse(422, "a checkpoint of size 0 must have the empty root");
    }
    if old == 0 {
        if !proof.is_empty() {
            return refuse(422, "the proof must be empty from size 0");
        }
    } else if old == cp.size {
        if !proof.is_empty() || cp.root != prev_root {
            return refuse(422, "same size, different root hash: the log has forked");
        }
    } else if verify_consistency(old, prev_root, cp.size, cp.root, &proof).is_err() {
        return refuse(422, "consistency proof does not verify");
    }
    Decision::Cosign(cp)
}

fn split_body(body: &[u8]) -> Option<(&str, &[u8])> {
    let at = body.windows(2).position(|w| w == b"\n\n")?;
    let head = std::str::from_utf8(body.get(..at)?).ok()?;
    Some((head, body.get(at + 2..)?))
}

fn parse_head(head: &str) -> Option<(u64, Vec<Hash>)> {
    let mut lines = head.split('\n');
    let old = parse_size(lines.next()?.strip_prefix("old ")?)?;
    let proof: Vec<Hash> = lines.map(parse_hash).collect::<Option<_>>()?;
    (proof.len() <= MAX_PROOF_HASHES).then_some((old, proof))
}

/// The witness: its key, durable state and known logs.
pub struct Witness {
    key: SecretKey,
    state: PathBuf,
    logs: HashMap<String, VerifierKey>,
    locks: HashMap<String, tokio::sync::Mutex<()>>,
    _lock: Lock,
}

fn state_file(state: &Path, origin: &str) -> PathBuf {
    state.join("logs").join(format!(
        "{}.checkpoint",
        hex::encode(Sha256::digest(origin.as_bytes()))
    ))
}

impl Witness {
    /// Opens the state directory (one witness process per state directory).
    pub fn open(key: SecretKey, state: &Path, logs: &[VerifierKey]) -> std::io::Result<Witness> {
        std::fs::create_dir_all(state.join("logs"))?;
        let lock = Lock::try_exclusive(&state.join("lock"))?.ok_or_else(|| {
            std::io::Error::other(format!(
                "{} is in use by another witness process",
                state.display()
            ))
        })?;
        let logs: HashMap<String, VerifierKey> =
            logs.iter().map(|k| (k.name.clone(), k.clone())).collect();
        let locks = logs
            .keys()
            .map(|o| (o.clone(), tokio::sync::Mutex::new(())))
            .collect();
        Ok(Witness {
            key,
            state: state.to_path_buf(),
            logs,
            locks,
            _lock: lock,
        })
    }

    /// The latest checkpoint this witness cosigned for `origin`.
    pub fn latest(&self, origin: &str) -> Option<Checkpoint> {
        let key = self.logs.get(origin)?;
        let note = fsutil::read_optional(&state_file(&self.state, origin), MAX_CHECKPOINT_BYTES)
            .ok()??;
        SignedCheckpoint::verify(&note, origin, key, &[])
            .ok()
            .map(|s| s.checkpoint)
    }

    /// Handles one add-checkpoint body: status, content type, body.
    pub async fn add_checkpoint(&self, body: &[u8], now: u64) -> (u16, &'static str, String) {
        let origin = body
            .windows(2)
            .position(|w| w == b"\n\n")
            .and_then(|at| body.get(at + 2..))
            .and_then(|n| n.split(|&b| b == b'\n').next())
            .and_then(|o| std::str::from_utf8(o).ok())
            .unwrap_or("");
        // Check-and-persist is atomic per log (the spec's rollback race).
        let _guard = match self.locks.get(origin) {
            Some(m) => Some(m.lock().await),
            None => None,
        };
        match check(body, &self.logs, |o| self.latest(o)) {
            Decision::Cosign(cp) => {
                let Some(at) = body.windows(2).position(|w| w == b"\n\n") else {
                    return (400, "text/plain", "malformed\n".into());
                };
                let note_bytes = &body[at + 2..];
                if let Err(e) = fsutil::write_atomic(
                    &state_file(&self.state, &cp.origin),
                    note_bytes,
                    0o644,
                    Durability::Sync,
                ) {
                    return (500, "text/plain", format!("cannot persist state: {e}\n"));
                }
                let line = note::sign_cosignature_line(&self.key, now, &cp.encode());
                (200, "text/plain; charset=utf-8", format!("{line}\n"))
            }
            Decision::Refuse(409, size) => (409, "text/x.tlog.size", size),
            Decision::Refuse(code, msg) => {
                if code == 422 {
                    self.keep_evidence(body, now);
                }
                (code, "text/plain; charset=utf-8", format!("{msg}\n"))
            }
        }
    }

    /// A validly signed checkpoint that failed consistency may prove the log
    /// misbehaved: keep it.
    fn keep_evidence(&self, body: &[u8], now: u64) {
        let name = format!("{now}-{}.txt", hex::encode(&Sha256::digest(body)[..8]));
        let _ = fsutil::write_atomic(
            &self.state.join("evidence").join(name),
            body,
            0o644,
            Durability::Sync,
        );
    }
}

async fn handle(State(w): State<Arc<Witness>>, body: Bytes) -> Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (code, ctype, text) = w.add_checkpoint(&body, now).await;
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, ctype)], text).into_response()
}

/// The router: `POST /add-checkpoint`, capped and deadline-bound.
pub fn router(w: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(handle))
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
    stop: crate::httpd::StopSignal,
) -> std::io::Result<()> {
    crate::httpd::serve(listener, router(w), stop).await
}
