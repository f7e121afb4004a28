//! A Rekor log of the policy (docs/SIGSTORE.md, "Rekor v2 as a witnessed
//! log"): a `log` line for a log the `[sigstore]` trusted root lists. A
//! Sigstore bundle beside the program proves it there — its signature,
//! signer and entry verified as Sigstore's verifiers do
//! ([`super::sigstore::prove_bundle`]) — and then its checkpoint is held to
//! everything a bt-log log's checkpoint is: the log's key, the witness
//! quorum and `max_age` by itself or proven a prefix of a checkpoint that
//! meets them, consistency with the saved one and with gossip, a split view
//! being 123 with evidence ([`super::current`], [`super::leaf::shipped`]).
//! It counts toward `require.logs` with the other logs.

use std::time::Instant;

use super::cause::Cause;
use super::checkpoint::{fresh, fresh_until};
use super::context::{Context, RekorProof};
use super::current::current;
use super::leaf::still_valid;
use super::log::{open, refused, saved, Log, LogOutcome, LogReport, Step};
use super::pending::Shipped;
use crate::policy::LogSpec;
use crate::sigstore::Proven;
use crate::store::{CachedProof, Ingested};
use crate::tlog::{leaf_hash, verify_inclusion};

/// The report of one Rekor log of the policy on the program `bundle`
/// proves (or not: no bundle, or one for another log, proves nothing
/// here). Every one of the file's bundles whose entry is in this log is
/// examined ([`decide`]).
pub fn verify_rekor(ctx: &Context, spec: &LogSpec, bundle: Option<&RekorProof>) -> LogReport {
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let mut report = match ours(&log, bundle) {
        Err(o) => LogReport::new(spec, o),
        Ok((at, proven)) => decide(proven.iter().map(|p| attempt(&log, at, p)))
            .unwrap_or_else(|| LogReport::new(spec, super::log::internal_error())),
    };
    report.narration = log.narration();
    report.elapsed_ms = start.elapsed().as_millis();
    report
}

/// The report of a file of several bundles (`gh attestation download`
/// writes JSON lines), from each bundle's, in file order: a split view any
/// of them shows (123, whichever comes first: a bundle that proves the
/// program does not hide a fork another one shows), else the first that
/// proves the program, else one the log could not be reached for (124:
/// what it lacked may be had later), else the last refusal.
///
/// Attack stopped: a bundle placed first in the file to decide it — one
/// from another log or unwitnessed to have a logged program refused, or
/// one that proves it to keep a fork placed after it unexamined.
fn decide(reports: impl Iterator<Item = LogReport>) -> Option<LogReport> {
    let (mut proven, mut unreachable, mut last) = (None, None, None);
    for r in reports {
        match &r.outcome {
            LogOutcome::Misbehaved { .. } => return Some(r),
            LogOutcome::Proven { .. } => {
                proven.get_or_insert(r);
            }
            LogOutcome::Unreachable(_) => {
                unreachable.get_or_insert(r);
            }
            LogOutcome::Refused(..) => last = Some(r),
        }
    }
    proven.or(unreachable).or(last)
}

/// The bundles that may prove the program in this log, and where they
/// were read; or why none may.
fn ours<'b>(log: &Log, bundle: Option<&'b RekorProof>) -> Step<(&'b str, Vec<&'b Proven>)> {
    // A standing alarm refuses whatever proves the program here.
    super::current::no_alarm(log)?;
    let Some(b) = bundle else {
        return refused(
            Cause::NoBundle,
            "not proven in this Rekor log: no Sigstore bundle beside the program (PROGRAM.sigstore.json, or --sigstore-bundle)",
        );
    };
    let here: Vec<&Proven> = b.proven.iter().filter(|p| in_this_log(log, p)).collect();
    if here.is_empty() {
        // Why the others did not prove it, when some did not: a bundle
        // by another identity is refused as that, not as "no bundle".
        if let Some((cause, why)) = &b.refused {
            return refused(*cause, why.clone());
        }
        let theirs: Vec<&str> = b
            .proven
            .iter()
            .map(|p| p.log.as_ref().map_or("no log", |l| l.origin.as_str()))
            .collect();
        return refused(
            Cause::NoBundle,
            format!(
                "not proven in this Rekor log: the bundle {} has its entry in {}",
                b.at,
                theirs.join(", ")
            ),
        );
    }
    Ok((b.at.as_str(), here))
}

/// One bundle's report: its proof in this log.
fn attempt(log: &Log, at: &str, p: &Proven) -> LogReport {
    let mut report = LogReport::new(
        log.spec,
        LogOutcome::Refused(Cause::Internal, String::new()),
    );
    report.outcome = match run(log, at, p, &mut report) {
        Ok(index) => LogOutcome::Proven { index },
        // A pair is kept only for a leaf it proved.
        Err(o) => {
            report.save_pending.clear();
            o
        }
    };
    report
}

