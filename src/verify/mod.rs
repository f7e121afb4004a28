//! The decision: is this file proven to policy? Every log is checked
//! concurrently ([`prove::verify_log`]); the results are combined here into
//! one verdict with one exit code (DESIGN §8, §10).

mod cause;
mod checkpoint;
mod combine;
mod context;
mod current;
pub mod exit;
mod gossiped;
mod leaf;
mod log;
mod pending;
mod placed;
mod prior;
mod prove;
mod rekor;
mod release;
mod releases;
mod sigstore;

pub use cause::Cause;
pub use combine::attested;
pub(crate) use context::per_log;
pub use context::{Context, ProofFile, RekorProof, Sidecars, Sources, DEFAULT_DEADLINE};
pub use current::contact;
pub use gossiped::{gossip_check, Gossip};
pub(crate) use log::internal_error;
pub use log::{Checked, LogOutcome, LogReport};
pub use placed::Placed;
pub use prove::{refresh_log, Refreshed};
pub use release::{find_release, resolve_release};
pub use releases::{recognised, rules_read_history};
pub use sigstore::{rekor_proof, rules_a_bundle_cannot_meet, sigstore_verdict, BundleRequest};

/// A cosignature timestamp may be this far in the future (clock skew).
pub use crate::tlog::MAX_SKEW_SECS;

use std::time::Instant;

use crate::store::Ingested;

/// What was decided, and why.
pub struct Verdict {
    pub file: Ingested,
    pub logs: Vec<LogReport>,
    pub code: u8,
    pub reason: String,
    pub elapsed_ms: u128,
    /// Every release of the bytes the checked logs hold, when the policy's
    /// history rules read them (what a run records, per name).
    pub releases: Vec<Placed>,
    /// Refused by the history rules over every release of the bytes
    /// (every log that proved them may still say "proven").
    pub history_refused: bool,
}

impl Verdict {
    pub fn proven(&self) -> bool {
        self.code == 0
    }

    /// The verdict of one proof that is not one of the policy's logs (a
    /// Sigsum proof, a Sigstore bundle): its report decides, its exit code
    /// is the report's.
    pub fn of_one(
        file: Ingested,
        mut report: LogReport,
        reason: String,
        start: Instant,
    ) -> Verdict {
        report.elapsed_ms = start.elapsed().as_millis();
        Verdict {
            file,
            code: report.outcome.exit_code(),
            logs: vec![report],
            reason,
            elapsed_ms: start.elapsed().as_millis(),
            releases: vec![],
            history_refused: false,
        }
    }
}

/// Verifies `file` (already in the CAS) against every log of the policy:
/// each log proves the file or not ([`per_logs`]), the reports are combined
/// ([`combine::combine`]), and when that is a run and the policy has
/// history rules, every release of the bytes is judged by them
/// ([`releases::judge`]). A history refusal reached on the warm path is
/// decided again with fresh data before it is final.
pub fn verify(ctx: &Context, file: Ingested, sidecars: Sidecars) -> Verdict {
    let start = Instant::now();
    let mut v = verify_once(ctx, file, &sidecars, true);
    let warm = v.logs.iter().any(|r| r.warm_until.is_some());
    if v.history_refused && warm {
        v = verify_once(ctx, v.file, &sidecars, false);
    }
    v.elapsed_ms = start.elapsed().as_millis();
    v
}

/// One verification (warm logs allowed with `may_be_warm`).
fn verify_once(ctx: &Context, file: Ingested, sidecars: &Sidecars, may_be_warm: bool) -> Verdict {
    let mut reports = per_logs(ctx, &file, sidecars, may_be_warm);
    let (mut code, mut reason) = combine::combine(ctx.policy, &file.sha256, &reports);
    let mut releases = vec![];
    let mut history_refused = false;
    if code == 0 && releases::rules_read_history(ctx.policy) {
        match releases::judge(ctx, &file.sha256, file.size, &reports) {
            Ok(r) => {
                releases = r;
                releases::unchecked_warnings(ctx, &mut reports);
            }
            Err((c, why)) => {
                history_refused = true;
                code = c;
                reason = format!("refused by the release history: {why}");
            }
        }
    }
    // A pair is kept pending only for a run it let go on: refused runs
    // must not fill the pending pairs (and so refuse the next deferral) —
    // with `logs = 2`, one log proving through an unlinked checkpoint
    // while the verdict is refused keeps none.
    if code != 0 {
        for r in &mut reports {
            r.save_pending.clear();
        }
    }
    Verdict {
        file,
        logs: reports,
        code,
        reason,
        elapsed_ms: 0,
        releases,
        history_refused,
    }
}

