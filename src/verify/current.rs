//! The checkpoint in force for one log, and which checkpoints may prove a
//! leaf (DESIGN §6): the log's signature, the witness quorum and
//! freshness, consistency with everything seen before, split views.

use super::cause::Cause;
use super::checkpoint::{fresh, fresh_until, future_warnings, one_history};
use super::context::Context;
use super::log::{open, refused, saved_read, to_save, Log, LogOutcome, LogReport, Step};
use super::pending::{self, Shipped};
use crate::policy::LogSpec;
use crate::tlog::{SignedCheckpoint, MAX_CHECKPOINT_BYTES};

/// How a checkpoint [`may_prove`] allows proves a leaf.
pub(super) enum Proves {
    /// It is the checkpoint in force or proven a prefix of it.
    Prefix,
    /// It meets the policy and is proven to extend the checkpoint in
    /// force: it becomes the checkpoint in force.
    Extends(SignedCheckpoint),
    /// It meets the policy by itself, and whether it is one history with
    /// the checkpoint in force cannot be proven now (why): it proves the
    /// leaf only with the pair kept pending ([`super::pending::defer`]).
    Unlinked(String),
}

/// Which checkpoint may prove a leaf (DESIGN §6) — decided here, and only
/// here, for every checkpoint that did not come from the log's own
/// `checkpoint` file (a proof file beside the program today).
///
/// Attack stopped: whoever holds the log key can sign any tree. A tree
/// extended by an entry no witness saw, shipped in a proof file beside a
/// program while the log keeps serving its honest, cosigned checkpoint, is
/// a release targeted at one user; only the witnesses stand between it and
/// the user. So `candidate` proves a leaf only when it meets the policy
/// itself (witness quorum, freshness) or is proven to be a prefix of
/// `in_force`, which does. One that meets the policy but cannot be linked
/// to `in_force` now (offline, the log down) is [`Proves::Unlinked`].
pub(super) fn may_prove(
    log: &Log,
    in_force: &SignedCheckpoint,
    candidate: &SignedCheckpoint,
    what: &str,
) -> Step<Proves> {
    let (c, f) = (candidate.checkpoint.size, in_force.checkpoint.size);
    super::pending::evidence(log, candidate)?;
    let history = one_history(log, candidate, in_force)?;
    let meets = fresh(log, candidate);
    if c <= f {
        return match (history, meets) {
            (Ok(()), _) => Ok(Proves::Prefix),
            (Err(why), Ok(())) => Ok(Proves::Unlinked(why)),
            (Err(why), Err(_)) => Err(LogOutcome::Unreachable(format!(
                "{what}: its checkpoint (size {c}) cannot be proven a prefix of the checkpoint in force (size {f}), and does not meet the policy by itself: {why}"
            ))),
        };
    }
    if let Err(LogOutcome::Refused(_, why)) = meets {
        return refused(Cause::Unwitnessed, format!(
            "{what}: its checkpoint of size {c} is larger than size {f}, the largest checkpoint of this log that meets the policy, and does not meet it itself ({why}); the log key alone can sign such a tree, so nothing in it is proven until the witnesses cosign a checkpoint that covers it"
        ));
    }
    Ok(match history {
        Ok(()) => Proves::Extends(candidate.clone()),
        Err(why) => Proves::Unlinked(why),
    })
}

