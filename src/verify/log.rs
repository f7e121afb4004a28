//! One log as the decision asks it: where its files come from, what it
//! said (the narration), and what it answered (`LogOutcome`, `LogReport`);
//! its checkpoints opened against its key and the policy's witnesses.

use std::path::PathBuf;
use std::sync::Arc;

use super::cause::Cause;
use super::context::Context;
use crate::entry::Entry;
use crate::fetch::{FetchError, Fetcher};
use crate::history::Cover;
use crate::log_id::LogId;
use crate::policy::LogSpec;
use crate::source::{Source, SourceTiles};
use crate::store::CachedProof;
use crate::tlog::{Checkpoint, SignedCheckpoint, TlogError, MAX_SKEW_SECS};

#[derive(Debug, Clone)]
pub enum LogOutcome {
    Proven {
        index: u64,
    },
    /// Not proven from data that was reached (126), and why.
    Refused(Cause, String),
    /// The log could not be reached and the cache cannot stand in (124).
    Unreachable(String),
    /// Split view or data contradicting a signed checkpoint (123).
    Misbehaved {
        msg: String,
        evidence: Option<PathBuf>,
    },
}

impl LogOutcome {
    pub fn message(&self) -> String {
        match self {
            LogOutcome::Proven { index } => format!("proven at leaf {index}"),
            LogOutcome::Refused(_, m) | LogOutcome::Unreachable(m) => m.clone(),
            LogOutcome::Misbehaved { msg, evidence } => match evidence {
                Some(p) => format!("{msg} (evidence: {})", p.display()),
                None => msg.clone(),
            },
        }
    }
    /// The exit code of this outcome (DESIGN §8, §10).
    pub fn exit_code(&self) -> u8 {
        match self {
            LogOutcome::Proven { .. } => 0,
            LogOutcome::Refused(..) => super::exit::REFUSED,
            LogOutcome::Unreachable(_) => super::exit::UNREACHABLE,
            LogOutcome::Misbehaved { .. } => super::exit::MISBEHAVIOUR,
        }
    }

    pub fn result(&self) -> &'static str {
        match self {
            LogOutcome::Proven { .. } => "proven",
            LogOutcome::Refused(..) => "refused",
            LogOutcome::Unreachable(_) => "unreachable",
            LogOutcome::Misbehaved { .. } => "misbehaved",
        }
    }
}

/// What one log said, for the report.
#[derive(Debug, Clone)]
pub struct LogReport {
    /// The log's origin.
    pub origin: String,
    /// How messages name the log (its origin, and its key ID when another
    /// listed log has the same origin).
    pub label: String,
    /// The listed log this report is about, whose state it saves (`None`:
    /// a Sigsum proof, which saves nothing).
    pub log: Option<LogId>,
    pub outcome: LogOutcome,
    pub checkpoint: Option<Checkpoint>,
    pub cosigners: Vec<(String, u64)>,
    pub elapsed_ms: u128,
    /// To save once the whole verdict is positive.
    pub save_checkpoint: Option<Vec<u8>>,
    /// The saved checkpoint as this verification read it (`None`: none
    /// was saved): `save_checkpoint` replaces only that.
    pub saved_before: Option<Vec<u8>>,
    pub save_proof: Option<CachedProof>,
    /// The release proven (for the report and the run record).
    pub entry: Option<Entry>,
    /// The `[[rebuilder]]`s whose attestations this log proved.
    pub attested: Vec<String>,
    /// Attestations to cache: (rebuilder key, proof).
    pub save_attestations: Vec<([u8; 32], CachedProof)>,
    /// Proven on the warm path, from the state alone; until then (Unix
    /// seconds) the warm path would still hold: `max_age` after the saved
    /// checkpoint's freshest quorum.
    pub warm_until: Option<u64>,
    /// Set when the policy's history rules read this log's release history
    /// and it covers the checkpoint in force: the log was checked in this
    /// run, whether or not it proved the file ([`super::releases`]).
    pub history: Option<Checked>,
    /// Set when the log served a larger checkpoint that could not be
    /// proven to extend the saved one (tiles missing or altered on the
    /// way): what only it could hold is unknown, not absent.
    pub unproven_growth: Option<String>,
    /// Set when a checkpoint that meets the policy by itself proved the
    /// leaf without being linked to the checkpoint in force (DESIGN §6,
    /// "Consistency that cannot be checked now"): nothing proven against
    /// it is cached, and no warm verdict rests on it.
    pub deferred: bool,
    /// Pending pairs to keep ([`crate::store::pending`]).
    pub save_pending: Vec<crate::store::Pair>,
    /// The unlinked notes of pending pairs this run proved (one history,
    /// or a split view already recorded): to forget.
    pub settled: Vec<String>,
    /// What was served and proved nothing (the run went on without it),
    /// for the user to see.
    pub warnings: Vec<String>,
    /// Each step taken, for `-v`.
    pub narration: Vec<String>,
    /// The Sigstore bundle that proved the program, when one did.
    pub sigstore: Option<crate::sigstore::Proven>,
}

