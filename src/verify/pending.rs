//! Consistency that cannot be checked now (DESIGN §6): a checkpoint that
//! meets the policy by itself — the log's signature, a fresh quorum of
//! the policy's witnesses — may prove a leaf when the tiles that would
//! link it to the checkpoint in force cannot be read (offline, the log
//! down). The pair is kept pending ([`defer`]) and proven at the next
//! online contact ([`settle`]): one history, and it is forgotten; two, and
//! it is a split view (123, evidence, alarm) exactly as if found at once.
//!
//! What this trusts (docs/VERIFY.md): the witnesses. A log key and a
//! colluding quorum of the policy's witnesses could show an offline
//! machine a fork; the machine finds it at its next online contact with
//! that log once the log's tiles can prove the two apart (at once when the
//! log's own signed checkpoint contradicts it: [`evidence`]), and until
//! then the fork proves anything only while its quorum is younger than
//! `require.max_age`.

use super::checkpoint::{fresh, fresh_until, one_history};
use super::log::{open, to_save, Log, LogOutcome, LogReport, Step};
use crate::store::{Pair, MAX_PENDING};
use crate::tlog::SignedCheckpoint;

/// A checkpoint shipped in a proof file beside the program, opened (its
/// log signature and cosignatures verified), and where it was read.
pub(super) struct Shipped {
    pub(super) sc: SignedCheckpoint,
    pub(super) at: String,
}

/// Lets `unlinked` prove a leaf although whether it is one history with
/// `anchor` (the checkpoint in force) cannot be proven now (`why`): only
/// when it meets the policy by itself, and only with the pair kept pending.
///
/// Attack stopped: a network path, a log that is down, or simply a machine
/// offline turning a witnessed proof shipped beside a program into 124 —
/// while a checkpoint the log key alone signed (a fork no witness saw)
/// still proves nothing here: it never meets the policy by itself.
pub(super) fn defer(
    log: &Log,
    anchor: &SignedCheckpoint,
    unlinked: &SignedCheckpoint,
    from: &str,
    why: &str,
    report: &mut LogReport,
) -> Step<()> {
    let (a, u) = (anchor.checkpoint.size, unlinked.checkpoint.size);
    let cannot = |m: String| {
        LogOutcome::Unreachable(format!(
            "{from}: its checkpoint (size {u}) cannot be proven one history with the checkpoint in force (size {a}) now ({why}); {m}"
        ))
    };
    fresh(log, unlinked)?;
    let text = |sc: &SignedCheckpoint| {
        String::from_utf8(to_save(log, sc)).map_err(|_| cannot("its note is not UTF-8".into()))
    };
    let pair = Pair {
        anchor: text(anchor)?,
        unlinked: text(unlinked)?,
        recorded: log.ctx.now,
        from: from.to_string(),
    };
    let known = log
        .ctx
        .state
        .pending(&log.spec.id)
        .map_err(|e| cannot(format!("the pairs already pending cannot be read: {e}")))?;
    if known.len() >= MAX_PENDING && !known.iter().any(|p| p.is_of(&pair.unlinked)) {
        return Err(cannot(format!(
            "{MAX_PENDING} pairs of this log already wait to be proven: reach the log first"
        )));
    }
    report.warnings.push(format!(
        "{from}: its checkpoint (size {u}) meets the policy by itself but cannot be proven one history with the checkpoint in force (size {a}) now ({why}); it proves the leaf, and when the program runs the pair is kept pending until the next online contact with the log proves it"
    ));
    report.deferred = true;
    report.save_pending.push(pair);
    Ok(())
}

/// A shipped checkpoint in force for this run in place of the saved one,
/// which cannot be (the log unreachable and the saved one stale, or the
/// log serving one that does not meet the policy): proven one history with
/// the saved one when the tiles allow — and then saved if larger — else
/// deferred ([`defer`]).
pub(super) fn in_place_of_saved(
    log: &Log,
    saved: &SignedCheckpoint,
    shipped: &Shipped,
    report: &mut LogReport,
) -> Step<SignedCheckpoint> {
    let p = &shipped.sc;
    let (ps, ss) = (p.checkpoint.size, saved.checkpoint.size);
    match one_history(log, saved, p)? {
        // Larger, or the same tree cosigned again since: saved.
        Ok(()) if ps > ss || (ps == ss && fresh_until(log, p) > fresh_until(log, saved)) => {
            report.save_checkpoint = Some(to_save(log, p));
        }
        Ok(()) => {}
        Err(why) => defer(log, saved, p, &shipped.at, &why, report)?,
    }
    log.say(format!(
        "{}: its checkpoint (size {}) meets the policy by itself; in force for this run",
        shipped.at, p.checkpoint.size
    ));
    Ok(p.clone())
}

