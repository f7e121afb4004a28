//! The decision: is this file proven to policy? Every log is checked
//! concurrently ([`log::verify_log`]); the results are combined here into
//! one verdict with one exit code (DESIGN §8, §10).

mod log;

pub use log::{gossip_check, LogOutcome, LogReport};

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
}

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
    // started and no request made.
    let logs = &ctx.policy.trust.logs;
    let mut reports: Vec<Option<LogReport>> =
        logs.iter().map(|l| log::warm(ctx, l, &file)).collect();
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
                        LogOutcome::Refused("internal error".into()),
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
        (
            0,
            format!(
                "sha256 {hexh} is proven in {proven} of {} log(s) (policy requires {need})",
                reports.len()
            ),
        )
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
            "check the network (or run once online to refresh the cache)"
        } else {
            "publish this exact file with bt-log add, or check the policy's logs and publishers"
        };
        (code, format!("sha256 {hexh} is proven in {proven} log(s), the policy requires {need}; {}; {hint}", why.join("; ")))
    };
    Verdict {
        file,
        logs: reports,
        code,
        reason,
        elapsed_ms: start.elapsed().as_millis(),
    }
}
