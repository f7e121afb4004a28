//! Verification against one log: its checkpoint (signature, origin, witness
//! quorum, freshness), consistency with the checkpoint this machine saw
//! before, finding the leaf (sidecar tlog-proof, cached proof, `bt/index`),
//! inclusion, and the entry itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use super::{Cause, Context};
use crate::entry::Entry;
use crate::fetch::{FetchError, Fetcher};
use crate::log_id::LogId;
use crate::policy::LogSpec;
use crate::source::{Source, SourceTiles};
use crate::store::{CachedProof, Ingested};
use crate::tlog::{Checkpoint, SignedCheckpoint, TlogError};

use super::current::{current, fresh, fresh_until};
use super::leaf::{cached_proof, find_leaf, from_view};
use super::pending::Shipped;
use super::release::{attestations, update_view};

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
    /// seconds) the warm path would still hold: `require.refresh` after the
    /// checkpoint was fetched, `max_age` after its freshest quorum.
    pub warm_until: Option<u64>,
    /// Set when the policy's history rules read this log's release history
    /// and it covers the checkpoint in force: the log was checked in this
    /// run, whether or not it proved the file ([`super::releases`]).
    pub history: Option<super::Checked>,
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
        }
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
    sc.drop_dated_after(log.ctx.now.saturating_add(super::MAX_SKEW_SECS));
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

/// The warm path: a checkpoint fetched less than `require.refresh` ago that
/// still meets the policy, and a cached proof of this file against it, need
/// no network request at all. `None` when this log needs the full path.
pub fn warm(ctx: &Context, spec: &LogSpec, file: &Ingested) -> Option<LogReport> {
    let refresh = ctx.policy.require.refresh;
    if refresh.is_zero() || ctx.state.alarm(&spec.id).is_some() {
        return None;
    }
    // A save time after now (the clock moved back) is no age at all.
    let age = ctx
        .now
        .checked_sub(ctx.state.checkpoint_saved_at(&spec.id)?)?;
    if age >= refresh.as_secs() {
        return None;
    }
    let refresh_until = ctx.now.saturating_add(refresh.as_secs() - age);
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let c = saved(&log).filter(|c| fresh(&log, c).is_ok())?;
    let found = cached_proof(&log, &c.checkpoint, file)?;
    // Release history from the state alone, when it covers the checkpoint
    // in force; anything else goes the full way (and a history refusal is
    // decided again with fresh data: `super::verify`).
    let rules = super::rules_read_history(ctx.policy);
    // Never on a pair not yet proven one history (DESIGN §6): what the
    // history rules read may be another history than the one in force.
    let unproven = || !ctx.state.pending(&spec.id).is_ok_and(|p| p.is_empty());
    if ctx.policy.require.prior_revisions > 0
        || (rules && (ctx.state.view(&spec.id).size().0 < c.checkpoint.size || unproven()))
    {
        return None;
    }
    let mut scratch = LogReport::new(spec, LogOutcome::Refused(Cause::Internal, String::new()));
    let attested = attestations(&log, &c.checkpoint, file, &found, false, &mut scratch).ok()?;
    if attested.len() < ctx.policy.require.rebuilders {
        return None;
    }
    let index = found.index;
    log.say(format!(
        "cached checkpoint size {} is fresh; proven from the cache at leaf {index}",
        c.checkpoint.size
    ));
    let mut report = LogReport::new(spec, LogOutcome::Proven { index });
    report.narration = log.narration();
    report.entry = Some(found.entry);
    report.attested = attested;
    report.cosigners = c
        .cosignatures
        .iter()
        .map(|x| (x.witness.name.clone(), x.timestamp))
        .collect();
    report.warm_until = fresh_until(&log, &c).map(|t| t.min(refresh_until));
    report.history = rules.then(Default::default);
    report.checkpoint = Some(c.checkpoint);
    report.elapsed_ms = start.elapsed().as_millis();
    Some(report)
}

/// "Not in this log" from a log whose larger, witnessed served checkpoint
/// could not be proven to extend the saved one is that log unreachable
/// for this run.
///
/// Attack stopped: a mirror or network path that alters or drops the
/// tiles linking the saved checkpoint to the log's newer one, so that a
/// release logged since is "not in this log" (126, "publish this exact
/// file") on a machine that saw the log before. Anyone on the path can do
/// that, so it is 124, as dropping packets would be.
pub(super) fn unknown_if_unproven(o: LogOutcome, report: &LogReport) -> LogOutcome {
    match (o, &report.unproven_growth) {
        (LogOutcome::Refused(Cause::NotInLog, m) | LogOutcome::Unreachable(m), Some(why)) => {
            LogOutcome::Unreachable(format!("{m}; {why}"))
        }
        (o, _) => o,
    }
}

