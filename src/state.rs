//! The saved state as the decision sees it (DESIGN §7): one small trait,
//! [`State`], implemented by the files of [`Store`] and, for tests of the
//! decision that must not touch the disk, by [`MemoryState`].
//!
//! The decision reads through it (the saved checkpoint and when it was
//! saved, alarms, cached proofs and attestations, release-history views,
//! run records) and writes through it only what cannot wait for the
//! verdict: the evidence of a split view and its alarm. Everything else a
//! verification learns is returned in its [`crate::verify::LogReport`]s
//! and saved afterwards, under the state lock ([`crate::exec::saving`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::history::{DirView, MemoryView, Runs, View};
use crate::log_id::LogId;
use crate::store::{CachedProof, Pair, Store, StoreError};

pub trait State: Sync {
    /// Takes the state lock for a series of writes (`None`: the state
    /// needs no file lock, as in memory).
    fn lock(&self) -> Result<Option<crate::fsutil::Lock>, StoreError>;
    /// The latest verified checkpoint note of `log`, unverified bytes.
    fn checkpoint(&self, log: &LogId) -> Option<Vec<u8>>;
    /// When that checkpoint was last fetched and saved (Unix seconds).
    fn checkpoint_saved_at(&self, log: &LogId) -> Option<u64>;
    /// Saves a verified checkpoint note of `log`, fetched at `now`, in
    /// place of `expected` (the saved note as the verification read it;
    /// `None`: none) — and only then: `Ok(false)` when another process
    /// saved another one meanwhile. Call under [`State::lock`].
    ///
    /// Attack stopped: a process that verified against an older checkpoint
    /// overwriting a newer one another process saved, so the saved
    /// checkpoint moves backwards and a fork of the range in between goes
    /// unnoticed. The caller decides again from what is saved now.
    fn save_checkpoint(
        &self,
        log: &LogId,
        expected: Option<&[u8]>,
        note: &[u8],
        now: u64,
    ) -> Result<bool, StoreError>;
    /// The evidence named by `log`'s alarm, while one is raised.
    fn alarm(&self, log: &LogId) -> Option<String>;
    /// Writes both notes of a split view (and the consistency proof that
    /// fails between them) as evidence and raises `log`'s alarm;
    /// returns where the evidence is.
    fn record_split_view(
        &self,
        log: &LogId,
        a: &[u8],
        b: &[u8],
        proof: &str,
        now: u64,
    ) -> Result<PathBuf, StoreError>;
    /// A cached inclusion proof of this file in `log`.
    fn proof(&self, log: &LogId, sha256: &[u8; 32]) -> Option<CachedProof>;
    fn save_proof(&self, log: &LogId, sha256: &[u8; 32], p: &CachedProof)
        -> Result<(), StoreError>;
    /// Rebuilder attestations of this file cached by earlier runs.
    fn attestations(&self, log: &LogId, sha256: &[u8; 32]) -> Vec<CachedProof>;
    fn save_attestation(
        &self,
        log: &LogId,
        sha256: &[u8; 32],
        key: &[u8; 32],
        p: &CachedProof,
    ) -> Result<(), StoreError>;
    /// What this machine knows of `log`'s entries.
    fn view(&self, log: &LogId) -> Arc<dyn View>;
    /// The newest release of `name` this machine ran, per log.
    fn runs(&self, name: &str) -> Runs;
    /// The pairs of checkpoints of `log` not yet proven one history
    /// ([`crate::store::pending`]); an error when they cannot be read.
    fn pending(&self, log: &LogId) -> Result<Vec<Pair>, StoreError>;
    /// Keeps `add` and forgets the pairs whose unlinked checkpoint is the
    /// tree of one of `settled` (call under [`State::lock`]).
    fn update_pending(
        &self,
        log: &LogId,
        add: &[Pair],
        settled: &[String],
    ) -> Result<(), StoreError>;
}

