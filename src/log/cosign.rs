//! `bt-log cosign DIR`: the published checkpoint, cosigned by the
//! configured witnesses it lacks, and again by those whose cosignature is
//! older than `--older-than`. A checkpoint `add` published without a
//! witness (down, or over the rate it grants: src/log/rates.rs) is
//! otherwise cosigned only by a later `add`; this asks again for the same
//! tree — nothing but signature lines change — so a log that adds rarely
//! can be cosigned from cron. And a log that takes nothing for longer than
//! its users' `max_age` would otherwise be stale to every one of them:
//! its witnesses are asked to cosign the same tree again, which they do
//! with a new timestamp (`serve --accept` does it on its own, every
//! `--recosign-after`).

use std::path::Path;
use std::time::Duration;

use super::config::{io, load_secret_key, lock, read_checkpoint, LogConfig, LogError};
use super::writer::{disk_store, finish_pending, integrate_queue};
use crate::fsutil::{self, Durability};
use crate::note::{self, SecretKey};
use crate::tlog::{sign_checkpoint, SignedCheckpoint, MAX_CHECKPOINT_BYTES};
use crate::verify::MAX_SKEW_SECS;

/// What `cosign` did.
pub struct CosignReport {
    pub size: u64,
    /// Witnesses whose cosignature the checkpoint had already.
    pub had: usize,
    /// Witnesses that cosigned now.
    pub cosigned: Vec<String>,
    /// Witnesses still missing, and why.
    pub failures: Vec<(String, String)>,
    /// Of those, the ones not asked because of their rate: seconds until
    /// each may be.
    pub rate_waits: Vec<u64>,
    /// The oldest cosignature the published checkpoint holds now (Unix
    /// seconds; `None`: none): when it is next due to be asked again.
    pub oldest: Option<u64>,
}

/// Asks the configured witnesses the published checkpoint lacks, and those
/// whose cosignature is `older_than` or more (`None`: never again), and
/// publishes it again with what they give. A witness asked again that
/// does not answer keeps the line it had: nothing is lost.
pub fn cosign(dir: &Path, older_than: Option<Duration>) -> Result<CosignReport, LogError> {
    let cfg = LogConfig::load(dir)?;
    let _lock = lock(dir)?;
    let key = load_secret_key(&cfg.key)?;
    integrate_queue(dir, &cfg, &key)?;
    cosign_locked(dir, &cfg, &key, older_than)
}

/// [`cosign`], the caller holding the log's lock.
pub(super) fn cosign_locked(
    dir: &Path,
    cfg: &LogConfig,
    key: &SecretKey,
    older_than: Option<Duration>,
) -> Result<CosignReport, LogError> {
    let vkey = key.verifier();
    let published = read_checkpoint(dir, cfg, &vkey)?.checkpoint.size;
    finish_pending(dir, cfg, key, &vkey, published)?;
    let path = dir.join("checkpoint");
    let note_bytes = fsutil::read_capped(&path, MAX_CHECKPOINT_BYTES).map_err(io(&path))?;
    let witnesses = cfg.witness_keys()?;
    let mut keys = vec![vkey.clone()];
    keys.extend(witnesses.iter().map(|w| w.to_cosignature_key()));
    let opened = note::open(&note_bytes, &keys)?;
    let cp = SignedCheckpoint::verify(&note_bytes, &cfg.origin, &vkey, &witnesses)?.checkpoint;
    let now = super::writer::now_secs();
    let (had, late) = had_lines(&opened, now.saturating_add(MAX_SKEW_SECS));
    let due = |t: u64| older_than.is_some_and(|d| t.saturating_add(d.as_secs()) <= now);
    // Each configured witness's line, if it has one.
    let line_of = |w: &crate::note::VerifierKey| {
        let c = w.to_cosignature_key();
        had.iter().position(|h| h.0 == c.name && h.1 == c.id)
    };
    let missing: Vec<usize> = (0..witnesses.len())
        .filter(|&i| line_of(&witnesses[i]).map_or(true, |h| due(had[h].3)))
        .collect();
    let mut report = CosignReport {
        size: cp.size,
        had: witnesses.len() - missing.len(),
        cosigned: vec![],
        failures: vec![],
        rate_waits: vec![],
        oldest: had.iter().map(|h| h.3).min(),
    };
    if missing.is_empty() {
        return Ok(report);
    }
    let store = disk_store(dir, cp.size);
    let log_only = sign_checkpoint(key, &cp, &[]);
    let asked = super::rates::ask(dir, cfg, &missing, &log_only, cp.size, &store)?;
    report.failures = asked.failures;
    report.rate_waits = asked.rate_waits;
    let answered = note::open(&sign_checkpoint(key, &cp, &asked.lines), &keys)?;
    let new = had_lines(&answered, now.saturating_add(MAX_SKEW_SECS)).0;
    let merged = merge(had, new);
    // A witness (or an answer replayed on the way) giving a line no newer
    // than the one it had: the fresher line stays, and the run says so.
    let url_of = |(name, id): &(String, u32)| {
        witnesses
            .iter()
            .zip(&cfg.witness)
            .find(|(w, _)| {
                let c = w.to_cosignature_key();
                c.name == *name && c.id == *id
            })
            .map_or_else(|| name.clone(), |(_, c)| c.url.clone())
    };
    let older: Vec<String> = merged.older.iter().map(url_of).collect();
    report.failures.extend(older.iter().map(|u| {
        (
            u.clone(),
            "answered with a cosignature no newer than the one the checkpoint has".to_string(),
        )
    }));
    report.oldest = merged.oldest;
    if merged.changed || late {
        // Every other line the published note had stays: those of
        // witnesses no longer configured were verified when it was
        // published.
        let mut lines = merged.lines;
        lines.extend(opened.unknown_lines);
        let note = sign_checkpoint(key, &cp, &lines);
        // Our own note must verify with our keys before anyone sees it.
        SignedCheckpoint::verify(&note, &cfg.origin, &vkey, &witnesses)?;
        fsutil::write_atomic(&path, &note, 0o644, Durability::Sync).map_err(io(&path))?;
    }
    report.cosigned = asked
        .cosigned
        .into_iter()
        .filter(|u| !older.contains(u))
        .collect();
    Ok(report)
}