/// Every log's report on `file`: warm ones first on this thread (with
/// `may_be_warm`), then the others concurrently.
fn per_logs(
    ctx: &Context,
    file: &Ingested,
    sidecars: &Sidecars,
    may_be_warm: bool,
) -> Vec<LogReport> {
    let logs = &ctx.policy.trust.logs;
    let single = sidecars.single.as_ref().map(|s| ProofFile::parse(s, false));
    let named: Vec<Option<ProofFile>> = (0..logs.len())
        .map(|i| {
            let s = sidecars.per_log.get(i)?.as_ref()?;
            Some(ProofFile::parse(s, true))
        })
        .collect();
    // A log's own proof file, else the single one when it concerns it.
    let proof_for = |i: usize| -> Option<&ProofFile> {
        let l = logs.get(i)?;
        named
            .get(i)
            .and_then(Option::as_ref)
            .or(single.as_ref())
            .filter(|p| p.concerns(&l.origin))
    };
    // Warm logs first, on this thread: with every log warm no thread is
    // started and no request made. A proof file beside the program is
    // evidence about its log's history (a fork in it is a split view), so
    // that log goes the full way, as does every log when the file does not
    // parse (each then refuses it).
    let mut reports: Vec<Option<LogReport>> = logs
        .iter()
        .enumerate()
        .map(|(i, l)| {
            if !may_be_warm {
                None
            } else if ctx.policy.is_rekor(l) {
                rekor::warm(ctx, l, file, sidecars.rekor.as_ref())
            } else {
                proof_for(i)
                    .is_none()
                    .then(|| prove::warm(ctx, l, file))
                    .flatten()
            }
        })
        .collect();
    let cold: Vec<usize> = (0..logs.len()).filter(|&i| reports[i].is_none()).collect();
    let done = per_log(
        &cold,
        |i| match ctx.policy.is_rekor(&logs[i]) {
            true => rekor::verify_rekor(ctx, &logs[i], sidecars.rekor.as_ref()),
            false => prove::verify_log(ctx, &logs[i], file, proof_for(i)),
        },
        |i| LogReport::new(&logs[i], internal_error()),
    );
    for (i, r) in cold.into_iter().zip(done) {
        reports[i] = Some(r);
    }
    reports.into_iter().flatten().collect()
}

/// A verdict refused (126) before any log was asked, for `why`, reported
/// under `label`.
pub fn refused_verdict(file: Ingested, label: &str, cause: Cause, why: String) -> Verdict {
    Verdict {
        file,
        logs: vec![LogReport::other(
            label,
            LogOutcome::Refused(cause, why.clone()),
        )],
        code: exit::REFUSED,
        reason: why,
        elapsed_ms: 0,
        releases: vec![],
        history_refused: false,
    }
}

/// The verdict on a program proven by a Sigsum proof (`[sigsum]` in the
/// policy, or `bt-exec verify --sigsum-proof`): `keys` are the submitter
/// keys allowed for it. No bt-log log is consulted.
pub fn sigsum_verdict(
    file: Ingested,
    proof_path: &std::path::Path,
    proof: &[u8],
    keys: &[[u8; 32]],
    policy: &crate::sigsum_interop::SigsumPolicy,
) -> Verdict {
    let start = Instant::now();
    let hexh = hex::encode(file.sha256);
    let (reason, report) = if keys.is_empty() {
        (
            format!("{}: no Sigsum submitter key is allowed for this program ([[sigsum.submitter]] names)", proof_path.display()),
            LogReport::other("sigsum", LogOutcome::Refused(Cause::Publisher, "no submitter key".into())),
        )
    } else {
        match crate::sigsum_interop::verify(&file.sha256, proof, keys, policy) {
            Ok(p) => {
                let r = LogReport::other(
                    &p.origin,
                    LogOutcome::Proven {
                        index: p.leaf_index,
                    },
                );
                (
                    format!(
                        "sha256 {hexh} is proven by the Sigsum proof {} (log {}, leaf {} of {}, policy {})",
                        proof_path.display(),
                        p.origin,
                        p.leaf_index,
                        p.size,
                        policy.name
                    ),
                    r,
                )
            }
            Err(e) => (
                format!(
                    "{}: the Sigsum proof does not prove sha256 {hexh} under policy {}: {e}",
                    proof_path.display(),
                    policy.name
                ),
                LogReport::other("sigsum", LogOutcome::Refused(Cause::ProofFile, e)),
            ),
        }
    };
    Verdict::of_one(file, report, reason, start)
}
