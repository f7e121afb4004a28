//! What a verification is given: the policy, the saved state, the clock
//! and deadline, where each log's files come from, and the proof files
//! beside the program.

use std::path::PathBuf;

use crate::policy::Policy;
use crate::state::State;
use crate::tlog::{TlogError, TlogProof};

/// The whole verification's inputs (the clock and the deadline are
/// parameters: the decision reads no clock of its own).
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

/// The proof files beside a program, as read (unparsed): the single
/// `PROGRAM.tlog-proof`, and `PROGRAM.tlog-proofs/<key hash>.tlog-proof`
/// for each log of the policy, by position (docs/FORMATS.md).
#[derive(Debug, Default)]
pub struct Sidecars {
    pub single: Option<(PathBuf, Vec<u8>)>,
    pub per_log: Vec<Option<(PathBuf, Vec<u8>)>>,
    /// The Sigstore bundle, verified, for the policy's Rekor logs
    /// ([`super::rekor`]).
    pub rekor: Option<RekorProof>,
}

impl Sidecars {
    /// Only the single proof file (or none).
    pub fn single(single: Option<(PathBuf, Vec<u8>)>) -> Self {
        Sidecars {
            single,
            per_log: vec![],
            rekor: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.single.is_none() && self.per_log.iter().all(Option::is_none) && self.rekor.is_none()
    }
}

/// The Sigstore bundle file beside a program, as verified for the policy's
/// Rekor logs: each of its bundles that proves the signer and entry, in
/// file order (`crate::sigstore::Proven`), and the refusal of those that do
/// not (the decision's cause and why; `None`: every one proved).
#[derive(Debug, Clone)]
pub struct RekorProof {
    /// Where the bundle file was read (for messages).
    pub at: String,
    pub proven: Vec<crate::sigstore::Proven>,
    pub refused: Option<(super::cause::Cause, String)>,
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
    pub(super) fn parse((path, bytes): &(PathBuf, Vec<u8>), named: bool) -> Self {
        ProofFile {
            path: path.clone(),
            parsed: TlogProof::parse(bytes),
            named,
        }
    }

    /// Whether this file is evidence about `origin`'s log: named for it,
    /// unparseable (every log then refuses it), or of its origin.
    pub(super) fn concerns(&self, origin: &str) -> bool {
        match &self.parsed {
            _ if self.named => true,
            Err(_) => true,
            Ok(p) => p.checkpoint.split(|&b| b == b'\n').next() == Some(origin.as_bytes()),
        }
    }
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
