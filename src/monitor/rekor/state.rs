//! What the monitor remembers of a Rekor v2 log between passes, apart from
//! a bt-log log's (`monitor-rekor/` beside `monitor/`: its files are never
//! read as release records): the last verified checkpoint, and which OIDC
//! issuers each watched identity was seen signing with.
//!
//! `identities` holds 40-byte records: the watched pattern's key (16) ‖ the
//! issuer's key (16) ‖ the index of the entry it was first seen in (u64
//! LE). A record at or past the saved checkpoint's size was written by a
//! pass that did not finish and is ignored, so the entry it came from
//! raises its alert again when the next pass reads it.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::fsutil::{self, Durability};
use crate::monitor::state::{load_checkpoint, save_checkpoint, StateError};
use crate::note::VerifierKey;
use crate::tlog::SignedCheckpoint;

pub const RECORD_BYTES: usize = 40;
/// The identities file is read whole; this bounds it (1.6 M first
/// sightings, of the identities a watcher names).
const MAX_IDENTITIES_BYTES: usize = 64 << 20;

pub struct RekorState {
    dir: PathBuf,
    pub checkpoint: Option<SignedCheckpoint>,
    /// The issuers each watched pattern's identities were seen with.
    issuers: HashMap<[u8; 16], HashSet<[u8; 16]>>,
    /// Every record still in force, with those this pass added.
    records: Vec<u8>,
}

fn key16(what: &str, s: &str) -> [u8; 16] {
    let d = Sha256::digest(format!("{what}\n{s}").as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

impl RekorState {
    /// The state directory of one Rekor v2 log under `root`.
    pub fn dir_for(root: &Path, origin: &str) -> PathBuf {
        crate::monitor::state::state_dir(root, "monitor-rekor", origin)
    }

    pub fn load(
        dir: &Path,
        origin: &str,
        key: &VerifierKey,
        witnesses: &[VerifierKey],
    ) -> Result<Self, StateError> {
        let checkpoint = load_checkpoint(dir, origin, key, witnesses)?;
        let size = checkpoint.as_ref().map_or(0, |c| c.checkpoint.size);
        let data = fsutil::read_optional(&dir.join("identities"), MAX_IDENTITIES_BYTES)
            .map_err(|e| StateError {
                path: dir.to_path_buf(),
                msg: format!("identities: {e}"),
            })?
            .unwrap_or_default();
        let mut st = RekorState {
            dir: dir.to_path_buf(),
            checkpoint,
            issuers: HashMap::new(),
            records: Vec::new(),
        };
        st.read_records(&data, size);
        Ok(st)
    }

    /// Takes in the records of entries below `size` (a torn last record,
    /// and those past the saved checkpoint, are dropped).
    fn read_records(&mut self, data: &[u8], size: u64) {
        for r in data.chunks_exact(RECORD_BYTES) {
            let (pattern, rest) = r.split_at(16);
            let (issuer, index) = rest.split_at(16);
            let index = u64::from_le_bytes(index.try_into().unwrap_or([0xff; 8]));
            if index < size {
                self.remember(arr(pattern), arr(issuer), index);
            }
        }
    }

    /// Notes that an identity `pattern` names signed at `index` with a
    /// certificate from `issuer`. Returns how many other issuers its
    /// identities were seen with before, when this one is new for it
    /// (`None` when it is not new).
    pub fn saw(&mut self, pattern: &str, issuer: Option<&str>, index: u64) -> Option<usize> {
        let p = key16("pattern", pattern);
        let i = match issuer {
            Some(i) => key16("issuer", i),
            None => key16("no-issuer", ""),
        };
        let before = self.issuers.get(&p).map_or(0, HashSet::len);
        self.remember(p, i, index).then_some(before)
    }

    fn remember(&mut self, pattern: [u8; 16], issuer: [u8; 16], index: u64) -> bool {
        if !self.issuers.entry(pattern).or_default().insert(issuer) {
            return false;
        }
        self.records.extend_from_slice(&pattern);
        self.records.extend_from_slice(&issuer);
        self.records.extend_from_slice(&index.to_le_bytes());
        true
    }

    /// Saves what this pass learned, then the checkpoint that covers it.
    pub fn commit(&self, note: &[u8]) -> Result<(), StateError> {
        let err = |msg: String| StateError {
            path: self.dir.clone(),
            msg,
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| err(e.to_string()))?;
        fsutil::write_atomic(
            &self.dir.join("identities"),
            &self.records,
            0o644,
            Durability::Sync,
        )
        .map_err(|e| err(format!("identities: {e}")))?;
        save_checkpoint(&self.dir, note)
    }
}

fn arr(s: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a.copy_from_slice(s);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> RekorState {
        RekorState {
            dir: PathBuf::new(),
            checkpoint: None,
            issuers: HashMap::new(),
            records: Vec::new(),
        }
    }

    /// A first sighting is remembered, not an alert; a new issuer for a
    /// pattern already seen says how many it had; what a pass that did not
    /// save its checkpoint learned is forgotten, so it is seen new again.
    #[test]
    fn issuers_are_remembered_per_pattern_up_to_the_saved_size() {
        let mut st = empty();
        assert_eq!(st.saw("a@x", Some("https://i1"), 0), Some(0));
        assert_eq!(st.saw("a@x", Some("https://i1"), 1), None);
        assert_eq!(st.saw("a@x", Some("https://i2"), 2), Some(1));
        assert_eq!(st.saw("a@x", None, 3), Some(2));
        assert_eq!(st.saw("b@x", Some("https://i2"), 4), Some(0));
        let mut torn = st.records.clone();
        torn.extend_from_slice(&[7; RECORD_BYTES - 1]);
        let mut again = empty();
        again.read_records(&torn, 3);
        assert_eq!(again.saw("a@x", Some("https://i2"), 9), None);
        assert_eq!(again.saw("a@x", None, 3), Some(2));
        assert_eq!(again.saw("b@x", Some("https://i2"), 4), Some(0));
        let mut none = empty();
        none.read_records(&st.records, 0);
        assert!(none.issuers.is_empty() && none.records.is_empty());
    }
}
