//! `bt-log cosign DIR`: the published checkpoint, cosigned by the
//! configured witnesses it lacks. A checkpoint `add` published without a
//! witness (down, or over the rate it grants: src/log/rates.rs) is
//! otherwise cosigned only by a later `add`; this asks again for the same
//! tree — nothing but signature lines change — so a log that adds rarely
//! can be cosigned from cron.

use std::path::Path;

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
}

/// Asks the configured witnesses the published checkpoint lacks, and
/// publishes it again with what they give.
pub fn cosign(dir: &Path) -> Result<CosignReport, LogError> {
    let cfg = LogConfig::load(dir)?;
    let _lock = super::lock(dir)?;
    let key = load_secret_key(&cfg.key)?;
    super::held::integrate_queue(dir, &cfg, &key)?;
    cosign_locked(dir, &cfg, &key)
}

/// [`cosign`], the caller holding the log's lock.
pub(super) fn cosign_locked(
    dir: &Path,
    cfg: &LogConfig,
    key: &SecretKey,
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
    let (had, late) = had_lines(
        &opened,
        super::writer::now_secs().saturating_add(MAX_SKEW_SECS),
    );
    let missing: Vec<usize> = witnesses
        .iter()
        .enumerate()
        .filter(|(_, w)| {
            let c = w.to_cosignature_key();
            !had.iter().any(|(n, id, _)| *n == c.name && *id == c.id)
        })
        .map(|(i, _)| i)
        .collect();
    let mut report = CosignReport {
        size: cp.size,
        had: witnesses.len() - missing.len(),
        cosigned: vec![],
        failures: vec![],
        rate_waits: vec![],
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
        // Every line the published note had stays: those of witnesses no
        // longer configured were verified when it was published.
        let mut lines: Vec<String> = had.into_iter().map(|(_, _, l)| l).collect();
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
fn had_lines(opened: &note::OpenedNote, latest: u64) -> (Vec<(String, u32, String)>, bool) {
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
            Some(_) => Some((s.key.name.clone(), s.key.id, l.clone())),
            None => None,
        })
        .collect();
    (had, late)
}
