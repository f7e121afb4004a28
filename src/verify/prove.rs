//! Verification against one log: its checkpoint (signature, origin, witness
//! quorum, freshness), consistency with the checkpoint this machine saw
//! before, finding the leaf (sidecar tlog-proof, cached proof, `bt/index`),
//! inclusion, and the entry itself; or, on the warm path, none of that
//! when a fresh checkpoint and a cached proof already hold.

use std::time::Instant;

use super::cause::Cause;
use super::checkpoint::{fresh, fresh_until};
use super::context::{Context, ProofFile};
use super::current::current;
use super::leaf::{cached_proof, find_leaf, from_view};
use super::log::{open, saved, Checked, Log, LogOutcome, LogReport, Step};
use super::pending::Shipped;
use super::release::{attestations, update_view};
use super::releases::rules_read_history;
use crate::policy::LogSpec;
use crate::store::Ingested;

/// The warm path: a saved checkpoint that still meets the policy
/// (`max_age`, the quorum) and a cached proof of this file against it need
/// no network request at all, however long ago the checkpoint was fetched:
/// keeping it fetched is the background refresher's work
/// (src/exec/background.rs), started by the run that finds it older than
/// `require.refresh`. `refresh = "0s"` turns the warm path off (every run
/// fetches). `None` when this log needs the full path.
pub fn warm(ctx: &Context, spec: &LogSpec, file: &Ingested) -> Option<LogReport> {
    if ctx.policy.require.refresh.is_zero() || ctx.state.alarm(&spec.id).is_some() {
        return None;
    }
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let c = saved(&log).filter(|c| fresh(&log, c).is_ok())?;
    let found = cached_proof(&log, &c.checkpoint, file)?;
    // Release history from the state alone, when it covers the checkpoint
    // in force; anything else goes the full way (and a history refusal is
    // decided again with fresh data: `super::verify`).
    let rules = rules_read_history(ctx.policy);
    // Never on a pair not yet proven one history (DESIGN §6): what the
    // history rules read may be another history than the one in force.
    let unproven = || !ctx.state.pending(&spec.id).is_ok_and(|p| p.is_empty());
    if ctx.policy.require.prior_revisions > 0
        || (rules && (ctx.state.view(&spec.id).size().0 < c.checkpoint.size || unproven()))
    {
        return None;
    }
    let mut scratch = LogReport::new(spec, LogOutcome::Refused(Cause::Internal, String::new()));
    let attested = attestations(&log, &c.checkpoint, file, &found, false, &mut scratch).ok()?;
    if attested.len() < ctx.policy.require.rebuilders {
        return None;
    }
    let index = found.index;
    log.say(format!(
        "cached checkpoint size {} is fresh; proven from the cache at leaf {index}",
        c.checkpoint.size
    ));
    let mut report = LogReport::new(spec, LogOutcome::Proven { index });
    report.narration = log.narration();
    report.entry = Some(found.entry);
    report.attested = attested;
    report.rests_on(&c);
    report.warm_until = fresh_until(&log, &c);
    report.history = rules.then(Default::default);
    report.elapsed_ms = start.elapsed().as_millis();
    Some(report)
}

/// What `bt-exec refresh` learnt of one log ([`refresh_log`]).
pub struct Refreshed {
    /// Whether the log served a checkpoint (was reached).
    pub reached: bool,
    /// Entries of the release history read and verified now.
    pub history: bool,
}

/// `bt-exec refresh` of one log: its checkpoint in force established as a
/// run would (fetched, proven consistent with the saved one, pending pairs
/// proven, a fork a split view with evidence) and, when the policy's
/// history rules read it, its release history brought up to that
/// checkpoint. The report holds what to save
/// ([`crate::exec::saving::save`]).
pub fn refresh_log(ctx: &Context, spec: &LogSpec) -> (LogReport, Step<Refreshed>) {
    let log = Log::new(ctx, spec);
    let mut report = LogReport::new(spec, LogOutcome::Refused(Cause::Internal, String::new()));
    let r = current(&log, &mut report, None).and_then(|c| {
        let reached = log.served.get().is_some();
        let history = reached && rules_read_history(ctx.policy);
        if history {
            let view = ctx.state.view(&spec.id);
            update_view(&log, &*view, &c)?;
        }
        Ok(Refreshed { reached, history })
    });
    report.narration = log.narration();
    (report, r)
}

/// "Not in this log" from a log whose larger, witnessed served checkpoint
/// could not be proven to extend the saved one is that log unreachable
/// for this run.
///
/// Attack stopped: a mirror or network path that alters or drops the
/// tiles linking the saved checkpoint to the log's newer one, so that a
/// release logged since is "not in this log" (126, "publish this exact
/// file") on a machine that saw the log before. Anyone on the path can do
/// that, so it is 124, as dropping packets would be.
pub(super) fn unknown_if_unproven(o: LogOutcome, report: &LogReport) -> LogOutcome {
    match (o, &report.unproven_growth) {
        (LogOutcome::Refused(Cause::NotInLog, m) | LogOutcome::Unreachable(m), Some(why)) => {
            LogOutcome::Unreachable(format!("{m}; {why}"))
        }
        (o, _) => o,
    }
}