fn run(log: &Log, at: &str, p: &Proven, report: &mut LogReport) -> Step<u64> {
    let (Some(note), Some(inc)) = (&p.facts.checkpoint_note, &p.facts.inclusion) else {
        return refused(
            Cause::ProofFile,
            format!("{at}: the bundle has no checkpoint and inclusion proof"),
        );
    };
    let leaf_index = inc.index;
    // Its checkpoint opened against the policy's key for the log and
    // witnesses (the bundle's verification used the trusted root's key,
    // which the policy was checked to agree with).
    let sc = open(note.as_bytes(), log)
        .map_err(|e| LogOutcome::Refused(Cause::ProofFile, format!("{at}: checkpoint: {e}")))?;
    let shipped = Shipped {
        sc: sc.clone(),
        at: at.to_string(),
    };
    let mut in_force = current(log, report, Some(&shipped))?;
    // No proof of a Rekor entry is cached: nothing answers in place of a
    // checkpoint not linked to the one in force but a pending pair.
    super::leaf::shipped(log, &mut in_force, &sc, at, report, |_, _| None::<()>)?;
    // The entry is the leaf the checkpoint's tree holds (proven again here
    // against the checkpoint just held to the policy).
    let (c, s) = (&sc.checkpoint, inc.size);
    if s != c.size {
        return refused(
            Cause::ProofFile,
            format!(
                "{at}: the inclusion proof is for a tree of {s}, the checkpoint is of {}",
                c.size
            ),
        );
    }
    verify_inclusion(
        leaf_hash(&inc.body),
        leaf_index,
        c.size,
        &inc.hashes,
        c.root,
    )
    .map_err(|e| LogOutcome::Refused(Cause::ProofFile, format!("{at}: inclusion proof: {e}")))?;
    log.say(format!(
        "{at}: signed by {}, proven at leaf {leaf_index} by a checkpoint of size {}",
        p.signer(),
        c.size
    ));
    // Its checkpoint is in force or proven a prefix of the one that is:
    // the proof is kept against it, for the warm path ([`warm`]). Never
    // one against a checkpoint not linked to the one in force.
    if !report.deferred {
        report.save_proof = Some(CachedProof::new(
            leaf_index,
            &inc.body,
            c.size,
            c.root,
            &inc.hashes,
        ));
    }
    report.sigstore = Some(p.clone());
    Ok(leaf_index)
}

/// The warm path of a Rekor log: a saved checkpoint that still meets the
/// policy, and a proof this machine cached of the bundle's entry against
/// the bundle's own checkpoint — proven a prefix of the line in force
/// when it was cached — need no request to the log: keeping the saved
/// checkpoint fresh is the background refresher's work, as for any log
/// (`crate::verify::prove::warm`). `None`: the full way.
///
/// Attack stopped: none new; what it must not lose is the bundle as
/// evidence. A bundle's checkpoint is evidence about the log's history (a
/// fork in it is a split view), so only a file whose bundles of this log
/// all carry the very checkpoint already compared with the saved line
/// (same size, same root) is answered here; any other goes the full way.
pub fn warm(
    ctx: &Context,
    spec: &LogSpec,
    file: &Ingested,
    bundle: Option<&RekorProof>,
) -> Option<LogReport> {
    if ctx.policy.require.refresh.is_zero() || ctx.state.alarm(&spec.id).is_some() {
        return None;
    }
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let (at, proven) = ours(&log, bundle).ok()?;
    let saved = saved(&log).filter(|c| fresh(&log, c).is_ok())?;
    let cached = ctx.state.proof(&spec.id, &file.sha256)?;
    let leaf = still_valid(&cached, &saved.checkpoint)?;
    let (_, root, _) = cached.decode()?;
    // Every bundle of this log in the file: one with another checkpoint
    // may show a fork ([`decide`]).
    let compared = |p: &&Proven| {
        p.facts
            .checkpoint
            .as_ref()
            .is_some_and(|c| c.size == cached.size && c.root == root)
    };
    if !proven.iter().all(compared) {
        return None;
    }
    let p = proven.into_iter().find(|p| {
        p.facts
            .inclusion
            .as_ref()
            .is_some_and(|i| i.body == leaf && i.index == cached.index && i.size == cached.size)
    })?;
    log.say(format!(
        "{at}: signed by {}; the saved checkpoint (size {}) is fresh, and the entry was proven against the bundle's checkpoint before: leaf {}",
        p.signer(),
        saved.checkpoint.size,
        cached.index
    ));
    let mut report = LogReport::new(
        spec,
        LogOutcome::Proven {
            index: cached.index,
        },
    );
    report.narration = log.narration();
    report.sigstore = Some(p.clone());
    report.rests_on(&saved);
    report.warm_until = fresh_until(&log, &saved);
    report.elapsed_ms = start.elapsed().as_millis();
    Some(report)
}

/// Whether the bundle's entry is in this log (the trusted root's log of
/// the same origin: the policy was checked to give it the root's key).
fn in_this_log(log: &Log, p: &Proven) -> bool {
    p.log.as_ref().map(|l| l.origin.as_str()) == Some(log.spec.origin.as_str())
}
