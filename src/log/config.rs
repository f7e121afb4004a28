//! The log's configuration (`.bt-log/config.toml`) and what every writer
//! of the log shares below it: its errors, its lock, its key, its signed
//! checkpoint; `bt-log keygen` and `bt-log init`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil::{self, Durability};
use crate::note::{SecretKey, VerifierKey};
use crate::tlog::{
    empty_root, sign_checkpoint, Checkpoint, SignedCheckpoint, TlogError, MAX_CHECKPOINT_BYTES,
};
use crate::witness::client::WitnessConfig;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("log data: {0}")]
    Tlog(#[from] TlogError),
    #[error("{0}")]
    Entry(#[from] crate::entry::EntryError),
    #[error("{0}")]
    Key(#[from] crate::note::NoteError),
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |err| LogError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// `.bt-log/config.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub origin: String,
    /// Path of the log's secret key file (the key itself is never stored here).
    pub key: PathBuf,
    #[serde(default)]
    pub witness: Vec<WitnessConfig>,
}

pub const STATE_DIR: &str = ".bt-log";

/// The log's writer lock, waited for: one writer at a time, whichever
/// command it is (`add`, `cosign`, `serve --accept`, which holds it for as
/// long as it runs). Says once on stderr that it is waiting.
pub(super) fn lock(dir: &Path) -> Result<fsutil::Lock, LogError> {
    let path = dir.join(STATE_DIR).join("lock");
    if let Some(l) = fsutil::Lock::try_exclusive(&path).map_err(io(&path))? {
        return Ok(l);
    }
    crate::say!(
        "bt-log: waiting for {}: another bt-log add or cosign, or a bt-log serve --accept, is writing this log",
        path.display()
    );
    fsutil::Lock::exclusive(&path).map_err(io(&path))
}

pub fn config_path(dir: &Path) -> PathBuf {
    dir.join(STATE_DIR).join("config.toml")
}

impl LogConfig {
    pub fn load(dir: &Path) -> Result<Self, LogError> {
        let p = config_path(dir);
        let text = std::fs::read_to_string(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                LogError::Usage(format!(
                    "{} is not a log directory (run `bt-log init` first)",
                    dir.display()
                ))
            } else {
                LogError::Io {
                    path: p.clone(),
                    err: e,
                }
            }
        })?;
        let cfg: LogConfig =
            toml::from_str(&text).map_err(|e| LogError::Usage(format!("{}: {e}", p.display())))?;
        if let Some(w) = cfg
            .witness
            .iter()
            .find(|w| w.qpd.is_some_and(|q| !q.is_finite() || q < 0.0))
        {
            return Err(LogError::Usage(format!(
                "{}: witness {}: qpd must be a non-negative number",
                p.display(),
                w.url
            )));
        }
        Ok(cfg)
    }

    pub fn witness_keys(&self) -> Result<Vec<VerifierKey>, LogError> {
        self.witness
            .iter()
            .map(|w| VerifierKey::parse_witness(&w.vkey).map_err(LogError::from))
            .collect()
    }
}

/// Reads a secret key file.
pub fn load_secret_key(path: &Path) -> Result<SecretKey, LogError> {
    let text = fsutil::read_capped(path, 4096).map_err(io(path))?;
    let text = String::from_utf8(text)
        .map_err(|_| LogError::Usage(format!("{}: not a key file", path.display())))?;
    Ok(SecretKey::parse(&text)?)
}

/// Writes a new key pair: PATH (0600) and PATH.pub (the 0x01 vkey, one line).
pub fn keygen(name: &str, out: &Path) -> Result<VerifierKey, LogError> {
    if out.exists() {
        return Err(LogError::Usage(format!(
            "{} exists; refusing to overwrite a key",
            out.display()
        )));
    }
    let key = SecretKey::generate(name)?;
    let vkey = key.verifier();
    fsutil::write_atomic(
        out,
        format!("{}\n", key.encode()).as_bytes(),
        0o600,
        Durability::Sync,
    )
    .map_err(io(out))?;
    let pub_path = PathBuf::from(format!("{}.pub", out.display()));
    fsutil::write_atomic(
        &pub_path,
        format!("{vkey}\n").as_bytes(),
        0o644,
        Durability::Sync,
    )
    .map_err(io(&pub_path))?;
    Ok(vkey)
}