/// The cosignature lines of `opened` that verified, and whose they are,
/// but for those dated after `latest` (now plus the allowed skew); and
/// whether there were such. A line dated beyond the skew (published by an
/// earlier version) makes every client refuse the checkpoint: it is
/// dropped and its witness asked again, so `cosign` mends such a log.
fn had_lines(opened: &note::OpenedNote, latest: u64) -> (Vec<Had>, bool) {
    let mut late = false;
    let had = opened
        .verified
        .iter()
        .zip(&opened.verified_lines)
        .filter_map(|(s, l)| match s.timestamp {
            Some(t) if t > latest => {
                late = true;
                None
            }
            Some(t) => Some((s.key.name.clone(), s.key.id, l.clone(), t)),
            None => None,
        })
        .collect();
    (had, late)
}

/// A cosignature line of the published note: the witness key's name and
/// ID, the line, and its timestamp.
type Had = (String, u32, String, u64);

/// The lines of a note once witnesses answered again.
#[derive(Debug, PartialEq)]
struct Merged {
    lines: Vec<String>,
    /// Witnesses (key name and ID) whose answer was no newer than the
    /// line they had: that line stays.
    older: Vec<(String, u32)>,
    changed: bool,
    /// The oldest cosignature kept (Unix seconds).
    oldest: Option<u64>,
}

/// `had` with each of `new`: a witness's newer line replaces its own, a
/// witness with no line gains one, and a line no newer than the one a
/// witness had is dropped (named in `older`).
fn merge(had: Vec<Had>, new: Vec<Had>) -> Merged {
    let mut kept = had;
    let (mut older, mut changed) = (vec![], false);
    for n in new {
        match kept.iter().position(|h| h.0 == n.0 && h.1 == n.1) {
            // The same second again (a witness asked twice within one):
            // as fresh as it gets, and no failure.
            Some(i) if kept.get(i).is_some_and(|h| h.3 == n.3) => {}
            Some(i) if kept.get(i).is_some_and(|h| h.3 > n.3) => older.push((n.0, n.1)),
            Some(i) => {
                if let Some(h) = kept.get_mut(i) {
                    *h = n;
                }
                changed = true;
            }
            None => {
                kept.push(n);
                changed = true;
            }
        }
    }
    Merged {
        oldest: kept.iter().map(|h| h.3).min(),
        lines: kept.into_iter().map(|h| h.2).collect(),
        older,
        changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(w: &str, t: u64) -> Had {
        (w.into(), 1, format!("— {w} {t}"), t)
    }

    /// A newer line replaces the witness's own; one no newer is dropped
    /// and named (the fresher line stays); a new witness's line is added.
    #[test]
    fn a_witness_line_is_replaced_only_by_a_newer_one() {
        let m = merge(
            vec![line("a", 100), line("b", 100)],
            vec![line("a", 200), line("b", 50), line("c", 300)],
        );
        assert_eq!(
            m,
            Merged {
                lines: vec!["— a 200".into(), "— b 100".into(), "— c 300".into()],
                older: vec![("b".into(), 1)],
                changed: true,
                oldest: Some(100),
            }
        );
        // Asked again within the same second: nothing changes, no failure.
        let same = merge(vec![line("a", 100)], vec![line("a", 100)]);
        assert!(!same.changed);
        assert!(same.older.is_empty());
    }
}