/// Whether `other` contradicts the checkpoint the log served in this run
/// (validly signed by its key, whatever its cosignatures): a split view
/// (123, evidence) when the tiles at hand prove the two apart; nothing
/// otherwise — an unproven link defers nothing here.
///
/// Attack stopped: a fork a colluding quorum signed, shipped to a machine
/// that reaches the log while its saved checkpoint is stale, or while the
/// log serves a checkpoint not yet cosigned (between witness rounds), ran
/// with the pair "pending" although the log's own checkpoint proved it a
/// fork: a checkpoint the witnesses never cosigned is still proof that
/// the log key signed two histories (DESIGN §6).
pub(super) fn evidence(log: &Log, other: &SignedCheckpoint) -> Step<()> {
    match log.served.get() {
        Some(f) if f.verified_note != other.verified_note => one_history(log, f, other).map(|_| ()),
        _ => Ok(()),
    }
}

/// [`evidence`] for every pending checkpoint of this log: one the log's
/// served checkpoint proves a fork is a split view (and forgotten, its
/// evidence kept).
pub(super) fn evidence_pending(log: &Log, report: &mut LogReport) -> Step<()> {
    if log.served.get().is_none() {
        return Ok(());
    }
    for pair in log.ctx.state.pending(&log.spec.id).unwrap_or_default() {
        if let Ok(p) = open(pair.unlinked.as_bytes(), log) {
            if let Err(o) = evidence(log, &p) {
                report.settled.push(pair.unlinked);
                return Err(o);
            }
        }
    }
    Ok(())
}

/// Proves this log's pending pairs at an online contact (a run, `gossip
/// import`, `status`) against the line of checkpoints this machine holds:
/// `in_force` (proven one history with the saved one) or `saved`, whichever
/// is larger. Each one proven one history is forgotten; one proven two is
/// a split view (its evidence and alarm written, the error returned).
/// Returns the largest of them proven to extend that line that meets the
/// policy now: the saved checkpoint moves forward only to a checkpoint
/// proven consistent with it.
///
/// Every pair is proven against the largest checkpoint proven so far, in
/// order of size: proven checkpoints form one chain, so two pending
/// checkpoints that fork from each other beyond it are found too.
///
/// Attack stopped: a fork a colluding quorum signed, pending, "proven"
/// against a smaller checkpoint in force (a stale saved one replaced for
/// the run by a shipped prefix of it) — consistent with that prefix, and
/// then saved over the larger checkpoint it forks from.
pub(super) fn settle(
    log: &Log,
    in_force: &SignedCheckpoint,
    saved: Option<&SignedCheckpoint>,
    report: &mut LogReport,
) -> Step<Option<SignedCheckpoint>> {
    if log.source.is_none() {
        return Ok(None);
    }
    evidence_pending(log, report)?;
    let pairs = match log.ctx.state.pending(&log.spec.id) {
        Ok(p) => p,
        Err(e) => {
            report.warnings.push(format!(
                "the pending pairs of this log cannot be read ({e}); they stay unproven"
            ));
            return Ok(None);
        }
    };
    let mut opened = vec![];
    for pair in pairs {
        match open(pair.unlinked.as_bytes(), log) {
            Ok(sc) => opened.push((pair, sc)),
            // Kept under another policy (its log key or witnesses since
            // changed): nothing can be proven of it under this one.
            Err(e) => {
                report.warnings.push(format!(
                    "a pending checkpoint from {} no longer verifies under this policy ({e}); forgotten",
                    pair.from
                ));
                report.settled.push(pair.unlinked);
            }
        }
    }
    opened.sort_by_key(|(_, sc)| sc.checkpoint.size);
    let mut top = match saved {
        Some(c) if c.checkpoint.size > in_force.checkpoint.size => c.clone(),
        _ => in_force.clone(),
    };
    let mut newer = None;
    for (pair, p) in opened {
        match one_history(log, &p, &top) {
            Err(o) => {
                report.settled.push(pair.unlinked);
                return Err(o);
            }
            Ok(Ok(())) => {
                log.say(format!(
                    "the pending checkpoint of size {} (from {}) is proven one history with size {}",
                    p.checkpoint.size, pair.from, top.checkpoint.size
                ));
                report.settled.push(pair.unlinked);
                if p.checkpoint.size > top.checkpoint.size {
                    if fresh(log, &p).is_ok() {
                        newer = Some(p.clone());
                    }
                    top = p;
                }
            }
            Ok(Err(why)) => report.warnings.push(format!(
                "the pending checkpoint of size {} (from {}) still cannot be proven one history with size {}: {why}",
                p.checkpoint.size, pair.from, top.checkpoint.size
            )),
        }
    }
    Ok(newer)
}