/// The checkpoint in force for this log: the log's own, verified and
/// proven consistent with the one seen before, or the saved one when the
/// log cannot be reached or serves a copy nothing can be concluded from
/// (DESIGN §6: "the cache rules decide"); failing those, a checkpoint
/// `shipped` in a proof file that meets the policy by itself
/// ([`super::pending`]). Pending pairs are proven when the log is
/// reached. Its coverage is recorded for `min_release_age`.
pub(super) fn current(
    log: &Log,
    report: &mut LogReport,
    shipped: Option<&Shipped>,
) -> Step<SignedCheckpoint> {
    no_alarm(log)?;
    let (raw, saved) = saved_read(log);
    if raw.is_some() && saved.is_none() {
        // Rollback and fork protection rest on it: never lost in silence.
        report.warnings.push(
            "the saved checkpoint of this log cannot be opened (corrupt, or not signed by the policy's key for it); it is verified as on first use".into(),
        );
    }
    report.saved_before = raw;
    // Nothing saved yet: a shipped checkpoint that meets the policy by
    // itself stands where the saved one would, and is saved unless the
    // log's own replaces it (a new machine, offline, on first use).
    let meets = shipped.map(|s| (s, fresh(log, &s.sc)));
    let shipped_fresh = meets.as_ref().filter(|(_, m)| m.is_ok()).map(|(s, _)| *s);
    let first = saved.is_none() && shipped_fresh.is_some();
    let cached = match (&saved, shipped_fresh) {
        (None, Some(s)) => Some(s.sc.clone()),
        (c, _) => c.clone(),
    };
    let line = saved.clone();
    let mut current = match (established(log, cached, report), saved, meets) {
        (Ok(c), ..) => c,
        (Err(LogOutcome::Misbehaved { msg, evidence }), ..) => {
            return Err(LogOutcome::Misbehaved { msg, evidence })
        }
        (Err(_), Some(c), Some((s, Ok(())))) => pending::in_place_of_saved(log, &c, s, report)?,
        // Nothing saved, the log out of reach, and the shipped checkpoint
        // may not prove a leaf: that is the proof's fault, not the
        // network's (126). (With a saved checkpoint the cache rules
        // decide, as before: 124 when it is stale.)
        (Err(LogOutcome::Unreachable(why)), None, Some((s, Err(LogOutcome::Refused(cause, m))))) => {
            return refused(cause, format!(
                "{}: its checkpoint (size {}) does not meet the policy by itself ({m}), and no checkpoint of this log that does can be had now ({why})",
                s.at, s.sc.checkpoint.size
            ))
        }
        (Err(o), ..) => {
            // Refused or unreachable: what the log served may still prove
            // a pending checkpoint a fork.
            pending::evidence_pending(log, report)?;
            return Err(o);
        }
    };
    // Whatever is in force, the log's own signed checkpoint must not
    // contradict it (a shipped one in place of a stale saved one).
    pending::evidence(log, &current)?;
    if first && report.save_checkpoint.is_none() {
        report.save_checkpoint = Some(to_save(log, &current));
    }
    // Pending pairs are proven only at a contact with the log itself.
    if log.served.get().is_some() && !report.deferred {
        if let Some(newer) = pending::settle(log, &current, line.as_ref(), report)? {
            report.save_checkpoint = Some(to_save(log, &newer));
            current = newer;
        }
    }
    note_in_force(log, &current, report);
    Ok(current)
}

/// 123 while a split view of this log recorded earlier stands: nothing
/// proves a program in a log seen to fork until a person clears it.
pub(super) fn no_alarm(log: &Log) -> Step<()> {
    match log.ctx.state.alarm(&log.spec.id) {
        None => Ok(()),
        Some(ev) => Err(LogOutcome::Misbehaved {
            msg: format!("a split view of this log was recorded earlier ({ev}); it stays refused until a person runs `bt-exec alarm clear {}`", log.spec.origin),
            evidence: Some(std::path::PathBuf::from(ev)),
        }),
    }
}

/// Notes the checkpoint in force in the report (its size, cosigners, the
/// warnings about it) and records its coverage for `min_release_age` —
/// not for one not linked to the saved line (its witnesses may have
/// cosigned another history).
fn note_in_force(log: &Log, current: &SignedCheckpoint, report: &mut LogReport) {
    let ctx = log.ctx;
    report.warnings.extend(future_warnings(log, current));
    report.rests_on(current);
    log.say(format!(
        "checkpoint size {} verified, {} cosignature(s)",
        current.checkpoint.size,
        current.cosignatures.len()
    ));
    // What an unlinked checkpoint's witnesses cosigned may be another
    // history: not recorded as when these entries were covered.
    let covers = crate::history::Cover::of(current.checkpoint.size, &current.cosignatures, ctx.now);
    if !covers.is_empty() && !report.deferred {
        let view = ctx.state.view(&log.spec.id);
        if let Err(e) = view.record_coverage(&covers) {
            report.warnings.push(format!(
                "cannot record when size {} was cosigned (require.min_release_age may refuse later): {e}",
                current.checkpoint.size
            ));
        }
    }
}

