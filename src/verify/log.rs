//! Verification against one log: its checkpoint (signature, origin, witness
//! quorum, freshness), consistency with the checkpoint this machine saw
//! before, finding the leaf (sidecar tlog-proof, cached proof, `bt/index`),
//! inclusion, and the entry itself.

use std::path::PathBuf;
use std::time::Instant;

use super::{Context, MAX_SKEW_SECS};
use crate::entry::Entry;
use crate::fetch::{FetchError, Fetcher};
use crate::index;
use crate::policy::LogSpec;
use crate::store::{CachedProof, Ingested};
use crate::tlog::store::TileHashes;
use crate::tlog::tiles::{
    bundle_path, decode_bundle, hash_tile_path, tile_width, MAX_BUNDLE_BYTES, MAX_TILE_BYTES,
    TILE_WIDTH,
};
use crate::tlog::{
    leaf_hash, verify_inclusion, Checkpoint, SignedCheckpoint, TlogError, TlogProof,
    MAX_CHECKPOINT_BYTES,
};

/// How many candidate leaves an index shard may point us to for one hash.
const MAX_CANDIDATES: usize = 16;

#[derive(Debug, Clone)]
pub enum LogOutcome {
    Proven {
        index: u64,
    },
    /// Not proven from data that was reached (126).
    Refused(String),
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
            LogOutcome::Refused(m) | LogOutcome::Unreachable(m) => m.clone(),
            LogOutcome::Misbehaved { msg, evidence } => match evidence {
                Some(p) => format!("{msg} (evidence: {})", p.display()),
                None => msg.clone(),
            },
        }
    }
    pub fn result(&self) -> &'static str {
        match self {
            LogOutcome::Proven { .. } => "proven",
            LogOutcome::Refused(_) => "refused",
            LogOutcome::Unreachable(_) => "unreachable",
            LogOutcome::Misbehaved { .. } => "misbehaved",
        }
    }
}

/// What one log said, for the report.
#[derive(Debug, Clone)]
pub struct LogReport {
    pub origin: String,
    pub outcome: LogOutcome,
    pub checkpoint: Option<Checkpoint>,
    pub cosigners: Vec<(String, u64)>,
    pub elapsed_ms: u128,
    /// To save once the whole verdict is positive.
    pub save_checkpoint: Option<Vec<u8>>,
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
}

impl LogReport {
    pub fn new(origin: &str, outcome: LogOutcome) -> Self {
        LogReport {
            origin: origin.to_string(),
            outcome,
            checkpoint: None,
            cosigners: vec![],
            elapsed_ms: 0,
            save_checkpoint: None,
            save_proof: None,
            entry: None,
            attested: vec![],
            save_attestations: vec![],
            warm_until: None,
        }
    }
}

/// A step's failure, already classified.
type Step<T> = Result<T, LogOutcome>;

/// The leaf that proves the file, and how old a cosigned checkpoint that
/// covers it is known to be from a proof file.
struct Found {
    index: u64,
    entry: Entry,
    proof_time: Option<u64>,
}

fn refused<T>(m: impl Into<String>) -> Step<T> {
    Err(LogOutcome::Refused(m.into()))
}

struct Log<'a> {
    ctx: &'a Context<'a>,
    spec: &'a LogSpec,
    fetcher: Option<Fetcher>,
    witness_keys: Vec<crate::note::VerifierKey>,
}

impl<'a> Log<'a> {
    fn new(ctx: &'a Context<'a>, spec: &'a LogSpec) -> Self {
        let fetcher = if ctx.offline {
            None
        } else {
            spec.url
                .as_deref()
                .and_then(|u| Fetcher::new(u).ok())
                .map(|f| f.with_deadline(ctx.deadline))
        };
        Log {
            ctx,
            spec,
            fetcher,
            witness_keys: ctx
                .policy
                .trust
                .witnesses
                .iter()
                .map(|w| w.key.clone())
                .collect(),
        }
    }

    fn get(&self, path: &str, cap: usize) -> Step<Option<Vec<u8>>> {
        let Some(f) = &self.fetcher else {
            return Err(LogOutcome::Unreachable(format!(
                "offline: {path} is not cached"
            )));
        };
        f.get(path, cap).map_err(|e| match e {
            FetchError::TooLarge { .. } => LogOutcome::Refused(e.to_string()),
            e => LogOutcome::Unreachable(e.to_string()),
        })
    }

