//! What the monitor remembers between runs, per log: the last verified
//! checkpoint, and a compact record of every entry seen (for the alerts),
//! appended before the checkpoint that covers it is saved.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::entry::name_key;
use crate::fsutil::{self, Durability};
use crate::note::VerifierKey;
use crate::tlog::{SignedCheckpoint, MAX_CHECKPOINT_BYTES};

/// name hash (16) ‖ name/version/platform hash (16) ‖ sha256 (32) ‖ publisher (32).
pub const RECORD_BYTES: usize = 96;

pub struct MonitorState {
    dir: PathBuf,
    pub checkpoint: Option<SignedCheckpoint>,
    /// Publishers seen for each name.
    pub publishers: HashMap<[u8; 16], HashSet<[u8; 32]>>,
    /// The file hash seen for each (name, version, platform).
    pub hashes: HashMap<[u8; 16], [u8; 32]>,
}

pub fn release_key(name: &str, version: &str, platform: &str) -> [u8; 16] {
    let d = Sha256::digest(format!("release\n{name}\n{version}\n{platform}").as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

#[derive(Debug, thiserror::Error)]
#[error("monitor state {path}: {msg}")]
pub struct StateError {
    pub path: PathBuf,
    pub msg: String,
}

/// The state directory of the log of `origin` under `root/kind` (one per
/// kind of log: their records differ).
pub(crate) fn state_dir(root: &Path, kind: &str, origin: &str) -> PathBuf {
    root.join(kind)
        .join(hex::encode(&Sha256::digest(origin.as_bytes())[..16]))
}

impl MonitorState {
    /// The state directory of one log under `root`.
    pub fn dir_for(root: &Path, origin: &str) -> PathBuf {
        state_dir(root, "monitor", origin)
    }

    pub fn load(
        dir: &Path,
        origin: &str,
        key: &VerifierKey,
        witnesses: &[VerifierKey],
    ) -> Result<Self, StateError> {
        let err = |msg: String| StateError {
            path: dir.to_path_buf(),
            msg,
        };
        let checkpoint = load_checkpoint(dir, origin, key, witnesses)?;
        let size = checkpoint.as_ref().map_or(0, |c| c.checkpoint.size);
        let want = usize::try_from(size)
            .ok()
            .and_then(|s| s.checked_mul(RECORD_BYTES))
            .ok_or_else(|| err("too large".into()))?;
        let mut records = fsutil::read_optional(&dir.join("records"), usize::MAX >> 1)
            .map_err(|e| err(e.to_string()))?
            .unwrap_or_default();
        if records.len() < want {
            return Err(err(format!(
                "holds {} records for a checkpoint of size {size}; remove {} to start over",
                records.len() / RECORD_BYTES,
                dir.display()
            )));
        }
        // Records a crashed run appended past the saved checkpoint are dropped.
        records.truncate(want);
        let mut st = MonitorState {
            dir: dir.to_path_buf(),
            checkpoint,
            publishers: HashMap::new(),
            hashes: HashMap::new(),
        };
        for r in records.chunks_exact(RECORD_BYTES) {
            let (n, rest) = r.split_at(16);
            let (v, rest) = rest.split_at(16);
            let (h, p) = rest.split_at(32);
            st.publishers.entry(arr(n)).or_default().insert(arr(p));
            st.hashes.entry(arr(v)).or_insert_with(|| arr(h));
        }
        Ok(st)
    }

    /// Opens the record file for appending after the saved checkpoint's
    /// records (dropping whatever a crashed pass left past them). Records
    /// written through it count only once [`MonitorState::commit`] saves the
    /// checkpoint that covers them.
    pub fn appender(&self) -> Result<std::io::BufWriter<std::fs::File>, StateError> {
        let err = |msg: String| StateError {
            path: self.dir.clone(),
            msg,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| err(e.to_string()))?;
        let size = self.checkpoint.as_ref().map_or(0, |c| c.checkpoint.size);
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("records"))
            .map_err(|e| err(e.to_string()))?;
        f.set_len(size * RECORD_BYTES as u64)
            .map_err(|e| err(e.to_string()))?;
        Ok(std::io::BufWriter::with_capacity(1 << 20, f))
    }

    /// Makes the appended records durable, then saves the checkpoint.
    pub fn commit(
        &self,
        records: std::io::BufWriter<std::fs::File>,
        note: &[u8],
    ) -> Result<(), StateError> {
        let err = |msg: String| StateError {
            path: self.dir.clone(),
            msg,
        };
        let f = records
            .into_inner()
            .map_err(|e| err(e.error().to_string()))?;
        f.sync_all().map_err(|e| err(e.to_string()))?;
        save_checkpoint(&self.dir, note)
    }
}

/// The checkpoint a pass saved in `dir`, verified again with the key the
/// monitor is given now (a wrong `--key` is said so, not taken for a
/// split view).
pub fn load_checkpoint(
    dir: &Path,
    origin: &str,
    key: &VerifierKey,
    witnesses: &[VerifierKey],
) -> Result<Option<SignedCheckpoint>, StateError> {
    let err = |msg: String| StateError {
        path: dir.to_path_buf(),
        msg,
    };
    let note = fsutil::read_optional(&dir.join("checkpoint"), MAX_CHECKPOINT_BYTES)
        .map_err(|e| err(e.to_string()))?;
    note.map(|n| {
        SignedCheckpoint::verify(&n, origin, key, witnesses).map_err(|e| {
            err(format!(
                "saved checkpoint does not verify with this key ({e}); is --key right?"
            ))
        })
    })
    .transpose()
}

/// Saves the checkpoint a pass verified, last: what it covers is durable
/// before.
pub fn save_checkpoint(dir: &Path, note: &[u8]) -> Result<(), StateError> {
    fsutil::write_atomic(&dir.join("checkpoint"), note, 0o644, Durability::Sync).map_err(|e| {
        StateError {
            path: dir.to_path_buf(),
            msg: e.to_string(),
        }
    })
}

/// Writes both notes of a split view or rollback into `dir`; returns the file.
pub fn evidence(dir: &Path, what: &str, old: &[u8], new: &[u8], now: u64) -> Option<PathBuf> {
    let p = dir.join(format!("evidence-{now}-{what}.txt"));
    let mut text = format!("# {what}: the checkpoint saved earlier, then the one the log served\n")
        .into_bytes();
    text.extend_from_slice(old);
    text.extend_from_slice(b"\n# --- served now ---\n");
    text.extend_from_slice(new);
    std::fs::create_dir_all(dir).ok()?;
    fsutil::write_atomic(&p, &text, 0o644, Durability::Sync)
        .ok()
        .map(|_| p)
}

fn arr<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(s);
    a
}

/// One record for an entry.
pub fn record(
    name: &str,
    version: &str,
    platform: &str,
    sha256: &[u8; 32],
    publisher: &[u8; 32],
) -> [u8; RECORD_BYTES] {
    let mut r = [0u8; RECORD_BYTES];
    r[..16].copy_from_slice(&name_key(name));
    r[16..32].copy_from_slice(&release_key(name, version, platform));
    r[32..64].copy_from_slice(sha256);
    r[64..].copy_from_slice(publisher);
    r
}