/// The checkpoint in force from the saved one (`cached`) and the log's
/// (kept in `log.served` once it opens, in force or not).
fn established(
    log: &Log,
    cached: Option<SignedCheckpoint>,
    report: &mut LogReport,
) -> Step<SignedCheckpoint> {
    let fetched = match fetch_checkpoint(log) {
        Ok(f) => f,
        // A checkpoint that does not open (bad signature, malformed,
        // oversized) is served data anyone on the path could have
        // altered; with a saved checkpoint it proves nothing and the
        // saved one decides, as when the log cannot be reached.
        Err(LogOutcome::Refused(_, why)) if cached.is_some() => {
            report
                .warnings
                .push(format!("{why}; using the saved checkpoint"));
            report.unproven_growth =
                Some(format!("the log's checkpoint could not be used ({why})"));
            None
        }
        Err(o) => return Err(o),
    };
    if let Some(f) = &fetched {
        let _ = log.served.set(f.clone());
    }
    match (cached, fetched) {
        (None, None) => Err(LogOutcome::Unreachable(
            "the log cannot be reached and no checkpoint of it is cached".into(),
        )),
        (Some(c), None) => {
            // Served nothing usable (a 404, an answer cut off): what it
            // holds beyond the saved checkpoint is unknown, not absent.
            if log.source.is_some() && report.unproven_growth.is_none() {
                report.unproven_growth =
                    Some("the log's current checkpoint could not be had".into());
            }
            cached_in_force(log, c)
        }
        (None, Some(f)) => {
            fresh(log, &f)?;
            report.save_checkpoint = Some(to_save(log, &f));
            Ok(f)
        }
        (Some(c), Some(f)) => both(log, c, f, report),
    }
}

/// The saved checkpoint `c` and the log's `f`, both validly signed: the
/// larger one when they are one history and it meets the policy; the
/// saved one when the served one is smaller, not (yet) witnessed, or
/// cannot be proven one history with it (a stale mirror, altered tiles);
/// a split view when they are proven two.
fn both(
    log: &Log,
    c: SignedCheckpoint,
    f: SignedCheckpoint,
    report: &mut LogReport,
) -> Step<SignedCheckpoint> {
    // What would be saved of the served checkpoint (computed once).
    let f_note = to_save(log, &f);
    Ok(match one_history(log, &c, &f)? {
        Ok(()) if f.checkpoint.size > c.checkpoint.size => match fresh(log, &f) {
            Ok(()) => {
                report.save_checkpoint = Some(f_note);
                f
            }
            Err(LogOutcome::Refused(cause, why)) => {
                unwitnessed_growth(log, c, &f, cause, why, report)?
            }
            Err(o) => return Err(o),
        },
        // The same tree, cosigned again since: a log that does not grow
        // stays fresh through the cosignatures its witnesses keep adding.
        // A copy whose quorum is older (a mirror's) never replaces it.
        Ok(())
            if f.checkpoint.size == c.checkpoint.size
                && fresh(log, &f).is_ok()
                && fresh_until(log, &f) > fresh_until(log, &c) =>
        {
            report.save_checkpoint = Some(f_note);
            f
        }
        // Served exactly as saved: fetched again now, which is what
        // `require.refresh` counts from (the same bytes are saved again).
        // Without it a log that neither grows nor is cosigned again would
        // never be fresh enough for the warm path after its first refresh.
        // The log was reached: a checkpoint that does not meet the policy
        // is refused (126, stale or short of the quorum), not unreachable.
        Ok(()) if f_note == c.verified_note => {
            fresh(log, &f)?;
            report.save_checkpoint = Some(f_note);
            c
        }
        Ok(()) => {
            if f.checkpoint.size < c.checkpoint.size {
                log.say(format!(
                    "the log serves size {} < saved {}; keeping the saved checkpoint",
                    f.checkpoint.size, c.checkpoint.size
                ));
                // An older copy (a stale mirror, or one replayed on the
                // way): what the log holds now is unknown.
                report.unproven_growth = Some(format!(
                    "the log serves size {}, older than the saved size {}",
                    f.checkpoint.size, c.checkpoint.size
                ));
            }
            cached_in_force(log, c)?
        }
        // A stale mirror, or tiles altered on the way: nothing is
        // concluded from what was served, and the saved checkpoint
        // decides (DESIGN §6, §10).
        Err(why) => {
            report.warnings.push(format!("the log serves size {} and the saved checkpoint is size {}; whether they are one history cannot be proven from what it serves ({why}); using the saved checkpoint", f.checkpoint.size, c.checkpoint.size));
            // A newer checkpoint could have proven more — also one whose
            // cosignature lines a path stripped.
            if f.checkpoint.size > c.checkpoint.size {
                report.unproven_growth = Some(format!(
                    "the log serves size {}, which cannot be proven to extend the saved size {} from what it serves ({why})",
                    f.checkpoint.size, c.checkpoint.size
                ));
            }
            cached_in_force(log, c)?
        }
    })
}