impl State for Store {
    fn lock(&self) -> Result<Option<crate::fsutil::Lock>, StoreError> {
        Store::lock(self).map(Some)
    }
    fn checkpoint(&self, log: &LogId) -> Option<Vec<u8>> {
        Store::checkpoint(self, log)
    }
    fn checkpoint_saved_at(&self, log: &LogId) -> Option<u64> {
        Store::checkpoint_saved_at(self, log)
    }
    fn save_checkpoint(
        &self,
        log: &LogId,
        expected: Option<&[u8]>,
        note: &[u8],
        _now: u64,
    ) -> Result<bool, StoreError> {
        if Store::checkpoint(self, log).as_deref() != expected {
            return Ok(false);
        }
        Store::save_checkpoint(self, log, note).map(|()| true)
    }
    fn alarm(&self, log: &LogId) -> Option<String> {
        Store::alarm(self, log)
    }
    fn record_split_view(
        &self,
        log: &LogId,
        a: &[u8],
        b: &[u8],
        proof: &str,
        now: u64,
    ) -> Result<PathBuf, StoreError> {
        Store::record_split_view(self, log, a, b, proof, now)
    }
    fn proof(&self, log: &LogId, sha256: &[u8; 32]) -> Option<CachedProof> {
        Store::proof(self, log, sha256)
    }
    fn save_proof(
        &self,
        log: &LogId,
        sha256: &[u8; 32],
        p: &CachedProof,
    ) -> Result<(), StoreError> {
        Store::save_proof(self, log, sha256, p)
    }
    fn attestations(&self, log: &LogId, sha256: &[u8; 32]) -> Vec<CachedProof> {
        Store::attestations(self, log, sha256)
    }
    fn save_attestation(
        &self,
        log: &LogId,
        sha256: &[u8; 32],
        key: &[u8; 32],
        p: &CachedProof,
    ) -> Result<(), StoreError> {
        Store::save_attestation(self, log, sha256, key, p)
    }
    fn view(&self, log: &LogId) -> Arc<dyn View> {
        Arc::new(DirView::open(self, log))
    }
    fn runs(&self, name: &str) -> Runs {
        crate::history::runs(self, name)
    }
    fn pending(&self, log: &LogId) -> Result<Vec<Pair>, StoreError> {
        Store::pending(self, log)
    }
    fn update_pending(
        &self,
        log: &LogId,
        add: &[Pair],
        settled: &[String],
    ) -> Result<(), StoreError> {
        Store::update_pending(self, log, add, settled)
    }
}

#[derive(Default)]
struct Inner {
    checkpoints: BTreeMap<LogId, (Vec<u8>, u64)>,
    alarms: BTreeMap<LogId, String>,
    evidence: Vec<(LogId, Vec<u8>)>,
    proofs: BTreeMap<(LogId, [u8; 32]), CachedProof>,
    attestations: BTreeMap<(LogId, [u8; 32]), BTreeMap<[u8; 32], CachedProof>>,
    views: BTreeMap<LogId, Arc<MemoryView>>,
    runs: BTreeMap<String, Runs>,
    pending: BTreeMap<LogId, Vec<Pair>>,
    /// Writes that fail (tests of what a failed write does).
    failing: bool,
}

/// The saved state in memory: what tests of the decision use instead of a
/// directory.
#[derive(Default)]
pub struct MemoryState {
    inner: Mutex<Inner>,
}

impl MemoryState {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// From now on every write fails (a full disk, a read-only directory).
    pub fn fail_writes(&self) {
        self.lock().failing = true;
    }

    /// Every split view recorded: (log, evidence text).
    pub fn evidence(&self) -> Vec<(LogId, Vec<u8>)> {
        self.lock().evidence.clone()
    }

    /// Clears `log`'s alarm (what `bt-exec alarm clear` does).
    pub fn clear_alarm(&self, log: &LogId) {
        self.lock().alarms.remove(log);
    }

    /// Saves `note` as `log`'s checkpoint whatever is saved (another
    /// process's write, in tests of interleavings).
    pub fn put_checkpoint(&self, log: &LogId, note: &[u8], now: u64) {
        self.lock()
            .checkpoints
            .insert(log.clone(), (note.to_vec(), now));
    }

    /// Sets the run record of `runs.name`.
    pub fn set_runs(&self, runs: Runs) {
        self.lock().runs.insert(runs.name.clone(), runs);
    }

