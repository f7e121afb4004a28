//! bt-exec's local state (DESIGN §7): the content-addressed cache of
//! verified bytes and the hash cache ([`cas`]), and per log — keyed by its
//! identity, origin and key ([`crate::log_id`]) — the latest verified
//! checkpoint, cached inclusion proofs, evidence of split views and alarms
//! ([`logs`]); state written before it was keyed so is moved on first use
//! ([`migrate`]). Every write is atomic; writers take a lock.

use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};

use crate::fsutil::{self, Durability, Lock};
use crate::strict;
use crate::tlog::Hash;

pub struct Store {
    pub cache: PathBuf,
    pub state: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {err}")]
pub struct StoreError {
    pub path: PathBuf,
    pub err: std::io::Error,
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |err| StoreError {
        path: path.to_path_buf(),
        err,
    }
}

/// Why a program could not be put into the CAS.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The program could not be read, or is not a regular file.
    #[error("cannot read the program: {0}")]
    Program(StoreError),
    /// The cache could not be written.
    #[error("cannot write the cache: {0}")]
    Cache(StoreError),
    /// A file of the cache or state fails the strict modes.
    #[error(transparent)]
    Strict(#[from] crate::strict::StrictError),
}

/// A file whose bytes are now in the CAS.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub sha256: [u8; 32],
    pub size: u64,
    /// The read-only CAS copy: what is executed.
    pub cas_path: PathBuf,
    /// Whether the hash came from the hash cache (the file was not read).
    pub cached: bool,
}

/// A cached inclusion proof of one binary in one log, against a root this
/// machine verified (and that every later checkpoint was proven to extend).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedProof {
    pub index: u64,
    pub leaf: String,
    pub size: u64,
    pub root: String,
    pub proof: Vec<String>,
}

impl CachedProof {
    pub fn new(index: u64, leaf: &[u8], size: u64, root: Hash, proof: &[Hash]) -> Self {
        CachedProof {
            index,
            leaf: B64.encode(leaf),
            size,
            root: B64.encode(root.0),
            proof: proof.iter().map(|h| B64.encode(h.0)).collect(),
        }
    }
    pub fn decode(&self) -> Option<(Vec<u8>, Hash, Vec<Hash>)> {
        let leaf = B64.decode(&self.leaf).ok()?;
        let root = Hash(B64.decode(&self.root).ok()?.try_into().ok()?);
        let proof = self
            .proof
            .iter()
            .map(|p| B64.decode(p).ok().and_then(|b| b.try_into().ok()).map(Hash))
            .collect::<Option<Vec<_>>>()?;
        Some((leaf, root, proof))
    }
}

mod cas;
mod logs;
pub mod migrate;
pub mod pending;
pub mod runs;

pub use pending::{Pair, MAX_PENDING};

impl Store {
    /// `$BT_EXEC_CACHE_DIR` / `$BT_EXEC_STATE_DIR`, else the XDG directories.
    pub fn open_default() -> Option<Store> {
        let dirs = || directories::ProjectDirs::from("", "", "bt-exec");
        let cache = std::env::var_os("BT_EXEC_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs().map(|d| d.cache_dir().to_path_buf()))?;
        let state = std::env::var_os("BT_EXEC_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                dirs().map(|d| {
                    d.state_dir()
                        .unwrap_or_else(|| d.data_local_dir())
                        .to_path_buf()
                })
            })?;
        Some(Store { cache, state })
    }

    /// A store in these two directories.
    pub fn at(cache: PathBuf, state: PathBuf) -> Store {
        Store { cache, state }
    }

    fn policy_mark(&self, digest: &[u8; 32]) -> PathBuf {
        self.state.join("policies").join(hex::encode(digest))
    }

    /// Whether a policy text with this digest (`Loaded::digest`) passed a
    /// full load before, every key checked to be a curve point.
    pub fn policy_validated(&self, digest: &[u8; 32]) -> bool {
        self.policy_mark(digest).exists()
    }

    /// Records that the policy text with this digest passed a full load: an
    /// empty file `policies/<hex digest>` in the state directory.
    pub fn mark_policy_validated(&self, digest: &[u8; 32]) -> Result<(), StoreError> {
        let p = self.policy_mark(digest);
        fsutil::write_atomic(&p, b"", 0o644, Durability::Batch).map_err(io(&p))
    }

    /// Takes the state lock (held until dropped), and removes the cache's
    /// temporary files that killed runs left behind (`tempfiles`).
    pub fn lock(&self) -> Result<Lock, StoreError> {
        let p = self.state.join("lock");
        let lock = Lock::exclusive(&p).map_err(io(&p))?;
        // Best effort: what is not removed now is by the next run.
        if let Ok(dir) = self.temp_dir() {
            let _ = crate::tempfiles::sweep(&dir);
        }
        Ok(lock)
    }

    /// Where programs and releases are written before they join the CAS,
    /// checked as all below the cache is (strict modes).
    fn temp_dir(&self) -> Result<PathBuf, strict::StrictError> {
        let dir = self.cache.join("cas/tmp");
        strict::existing_dir(&dir)?;
        Ok(dir)
    }

    pub fn cas_path(&self, sha256: &[u8; 32]) -> PathBuf {
        let h = hex::encode(sha256);
        self.cache.join("cas/sha256").join(&h[..2]).join(h)
    }

    /// Bytes used by the CAS (its files, not temporary ones).
    pub fn cas_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| match e.file_type() {
                            Ok(t) if t.is_dir() => walk(&e.path()),
                            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.cache.join("cas/sha256"))
    }
}