/// The log serves a larger checkpoint, proven to extend the saved `c`,
/// that does not meet the policy (`why`): not (yet) witnessed, or its
/// cosignature lines stripped on the way. The saved checkpoint, if it
/// still meets the policy, proves what it proved (DESIGN §6); else 126.
/// What only the served one holds is unknown, not absent (124).
fn unwitnessed_growth(
    log: &Log,
    c: SignedCheckpoint,
    f: &SignedCheckpoint,
    cause: Cause,
    why: String,
    report: &mut LogReport,
) -> Step<SignedCheckpoint> {
    if fresh(log, &c).is_err() {
        return Err(LogOutcome::Refused(cause, why));
    }
    report.warnings.push(format!(
        "the log serves size {} and it does not meet the policy ({why}); using the saved checkpoint of size {}",
        f.checkpoint.size, c.checkpoint.size
    ));
    report.unproven_growth = Some(format!(
        "the log serves size {}, which does not meet the policy as served ({why})",
        f.checkpoint.size
    ));
    Ok(c)
}

/// The log's `checkpoint`, verified: `None` when it cannot be had now.
fn fetch_checkpoint(log: &Log) -> Step<Option<SignedCheckpoint>> {
    match log.get("checkpoint", MAX_CHECKPOINT_BYTES) {
        Ok(Some(note)) => match open(&note, log) {
            Ok(sc) => Ok(Some(sc)),
            Err(e) => refused(Cause::Checkpoint, format!("checkpoint: {e}")),
        },
        Ok(None) => Ok(None),
        Err(LogOutcome::Unreachable(m)) => {
            log.say(format!("unreachable: {m}; using the saved checkpoint"));
            Ok(None)
        }
        Err(o) => Err(o),
    }
}

/// The saved checkpoint standing in for the log: it must still meet the
/// policy, or the log counts as unreachable.
fn cached_in_force(log: &Log, c: SignedCheckpoint) -> Step<SignedCheckpoint> {
    fresh(log, &c).map_err(|o| match o {
        LogOutcome::Refused(_, m) => LogOutcome::Unreachable(format!(
            "the log's current checkpoint could not be used and the saved one (size {}) does not meet the policy: {m}",
            c.checkpoint.size
        )),
        o => o,
    })?;
    Ok(c)
}

/// An online contact with `spec`'s log outside a run (`status`, `gossip
/// import`): its checkpoint in force established as a run would, which
/// proves its pending pairs ([`pending::settle`]). The report holds what to save
/// ([`crate::exec::saving::save`]): the pairs proven, a newer checkpoint; and
/// whether the log served a checkpoint (was reached).
pub fn contact(ctx: &Context, spec: &LogSpec) -> (LogReport, Step<bool>) {
    let log = Log::new(ctx, spec);
    let mut report = LogReport::new(spec, LogOutcome::Refused(Cause::Internal, String::new()));
    let r = current(&log, &mut report, None).map(|_| log.served.get().is_some());
    report.narration = log.narration();
    (report, r)
}