    /// Tiles of the tree of `size`, fetched as the proof code asks for
    /// them; nothing read here is trusted until [`Log::authenticate`].
    fn tiles(&self, size: u64) -> TileHashes {
        let fetcher = self.fetcher.clone();
        TileHashes::with_loader(Box::new(move |level, n| {
            let w = tile_width(level, n, size);
            let data = fetcher
                .as_ref()?
                .get(&hash_tile_path(level, n, w), MAX_TILE_BYTES)
                .ok()??;
            (data.len() as u64 == w * 32).then_some(data)
        }))
    }

    /// Checks `tiles` hash to `cp`'s root; a mismatch is the log contradicting itself.
    fn authenticate(&self, tiles: &TileHashes, cp: &Checkpoint) -> Step<()> {
        if self.fetcher.is_none() {
            return Err(LogOutcome::Unreachable(
                "offline: tiles are needed and not cached".into(),
            ));
        }
        match tiles.tree_hash(cp.size) {
            Ok(r) if r == cp.root => Ok(()),
            Ok(_) => Err(LogOutcome::Misbehaved {
                msg: format!(
                    "the log's tiles do not hash to its signed root at size {}",
                    cp.size
                ),
                evidence: None,
            }),
            Err(e) => Err(LogOutcome::Unreachable(format!(
                "tiles for size {}: {e}",
                cp.size
            ))),
        }
    }

    fn split_view(&self, a: &[u8], b: &[u8], what: &str) -> LogOutcome {
        let evidence = self
            .ctx
            .store
            .record_split_view(&self.spec.origin, a, b, self.ctx.now);
        LogOutcome::Misbehaved {
            msg: format!(
                "split view: {what}\n--- one checkpoint ---\n{}--- the other ---\n{}",
                String::from_utf8_lossy(a),
                String::from_utf8_lossy(b)
            ),
            evidence,
        }
    }

    /// Proves `older` is a prefix of `newer` (both validly signed) from the
    /// tiles of `newer`; a proven inconsistency is a split view.
    fn prove_prefix(&self, older: &SignedCheckpoint, newer: &SignedCheckpoint) -> Step<()> {
        let (a, b) = (&older.checkpoint, &newer.checkpoint);
        if a.size == b.size {
            if a.root == b.root {
                return Ok(());
            }
            return Err(self.split_view(
                &older.note,
                &newer.note,
                &format!("two different trees of size {}", a.size),
            ));
        }
        if a.size == 0 {
            return Ok(());
        }
        let tiles = self.tiles(b.size);
        self.authenticate(&tiles, b)?;
        match tiles.tree_hash(a.size) {
            Ok(r) if r == a.root => Ok(()),
            Ok(_) => Err(self.split_view(
                &older.note,
                &newer.note,
                &format!("size {} is not a prefix of size {}", a.size, b.size),
            )),
            Err(e) => Err(LogOutcome::Unreachable(format!("consistency tiles: {e}"))),
        }
    }

    /// Freshness and quorum: the witnesses whose cosignatures are at most
    /// `max_age` old must meet the quorum; none may be from the future.
    fn fresh(&self, sc: &SignedCheckpoint) -> Step<()> {
        let now = self.ctx.now;
        let max_age = self.ctx.policy.require.max_age.as_secs();
        if let Some(c) = sc
            .cosignatures
            .iter()
            .find(|c| c.timestamp > now.saturating_add(MAX_SKEW_SECS))
        {
            return refused(format!(
                "cosignature by {} is dated {} s in the future; check this machine's clock",
                c.witness.name,
                c.timestamp - now
            ));
        }
        let trust = &self.ctx.policy.trust;
        let fresh = trust.witness_positions(
            sc.cosignatures
                .iter()
                .filter(|c| c.timestamp.saturating_add(max_age) >= now)
                .map(|c| &c.witness),
        );
        if trust.quorum_met(&fresh) {
            return Ok(());
        }
        let all = trust.witness_positions(sc.cosignatures.iter().map(|c| &c.witness));
        if trust.quorum_met(&all) {
            refused(format!("the witness cosignatures are older than max_age ({max_age} s): the checkpoint is stale"))
        } else {
            refused(format!(
                "the witness quorum is not met ({} valid cosignature(s) from policy witnesses)",
                all.len()
            ))
        }
    }
}

