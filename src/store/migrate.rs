//! State written before it was keyed by the log's key as well as its
//! origin (files named `<origin-key>` alone) is moved to the per-log names
//! ([`LogId::file_key`]) the first time a policy listing that log is used —
//! only when the saved checkpoint is signed by that log's key. Dropping it
//! would drop rollback protection (the saved checkpoint is what a fork is
//! detected against) and any alarm raised; giving it to a log with another
//! key would let state cached under one key prove programs under another.
//! State that no listed log's key signed stays where it is.
//!
//! Each step is one rename (or a merge that keeps the stronger record), and
//! the legacy checkpoint goes last: a process killed midway leaves the
//! trigger in place and the next run finishes the move.

use std::path::Path;

use super::{io, Store, StoreError};
use crate::fsutil::{self, Durability};
use crate::log_id::{origin_key, LogId};
use crate::policy::LogSpec;
use crate::tlog::{SignedCheckpoint, MAX_CHECKPOINT_BYTES};

/// Moves the legacy state of each of `logs` whose key signed it; returns
/// the logs whose state was moved. Costs one `stat` per log when there is
/// nothing to move; takes the state lock only when there is.
pub fn migrate(store: &Store, logs: &[LogSpec]) -> Result<Vec<LogId>, StoreError> {
    let legacy = |l: &LogSpec| {
        store
            .state
            .join("checkpoints")
            .join(format!("{}.checkpoint", origin_key(&l.origin)))
    };
    if !logs.iter().any(|l| legacy(l).exists()) {
        return Ok(vec![]);
    }
    let _lock = store.lock()?;
    let mut moved = vec![];
    for l in logs {
        let path = legacy(l);
        let Some(note) = fsutil::read_optional(&path, MAX_CHECKPOINT_BYTES).map_err(io(&path))?
        else {
            continue; // moved meanwhile, or for another log of this origin
        };
        if SignedCheckpoint::verify(&note, &l.origin, &l.key, &[]).is_err() {
            continue; // another key's state (or not a checkpoint): left alone
        }
        move_log(store, l, &note)?;
        moved.push(l.id.clone());
    }
    Ok(moved)
}

/// Moves one log's legacy files: the alarm first (it must never be lost),
/// the saved checkpoint last.
fn move_log(store: &Store, l: &LogSpec, legacy_note: &[u8]) -> Result<(), StoreError> {
    let (old, new) = (origin_key(&l.origin), l.id.file_key());
    let s = &store.state;
    move_or_drop(&s.join("alarms").join(&old), &s.join("alarms").join(&new))?;
    merge_dir(&s.join("proofs").join(&old), &s.join("proofs").join(&new))?;
    move_or_drop(&s.join("views").join(&old), &s.join("views").join(&new))?;
    move_runs(store, l)?;
    let old_cp = s.join("checkpoints").join(format!("{old}.checkpoint"));
    let new_cp = s.join("checkpoints").join(format!("{new}.checkpoint"));
    let size = |note: &[u8]| {
        SignedCheckpoint::open_saved(note, &l.origin, &l.key, &[])
            .map(|c| c.checkpoint.size)
            .ok()
    };
    let current = fsutil::read_optional(&new_cp, MAX_CHECKPOINT_BYTES).map_err(io(&new_cp))?;
    // Both exist after a downgrade and an upgrade: the larger tree stays.
    if current.as_deref().and_then(size) >= size(legacy_note) {
        return remove(&old_cp);
    }
    rename(&old_cp, &new_cp)
}

/// Renames `from` to `to`; when `to` exists already (a newer version wrote
/// it), `from` is redundant and removed.
fn move_or_drop(from: &Path, to: &Path) -> Result<(), StoreError> {
    if !from.exists() {
        return Ok(());
    }
    if to.exists() {
        return remove(from);
    }
    rename(from, to)
}

/// Moves every entry of directory `from` that `to` lacks into `to`, then
/// removes `from`.
fn merge_dir(from: &Path, to: &Path) -> Result<(), StoreError> {
    let rd = match std::fs::read_dir(from) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(from)(e)),
    };
    if !to.exists() {
        return rename(from, to);
    }
    for e in rd {
        let e = e.map_err(io(from))?;
        let target = to.join(e.file_name());
        if !target.exists() {
            rename(&e.path(), &target)?;
        }
    }
    remove(from)
}

