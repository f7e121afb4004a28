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
/// here).
pub fn verify_rekor(
    ctx: &super::context::Context,
    spec: &LogSpec,
    bundle: Option<&RekorProof>,
) -> LogReport {
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let mut report = LogReport::new(spec, LogOutcome::Refused(Cause::Internal, String::new()));
    report.outcome = match run(&log, bundle, &mut report) {
        Ok(index) => LogOutcome::Proven { index },
        // A pair is kept only for a leaf it proved.
        Err(o) => {
            report.save_pending.clear();
            o
        }
    };
    report.narration = log.narration();
    report.elapsed_ms = start.elapsed().as_millis();
    report
}

fn run(log: &Log, bundle: Option<&RekorProof>, report: &mut LogReport) -> Step<u64> {
    // A standing alarm refuses whatever proves the program here.
    super::current::no_alarm(log)?;
    let Some(b) = bundle else {
        return refused(
            Cause::NotInLog,
            "not proven in this Rekor log: no Sigstore bundle beside the program (PROGRAM.sigstore.json, or --sigstore-bundle)",
        );
    };
    let at = b.at.as_str();
    let p = b
        .proven
        .as_ref()
        .map_err(|(c, why)| LogOutcome::Refused(*c, why.clone()))?;
    in_this_log(log, at, p)?;
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
fn in_this_log(log: &Log, at: &str, p: &Proven) -> Step<()> {
    let theirs = p.log.as_ref().map(|l| l.origin.as_str());
    if theirs == Some(log.spec.origin.as_str()) {
        return Ok(());
    }
    refused(
        Cause::NotInLog,
        format!(
            "not proven in this Rekor log: the bundle {at} has its entry in {}",
            theirs.unwrap_or("no log")
        ),
    )
}