/// Creates a log directory with an empty, signed checkpoint.
pub fn init(
    dir: &Path,
    origin: &str,
    key_path: &Path,
    witnesses: Vec<WitnessConfig>,
) -> Result<VerifierKey, LogError> {
    let key = load_secret_key(key_path)?;
    if key.name != origin {
        return Err(LogError::Usage(format!(
            "the key is named {:?} but the origin is {origin:?}: a log's key name is its origin (bt-log keygen {origin} …)",
            key.name
        )));
    }
    for w in &witnesses {
        VerifierKey::parse_witness(&w.vkey)?;
        url::Url::parse(&w.url)
            .map_err(|e| LogError::Usage(format!("witness URL {:?}: {e}", w.url)))?;
    }
    if config_path(dir).exists() {
        return Err(LogError::Usage(format!(
            "{} is already a log",
            dir.display()
        )));
    }
    let key_abs = std::fs::canonicalize(key_path).map_err(io(key_path))?;
    let cfg = LogConfig {
        origin: origin.to_string(),
        key: key_abs,
        witness: witnesses,
    };
    let text = toml::to_string(&cfg).map_err(|e| LogError::Usage(e.to_string()))?;
    let cp = Checkpoint::new(origin, 0, empty_root());
    let note = sign_checkpoint(&key, &cp, &[]);
    fsutil::write_atomic(&dir.join("checkpoint"), &note, 0o644, Durability::Sync)
        .map_err(io(dir))?;
    fsutil::write_atomic(&config_path(dir), text.as_bytes(), 0o644, Durability::Sync)
        .map_err(io(dir))?;
    Ok(key.verifier())
}

/// Reads and verifies the log's published checkpoint with its own key.
pub fn read_checkpoint(
    dir: &Path,
    cfg: &LogConfig,
    key: &VerifierKey,
) -> Result<SignedCheckpoint, LogError> {
    let p = dir.join("checkpoint");
    let note = fsutil::read_capped(&p, MAX_CHECKPOINT_BYTES).map_err(io(&p))?;
    Ok(SignedCheckpoint::verify(
        &note,
        &cfg.origin,
        key,
        &cfg.witness_keys()?,
    )?)
}

/// Applies `--witness-qpd URL=N` arguments to the witnesses they name.
pub fn apply_witness_qpd(witnesses: &mut [WitnessConfig], args: &[String]) -> Result<(), LogError> {
    for a in args {
        let bad = || LogError::Usage(format!("--witness-qpd takes URL=N (N ≥ 0), got {a:?}"));
        let (url, n) = a.rsplit_once('=').ok_or_else(bad)?;
        let q = n
            .parse::<f64>()
            .ok()
            .filter(|q| q.is_finite() && *q >= 0.0)
            .ok_or_else(bad)?;
        let w = witnesses.iter_mut().find(|w| w.url == url).ok_or_else(|| {
            LogError::Usage(format!("--witness-qpd {url}: no --witness {url}=VKEY"))
        })?;
        w.qpd = Some(q);
    }
    Ok(())
}

/// Parses `URL=VKEY` (split at the first `=`, as vkeys end in `=`).
pub fn parse_witness_arg(arg: &str) -> Result<WitnessConfig, LogError> {
    let (url, vkey) = arg
        .split_once('=')
        .ok_or_else(|| LogError::Usage(format!("--witness takes URL=VKEY, got {arg:?}")))?;
    Ok(WitnessConfig {
        url: url.to_string(),
        vkey: vkey.to_string(),
        qpd: None,
    })
}