impl LogReport {
    /// A report about one of the policy's logs.
    pub fn new(spec: &LogSpec, outcome: LogOutcome) -> Self {
        let mut r = Self::other(&spec.origin, outcome);
        r.label = spec.label.clone();
        r.log = Some(spec.id.clone());
        r
    }

    /// A report about a log the policy does not list (a Sigsum log).
    pub fn other(origin: &str, outcome: LogOutcome) -> Self {
        LogReport {
            origin: origin.to_string(),
            label: origin.to_string(),
            log: None,
            outcome,
            checkpoint: None,
            cosigners: vec![],
            elapsed_ms: 0,
            save_checkpoint: None,
            saved_before: None,
            save_proof: None,
            entry: None,
            attested: vec![],
            save_attestations: vec![],
            warm_until: None,
            history: None,
            unproven_growth: None,
            deferred: false,
            save_pending: vec![],
            settled: vec![],
            warnings: vec![],
            narration: vec![],
            sigstore: None,
        }
    }
}

impl LogReport {
    /// Notes the checkpoint this report rests on: its tree and who
    /// cosigned it.
    pub(super) fn rests_on(&mut self, sc: &SignedCheckpoint) {
        self.checkpoint = Some(sc.checkpoint.clone());
        self.cosigners = sc
            .cosignatures
            .iter()
            .map(|c| (c.witness.name.clone(), c.timestamp))
            .collect();
    }
}

/// A step's failure, already classified.
pub(super) type Step<T> = Result<T, LogOutcome>;

pub(super) fn refused<T>(cause: Cause, m: impl Into<String>) -> Step<T> {
    Err(LogOutcome::Refused(cause, m.into()))
}

/// One log as this verification sees it: its policy line, where its files
/// come from (none offline), and the policy's witness keys.
pub(super) struct Log<'a> {
    pub(super) ctx: &'a Context<'a>,
    pub(super) spec: &'a LogSpec,
    pub(super) source: Option<Arc<dyn Source>>,
    pub(super) witness_keys: Vec<crate::note::VerifierKey>,
    /// The steps taken, moved into the report at the end ([`Log::say`]).
    notes: std::sync::Mutex<Vec<String>>,
    /// The checkpoint the log served in this run, validly signed by its
    /// key, whether or not it met the policy: evidence against any other
    /// checkpoint of the log ([`super::pending::evidence`]).
    pub(super) served: std::sync::OnceLock<SignedCheckpoint>,
}

impl<'a> Log<'a> {
    pub(super) fn new(ctx: &'a Context<'a>, spec: &'a LogSpec) -> Self {
        let source = if ctx.offline {
            None
        } else if let Some(sources) = ctx.sources {
            sources(spec)
        } else {
            spec.url
                .as_deref()
                .and_then(|u| Fetcher::new(u).ok())
                .map(|f| Arc::new(f.with_deadline(ctx.deadline)) as Arc<dyn Source>)
        };
        Log {
            ctx,
            spec,
            source,
            witness_keys: ctx
                .policy
                .trust
                .witnesses
                .iter()
                .map(|w| w.key.clone())
                .collect(),
            notes: Default::default(),
            served: Default::default(),
        }
    }