/// Run records name logs by `file_key` now, by origin before.
fn move_runs(store: &Store, l: &LogSpec) -> Result<(), StoreError> {
    let dir = store.state.join("runs");
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(&dir)(e)),
    };
    for e in rd {
        let p = e.map_err(io(&dir))?.path();
        let bytes = fsutil::read_capped(&p, 1 << 20).map_err(io(&p))?;
        let Ok(mut r) = serde_json::from_slice::<crate::history::Runs>(&bytes) else {
            continue; // unreadable: it allows nothing either way
        };
        let Some(old) = r.logs.remove(&l.origin) else {
            continue;
        };
        let key = l.id.file_key();
        if r.logs.get(&key).map_or(true, |(i, _)| *i < old.0) {
            r.logs.insert(key, old);
        }
        let data = serde_json::to_vec(&r).unwrap_or_default();
        fsutil::write_atomic(&p, &data, 0o644, Durability::Sync).map_err(io(&p))?;
    }
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<(), StoreError> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::rename(from, to).map_err(io(from))
}

fn remove(p: &Path) -> Result<(), StoreError> {
    let dir = std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    let r = if dir {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(p)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::SecretKey;
    use crate::tlog::Checkpoint;

    fn spec(policy: &str) -> crate::policy::TrustPolicy {
        crate::policy::TrustPolicy::parse(policy).unwrap()
    }

    fn note(key: &SecretKey, size: u64) -> Vec<u8> {
        let cp = Checkpoint::new("example.org/log", size, crate::tlog::Hash([size as u8; 32]));
        crate::log::sign_checkpoint(key, &cp, &[])
    }

    /// A log's legacy files: checkpoint of `size`, a proof, a view, an alarm.
    fn legacy(store: &Store, key: &SecretKey, size: u64) {
        let old = origin_key("example.org/log");
        let s = &store.state;
        for d in ["checkpoints", "alarms", "proofs/x", "views/x"] {
            std::fs::create_dir_all(s.join(d.replace('x', &old))).unwrap();
        }
        std::fs::write(
            s.join(format!("checkpoints/{old}.checkpoint")),
            note(key, size),
        )
        .unwrap();
        std::fs::write(s.join(format!("alarms/{old}")), "evidence").unwrap();
        std::fs::write(s.join(format!("proofs/{old}/ab")), "{}").unwrap();
        std::fs::write(s.join(format!("views/{old}/size")), "1 x").unwrap();
    }

    /// Interrupted after any step, the next run finishes the move; state
    /// another key signed stays; after a downgrade and an upgrade the
    /// larger of the two checkpoints stays.
    #[test]
    fn moves_only_to_the_signing_key_and_finishes_what_was_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("c"), dir.path().join("s"));
        let k1 = SecretKey::from_seed("example.org/log", [1; 32]).unwrap();
        let k2 = SecretKey::from_seed("example.org/log", [2; 32]).unwrap();
        let p2 = spec(&format!("log {}\nquorum none\n", k2.verifier()));
        let p1 = spec(&format!("log {}\nquorum none\n", k1.verifier()));
        legacy(&store, &k1, 5);
        // Another key: nothing moves.
        assert!(migrate(&store, &p2.logs).unwrap().is_empty());
        assert!(crate::state::State::checkpoint(&store, &p2.logs[0].id).is_none());
        // Killed after the alarm moved: the next run finishes.
        let (old, new) = (origin_key("example.org/log"), p1.logs[0].id.file_key());
        let s = &store.state;
        rename(&s.join("alarms").join(&old), &s.join("alarms").join(&new)).unwrap();
        assert_eq!(
            migrate(&store, &p1.logs).unwrap(),
            vec![p1.logs[0].id.clone()]
        );
        let id = &p1.logs[0].id;
        assert_eq!(
            crate::state::State::checkpoint(&store, id),
            Some(note(&k1, 5))
        );
        assert!(store.alarm(id).is_some());
        assert!(s.join("proofs").join(&new).join("ab").exists());
        assert!(s.join("views").join(&new).join("size").exists());
        for d in ["alarms", "proofs", "views"] {
            assert!(!s.join(d).join(&old).exists(), "{d}");
        }
        // An earlier version ran again and wrote a larger checkpoint: it
        // replaces the smaller one moved before; a smaller one never does.
        legacy(&store, &k1, 9);
        migrate(&store, &p1.logs).unwrap();
        assert_eq!(
            crate::state::State::checkpoint(&store, id),
            Some(note(&k1, 9))
        );
        legacy(&store, &k1, 3);
        migrate(&store, &p1.logs).unwrap();
        assert_eq!(
            crate::state::State::checkpoint(&store, id),
            Some(note(&k1, 9))
        );
        assert!(!s.join(format!("checkpoints/{old}.checkpoint")).exists());
    }
}
