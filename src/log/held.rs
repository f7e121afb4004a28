//! A log held by one long-running writer: `bt-log serve --accept` takes
//! the log's lock when it starts and keeps it until it stops, because it
//! gives publishers indexes before the entries are integrated — a `bt-log
//! add` slipping in between would put its own releases at those indexes.
//! `add` and `cosign` wait for the lock meanwhile (and say so).

use std::path::{Path, PathBuf};

use super::config::{io, load_secret_key, read_checkpoint, LogConfig, LogError, STATE_DIR};
use super::cosign::{cosign_locked, CosignReport};
use super::writer::{
    append_locked, disk_store, finish_pending, integrate_queue, AddReport, Integrate,
};
use crate::entry::Entry;
use crate::fsutil::Lock;
use crate::note::SecretKey;
use crate::tlog::{Hash, SignedCheckpoint, TlogProof};

/// The log's lock, configuration and key, for as long as this lives.
pub struct Held {
    dir: PathBuf,
    cfg: LogConfig,
    key: SecretKey,
    _lock: Lock,
}

impl Held {
    /// Takes log `dir`'s lock, or says who might hold it: a server must
    /// not wait behind an `add` it cannot see.
    pub fn take(dir: &Path) -> Result<Held, LogError> {
        let cfg = LogConfig::load(dir)?;
        let path = dir.join(STATE_DIR).join("lock");
        let lock = Lock::try_exclusive(&path).map_err(io(&path))?.ok_or_else(|| {
            LogError::Usage(format!(
                "{}: another process is writing this log (bt-log add or cosign, or another bt-log serve --accept)",
                path.display()
            ))
        })?;
        let key = load_secret_key(&cfg.key)?;
        Ok(Held {
            dir: dir.to_path_buf(),
            cfg,
            key,
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &LogConfig {
        &self.cfg
    }

    /// The published checkpoint, once a checkpoint a killed writer signed
    /// is published (never another tree of its size).
    pub fn published(&self) -> Result<SignedCheckpoint, LogError> {
        let vkey = self.key.verifier();
        let current = read_checkpoint(&self.dir, &self.cfg, &vkey)?;
        match finish_pending(
            &self.dir,
            &self.cfg,
            &self.key,
            &vkey,
            current.checkpoint.size,
        )? {
            Some(done) => Ok(done),
            None => Ok(current),
        }
    }

    /// Integrates `entries`, the first of which was promised index
    /// `first`, under one new checkpoint (those already in the log are
    /// skipped; a gap is an error). Signatures are not checked again: the
    /// caller decoded them verified.
    pub fn append_at(&self, first: u64, entries: Vec<Entry>) -> Result<AddReport, LogError> {
        let how = Integrate {
            first: Some(first),
            proofs: false,
        };
        append_locked(&self.dir, &self.cfg, &self.key, entries, how)
    }

    /// Integrates what the submission queue holds (see [`integrate_queue`]).
    pub fn integrate_queue(&self) -> Result<Option<AddReport>, LogError> {
        integrate_queue(&self.dir, &self.cfg, &self.key)
    }

    /// Asks the witnesses the published checkpoint lacks, and those whose
    /// cosignature is `older_than` or more (`bt-log cosign`).
    pub fn cosign(
        &self,
        older_than: Option<std::time::Duration>,
    ) -> Result<CosignReport, LogError> {
        cosign_locked(&self.dir, &self.cfg, &self.key, older_than)
    }
}

/// The inclusion proof of leaf `index` in the tree of `size` whose tiles
/// are in log directory `dir`.
pub fn inclusion_proof(dir: &Path, index: u64, size: u64) -> Result<Vec<Hash>, LogError> {
    Ok(disk_store(dir, size).inclusion_proof(index, size)?)
}

/// The C2SP tlog-proof of leaf `index` against log `dir`'s published
/// checkpoint, made from its tiles (`bt-log proof`).
pub fn proof(dir: &Path, index: u64) -> Result<String, LogError> {
    let cfg = LogConfig::load(dir)?;
    let vkey = load_secret_key(&cfg.key)?.verifier();
    let published = read_checkpoint(dir, &cfg, &vkey)?;
    let size = published.checkpoint.size;
    if index >= size {
        return Err(LogError::Usage(format!(
            "the log's published checkpoint has {size} leaves; there is no leaf {index} yet"
        )));
    }
    let leaf = super::writer::read_leaf(dir, index, size)?;
    let proof = TlogProof {
        extra: Some(leaf),
        index,
        proof: inclusion_proof(dir, index, size)?,
        checkpoint: published.note,
    };
    String::from_utf8(proof.encode()).map_err(|_| LogError::Usage("a proof is text".into()))
}
