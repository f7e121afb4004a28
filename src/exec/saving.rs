//! What a verification leaves in the state directory: the checkpoints,
//! proofs, attestations and pending pairs it learnt ([`save`]), and, before a proven
//! release runs, the record of the newest leaf of its name that ran
//! ([`record_run`], what `require.no_downgrade` compares against;
//! docs/HISTORY.md).

use crate::exec::app::{self, Fail};
use crate::state::State;
use crate::store::Store;
use crate::verify::{exit, LogOutcome, LogReport, Verdict};

/// What [`save`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Saved {
    /// Saved; the lines name what could not be written (the verdict
    /// stands, but a checkpoint not saved is rollback protection lost).
    Done(Vec<String>),
    /// Another process saved a checkpoint of these logs after this
    /// verification read it: nothing was saved, and the verification must
    /// be made again from what is saved now.
    Conflict(Vec<String>),
}

/// Records what verification learnt: new checkpoints (each only in place
/// of the one the verification read: [`State::save_checkpoint`]), proofs
/// and attestations, under the state lock; nothing at all on the warm
/// path.
pub fn save(
    state: &dyn State,
    reports: &[LogReport],
    sha256: &[u8; 32],
    now: u64,
) -> Result<Saved, Fail> {
    let to_save = reports.iter().any(|r| {
        r.save_checkpoint.is_some()
            || r.save_proof.is_some()
            || !r.save_attestations.is_empty()
            || !r.save_pending.is_empty()
            || !r.settled.is_empty()
    });
    if !to_save {
        return Ok(Saved::Done(vec![]));
    }
    let _lock = state
        .lock()
        .map_err(|e| Fail::new(exit::CONFIG, format!("cannot take the state lock: {e}")))?;
    // Every saved checkpoint must still be the one read before anything is
    // written, so a conflict leaves the state as another process left it.
    let moved: Vec<String> = reports
        .iter()
        .filter_map(|r| Some((r, r.log.as_ref()?)))
        .filter(|(r, log)| r.save_checkpoint.is_some() && state.checkpoint(log) != r.saved_before)
        .map(|(r, _)| r.label.clone())
        .collect();
    if !moved.is_empty() {
        return Ok(Saved::Conflict(moved));
    }
    let mut failed = vec![];
    for r in reports {
        // A report about no listed log (a Sigsum proof) saves nothing.
        let Some(log) = &r.log else { continue };
        let mut note = |what: &str, res: Result<(), crate::store::StoreError>| {
            if let Err(e) = res {
                failed.push(format!("{}: cannot save the {what}: {e}", r.label));
            }
        };
        if let Some(n) = &r.save_checkpoint {
            let res = state.save_checkpoint(log, r.saved_before.as_deref(), n, now);
            note("checkpoint", res.map(|_| ()));
        }
        if let Some(p) = &r.save_proof {
            note("inclusion proof", state.save_proof(log, sha256, p));
        }
        for (key, p) in &r.save_attestations {
            note("attestation", state.save_attestation(log, sha256, key, p));
        }
        // Pairs kept pending, and those proven since (DESIGN §6).
        if !r.save_pending.is_empty() || !r.settled.is_empty() {
            let res = state.update_pending(log, &r.save_pending, &r.settled);
            note("pending checkpoint pairs", res);
        }
    }
    Ok(Saved::Done(failed))
}

/// How many times a verification is made again because other processes
/// kept saving newer checkpoints.
pub const ATTEMPTS: usize = 5;

/// Makes a decision with `decide` and saves what it learnt (`learnt`: its
/// reports and the file's SHA-256); when another process saved a
/// checkpoint meanwhile, decides again from what is saved now, as Go's
/// sumdb client does. Returns the decision that was saved and what could
/// not be written. Fails (124) when the state moved under every attempt.
pub fn decide_and_save<T>(
    state: &dyn State,
    now: u64,
    mut decide: impl FnMut() -> Result<T, Fail>,
    learnt: impl Fn(&T) -> (&[LogReport], [u8; 32]),
) -> Result<(T, Vec<String>), Fail> {
    let mut moved = vec![];
    for _ in 0..ATTEMPTS {
        let out = decide()?;
        let (reports, sha256) = learnt(&out);
        match save(state, reports, &sha256, now)? {
            Saved::Done(unsaved) => return Ok((out, unsaved)),
            Saved::Conflict(origins) => moved = origins,
        }
    }
    Err(Fail::new(
        exit::UNREACHABLE,
        format!(
            "the saved checkpoints of {} changed under each of {ATTEMPTS} verifications (other bt-exec processes saving newer ones); try again",
            moved.join(", ")
        ),
    ))
}

/// A release a proven verdict runs: its name, version, (log key, leaf
/// index) in each log that holds it, and what the name's run record keeps
/// of it across logs.
pub struct RunAt {
    pub name: String,
    pub version: String,
    pub at: Vec<(String, u64)>,
    pub ran: Option<crate::history::Ran>,
}

/// The releases `verdict` runs: every release of the bytes the history
/// rules judged (each name is recorded: `no_downgrade` is per name,
/// whichever log proved it), else the release the logs proved it by.
pub fn run_at(verdict: &Verdict) -> Vec<RunAt> {
    if !verdict.releases.is_empty() {
        return verdict
            .releases
            .iter()
            .map(|p| RunAt {
                name: p.name.clone(),
                version: p.version.clone(),
                at: p
                    .first
                    .iter()
                    .filter_map(|&(r, i)| Some((verdict.logs.get(r)?.log.as_ref()?.file_key(), i)))
                    .collect(),
                ran: Some(crate::history::Ran::new(&p.sha256, &p.version, p.published)),
            })
            .collect();
    }
    let proven: Vec<_> = verdict
        .logs
        .iter()
        .filter_map(|r| match (&r.outcome, &r.entry) {
            (LogOutcome::Proven { index }, Some(e)) => {
                Some((r.log.as_ref()?.file_key(), *index, e, r.deferred))
            }
            _ => None,
        })
        .collect();
    // Only a release some log proved against its checkpoint in force is
    // recorded: what a checkpoint not yet linked to it proved alone may be
    // a fork's (a run record outlives the split view found later).
    let Some((_, _, e, _)) = proven.iter().find(|p| !p.3) else {
        return vec![];
    };
    vec![RunAt {
        name: e.release.name.clone(),
        version: e.release.version.clone(),
        // Nor is a leaf index such a checkpoint proved.
        at: proven
            .iter()
            .filter(|p| !p.3)
            .map(|(o, i, ..)| (o.clone(), *i))
            .collect(),
        ran: Some(crate::history::Ran::new(
            &e.release.sha256,
            &e.release.version,
            e.release.published,
        )),
    }]
}

/// Remembers, durably and before the exec, every release of these bytes
/// that runs, under its name (what `require.no_downgrade` compares
/// against).
pub fn record_run(store: &Store, verdict: &Verdict) -> Result<(), Fail> {
    for RunAt {
        name,
        version,
        at,
        ran,
    } in run_at(verdict)
    {
        let known = crate::history::runs(store, &name);
        let known_ran = ran
            .as_ref()
            .map_or(true, |r| known.ran.iter().any(|k| k.sha256 == r.sha256));
        if known_ran
            && at
                .iter()
                .all(|(o, i)| known.logs.get(o).is_some_and(|(k, _)| k >= i))
        {
            continue;
        }
        let _lock = app::lock(store)?;
        crate::history::record_run(store, &name, &version, &at, ran).map_err(|e| {
            Fail::new(
                exit::CONFIG,
                format!("cannot record this run for require.no_downgrade: {e}"),
            )
        })?;
    }
    Ok(())
}