impl Log<'_> {
    /// The last moment `sc` meets [`Log::fresh`]'s quorum: `max_age` after
    /// the latest `t` such that the cosignatures dated `t` or later meet the
    /// quorum (`u64::MAX` when the policy needs no cosignature; `None` when
    /// no quorum ever met).
    fn fresh_until(&self, sc: &SignedCheckpoint) -> Option<u64> {
        let trust = &self.ctx.policy.trust;
        if trust.quorum_met(&Default::default()) {
            return Some(u64::MAX);
        }
        let max_age = self.ctx.policy.require.max_age.as_secs();
        let mut times: Vec<u64> = sc.cosignatures.iter().map(|c| c.timestamp).collect();
        times.sort_unstable();
        times.dedup();
        times
            .into_iter()
            .rev()
            .find(|&t| {
                trust.quorum_met(
                    &trust.witness_positions(
                        sc.cosignatures
                            .iter()
                            .filter(|c| c.timestamp >= t)
                            .map(|c| &c.witness),
                    ),
                )
            })
            .map(|t| t.saturating_add(max_age))
    }
}

fn open(note: &[u8], log: &Log) -> Result<SignedCheckpoint, TlogError> {
    SignedCheckpoint::verify(note, &log.spec.origin, &log.spec.key, &log.witness_keys)
}

/// The checkpoint this machine saw last: saved only after it verified, so
/// its signatures are matched to the policy's keys but not recomputed
/// ([`SignedCheckpoint::open_saved`]).
fn saved(log: &Log) -> Option<SignedCheckpoint> {
    let note = log.ctx.store.checkpoint(&log.spec.origin)?;
    SignedCheckpoint::open_saved(&note, &log.spec.origin, &log.spec.key, &log.witness_keys).ok()
}

/// The warm path: a checkpoint fetched less than `require.refresh` ago that
/// still meets the policy, and a cached proof of this file against it, need
/// no network request at all. `None` when this log needs the full path.
pub fn warm(ctx: &Context, spec: &LogSpec, file: &Ingested) -> Option<LogReport> {
    let refresh = ctx.policy.require.refresh;
    if refresh.is_zero() || ctx.store.alarm(&spec.origin).is_some() {
        return None;
    }
    let age = ctx.store.checkpoint_age(&spec.origin)?;
    if age >= refresh {
        return None;
    }
    let refresh_until = ctx.now.saturating_add((refresh - age).as_secs());
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let c = saved(&log).filter(|c| log.fresh(c).is_ok())?;
    let found = cached_proof(&log, &c.checkpoint, file)?;
    // Release history from the state alone; anything else (or a refusal,
    // which fresh data might change) goes the full way.
    if ctx.policy.require.prior_revisions > 0 || history(&log, &c, &found, false).is_err() {
        return None;
    }
    let mut scratch = LogReport::new(&spec.origin, LogOutcome::Refused(String::new()));
    let attested = attestations(&log, &c.checkpoint, file, &found, false, &mut scratch).ok()?;
    if attested.len() < ctx.policy.require.rebuilders {
        return None;
    }
    let index = found.index;
    ctx.say(
        &spec.origin,
        &format!(
            "cached checkpoint size {} is fresh; proven from the cache at leaf {index}",
            c.checkpoint.size
        ),
    );
    let mut report = LogReport::new(&spec.origin, LogOutcome::Proven { index });
    report.entry = Some(found.entry);
    report.attested = attested;
    report.cosigners = c
        .cosignatures
        .iter()
        .map(|x| (x.witness.name.clone(), x.timestamp))
        .collect();
    report.warm_until = log.fresh_until(&c).map(|t| t.min(refresh_until));
    report.checkpoint = Some(c.checkpoint);
    report.elapsed_ms = start.elapsed().as_millis();
    Some(report)
}

/// Verifies `file` against one log.
pub fn verify_log(
    ctx: &Context,
    spec: &LogSpec,
    file: &Ingested,
    sidecar: Option<&(PathBuf, Result<TlogProof, TlogError>)>,
) -> LogReport {
    let start = Instant::now();
    let log = Log::new(ctx, spec);
    let mut report = LogReport::new(&spec.origin, LogOutcome::Refused(String::new()));
    let outcome = match run(&log, file, sidecar, &mut report) {
        Ok(index) => LogOutcome::Proven { index },
        Err(o) => o,
    };
    report.outcome = outcome;
    report.elapsed_ms = start.elapsed().as_millis();
    report
}

fn run(
    log: &Log,
    file: &Ingested,
    sidecar: Option<&(PathBuf, Result<TlogProof, TlogError>)>,
    report: &mut LogReport,
) -> Step<u64> {
    let current = current(log, report)?;
    let found = find_leaf(log, &current, file, sidecar, report)?;
    history(log, &current, &found, true)?;
    report.attested = attestations(log, &current.checkpoint, file, &found, true, report)?;
    report.entry = Some(found.entry);
    Ok(found.index)
}

