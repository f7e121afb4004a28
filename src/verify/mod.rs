//! The decision: is this file proven to policy? Every log is checked
//! concurrently ([`log::verify_log`]); the results are combined here into
//! one verdict with one exit code (DESIGN §8, §10).

mod cause;
mod current;
mod leaf;
mod log;
mod release;

pub use cause::Cause;
pub use current::{gossip_check, Gossip};
pub use log::{LogOutcome, LogReport};
pub use release::find_release;

use std::path::PathBuf;
use std::time::Instant;

use crate::policy::Policy;
use crate::store::{Ingested, Store};
use crate::tlog::TlogProof;

/// Exit codes of bt-exec (DESIGN §8).
pub mod exit {
    pub const MISBEHAVIOUR: u8 = 123;
    pub const UNREACHABLE: u8 = 124;
    pub const CONFIG: u8 = 125;
    pub const REFUSED: u8 = 126;
    pub const NOT_FOUND: u8 = 127;
}

/// A cosignature timestamp may be this far in the future (clock skew).
pub const MAX_SKEW_SECS: u64 = 600;

pub struct Context<'a> {
    pub policy: &'a Policy,
    pub store: &'a Store,
    pub offline: bool,
    pub now: u64,
    /// Narrate each step on stderr (`-v`).
    pub verbose: bool,
    /// The whole verification's deadline: no request runs past it.
    pub deadline: std::time::Instant,
    /// Where each log's files are read from; `None`: its policy URL over
    /// http(s) or `file://` ([`crate::fetch::Fetcher`]). Tests give
    /// [`crate::source::MemorySource`]s.
    pub sources: Option<&'a Sources>,
}

/// Gives the [`crate::source::Source`] of a policy log (`None`: unreachable).
pub type Sources =
    dyn Fn(&crate::policy::LogSpec) -> Option<std::sync::Arc<dyn crate::source::Source>> + Sync;

/// How long a whole verification may take by default.
pub const DEFAULT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(20);

impl Context<'_> {
    pub(crate) fn say(&self, origin: &str, msg: &str) {
        if self.verbose {
            eprintln!("bt-exec: [{origin}] {msg}");
        }
    }
}

/// What was decided, and why.
pub struct Verdict {
    pub file: Ingested,
    pub logs: Vec<LogReport>,
    pub code: u8,
    pub reason: String,
    pub elapsed_ms: u128,
}

impl Verdict {
    pub fn proven(&self) -> bool {
        self.code == 0
    }
}

