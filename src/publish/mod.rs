//! `bt-log publish`: one release into several independent logs, with a
//! witnessed proof from each written beside the file.
//!
//! The entry is signed here (the publisher's key never leaves the machine)
//! and kept beside the file as `FILE.bt-entry`, so a re-run sends the same
//! bytes (each log answers with the index it gave them) instead of a new
//! `published` time — a second entry per log for one release. Before
//! anything is sent, every `--cas-url` must serve exactly the file's
//! bytes. Each log is then asked concurrently ([`logs`]); a proof is
//! written only once it verifies against the log's key and the witness
//! requirement (every `--witness`, or a policy's quorum).
//!
//! Layout beside `FILE` (docs/FORMATS.md): `FILE.tlog-proofs/<id>.tlog-proof`,
//! one C2SP tlog-proof per log, `<id>` the 32 hex digits of the log's key
//! hash ([`crate::log_id::LogId::key_hash`]): what bt-exec looks for for
//! each log its policy trusts.

mod failure;
pub mod logs;
mod run;

pub use failure::Failure;
pub use run::{check_cas, entry_for, hash_file, publish};

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::entry::Source as BuildSource;
use crate::fsutil;
use crate::log_id::LogId;
use crate::note::{SecretKey, VerifierKey};
use crate::policy::{Quorum, TrustPolicy, WitnessSpec};

/// Why a publish could not even start.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{0}")]
    Cas(String),
}

pub(super) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |err| PublishError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// A log to publish to: its submission/read URL and key.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub key: VerifierKey,
    pub id: LogId,
}

impl Target {
    /// `URL=VKEY` (split at the first `=`: vkeys end in `=`).
    pub fn parse(arg: &str) -> Result<Target, PublishError> {
        let bad = |why: String| PublishError::Usage(format!("--log {arg:?}: {why}"));
        let (url, vkey) = arg
            .split_once('=')
            .ok_or_else(|| bad("takes URL=VKEY".into()))?;
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("the URL must be http or https".into()));
        }
        let key = VerifierKey::parse_log(vkey).map_err(|e| bad(e.to_string()))?;
        Ok(Target {
            url: url.trim_end_matches('/').to_string(),
            id: LogId::new(&key.name, &key),
            key,
        })
    }

    /// How messages name it.
    pub fn label(&self) -> String {
        format!("{} ({})", self.key.name, self.url)
    }
}

/// The file, beside `file`, holding its proof from log `id`.
pub fn proof_path(file: &Path, id: &LogId) -> PathBuf {
    fsutil::beside(file, ".tlog-proofs").join(format!("{}.tlog-proof", id.key_hash()))
}

/// The file beside `file` holding the exact entry signed for it.
pub fn entry_path(file: &Path) -> PathBuf {
    fsutil::beside(file, ".bt-entry")
}

/// The witness requirement when witnesses are given as vkeys: every one
/// of them (use a policy for a quorum).
pub fn every_witness(vkeys: &[String]) -> Result<TrustPolicy, PublishError> {
    let mut witnesses = Vec::new();
    for v in vkeys {
        let key = VerifierKey::parse_witness(v)
            .map_err(|e| PublishError::Usage(format!("--witness {v:?}: {e}")))?;
        witnesses.push(WitnessSpec {
            name: key.name.clone(),
            key: key.to_cosignature_key(),
            url: None,
        });
    }
    let quorum = match witnesses.len() {
        0 => Quorum::None,
        n => Quorum::Group {
            name: "every --witness".into(),
            k: n,
            members: (0..n).map(Quorum::Witness).collect(),
        },
    };
    Ok(TrustPolicy {
        logs: vec![],
        witnesses,
        quorum,
    })
}

/// What is published, and how.
pub struct Options {
    pub file: PathBuf,
    pub name: String,
    pub version: String,
    pub platform: String,
    pub publisher: SecretKey,
    pub cas_urls: Vec<String>,
    pub source: Option<BuildSource>,
    pub logs: Vec<Target>,
    pub trust: TrustPolicy,
    pub min_logs: usize,
    /// How long every log together may take.
    pub wait: Duration,
    /// Unix seconds recorded as `published` when a new entry is signed.
    pub now: u64,
}

/// What came of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A proof beside the file verified already; nothing was sent.
    Kept { index: u64 },
    /// A proof was made and written.
    Proven { index: u64, size: u64 },
    /// No verified proof, and why.
    Failed(Failure),
}

/// The result of a publish.
pub struct Report {
    pub entry: PathBuf,
    pub outcomes: Vec<(Target, Outcome)>,
    pub min_logs: usize,
}

impl Report {
    pub fn verified(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| !matches!(o, Outcome::Failed(_)))
            .count()
    }

    pub fn enough(&self) -> bool {
        self.verified() >= self.min_logs
    }
}