/// The checkpoint in force for this log: fetched and verified, proven
/// consistent with the one seen before (or the cached one, when it must
/// stand in); its coverage recorded for `min_release_age`.
fn current(log: &Log, report: &mut LogReport) -> Step<SignedCheckpoint> {
    let ctx = log.ctx;
    let origin = &log.spec.origin;
    if let Some(ev) = ctx.store.alarm(origin) {
        return Err(LogOutcome::Misbehaved {
            msg: format!("a split view of this log was recorded earlier ({ev}); it stays refused until a person runs `bt-exec alarm clear {origin}`"),
            evidence: Some(PathBuf::from(ev)),
        });
    }
    // The checkpoint this machine saw last (verified when it was saved).
    let cached = saved(log);
    // The log's checkpoint now.
    let fetched = match log.get("checkpoint", MAX_CHECKPOINT_BYTES) {
        Ok(Some(note)) => match open(&note, log) {
            Ok(sc) => Some(sc),
            Err(e) => return refused(format!("checkpoint: {e}")),
        },
        Ok(None) => None,
        Err(LogOutcome::Unreachable(m)) => {
            ctx.say(
                origin,
                &format!("unreachable: {m}; using the cached checkpoint"),
            );
            None
        }
        Err(o) => return Err(o),
    };
    // The checkpoint in force: the newer of the two, once consistent.
    let current = match (cached, fetched) {
        (None, None) => {
            return Err(LogOutcome::Unreachable(
                "the log cannot be reached and no checkpoint of it is cached".into(),
            ))
        }
        (Some(c), None) => {
            log.fresh(&c).map_err(|o| match o {
                LogOutcome::Refused(m) => LogOutcome::Unreachable(format!("the log cannot be reached and the cached checkpoint does not meet the policy: {m}")),
                o => o,
            })?;
            c
        }
        (None, Some(f)) => {
            log.fresh(&f)?;
            report.save_checkpoint = Some(f.verified_note.clone());
            f
        }
        (Some(c), Some(f)) if f.checkpoint.size >= c.checkpoint.size => {
            log.prove_prefix(&c, &f)?;
            log.fresh(&f)?;
            report.save_checkpoint = Some(f.verified_note.clone());
            f
        }
        (Some(c), Some(f)) => {
            // A smaller checkpoint (a stale mirror or CDN): the cached one
            // stays in force; it must be a prefix of it, or it is a fork.
            match log.prove_prefix(&f, &c) {
                Ok(()) => ctx.say(origin, &format!("the log serves size {} < cached {}; keeping the cached checkpoint", f.checkpoint.size, c.checkpoint.size)),
                Err(LogOutcome::Misbehaved { msg, evidence }) => return Err(LogOutcome::Misbehaved { msg, evidence }),
                Err(_) => {
                    return Err(LogOutcome::Unreachable(format!(
                        "the log serves size {} after size {} was seen, and whether it is a prefix cannot be checked now",
                        f.checkpoint.size, c.checkpoint.size
                    )))
                }
            }
            log.fresh(&c)?;
            c
        }
    };
    report.checkpoint = Some(current.checkpoint.clone());
    report.cosigners = current
        .cosignatures
        .iter()
        .map(|c| (c.witness.name.clone(), c.timestamp))
        .collect();
    ctx.say(
        origin,
        &format!(
            "checkpoint size {} verified, {} cosignature(s)",
            current.checkpoint.size,
            current.cosignatures.len()
        ),
    );
    if let Some(t) = crate::history::quorum_time(&ctx.policy.trust, &current.cosignatures) {
        let view = crate::history::View::open(ctx.store, origin);
        if let Err(e) = view.record_coverage(current.checkpoint.size, t) {
            ctx.say(origin, &format!("{e}"));
        }
    }
    Ok(current)
}

