//! A view held in memory, for tests of the decision that write no files.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use super::{grow, Cover, HistoryError, Seen, View};
use crate::entry::Entry;
use crate::source::Source;
use crate::tlog::{Checkpoint, Hash};

#[derive(Default)]
struct Inner {
    size: u64,
    root: Option<Hash>,
    entries: Vec<Entry>,
    coverage: Vec<Cover>,
    available: BTreeMap<[u8; 32], u64>,
}

/// One log's view in memory; entries enter it only through the same
/// verified growth as [`super::DirView`]'s.
#[derive(Default)]
pub struct MemoryView {
    inner: Mutex<Inner>,
}

impl MemoryView {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl View for MemoryView {
    fn size(&self) -> (u64, Option<Hash>) {
        let i = self.lock();
        (i.size, i.root)
    }

    fn update(&self, f: &dyn Source, cp: &Checkpoint) -> Result<u64, HistoryError> {
        let mut inner = self.lock();
        if inner.size >= cp.size {
            return Ok(0);
        }
        let mut added = Vec::new();
        grow(&cp.origin, (inner.size, inner.root), f, cp, &mut |_, e| {
            added.push(e.clone())
        })?;
        let old = inner.size;
        inner.entries.extend(added);
        inner.size = cp.size;
        inner.root = Some(cp.root);
        Ok(cp.size - old)
    }

    fn entry(&self, index: u64) -> Result<Entry, HistoryError> {
        let inner = self.lock();
        usize::try_from(index)
            .ok()
            .and_then(|i| inner.entries.get(i))
            .cloned()
            .ok_or_else(|| HistoryError::Corrupt("memory".into(), format!("no entry {index}")))
    }

    fn releases(&self, name: &str) -> Result<Vec<Seen>, HistoryError> {
        let inner = self.lock();
        Ok(inner
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.release.name == name)
            .map(|(i, e)| Seen {
                index: i as u64,
                entry: e.clone(),
            })
            .collect())
    }

    fn by_sha256(&self, sha256: &[u8; 32]) -> Result<Vec<Seen>, HistoryError> {
        let inner = self.lock();
        Ok(inner
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| &e.release.sha256 == sha256)
            .map(|(i, e)| Seen {
                index: i as u64,
                entry: e.clone(),
            })
            .collect())
    }

    fn record_coverage(&self, covers: &[Cover]) -> Result<(), HistoryError> {
        let mut inner = self.lock();
        for c in covers {
            if !inner.coverage.contains(c) {
                inner.coverage.push(*c);
            }
        }
        Ok(())
    }

    fn coverage(&self) -> Vec<Cover> {
        self.lock().coverage.clone()
    }

    fn record_available(&self, sha256: &[u8; 32], time: u64) -> Result<(), HistoryError> {
        let mut inner = self.lock();
        let t = inner.available.entry(*sha256).or_insert(time);
        *t = (*t).max(time);
        Ok(())
    }

    fn available_since(&self, sha256: &[u8; 32]) -> Option<u64> {
        self.lock().available.get(sha256).copied()
    }
}
