//! What a verification leaves in the state directory: the checkpoints,
//! proofs and attestations it learnt ([`save`]), and, before a proven
//! release runs, the record of the newest leaf of its name that ran
//! ([`record_run`], what `require.no_downgrade` compares against;
//! docs/HISTORY.md).

use crate::app::{self, Fail};
use crate::state::State;
use crate::store::Store;
use crate::verify::{exit, LogOutcome, LogReport, Verdict};

/// Records what verification learnt: new checkpoints and proofs
/// (atomically, under the state lock; nothing at all on the warm path).
/// Returns what could not be saved, for the user to see: the verdict
/// stands, but a checkpoint not saved is rollback protection lost.
pub fn save(
    state: &dyn State,
    reports: &[LogReport],
    sha256: &[u8; 32],
    now: u64,
) -> Result<Vec<String>, Fail> {
    let to_save = reports.iter().any(|r| {
        r.save_checkpoint.is_some() || r.save_proof.is_some() || !r.save_attestations.is_empty()
    });
    if !to_save {
        return Ok(vec![]);
    }
    let _lock = state
        .lock()
        .map_err(|e| Fail::new(exit::CONFIG, format!("cannot take the state lock: {e}")))?;
    let mut failed = vec![];
    for r in reports {
        let mut note = |what: &str, res: Result<(), crate::store::StoreError>| {
            if let Err(e) = res {
                failed.push(format!("{}: cannot save the {what}: {e}", r.origin));
            }
        };
        if let Some(n) = &r.save_checkpoint {
            note("checkpoint", state.save_checkpoint(&r.origin, n, now));
        }
        if let Some(p) = &r.save_proof {
            note("inclusion proof", state.save_proof(&r.origin, sha256, p));
        }
        for (key, p) in &r.save_attestations {
            note(
                "attestation",
                state.save_attestation(&r.origin, sha256, key, p),
            );
        }
    }
    Ok(failed)
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