/// A release of `name` this log holds: `version`, or the newest when
/// `None`, for this platform (or `any`), by a publisher the policy allows
/// for the name — from the release history, brought up to the checkpoint
/// in force first. Also returns the report (with the checkpoint to save).
pub fn find_release(
    ctx: &Context,
    spec: &LogSpec,
    name: &str,
    version: Option<&str>,
) -> (LogReport, Step<Option<crate::history::Seen>>) {
    let log = Log::new(ctx, spec);
    let mut report = LogReport::new(&spec.origin, LogOutcome::Refused(String::new()));
    let r = (|| {
        let cp = current(&log, &mut report)?;
        let view = crate::history::View::open(ctx.store, &spec.origin);
        update_view(&log, &view, &cp)?;
        let platform = host_platform();
        let releases = view
            .releases(name)
            .map_err(|e| LogOutcome::Refused(e.to_string()))?;
        let found = releases.into_iter().rev().find(|s| {
            let r = &s.entry.release;
            (r.platform == "any" || r.platform == platform)
                && version.map_or(true, |v| r.version == v)
                && ctx
                    .policy
                    .publishers
                    .iter()
                    .any(|p| p.key == s.entry.publisher && p.may_publish(name))
        });
        // The history knows the leaf: its inclusion proof, cached, lets the
        // verification that follows find it even in a log without an index.
        if let Some(s) = &found {
            let c = &cp.checkpoint;
            let leaf = s.entry.encode();
            let tiles = log.tiles(c.size);
            if log.authenticate(&tiles, c).is_ok() {
                if let Ok(proof) = tiles.inclusion_proof(s.index, c.size) {
                    if verify_inclusion(leaf_hash(&leaf), s.index, c.size, &proof, c.root).is_ok() {
                        report.save_proof =
                            Some(CachedProof::new(s.index, &leaf, c.size, c.root, &proof));
                    }
                }
            }
        }
        Ok(found)
    })();
    (report, r)
}

/// Brings `view` up to `cp`, reading from the log (never offline).
fn update_view(log: &Log, view: &crate::history::View, cp: &SignedCheckpoint) -> Step<()> {
    use crate::history::HistoryError;
    use crate::monitor::Fault;
    let (have, _) = view.size();
    if have >= cp.checkpoint.size {
        return Ok(());
    }
    let Some(f) = &log.fetcher else {
        return Err(LogOutcome::Unreachable(format!(
            "the release history of this log covers {have} of {} entries and cannot be brought up to date offline",
            cp.checkpoint.size
        )));
    };
    let added = view.update(f, &cp.checkpoint).map_err(|e| match e {
        HistoryError::Log(Fault::SplitView { msg, evidence }) => {
            LogOutcome::Misbehaved { msg, evidence }
        }
        HistoryError::Log(Fault::BadData(m)) => LogOutcome::Misbehaved {
            msg: format!("release history: {m}"),
            evidence: None,
        },
        HistoryError::Log(f) => LogOutcome::Unreachable(format!("release history: {f}")),
        e => LogOutcome::Refused(e.to_string()),
    })?;
    log.ctx.say(
        &log.spec.origin,
        &format!("release history: {added} new entries read and verified"),
    );
    Ok(())
}

/// The policy's release-history rules (DESIGN §5): `latest`,
/// `prior_revisions`, `no_downgrade`, `min_release_age`. With `may_fetch`
/// false nothing is read from the network (the warm path).
fn history(log: &Log, cp: &SignedCheckpoint, found: &Found, may_fetch: bool) -> Step<()> {
    use crate::history::{runs, HistoryError, View};
    let ctx = log.ctx;
    let req = &ctx.policy.require;
    let origin = &log.spec.origin;
    let view = View::open(ctx.store, origin);
    let r = &found.entry.release;
    let local = |e: HistoryError| LogOutcome::Refused(e.to_string());
    if req.latest || req.prior_revisions > 0 {
        if may_fetch {
            update_view(log, &view, cp)?;
        } else if view.size().0 < cp.checkpoint.size {
            return Err(LogOutcome::Unreachable(
                "the release history is behind".into(),
            ));
        }
        let allowed = |e: &Entry| {
            ctx.policy
                .publishers
                .iter()
                .any(|p| p.key == e.publisher && p.may_publish(&e.release.name))
        };
        let releases: Vec<_> = view
            .releases(&r.name)
            .map_err(local)?
            .into_iter()
            .filter(|s| allowed(&s.entry))
            .collect();
        if req.latest {
            let platform = host_platform();
            if let Some(n) = releases.iter().rev().find(|s| {
                s.index > found.index
                    && (s.entry.release.platform == "any" || s.entry.release.platform == platform)
            }) {
                return refused(format!(
                    "{} {} is not the latest release: {} {} (leaf {}) is in the log; run that one (`bt-exec {}@latest`), or set require.latest = false",
                    r.name, r.version, n.entry.release.name, n.entry.release.version, n.index, r.name
                ));
            }
        }
        if req.prior_revisions > 0 {
            let mut ok = 0u64;
            let mut missing = vec![];
            for s in releases.iter().rev().filter(|s| s.index < found.index) {
                if ok >= req.prior_revisions {
                    break;
                }
                let e = &s.entry.release;
                let fetchable = if log.fetcher.is_none() {
                    view.available_since(&e.sha256).is_some()
                } else {
                    e.cas
                        .iter()
                        .any(|u| crate::fetch::available(u, e.size, ctx.deadline).unwrap_or(false))
                };
                if fetchable {
                    if log.fetcher.is_some() {
                        view.record_available(&e.sha256, ctx.now);
                    }
                    ok += 1;
                } else {
                    missing.push(format!("{} (leaf {})", e.version, s.index));
                }
            }
            if ok < req.prior_revisions {
                let gone = if missing.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; bytes not fetchable from their cas URLs: {}",
                        missing.join(", ")
                    )
                };
                return refused(format!(
                    "{} {} has {ok} earlier release(s) still fetchable in this log, the policy requires {} (require.prior_revisions){gone}",
                    r.name, r.version, req.prior_revisions
                ));
            }
        }
    }
    if req.no_downgrade {
        if let Some((i, v)) = runs(ctx.store, &r.name).logs.get(origin.as_str()) {
            if *i > found.index {
                return refused(format!(
                    "downgrade: {} {v} (leaf {i}) ran on this machine before; {} (leaf {}) is older (require.no_downgrade)",
                    r.name, r.version, found.index
                ));
            }
        }
    }
    if !req.min_release_age.is_zero() {
        let now_cover = (cp.checkpoint.size > found.index)
            .then(|| crate::history::quorum_time(&ctx.policy.trust, &cp.cosignatures))
            .flatten();
        let since = [view.covered_since(found.index), found.proof_time, now_cover]
            .into_iter()
            .flatten()
            .min();
        let need = req.min_release_age.as_secs();
        let age = since.map(|t| ctx.now.saturating_sub(t));
        if age.map_or(true, |a| a < need) {
            return refused(format!(
                "{} {} was first seen cosigned {} ago; the policy requires {need} s (require.min_release_age){}",
                r.name,
                r.version,
                age.map_or("never".into(), |a| format!("{a} s")),
                if found.proof_time.is_none() { "; a .tlog-proof with an older cosigned checkpoint would show it" } else { "" }
            ));
        }
    }
    Ok(())
}

