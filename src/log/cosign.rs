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

use super::writer::{disk_store, finish_pending};
use super::{io, load_secret_key, read_checkpoint, sign_checkpoint, LogConfig, LogError};
use crate::fsutil::{self, Durability};
use crate::note::{self, SecretKey};
use crate::tlog::{SignedCheckpoint, MAX_CHECKPOINT_BYTES};
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
    let _lock = super::lock(dir)?;
    let key = load_secret_key(&cfg.key)?;
    super::held::integrate_queue(dir, &cfg, &key)?;
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
    if !asked.lines.is_empty() || late {
        // A witness that cosigned again replaces its own older line.
        let replaced: Vec<usize> = missing
            .iter()
            .filter(|&&i| {
                cfg.witness
                    .get(i)
                    .is_some_and(|w| asked.cosigned.contains(&w.url))
            })
            .filter_map(|&i| line_of(&witnesses[i]))
            .collect();
        // Every other line the published note had stays: those of
        // witnesses no longer configured were verified when it was
        // published.
        let kept: Vec<_> = had
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !replaced.contains(i))
            .map(|(_, h)| h)
            .collect();
        report.oldest = kept
            .iter()
            .map(|h| h.3)
            .min()
            .or(Some(now))
            .map(|t| t.min(now));
        let mut lines: Vec<String> = kept.into_iter().map(|h| h.2).collect();
        lines.extend(opened.unknown_lines);
        lines.extend(asked.lines);
        let note = sign_checkpoint(key, &cp, &lines);
        // Our own note must verify with our keys before anyone sees it.
        SignedCheckpoint::verify(&note, &cfg.origin, &vkey, &witnesses)?;
        fsutil::write_atomic(&path, &note, 0o644, Durability::Sync).map_err(io(&path))?;
    }
    report.cosigned = asked.cosigned;
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
