//! The verdict on a program proven by a Sigstore bundle under the policy's
//! `[sigstore]` section (docs/SIGSTORE.md): the bundle verified as
//! Sigstore's verifiers do (`crate::sigstore`), then what bt-exec asks
//! beyond them — a signer the policy allows, a Rekor v2 entry unless
//! `allow_rekor_v1`, an inclusion proof with a signed checkpoint (a
//! promise to include is not inclusion), and no rule a bundle cannot meet.

use std::time::Instant;

use super::cause::Cause;
use super::context::RekorProof;
use super::log::{LogOutcome, LogReport};
use super::Verdict;
use crate::policy::{Policy, SigstoreSection};
use crate::sigstore::{self, Artifact, Expect, Material, Proven, Refusal, Signer};
use crate::store::Ingested;

/// What a Sigstore verdict is asked.
pub struct BundleRequest<'a> {
    pub bundle_path: &'a std::path::Path,
    /// The file's bundles as read (one, or JSON lines), or why they could
    /// not be.
    pub bundles: Result<Vec<Result<Material, Refusal>>, Refusal>,
    pub artifact: Artifact<'a>,
    pub section: &'a SigstoreSection,
    /// Who may have signed this program ([`SigstoreSection::signers_for`]).
    pub signers: &'a [Signer],
}

/// The bundle of `req` as a proof for the policy's Rekor logs
/// ([`super::rekor`]).
pub fn rekor_proof(sha256: &[u8; 32], req: &BundleRequest) -> RekorProof {
    let path = req.bundle_path.display().to_string();
    let text = |(cause, r): (Cause, Refusal)| (cause, refusal_text(&path, sha256, &r));
    let (proven, refused) = match bundles_sorted(req) {
        Ok((proven, failed)) => (proven, failed.map(|r| text((cause_of(r.cause), r)))),
        Err(e) => (vec![], Some(text(e))),
    };
    RekorProof {
        proven,
        refused,
        at: path,
    }
}

fn refusal_text(path: &str, sha256: &[u8; 32], r: &Refusal) -> String {
    format!(
        "{path}: the Sigstore bundle does not prove sha256 {}: {}: {}",
        hex::encode(sha256),
        r.cause.name(),
        r.detail
    )
}

/// The verdict on `file` proven by the bundle(s) of `req`.
pub fn sigstore_verdict(file: Ingested, policy: &Policy, req: BundleRequest) -> Verdict {
    let start = Instant::now();
    let hexh = hex::encode(file.sha256);
    let path = req.bundle_path.display().to_string();
    let (report, reason) = match decide(policy, &req) {
        Ok(p) => {
            let origin = p
                .log
                .as_ref()
                .map_or("sigstore", |l| l.origin.as_str())
                .to_string();
            let mut r = LogReport::other(
                &origin,
                LogOutcome::Proven {
                    index: p.facts.index.unwrap_or_default(),
                },
            );
            let reason = format!(
                "sha256 {hexh} is proven by the Sigstore bundle {path}: signed by {}, logged in {origin} (Rekor v{}, entry {})",
                p.signer(),
                if p.rekor_v2() { 2 } else { 1 },
                p.facts.index.map_or("?".into(), |i| i.to_string()),
            );
            r.sigstore = Some(p);
            (r, reason)
        }
        Err((cause, r)) => {
            let why = refusal_text(&path, &file.sha256, &r);
            (
                LogReport::other("sigstore", LogOutcome::Refused(cause, why.clone())),
                why,
            )
        }
    };
    Verdict::of_one(file, report, reason, start)
}

/// The bundle that proves the program (the first of the file's that does),
/// or the refusal of the last one tried, with the decision's cause.
fn decide(policy: &Policy, req: &BundleRequest) -> Result<Proven, (Cause, Refusal)> {
    if let Some(rule) = rules_a_bundle_cannot_meet(policy) {
        let cause = if rule.contains("rebuilders") {
            Cause::Rebuilders
        } else {
            Cause::ReleaseHistory
        };
        return Err((cause, Refusal::new(sigstore::Cause::Policy, format!(
            "a Sigstore bundle alone does not meet this policy: it requires {rule}, and a bundle carries no release name, publisher or history and is one log"
        ))));
    }
    prove_bundle(req)
}

