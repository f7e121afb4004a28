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
use super::context::RekorProof;
use super::current::current;
use super::log::{open, refused, Log, LogOutcome, LogReport, Step};
use super::pending::Shipped;
use crate::policy::LogSpec;
use crate::sigstore::Proven;
use crate::tlog::{leaf_hash, verify_inclusion};

/// The report of one Rekor log of the policy on the program `bundle`
/// proves (or not: no bundle, or one for another log, proves nothing
/// here). Each of the file's bundles whose entry is in this log is tried in
/// turn, until one proves the program or a split view is found: a file of
/// several (`gh attestation download`) is not decided by its first alone.
pub fn verify_rekor(
    ctx: &super::context::Context,
    spec: &LogSpec,
    bundle: Option<&RekorProof>,
) -> LogReport {
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let mut report = match ours(&log, bundle) {
        Err(o) => LogReport::new(spec, o),
        Ok((at, proven)) => {
            let mut last = LogReport::new(spec, super::log::internal_error());
            for p in proven {
                last = attempt(&log, at, p);
                if !matches!(
                    last.outcome,
                    LogOutcome::Refused(..) | LogOutcome::Unreachable(_)
                ) {
                    break;
                }
            }
            last
        }
    };
    report.narration = log.narration();
    report.elapsed_ms = start.elapsed().as_millis();
    report
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
    let all = b
        .proven
        .as_ref()
        .map_err(|(c, why)| LogOutcome::Refused(*c, why.clone()))?;
    let here: Vec<&Proven> = all.iter().filter(|p| in_this_log(log, p)).collect();
    if here.is_empty() {
        let theirs: Vec<&str> = all
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
    report.sigstore = Some(p.clone());
    Ok(leaf_index)
}

/// Whether the bundle's entry is in this log (the trusted root's log of
/// the same origin: the policy was checked to give it the root's key).
fn in_this_log(log: &Log, p: &Proven) -> bool {
    p.log.as_ref().map(|l| l.origin.as_str()) == Some(log.spec.origin.as_str())
}