/// Verifies `file` (already in the CAS) against every log of the policy.
pub fn verify(ctx: &Context, file: Ingested, sidecar: Option<(PathBuf, Vec<u8>)>) -> Verdict {
    let start = Instant::now();
    let proof = sidecar
        .as_ref()
        .map(|(p, b)| (p.clone(), TlogProof::parse(b)));
    // Warm logs first, on this thread: with every log warm no thread is
    // started and no request made. A proof file beside the program is
    // evidence about its log's history (a fork in it is a split view), so
    // that log goes the full way, as does every log when the file does not
    // parse (each then refuses it).
    let logs = &ctx.policy.trust.logs;
    let names_log = |l: &crate::policy::LogSpec| match &proof {
        None => false,
        Some((_, Err(_))) => true,
        Some((_, Ok(p))) => p.checkpoint.split(|&b| b == b'\n').next() == Some(l.origin.as_bytes()),
    };
    let mut reports: Vec<Option<LogReport>> = logs
        .iter()
        .map(|l| (!names_log(l)).then(|| log::warm(ctx, l, &file)).flatten())
        .collect();
    let cold: Vec<usize> = (0..logs.len()).filter(|&i| reports[i].is_none()).collect();
    let full = |l| log::verify_log(ctx, l, &file, proof.as_ref());
    match cold.as_slice() {
        [] => {}
        [i] => reports[*i] = Some(full(&logs[*i])),
        _ => std::thread::scope(|s| {
            let handles: Vec<_> = cold
                .iter()
                .map(|&i| (i, s.spawn(move || full(&logs[i]))))
                .collect();
            for (i, h) in handles {
                reports[i] = Some(h.join().unwrap_or_else(|_| {
                    LogReport::new(
                        &logs[i].origin,
                        LogOutcome::Refused(Cause::Internal, "internal error".into()),
                    )
                }));
            }
        }),
    }
    let reports: Vec<LogReport> = reports.into_iter().flatten().collect();
    let need = ctx.policy.require.logs;
    let proven = reports
        .iter()
        .filter(|r| matches!(r.outcome, LogOutcome::Proven { .. }))
        .count();
    let unreachable = reports
        .iter()
        .filter(|r| matches!(r.outcome, LogOutcome::Unreachable(_)))
        .count();
    let misbehaved: Vec<&LogReport> = reports
        .iter()
        .filter(|r| matches!(r.outcome, LogOutcome::Misbehaved { .. }))
        .collect();
    let hexh = hex::encode(file.sha256);
    let (code, reason) = if !misbehaved.is_empty() {
        let which: Vec<String> = misbehaved
            .iter()
            .map(|r| format!("{}: {}", r.origin, r.outcome.message()))
            .collect();
        (
            exit::MISBEHAVIOUR,
            format!("SECURITY ALERT: a log misbehaved — {}", which.join("; ")),
        )
    } else if proven >= need {
        match rebuilders_missing(ctx, &reports) {
            None => (
                0,
                format!(
                    "sha256 {hexh} is proven in {proven} of {} log(s) (policy requires {need})",
                    reports.len()
                ),
            ),
            Some(why) => (
                exit::REFUSED,
                format!("sha256 {hexh} is proven in {proven} log(s), but {why}"),
            ),
        }
    } else {
        let why: Vec<String> = reports
            .iter()
            .filter(|r| !matches!(r.outcome, LogOutcome::Proven { .. }))
            .map(|r| format!("{}: {}", r.origin, r.outcome.message()))
            .collect();
        let code = if proven + unreachable >= need {
            exit::UNREACHABLE
        } else {
            exit::REFUSED
        };
        let hint = if code == exit::UNREACHABLE {
            "check the network (or run once online to refresh the cache)".to_string()
        } else {
            let mut hints: Vec<&str> = reports
                .iter()
                .filter_map(|r| match &r.outcome {
                    LogOutcome::Refused(c, _) => c.hint(),
                    _ => None,
                })
                .collect();
            hints.dedup();
            hints.join("; ")
        };
        let hint = if hint.is_empty() {
            String::new()
        } else {
            format!("; {hint}")
        };
        (
            code,
            format!(
                "sha256 {hexh} is proven in {proven} log(s), the policy requires {need}; {}{hint}",
                why.join("; ")
            ),
        )
    };
    Verdict {
        file,
        logs: reports,
        code,
        reason,
        elapsed_ms: start.elapsed().as_millis(),
    }
}

/// The rebuilders (`[[rebuilder]]`) whose attestations some log proved,
/// in policy order.
pub fn attested(ctx: &Context, reports: &[LogReport]) -> Vec<String> {
    ctx.policy
        .rebuilders
        .iter()
        .map(|rb| rb.name.clone())
        .filter(|n| {
            reports
                .iter()
                .any(|r| matches!(r.outcome, LogOutcome::Proven { .. }) && r.attested.contains(n))
        })
        .collect()
}

/// Why `require.rebuilders` is not met, naming who attested and who is missing.
fn rebuilders_missing(ctx: &Context, reports: &[LogReport]) -> Option<String> {
    let need = ctx.policy.require.rebuilders;
    let have = attested(ctx, reports);
    if have.len() >= need {
        return None;
    }
    let missing: Vec<&str> = ctx
        .policy
        .rebuilders
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| !have.iter().any(|h| h == n))
        .collect();
    Some(format!(
        "{} of the required {need} rebuilder attestation(s): attested by [{}], missing [{}] (require.rebuilders); ask a rebuilder to rebuild it from source and log it",
        have.len(),
        have.join(", "),
        missing.join(", ")
    ))
}

