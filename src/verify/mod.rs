//! The decision: is this file proven to policy? Every log is checked
//! concurrently ([`log::verify_log`]); the results are combined here into
//! one verdict with one exit code (DESIGN §8, §10).

mod cause;
mod combine;
mod current;
mod gossiped;
mod leaf;
mod log;
mod pending;
mod prior;
mod release;
mod releases;

pub use cause::Cause;
pub use combine::attested;
pub use gossiped::{gossip_check, Gossip};
pub use log::{LogOutcome, LogReport};
pub use pending::contact;
pub use release::{find_release, resolve_release};
pub use releases::{recognised, rules_read_history, Checked, Placed};

use std::path::PathBuf;
use std::time::Instant;

use crate::policy::Policy;
use crate::state::State;
use crate::store::Ingested;
use crate::tlog::{TlogError, TlogProof};

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
    /// The saved state: read, and written only for a split view's
    /// evidence and alarm (everything else is returned in the reports).
    pub state: &'a dyn State,
    pub offline: bool,
    pub now: u64,
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
}

/// The proof files beside a program, as read (unparsed): the single
/// `PROGRAM.tlog-proof`, and `PROGRAM.tlog-proofs/<key hash>.tlog-proof`
/// for each log of the policy, by position (docs/FORMATS.md).
#[derive(Debug, Default)]
pub struct Sidecars {
    pub single: Option<(PathBuf, Vec<u8>)>,
    pub per_log: Vec<Option<(PathBuf, Vec<u8>)>>,
}

impl Sidecars {
    /// Only the single proof file (or none).
    pub fn single(single: Option<(PathBuf, Vec<u8>)>) -> Self {
        Sidecars {
            single,
            per_log: vec![],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.single.is_none() && self.per_log.iter().all(Option::is_none)
    }
}

/// A proof file beside the program, parsed, for one log.
pub struct ProofFile {
    pub path: PathBuf,
    pub parsed: Result<TlogProof, TlogError>,
    /// Named for this log (`PROGRAM.tlog-proofs/<its key hash>`): it must
    /// prove the program in this log, whatever it holds. The single file
    /// counts only for the log its checkpoint names.
    pub named: bool,
}

impl ProofFile {
    fn parse((path, bytes): &(PathBuf, Vec<u8>), named: bool) -> Self {
        ProofFile {
            path: path.clone(),
            parsed: TlogProof::parse(bytes),
            named,
        }
    }

    /// Whether this file is evidence about `origin`'s log: named for it,
    /// unparseable (every log then refuses it), or of its origin.
    fn concerns(&self, origin: &str) -> bool {
        match &self.parsed {
            _ if self.named => true,
            Err(_) => true,
            Ok(p) => p.checkpoint.split(|&b| b == b'\n').next() == Some(origin.as_bytes()),
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
            proof_for(i)
                .is_none()
                .then(|| may_be_warm.then(|| log::warm(ctx, l, file)).flatten())
                .flatten()
        })
        .collect();
    let cold: Vec<usize> = (0..logs.len()).filter(|&i| reports[i].is_none()).collect();
    let done = per_log(
        &cold,
        |i| log::verify_log(ctx, &logs[i], file, proof_for(i)),
        |i| LogReport::new(&logs[i], internal_error()),
    );
    for (i, r) in cold.into_iter().zip(done) {
        reports[i] = Some(r);
    }
    reports.into_iter().flatten().collect()
}

/// Runs `f` for each item (a log), concurrently — one thread per log when
/// there are several, none for one — and returns the results in order; a
/// thread that panicked (a bug) gives `failed(item)`, never a run.
pub(crate) fn per_log<I: Copy + Send + Sync, T: Send>(
    items: &[I],
    f: impl Fn(I) -> T + Sync,
    failed: impl Fn(I) -> T,
) -> Vec<T> {
    match items {
        [] => vec![],
        [one] => vec![f(*one)],
        _ => std::thread::scope(|s| {
            let f = &f;
            let handles: Vec<_> = items.iter().map(|&i| (i, s.spawn(move || f(i)))).collect();
            handles
                .into_iter()
                .map(|(i, h)| h.join().unwrap_or_else(|_| failed(i)))
                .collect()
        }),
    }
}

/// A verification thread that panicked (a bug): the log proves nothing.
pub(crate) fn internal_error() -> LogOutcome {
    LogOutcome::Refused(Cause::Internal, "internal error".into())
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
    let (code, reason, report) = if keys.is_empty() {
        (
            exit::REFUSED,
            format!("{}: no Sigsum submitter key is allowed for this program ([[sigsum.submitter]] names)", proof_path.display()),
            LogReport::other("sigsum", LogOutcome::Refused(Cause::Publisher, "no submitter key".into())),
        )
    } else {
        match crate::sigsum_interop::verify(&file.sha256, proof, keys, policy) {
            Ok(p) => {
                let mut r = LogReport::other(
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
                LogReport::other("sigsum", LogOutcome::Refused(Cause::ProofFile, e)),
            ),
        }
    };
    Verdict {
        file,
        logs: vec![report],
        code,
        reason,
        elapsed_ms: start.elapsed().as_millis(),
        releases: vec![],
        history_refused: false,
    }
}