/// The refusal of a proof file for this log that fails on its own (it does
/// not parse, or its checkpoint is not this log's, validly signed).
fn broken_proof(log: &Log, sidecar: Option<&super::ProofFile>) -> Option<LogOutcome> {
    let pf = sidecar.filter(|pf| pf.concerns(&log.spec.origin))?;
    let at = pf.path.display();
    let why = match &pf.parsed {
        Err(e) => e.to_string(),
        Ok(p) => format!("checkpoint: {}", open(&p.checkpoint, log).err()?),
    };
    Some(LogOutcome::Refused(
        Cause::ProofFile,
        format!("{at}: {why}"),
    ))
}

/// Verifies `file` against one log.
pub fn verify_log(
    ctx: &Context,
    spec: &LogSpec,
    file: &Ingested,
    sidecar: Option<&super::ProofFile>,
) -> LogReport {
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let mut report = LogReport::new(spec, LogOutcome::Refused(Cause::Internal, String::new()));
    let outcome = match run(&log, file, sidecar, &mut report) {
        Ok(index) => LogOutcome::Proven { index },
        // A pair is kept only for a leaf it proved: refused proofs beside
        // other programs must not fill the pending pairs (and so refuse
        // deferral to the next one).
        Err(o) => {
            report.save_pending.clear();
            o
        }
    };
    report.outcome = outcome;
    report.narration = log.narration();
    report.elapsed_ms = start.elapsed().as_millis();
    report
}

fn run(
    log: &Log,
    file: &Ingested,
    sidecar: Option<&super::ProofFile>,
    report: &mut LogReport,
) -> Step<u64> {
    // A proof file's checkpoint, which may stand in for the saved one
    // (super::pending); what is wrong with the file is said when its leaf
    // is looked for.
    let shipped = sidecar
        .filter(|pf| pf.concerns(&log.spec.origin))
        .and_then(|pf| {
            let sc = open(&pf.parsed.as_ref().ok()?.checkpoint, log).ok()?;
            Some(Shipped {
                sc,
                at: pf.path.display().to_string(),
            })
        });
    let mut current = match current(log, report, shipped.as_ref()) {
        Ok(c) => c,
        // Nothing else can prove the leaf now, and the proof file for this
        // log fails on its own: its refusal (126), not the network's.
        Err(LogOutcome::Unreachable(why)) => {
            return Err(broken_proof(log, sidecar).unwrap_or(LogOutcome::Unreachable(why)))
        }
        Err(o) => return Err(o),
    };
    let mut found = find_leaf(log, &mut current, file, sidecar, report);
    // Under history rules every log whose checkpoint is in force is read,
    // whether or not it proves the file: a newer release in a log that
    // lacks these bytes still makes them outdated (super::releases).
    if super::rules_read_history(log.ctx.policy)
        && !matches!(found, Err(LogOutcome::Misbehaved { .. }))
    {
        let view = log.ctx.state.view(&log.spec.id);
        update_view(log, &*view, &current)?;
        // What the index did not find (or a garbled index hid), the
        // history may hold (a proof file present decides alone: no
        // fallback). When the view cannot prove it either, the index's
        // answer stands.
        let index_failed = matches!(
            found,
            Err(LogOutcome::Refused(..) | LogOutcome::Unreachable(_))
        );
        if sidecar.is_none() && index_failed {
            if let Ok(Some(f)) = from_view(log, &current.checkpoint, file, report) {
                found = Ok(f);
            }
        }
        // A leaf proven by a checkpoint not yet linked to the one in
        // force (super::pending), beyond the history this machine holds:
        // which releases precede or follow it is unknown until the log
        // is reached (124), never "not in any log" (126).
        let (have, _) = view.size();
        if let (true, Ok(f)) = (report.deferred, &found) {
            if f.index >= have {
                found = Err(LogOutcome::Unreachable(format!(
                    "leaf {} is proven by a checkpoint not yet linked to the one in force, beyond the release history this machine holds ({have} entries); the history rules need the log to be reached",
                    f.index
                )));
            }
        }
        report.history = Some(super::Checked {
            covers: found.as_ref().map(|f| f.covers.clone()).unwrap_or_default(),
        });
    }
    let found = found.map_err(|o| unknown_if_unproven(o, report))?;
    report.attested = attestations(log, &current.checkpoint, file, &found, true, report)?;
    report.entry = Some(found.entry);
    Ok(found.index)
}