/// Resolves `NAME@VERSION` (or `NAME@latest` with `version` `None`) from
/// every log's release history, concurrently: the release most logs agree
/// on (by file hash; ties go to the policy's first log). Returns it with
/// the per-log reports (their checkpoints are worth saving), or the exit
/// code and reason when no log holds such a release.
pub fn resolve_release(
    ctx: &Context,
    name: &str,
    version: Option<&str>,
) -> (Vec<LogReport>, Result<crate::history::Seen, (u8, String)>) {
    let logs = &ctx.policy.trust.logs;
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = logs
            .iter()
            .map(|l| s.spawn(move || release::find_release(ctx, l, name, version)))
            .collect();
        handles
            .into_iter()
            .zip(logs)
            .map(|(h, l)| {
                h.join().unwrap_or_else(|_| {
                    (
                        LogReport::new(
                            &l.origin,
                            LogOutcome::Refused(Cause::Internal, "internal error".into()),
                        ),
                        Err(LogOutcome::Refused(
                            Cause::Internal,
                            "internal error".into(),
                        )),
                    )
                })
            })
            .collect()
    });
    let mut reports = vec![];
    let mut found_by_log: Vec<Option<[u8; 32]>> = vec![];
    let mut found: Vec<crate::history::Seen> = vec![];
    let mut why = vec![];
    let mut code = exit::REFUSED;
    for (report, r) in results {
        found_by_log.push(match &r {
            Ok(Some(seen)) => Some(seen.entry.release.sha256),
            _ => None,
        });
        match r {
            Ok(Some(seen)) => found.push(seen),
            Ok(None) => why.push(format!("{}: no such release", report.origin)),
            Err(o) => {
                code = match (&o, code) {
                    (LogOutcome::Misbehaved { .. }, _) => exit::MISBEHAVIOUR,
                    (LogOutcome::Unreachable(_), exit::REFUSED) => exit::UNREACHABLE,
                    (_, c) => c,
                };
                why.push(format!("{}: {}", report.origin, o.message()));
            }
        }
        reports.push(report);
    }
    let best = found
        .iter()
        .max_by_key(|s| {
            let votes = found
                .iter()
                .filter(|o| o.entry.release.sha256 == s.entry.release.sha256)
                .count();
            let first = found
                .iter()
                .position(|o| o.entry.release.sha256 == s.entry.release.sha256)
                .unwrap_or(0);
            (votes, std::cmp::Reverse(first))
        })
        .cloned();
    // Only proofs of the chosen release are worth caching.
    if let Some(b) = &best {
        for (r, f) in reports.iter_mut().zip(&found_by_log) {
            if f.as_ref() != Some(&b.entry.release.sha256) {
                r.save_proof = None;
            }
        }
    }
    let what = format!("{name}@{}", version.unwrap_or("latest"));
    let r = match best {
        Some(b) if code != exit::MISBEHAVIOUR => Ok(b),
        _ => Err((
            if found.is_empty() || code == exit::MISBEHAVIOUR { code } else { exit::REFUSED },
            format!(
                "{what}: no release for this platform by a publisher the policy allows for the name{}{}",
                if why.is_empty() { "" } else { " — " },
                why.join("; ")
            ),
        )),
    };
    (reports, r)
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
    let (code, reason, report) = if keys.is_empty() {
        (
            exit::REFUSED,
            format!("{}: no Sigsum submitter key is allowed for this program ([[sigsum.submitter]] names)", proof_path.display()),
            LogReport::new("sigsum", LogOutcome::Refused(Cause::Publisher, "no submitter key".into())),
        )
    } else {
        match crate::sigsum_interop::verify(&file.sha256, proof, keys, policy) {
            Ok(p) => {
                let mut r = LogReport::new(
                    &p.origin,
                    LogOutcome::Proven {
                        index: p.leaf_index,
                    },
                );
                r.elapsed_ms = start.elapsed().as_millis();
                (
                    0,
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
                exit::REFUSED,
                format!(
                    "{}: the Sigsum proof does not prove sha256 {hexh} under policy {}: {e}",
                    proof_path.display(),
                    policy.name
                ),
                LogReport::new("sigsum", LogOutcome::Refused(Cause::ProofFile, e)),
            ),
        }
    };
    Verdict {
        file,
        logs: vec![report],
        code,
        reason,
        elapsed_ms: start.elapsed().as_millis(),
    }
}
