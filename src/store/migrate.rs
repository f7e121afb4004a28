//! State written before it was keyed by the log's key as well as its
//! origin (files named `<origin-key>` alone) is moved to the per-log names
//! ([`LogId::file_key`]) the first time a policy listing a log of that
//! origin is used. What moves, and where, is what cannot be lost without
//! losing protection and cannot be given to the wrong key:
//!
//! - an **alarm** is raised for every listed log of its origin (it does not
//!   say which key it was about; dropping it would forget a split view),
//!   and stays until `alarm clear ORIGIN`, for other policies sharing the
//!   state that list other keys of that origin;
//! - the **saved checkpoint** goes to the listed log whose key signed it
//!   (dropping it would drop rollback protection), unless that log already
//!   has one: legacy state never replaces per-key state, since without
//!   the tiles nothing says the two are one history;
//! - **run records** follow the checkpoint (a stale index can only refuse).
//!
//! Cached proofs, attestations and release-history views are dropped: the
//! checkpoint's signer says nothing about which key's tree they came from
//! (an earlier version kept the proofs of a replaced key beside the new
//! key's checkpoint), and they are fetched again. State of an origin whose
//! checkpoint no listed key signed stays where it is.
//!
//! Every path is checked as all state is (strict modes, no links) before it
//! is read, moved or removed. The alarm goes first and the checkpoint last:
//! a run killed midway leaves the trigger and the next run finishes.

use std::path::Path;

use super::{io, Store, StoreError};
use crate::fsutil::{self, Durability};
use crate::log_id::{origin_key, LogId};
use crate::policy::LogSpec;
use crate::tlog::{SignedCheckpoint, MAX_CHECKPOINT_BYTES};

fn legacy_checkpoint(store: &Store, origin: &str) -> std::path::PathBuf {
    let name = format!("{}.checkpoint", origin_key(origin));
    store.state.join("checkpoints").join(name)
}

/// Moves the legacy state of the origins of `logs`; returns the logs a
/// checkpoint moved to. Costs two `stat`s per log when there is nothing to
/// move; takes the state lock only when there is (on every run while an
/// earlier alarm is uncleared: its log is refused meanwhile anyway).
pub fn migrate(store: &Store, logs: &[LogSpec]) -> Result<Vec<LogId>, StoreError> {
    let pending = |l: &LogSpec| {
        let (cp, alarm) = (
            legacy_checkpoint(store, &l.origin),
            store.legacy_alarm_path(&l.origin),
        );
        cp.symlink_metadata().is_ok() || alarm.symlink_metadata().is_ok()
    };
    if !logs.iter().any(pending) {
        return Ok(vec![]);
    }
    let _lock = store.lock()?;
    let mut origins: Vec<&str> = logs.iter().map(|l| l.origin.as_str()).collect();
    origins.sort_unstable();
    origins.dedup();
    let mut moved = vec![];
    for origin in origins {
        let of: Vec<&LogSpec> = logs.iter().filter(|l| l.origin == origin).collect();
        moved.extend(move_origin(store, origin, &of)?);
    }
    Ok(moved)
}

/// Moves the legacy state of `origin`, whose listed logs are `logs`.
fn move_origin(
    store: &Store,
    origin: &str,
    logs: &[&LogSpec],
) -> Result<Option<LogId>, StoreError> {
    let s = &store.state;
    let alarm = store.legacy_alarm_path(origin);
    if present(&alarm)? {
        let text = fsutil::read_capped(&alarm, 4096).map_err(io(&alarm))?;
        for l in logs {
            let to = s.join("alarms").join(l.id.file_key());
            if !present(&to)? {
                fsutil::write_atomic(&to, &text, 0o644, Durability::Sync).map_err(io(&to))?;
            }
        }
        // Kept until `alarm clear ORIGIN`: another policy sharing this
        // state may list another key of the origin, which it concerns as
        // much (it does not say which key it was about).
    }
    let cp = legacy_checkpoint(store, origin);
    if !present(&cp)? {
        return Ok(None);
    }
    let note = fsutil::read_capped(&cp, MAX_CHECKPOINT_BYTES).map_err(io(&cp))?;
    let Some(l) = logs
        .iter()
        .find(|l| SignedCheckpoint::verify(&note, origin, &l.key, &[]).is_ok())
    else {
        return Ok(None); // another key's state (or not a checkpoint): left alone
    };
    move_runs(store, l)?;
    let old = origin_key(origin);
    for dir in ["proofs", "views"] {
        let p = s.join(dir).join(&old);
        if present(&p)? {
            remove(&p)?;
        }
    }
    let to = s
        .join("checkpoints")
        .join(format!("{}.checkpoint", l.id.file_key()));
    if present(&to)? {
        remove(&cp)?;
    } else {
        std::fs::rename(&cp, &to).map_err(io(&cp))?;
    }
    Ok(Some(l.id.clone()))
}