fn host_platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// A proof cached by an earlier run, against a root this machine verified
/// (every later checkpoint was proven to extend it), still valid for `cp`.
/// Its entry's publisher signature verified before it was saved; the
/// policy's rules (publisher scope, platform) are applied again.
fn cached_proof(log: &Log, cp: &Checkpoint, file: &Ingested) -> Option<Found> {
    let c = log.ctx.store.proof(&log.spec.origin, &file.sha256)?;
    let leaf = still_valid(&c, cp)?;
    let entry = check_entry(log, &leaf, file, Signature::Saved).ok()?;
    Some(Found {
        index: c.index,
        entry,
        proof_time: None,
    })
}

/// The leaf of a proof cached against a root this machine verified, when
/// that root is still the one in force or a prefix of it (every later
/// checkpoint was proven to extend it) and the proof leads to it.
fn still_valid(c: &CachedProof, cp: &Checkpoint) -> Option<Vec<u8>> {
    let (leaf, root, proof) = c.decode()?;
    let ok = c.size <= cp.size
        && (c.size != cp.size || root == cp.root)
        && verify_inclusion(leaf_hash(&leaf), c.index, c.size, &proof, root).is_ok();
    ok.then_some(leaf)
}

/// Whether an entry's publisher signature is to be verified, or was
/// verified before the entry was saved in the state directory.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Signature {
    Verify,
    Saved,
}

/// Checks a decoded leaf is this file's release, by an allowed publisher.
fn check_entry(log: &Log, leaf: &[u8], file: &Ingested, sig: Signature) -> Step<Entry> {
    let e = Entry::decode(leaf).map_err(|e| LogOutcome::Refused(format!("entry: {e}")))?;
    if e.release.sha256 != file.sha256 || e.release.size != file.size {
        return refused(format!(
            "the entry is for other bytes (sha256 {}, {} bytes), not this file",
            hex::encode(e.release.sha256),
            e.release.size
        ));
    }
    if sig == Signature::Verify {
        e.verify_signature().map_err(|_| {
            LogOutcome::Refused(format!(
                "entry for {} {}: the publisher signature does not verify",
                e.release.name, e.release.version
            ))
        })?;
    }
    let platform = host_platform();
    if e.release.platform != "any" && e.release.platform != platform {
        return refused(format!(
            "the release is for platform {}, this machine is {platform}",
            e.release.platform
        ));
    }
    let allowed = log
        .ctx
        .policy
        .publishers
        .iter()
        .any(|p| p.key == e.publisher && p.may_publish(&e.release.name));
    if !allowed {
        use base64::Engine;
        return refused(format!(
            "publisher key {} is not allowed to publish {} by the policy ([[publisher]] names)",
            base64::engine::general_purpose::STANDARD.encode(e.publisher.as_bytes()),
            e.release.name
        ));
    }
    Ok(e)
}

