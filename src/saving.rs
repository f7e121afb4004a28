//! What a verification leaves in the state directory: the checkpoints,
//! proofs and attestations it learnt ([`save`]), and, before a proven
//! release runs, the record of the newest leaf of its name that ran
//! ([`record_run`], what `require.no_downgrade` compares against;
//! docs/HISTORY.md).

use crate::app::{self, Fail};
use crate::store::Store;
use crate::verify::{exit, LogOutcome, LogReport, Verdict};

/// Records what verification learnt: new checkpoints and proofs
/// (atomically, under the state lock; nothing at all on the warm path).
pub fn save(store: &Store, reports: &[LogReport], sha256: &[u8; 32]) -> Result<(), Fail> {
    let to_save = reports.iter().any(|r| {
        r.save_checkpoint.is_some() || r.save_proof.is_some() || !r.save_attestations.is_empty()
    });
    if !to_save {
        return Ok(());
    }
    let _lock = app::lock(store)?;
    for r in reports {
        if let Some(n) = &r.save_checkpoint {
            let _ = store.save_checkpoint(&r.origin, n);
        }
        if let Some(p) = &r.save_proof {
            let _ = store.save_proof(&r.origin, sha256, p);
        }
        for (key, p) in &r.save_attestations {
            let _ = store.save_attestation(&r.origin, sha256, key, p);
        }
    }
    Ok(())
}

/// The release a proven verdict runs: its name, version, and (origin, leaf
/// index) in each log that proved it.
pub struct RunAt {
    pub name: String,
    pub version: String,
    pub at: Vec<(String, u64)>,
}

/// The release `verdict` runs, when a log proved it by a release entry.
pub fn run_at(verdict: &Verdict) -> Option<RunAt> {
    let proven: Vec<_> = verdict
        .logs
        .iter()
        .filter_map(|r| match (&r.outcome, &r.entry) {
            (LogOutcome::Proven { index }, Some(e)) => Some((r.origin.clone(), *index, e)),
            _ => None,
        })
        .collect();
    let (_, _, e) = proven.first()?;
    Some(RunAt {
        name: e.release.name.clone(),
        version: e.release.version.clone(),
        at: proven.iter().map(|(o, i, _)| (o.clone(), *i)).collect(),
    })
}

/// Remembers, durably and before the exec, the newest leaf of this release's
/// name that ran (what `require.no_downgrade` compares against).
pub fn record_run(store: &Store, verdict: &Verdict) -> Result<(), Fail> {
    let Some(RunAt { name, version, at }) = run_at(verdict) else {
        return Ok(());
    };
    let known = crate::history::runs(store, &name);
    if at
        .iter()
        .all(|(o, i)| known.logs.get(o).is_some_and(|(k, _)| k >= i))
    {
        return Ok(());
    }
    let _lock = app::lock(store)?;
    crate::history::record_run(store, &name, &version, &at).map_err(|e| {
        Fail::new(
            exit::CONFIG,
            format!("cannot record this run for require.no_downgrade: {e}"),
        )
    })
}