/// Run records name logs by `file_key` now, by origin before.
fn move_runs(store: &Store, l: &LogSpec) -> Result<(), StoreError> {
    let dir = store.state.join("runs");
    if !present(&dir)? {
        return Ok(());
    }
    for e in std::fs::read_dir(&dir).map_err(io(&dir))? {
        let p = e.map_err(io(&dir))?.path();
        let bytes = fsutil::read_capped(&p, 1 << 20).map_err(io(&p))?;
        let Ok(mut r) = serde_json::from_slice::<super::runs::Runs>(&bytes) else {
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

/// Whether `p` exists; when it does, it and the directories between it
/// and the state directory pass the strict modes (owned by this user or
/// root, writable by no one else, no links): a directory another user can
/// write must not get bt-exec to move or remove what a link points at.
fn present(p: &Path) -> Result<bool, StoreError> {
    match p.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(p)(e)),
        Ok(_) => crate::strict::check_read(p)
            .map(|()| true)
            .map_err(|e| io(p)(std::io::Error::other(e))),
    }
}

/// Removes a file, or a directory and all in it (links in it are removed,
/// never followed).
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
        crate::tlog::sign_checkpoint(key, &cp, &[])
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

    /// An alarm is raised for every listed log of its origin, whatever
    /// key signed the checkpoint, and kept until cleared by origin; the checkpoint goes only to the log whose
    /// key signed it, never over one that log has already; cached proofs
    /// and views are dropped. Interrupted after any step, the next run
    /// finishes.
    #[test]
    fn moves_only_what_cannot_be_given_to_the_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("c"), dir.path().join("s"));
        let k1 = SecretKey::from_seed("example.org/log", [1; 32]).unwrap();
        let k2 = SecretKey::from_seed("example.org/log", [2; 32]).unwrap();
        let p2 = spec(&format!("log {}\nquorum none\n", k2.verifier()));
        let both = spec(&format!(
            "log {}\nlog {}\nquorum none\n",
            k1.verifier(),
            k2.verifier()
        ));
        let (id1, id2) = (&both.logs[0].id, &both.logs[1].id);
        let old = origin_key("example.org/log");
        let s = &store.state;
        let checkpoint = |id: &LogId| store.checkpoint(id);
        legacy(&store, &k1, 5);
        // Another key: the alarm is raised for it, the checkpoint stays.
        assert!(migrate(&store, &p2.logs).unwrap().is_empty());
        assert!(store.alarm(id2).is_some());
        assert!(checkpoint(id2).is_none());
        assert!(s.join(format!("checkpoints/{old}.checkpoint")).exists());
        // Both logs of the origin listed: the checkpoint goes to k1's.
        legacy(&store, &k1, 5);
        assert_eq!(migrate(&store, &both.logs).unwrap(), vec![id1.clone()]);
        assert_eq!(checkpoint(id1), Some(note(&k1, 5)));
        assert!(checkpoint(id2).is_none());
        assert!(store.alarm(id1).is_some() && store.alarm(id2).is_some());
        for d in ["proofs", "views"] {
            assert!(!s.join(d).join(&old).exists(), "{d}");
        }
        // The earlier alarm stays for other policies until cleared by origin.
        assert!(s.join("alarms").join(&old).exists());
        assert_eq!(store.clear_alarms("example.org/log").unwrap(), 3);
        assert!(store.alarm(id1).is_none() && store.alarm(id2).is_none());
        assert!(!s.join("proofs").join(id1.file_key()).exists());
        // An earlier version ran again and wrote another checkpoint: the
        // per-key one stays.
        legacy(&store, &k1, 9);
        migrate(&store, &both.logs).unwrap();
        assert_eq!(checkpoint(id1), Some(note(&k1, 5)));
        assert!(!s.join(format!("checkpoints/{old}.checkpoint")).exists());
        // Killed after the alarm moved: the next run moves the checkpoint.
        let fresh = Store::at(dir.path().join("c2"), dir.path().join("s2"));
        legacy(&fresh, &k1, 7);
        std::fs::remove_file(fresh.state.join("alarms").join(&old)).unwrap();
        migrate(&fresh, &both.logs).unwrap();
        assert_eq!(fresh.checkpoint(id1), Some(note(&k1, 7)));
    }
}