/// The bundle that proves the program under `req`'s `[sigstore]` section,
/// or the refusal of the last one tried (what the policy's `[require]`
/// asks is another matter: [`sigstore_verdict`] for a bundle alone, the
/// policy's logs together for a Rekor log it lists).
pub fn prove_bundle(req: &BundleRequest) -> Result<Proven, (Cause, Refusal)> {
    bundles_proven(req)
        .map(|v| v.into_iter().next())?
        .ok_or_else(|| {
            (
                Cause::ProofFile,
                Refusal::new(sigstore::Cause::Bundle, "the file holds no bundle"),
            )
        })
}

/// Every bundle of `req` that proves the program, in file order
/// ([`sigstore::all_proven`]).
fn bundles_proven(req: &BundleRequest) -> Result<Vec<Proven>, (Cause, Refusal)> {
    let bundles = usable(req)?;
    sigstore::all_proven(bundles, |m| one(req, m)).map_err(|r| (cause_of(r.cause), r))
}

/// The bundles of `req` that prove the program, and the refusal of those
/// that do not (`None`: every one proved).
fn bundles_sorted(req: &BundleRequest) -> Result<(Vec<Proven>, Option<Refusal>), (Cause, Refusal)> {
    let bundles = usable(req)?;
    Ok(sigstore::sorted(bundles, |m| one(req, m)))
}

/// The file's bundles, when the policy allows someone to sign the program
/// and the file could be read.
fn usable<'r>(req: &'r BundleRequest) -> Result<&'r [Result<Material, Refusal>], (Cause, Refusal)> {
    if req.signers.is_empty() {
        return Err((
            Cause::Publisher,
            Refusal::new(
                sigstore::Cause::Identity,
                "no [[sigstore.identity]] is allowed for this program (names)",
            ),
        ));
    }
    req.bundles
        .as_deref()
        .map_err(|r| (Cause::ProofFile, r.clone()))
}

/// One bundle: verified, then held to what bt-exec asks beyond Sigstore.
fn one(req: &BundleRequest, m: &Material) -> Result<Proven, Refusal> {
    let p = sigstore::verify(
        &req.section.root,
        m,
        req.artifact,
        Expect::OneOf(req.signers),
    )?;
    if p.log.is_none() {
        return Err(Refusal::new(
            sigstore::Cause::InclusionProof,
            "the bundle has no transparency-log entry: nothing shows its signature was published",
        ));
    }
    if !p.rekor_v2() && !req.section.allow_rekor_v1 {
        return Err(Refusal::new(sigstore::Cause::RekorV1, format!(
            "the entry is a Rekor v1 one ({} {}), and the policy does not set [sigstore] allow_rekor_v1 = true (Rekor v1 checkpoints are not witnessed)",
            p.facts.kind, p.facts.kind_version
        )));
    }
    if p.facts.checkpoint.is_none() {
        return Err(Refusal::new(sigstore::Cause::Checkpoint,
            "the bundle has no signed checkpoint: the log only promised to include the entry (a v0.1 bundle's SET), which bt-exec does not take as inclusion"));
    }
    Ok(p)
}

/// The decision's cause for a bundle's refusal (the audit summary's).
fn cause_of(c: sigstore::Cause) -> Cause {
    match c {
        sigstore::Cause::Identity | sigstore::Cause::Key => Cause::Publisher,
        sigstore::Cause::Artifact => Cause::OtherBytes,
        sigstore::Cause::Policy => Cause::ReleaseHistory,
        _ => Cause::ProofFile,
    }
}

/// The `[require]` rules a Sigstore bundle cannot meet, named (`None`:
/// none is set). Attack stopped: a bundle beside a program walking around
/// `latest`, `no_downgrade`, `prior_revisions`, `rebuilders`,
/// `min_release_age` or `logs = k`: a bundle names no release, has no
/// history, dates its signature rather than its publication, and is one
/// log (`Require::unmet_by_one_outside_proof`).
pub fn rules_a_bundle_cannot_meet(policy: &Policy) -> Option<String> {
    policy.require.unmet_by_one_outside_proof()
}