    /// Notes a step for `-v` (the decision prints nothing itself).
    pub(super) fn say(&self, msg: impl Into<String>) {
        if let Ok(mut n) = self.notes.lock() {
            n.push(msg.into());
        }
    }

    /// The steps noted so far.
    pub(super) fn narration(&self) -> Vec<String> {
        self.notes.lock().map(|n| n.clone()).unwrap_or_default()
    }

    /// Reads `path` from the log: unreachable offline, on a network
    /// failure, and when what is served is over its cap (DESIGN §6, §10).
    ///
    /// Attack stopped: a mirror, CDN or network path that serves an
    /// oversized tile, bundle, shard or checkpoint turning a log it cannot
    /// forge into a refusal (126) the user would take as "not logged";
    /// anyone on the path can do that, so it is the log unreachable for
    /// this run (124) and the cache rules decide, as for dropped packets.
    pub(super) fn get(&self, path: &str, cap: usize) -> Step<Option<Vec<u8>>> {
        let Some(f) = &self.source else {
            return Err(LogOutcome::Unreachable(format!(
                "offline: {path} is not cached"
            )));
        };
        f.get(path, cap).map_err(|e| match e {
            FetchError::TooLarge { .. } => {
                LogOutcome::Unreachable(format!("{e} (served data over its cap)"))
            }
            e => LogOutcome::Unreachable(e.to_string()),
        })
    }

    /// The log's hash tiles (`None` offline); nothing read through them is
    /// trusted until [`crate::tlog::consistency`] authenticates it.
    pub(super) fn tiles(&self) -> Option<SourceTiles<'_>> {
        self.source.as_deref().map(SourceTiles)
    }
}

/// The note of `sc` to save in the state: its verified lines only, less
/// any cosignature dated beyond the allowed skew (not counted now, and not
/// passed on by `gossip export` to make other machines refuse the log).
pub(super) fn to_save(log: &Log, sc: &SignedCheckpoint) -> Vec<u8> {
    let mut sc = sc.clone();
    sc.drop_dated_after(log.ctx.now.saturating_add(MAX_SKEW_SECS));
    sc.verified_note
}

pub(super) fn open(note: &[u8], log: &Log) -> Result<SignedCheckpoint, TlogError> {
    SignedCheckpoint::verify(note, &log.spec.origin, &log.spec.key, &log.witness_keys)
}

/// The checkpoint this machine saw last: saved only after it verified, so
/// its signatures are matched to the policy's keys but not recomputed
/// ([`SignedCheckpoint::open_saved`]).
pub(super) fn saved(log: &Log) -> Option<SignedCheckpoint> {
    saved_read(log).1
}

/// The saved checkpoint's bytes exactly as read (what a save of a newer
/// one must still find there: [`crate::state::State::save_checkpoint`]),
/// and the checkpoint they open to.
pub(super) fn saved_read(log: &Log) -> (Option<Vec<u8>>, Option<SignedCheckpoint>) {
    let Some(note) = log.ctx.state.checkpoint(&log.spec.id) else {
        return (None, None);
    };
    let sc =
        SignedCheckpoint::open_saved(&note, &log.spec.origin, &log.spec.key, &log.witness_keys)
            .ok();
    (Some(note), sc)
}

/// A verification thread that panicked (a bug): the log proves nothing.
pub(crate) fn internal_error() -> LogOutcome {
    LogOutcome::Refused(Cause::Internal, "internal error".into())
}

/// What a log checked in this run adds to the history rules: its view
/// covers its checkpoint in force; `covers` are cosignatures of checkpoints
/// it proved with that are not recorded in the view (a proof file's).
#[derive(Debug, Clone, Default)]
pub struct Checked {
    pub covers: Vec<Cover>,
}