/// The refusal of a proof file for this log that fails on its own (it does
/// not parse, or its checkpoint is not this log's, validly signed).
fn broken_proof(log: &Log, sidecar: Option<&ProofFile>) -> Option<LogOutcome> {
    let pf = sidecar.filter(|pf| pf.concerns(&log.spec.origin))?;
    let at = pf.path.display();
    let why = match &pf.parsed {
        Err(e) => e.to_string(),
        Ok(p) => format!("checkpoint: {}", open(&p.checkpoint, log).err()?),
    };
    Some(LogOutcome::Refused(
        Cause::ProofFile,
        format!("{at}: {why}"),
    ))
}

/// Verifies `file` against one log.
pub fn verify_log(
    ctx: &Context,
    spec: &LogSpec,
    file: &Ingested,
    sidecar: Option<&ProofFile>,
) -> LogReport {
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let mut report = LogReport::new(spec, LogOutcome::Refused(Cause::Internal, String::new()));
    let outcome = match run(&log, file, sidecar, &mut report) {
        Ok(index) => LogOutcome::Proven { index },
        // A pair is kept only for a leaf it proved: refused proofs beside
        // other programs must not fill the pending pairs (and so refuse
        // deferral to the next one).
        Err(o) => {
            report.save_pending.clear();
            o
        }
    };
    report.outcome = outcome;
    report.narration = log.narration();
    report.elapsed_ms = start.elapsed().as_millis();
    report
}

fn run(
    log: &Log,
    file: &Ingested,
    sidecar: Option<&ProofFile>,
    report: &mut LogReport,
) -> Step<u64> {
    // A proof file's checkpoint, which may stand in for the saved one
    // (super::pending); what is wrong with the file is said when its leaf
    // is looked for.
    let shipped = sidecar
        .filter(|pf| pf.concerns(&log.spec.origin))
        .and_then(|pf| {
            let sc = open(&pf.parsed.as_ref().ok()?.checkpoint, log).ok()?;
            Some(Shipped {
                sc,
                at: pf.path.display().to_string(),
            })
        });
    let mut current = match current(log, report, shipped.as_ref()) {
        Ok(c) => c,
        // Nothing else can prove the leaf now, and the proof file for this
        // log fails on its own: its refusal (126), not the network's.
        Err(LogOutcome::Unreachable(why)) => {
            return Err(broken_proof(log, sidecar).unwrap_or(LogOutcome::Unreachable(why)))
        }
        Err(o) => return Err(o),
    };
    let mut found = find_leaf(log, &mut current, file, sidecar, report);
    // Under history rules every log whose checkpoint is in force is read,
    // whether or not it proves the file: a newer release in a log that
    // lacks these bytes still makes them outdated (super::releases).
    if rules_read_history(log.ctx.policy) && !matches!(found, Err(LogOutcome::Misbehaved { .. })) {
        let view = log.ctx.state.view(&log.spec.id);
        update_view(log, &*view, &current)?;
        // What the index did not find (or a garbled index hid), the
        // history may hold (a proof file present decides alone: no
        // fallback). When the view cannot prove it either, the index's
        // answer stands.
        let index_failed = matches!(
            found,
            Err(LogOutcome::Refused(..) | LogOutcome::Unreachable(_))
        );
        if sidecar.is_none() && index_failed {
            if let Ok(Some(f)) = from_view(log, &current.checkpoint, file, report) {
                found = Ok(f);
            }
        }
        // A leaf proven by a checkpoint not yet linked to the one in
        // force (super::pending), beyond the history this machine holds:
        // which releases precede or follow it is unknown until the log
        // is reached (124), never "not in any log" (126).
        let (have, _) = view.size();
        if let (true, Ok(f)) = (report.deferred, &found) {
            if f.index >= have {
                found = Err(LogOutcome::Unreachable(format!(
                    "leaf {} is proven by a checkpoint not yet linked to the one in force, beyond the release history this machine holds ({have} entries); the history rules need the log to be reached",
                    f.index
                )));
            }
        }
        report.history = Some(Checked {
            covers: found.as_ref().map(|f| f.covers.clone()).unwrap_or_default(),
        });
    }
    let found = found.map_err(|o| unknown_if_unproven(o, report))?;
    report.attested = attestations(log, &current.checkpoint, file, &found, true, report)?;
    report.entry = Some(found.entry);
    Ok(found.index)
}