    fn write(&self, what: &str, f: impl FnOnce(&mut Inner)) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.failing {
            return Err(StoreError {
                path: PathBuf::from(format!("memory:{what}")),
                err: std::io::Error::other("writes fail"),
            });
        }
        f(&mut inner);
        Ok(())
    }
}

impl State for MemoryState {
    fn lock(&self) -> Result<Option<crate::fsutil::Lock>, StoreError> {
        Ok(None)
    }
    fn checkpoint(&self, log: &LogId) -> Option<Vec<u8>> {
        self.lock().checkpoints.get(log).map(|(n, _)| n.clone())
    }
    fn checkpoint_saved_at(&self, log: &LogId) -> Option<u64> {
        self.lock().checkpoints.get(log).map(|(_, t)| *t)
    }
    fn save_checkpoint(
        &self,
        log: &LogId,
        expected: Option<&[u8]>,
        note: &[u8],
        now: u64,
    ) -> Result<bool, StoreError> {
        let mut saved = false;
        self.write("checkpoint", |i| {
            let current = i.checkpoints.get(log).map(|(n, _)| n.as_slice());
            if current == expected {
                i.checkpoints.insert(log.clone(), (note.to_vec(), now));
                saved = true;
            }
        })?;
        Ok(saved)
    }

    fn alarm(&self, log: &LogId) -> Option<String> {
        self.lock().alarms.get(log).cloned()
    }
    fn record_split_view(
        &self,
        log: &LogId,
        a: &[u8],
        b: &[u8],
        proof: &str,
        now: u64,
    ) -> Result<PathBuf, StoreError> {
        let path = PathBuf::from(format!("memory:evidence/{now}"));
        let mut text = a.to_vec();
        text.extend_from_slice(b"# ---\n");
        text.extend_from_slice(b);
        text.extend_from_slice(proof.as_bytes());
        self.write("evidence", |i| {
            i.evidence.push((log.clone(), text));
            i.alarms.insert(log.clone(), path.display().to_string());
        })?;
        Ok(path)
    }
    fn proof(&self, log: &LogId, sha256: &[u8; 32]) -> Option<CachedProof> {
        self.lock().proofs.get(&(log.clone(), *sha256)).cloned()
    }
    fn save_proof(
        &self,
        log: &LogId,
        sha256: &[u8; 32],
        p: &CachedProof,
    ) -> Result<(), StoreError> {
        self.write("proof", |i| {
            i.proofs.insert((log.clone(), *sha256), p.clone());
        })
    }
    fn attestations(&self, log: &LogId, sha256: &[u8; 32]) -> Vec<CachedProof> {
        self.lock()
            .attestations
            .get(&(log.clone(), *sha256))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
    fn save_attestation(
        &self,
        log: &LogId,
        sha256: &[u8; 32],
        key: &[u8; 32],
        p: &CachedProof,
    ) -> Result<(), StoreError> {
        self.write("attestation", |i| {
            i.attestations
                .entry((log.clone(), *sha256))
                .or_default()
                .insert(*key, p.clone());
        })
    }
    fn view(&self, log: &LogId) -> Arc<dyn View> {
        self.lock().views.entry(log.clone()).or_default().clone()
    }
    fn runs(&self, name: &str) -> Runs {
        self.lock()
            .runs
            .get(name)
            .map_or_else(Runs::default, |r| Runs {
                name: r.name.clone(),
                logs: r.logs.clone(),
                ran: r.ran.clone(),
            })
    }
    fn pending(&self, log: &LogId) -> Result<Vec<Pair>, StoreError> {
        Ok(self.lock().pending.get(log).cloned().unwrap_or_default())
    }
    fn update_pending(
        &self,
        log: &LogId,
        add: &[Pair],
        settled: &[String],
    ) -> Result<(), StoreError> {
        self.write("pending", |i| {
            let pairs = i.pending.remove(log).unwrap_or_default();
            let pairs = crate::store::pending::updated(pairs, add, settled);
            if !pairs.is_empty() {
                i.pending.insert(log.clone(), pairs);
            }
        })
    }
}