fn find_leaf(
    log: &Log,
    current: &SignedCheckpoint,
    file: &Ingested,
    sidecar: Option<&(PathBuf, Result<TlogProof, TlogError>)>,
    report: &mut LogReport,
) -> Step<Found> {
    let ctx = log.ctx;
    let origin = &log.spec.origin;
    let cp = &current.checkpoint;
    // 1. A sidecar tlog-proof for this log: it must verify, no fallback.
    if let Some((path, parsed)) = sidecar {
        let proof = match parsed {
            Ok(p) => Some(p),
            Err(e) => return refused(format!("{}: {e}", path.display())),
        };
        if let Some(p) =
            proof.filter(|p| p.checkpoint.split(|&b| b == b'\n').next() == Some(origin.as_bytes()))
        {
            let sc = open(&p.checkpoint, log)
                .map_err(|e| LogOutcome::Refused(format!("{}: checkpoint: {e}", path.display())))?;
            let leaf = p.extra.as_deref().ok_or_else(|| {
                LogOutcome::Refused(format!("{}: no extra line with the entry", path.display()))
            })?;
            verify_inclusion(
                leaf_hash(leaf),
                p.index,
                sc.checkpoint.size,
                &p.proof,
                sc.checkpoint.root,
            )
            .map_err(|e| LogOutcome::Refused(format!("{}: {e}", path.display())))?;
            // The proof's checkpoint and the one in force must be one history.
            if sc.checkpoint.size <= cp.size {
                log.prove_prefix(&sc, current)?;
            } else {
                log.prove_prefix(current, &sc)?;
            }
            let entry = check_entry(log, leaf, file, Signature::Verify)?;
            ctx.say(
                origin,
                &format!("proven by {} at leaf {}", path.display(), p.index),
            );
            let trust = &ctx.policy.trust;
            return Ok(Found {
                index: p.index,
                entry,
                proof_time: crate::history::quorum_time(trust, &sc.cosignatures),
            });
        }
    }
    // 2. A proof cached by an earlier run.
    if let Some(found) = cached_proof(log, cp, file) {
        ctx.say(
            origin,
            &format!("proven from the cache at leaf {}", found.index),
        );
        return Ok(found);
    }
    // 3. The log's index.
    let mut last = "not in this log".to_string();
    for idx in index_candidates(log, cp, file)? {
        let (leaf, proof) = proven_leaf(log, cp, idx)?;
        match check_entry(log, &leaf, file, Signature::Verify) {
            Ok(entry) => {
                report.save_proof = Some(CachedProof::new(idx, &leaf, cp.size, cp.root, &proof));
                ctx.say(
                    origin,
                    &format!("proven from the log's index at leaf {idx}"),
                );
                return Ok(Found {
                    index: idx,
                    entry,
                    proof_time: None,
                });
            }
            Err(LogOutcome::Refused(m)) => last = m,
            Err(o) => return Err(o),
        }
    }
    Err(LogOutcome::Refused(last))
}

/// The leaves the log's index lists for this file's hash (below `cp`'s
/// size, at most [`MAX_CANDIDATES`]); a missing shard means "not in this log".
fn index_candidates(log: &Log, cp: &Checkpoint, file: &Ingested) -> Step<Vec<u64>> {
    let shard_path = index::shard_path(&file.sha256);
    let shard = match log.get(&shard_path, index::MAX_SHARD_BYTES)? {
        Some(s) => s,
        None => return refused("not in this log (its index has no entry for this hash)"),
    };
    let candidates = index::lookup(&shard, &file.sha256)
        .map_err(|e| LogOutcome::Refused(format!("{shard_path}: {e}")))?;
    Ok(candidates
        .into_iter()
        .filter(|&i| i < cp.size)
        .take(MAX_CANDIDATES)
        .collect())
}

/// Leaf `idx` from its entry bundle, with its inclusion proof from the
/// log's tiles, both checked against `cp`'s signed root.
fn proven_leaf(log: &Log, cp: &Checkpoint, idx: u64) -> Step<(Vec<u8>, Vec<crate::tlog::Hash>)> {
    let n = idx / TILE_WIDTH;
    let w = tile_width(0, n, cp.size);
    let bpath = bundle_path(n, w);
    let bundle = log
        .get(&bpath, MAX_BUNDLE_BYTES)?
        .ok_or_else(|| LogOutcome::Unreachable(format!("{bpath} is missing")))?;
    let leaves = decode_bundle(&bundle, w as usize).map_err(|e| LogOutcome::Misbehaved {
        msg: format!("{bpath}: {e}"),
        evidence: None,
    })?;
    let leaf = leaves
        .get((idx % TILE_WIDTH) as usize)
        .copied()
        .unwrap_or_default()
        .to_vec();
    let tiles = log.tiles(cp.size);
    log.authenticate(&tiles, cp)?;
    let proof = tiles
        .inclusion_proof(idx, cp.size)
        .map_err(|e| LogOutcome::Unreachable(e.to_string()))?;
    if verify_inclusion(leaf_hash(&leaf), idx, cp.size, &proof, cp.root).is_err() {
        return Err(LogOutcome::Misbehaved {
            msg: format!("{bpath}: entry {idx} does not match the log's tiles and signed root"),
            evidence: None,
        });
    }
    Ok((leaf, proof))
}

/// Rebuilder attestations of the release `found` in this log (DESIGN §3,
/// `source`): entries for the same file, name and version by keys the
/// policy lists as `[[rebuilder]]`, each proven by inclusion. From the
/// attestations cached by earlier runs first; then, with `may_fetch`,
/// the other leaves the log's index lists for this hash. Returns the
/// names of the rebuilders that attested.
fn attestations(
    log: &Log,
    cp: &Checkpoint,
    file: &Ingested,
    found: &Found,
    may_fetch: bool,
    report: &mut LogReport,
) -> Step<Vec<String>> {
    let ctx = log.ctx;
    let need = ctx.policy.require.rebuilders;
    let mut names: Vec<String> = vec![];
    if need == 0 {
        return Ok(names);
    }
    let r = &found.entry.release;
    let attester = |e: &Entry| -> Option<String> {
        let same = e.release.sha256 == file.sha256
            && e.release.size == file.size
            && e.release.name == r.name
            && e.release.version == r.version;
        ctx.policy
            .rebuilders
            .iter()
            .find(|rb| same && rb.key == e.publisher)
            .map(|rb| rb.name.clone())
    };
    for c in ctx.store.attestations(&log.spec.origin, &file.sha256) {
        // Saved only after its signature verified (as cached proofs are).
        if let Some(name) = still_valid(&c, cp)
            .and_then(|leaf| Entry::decode(&leaf).ok())
            .and_then(|e| attester(&e))
        {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if names.len() >= need || !may_fetch {
        return Ok(in_policy_order(ctx, names));
    }
    let candidates = match index_candidates(log, cp, file) {
        Ok(c) => c,
        Err(LogOutcome::Refused(_)) => return Ok(names),
        Err(o) => return Err(o),
    };
    for idx in candidates.into_iter().filter(|&i| i != found.index) {
        let (leaf, proof) = proven_leaf(log, cp, idx)?;
        let Ok(e) = Entry::decode(&leaf) else {
            continue;
        };
        let Some(name) = attester(&e) else {
            continue;
        };
        if e.verify_signature().is_err() || names.contains(&name) {
            continue;
        }
        ctx.say(
            &log.spec.origin,
            &format!("rebuilder {name} attests this release at leaf {idx}"),
        );
        report.save_attestations.push((
            *e.publisher.as_bytes(),
            CachedProof::new(idx, &leaf, cp.size, cp.root, &proof),
        ));
        names.push(name);
    }
    Ok(in_policy_order(ctx, names))
}

fn in_policy_order(ctx: &Context, mut names: Vec<String>) -> Vec<String> {
    names.sort_by_key(|n| ctx.policy.rebuilders.iter().position(|r| &r.name == n));
    names
}

/// Checks a gossiped checkpoint note against the local view: its log
/// signature, then consistency with the cached checkpoint of its origin
/// (fetching tiles unless offline). Returns the note to save when it is a
/// newer, consistent view.
pub fn gossip_check(
    ctx: &Context,
    spec: &LogSpec,
    note: &[u8],
) -> Result<Option<Vec<u8>>, LogOutcome> {
    let log = Log::new(ctx, spec);
    let theirs =
        open(note, &log).map_err(|e| LogOutcome::Refused(format!("gossiped checkpoint: {e}")))?;
    let Some(ours) = saved(&log) else {
        return Ok(Some(theirs.verified_note));
    };
    if theirs.checkpoint.size >= ours.checkpoint.size {
        log.prove_prefix(&ours, &theirs)?;
        Ok((theirs.checkpoint.size > ours.checkpoint.size).then_some(theirs.verified_note))
    } else {
        log.prove_prefix(&theirs, &ours)?;
        Ok(None)
    }
}
