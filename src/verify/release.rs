//! The release history of one log (DESIGN §5, §6 step 4): brought up to
//! the checkpoint in force, finding a release by name (`NAME@VERSION`,
//! `NAME@latest`); and rebuilder attestations. The history rules
//! themselves are judged over every log at once ([`super::releases`]).

use super::cause::Cause;
use super::context::{per_log, Context};
use super::current::current;
use super::exit;
use super::leaf::{index_candidates, proven_leaf, still_valid, Found};
use super::log::internal_error;
use super::log::{Log, LogOutcome, LogReport, Step};
use super::placed::{place, Placed};
use super::releases::recognised;
use crate::entry::Entry;
use crate::history::Seen;
use crate::policy::LogSpec;
use crate::store::{CachedProof, Ingested};
use crate::tlog::consistency::check_leaf;
use crate::tlog::{Checkpoint, SignedCheckpoint};

/// The releases of `name` this log holds — `version` only, when given —
/// for this platform (or `any`), by a publisher the policy allows for the
/// name, in log order: from the release history, brought up to the
/// checkpoint in force first. Also returns the report (with the
/// checkpoint to save).
pub fn find_release(
    ctx: &Context,
    spec: &LogSpec,
    name: &str,
    version: Option<&str>,
) -> (LogReport, Step<Vec<Seen>>) {
    let log = Log::new(ctx, spec);
    let mut report = LogReport::new(spec, LogOutcome::Refused(Cause::Internal, String::new()));
    let r = (|| {
        let cp = current(&log, &mut report, None)?;
        let view = ctx.state.view(&spec.id);
        update_view(&log, &*view, &cp)?;
        report.history = Some(Default::default());
        let releases = view
            .releases(name)
            .map_err(|e| LogOutcome::Refused(Cause::State, e.to_string()))?;
        let found: Vec<Seen> = releases
            .into_iter()
            .filter(|s| {
                version.map_or(true, |v| s.entry.release.version == v)
                    && recognised(ctx.policy, &s.entry)
            })
            .collect();
        // None here while the log's newer history could not be read: that
        // is the log unreachable, not the release absent.
        match &report.unproven_growth {
            Some(why) if found.is_empty() => Err(LogOutcome::Unreachable(format!(
                "no such release in the saved history; {why}"
            ))),
            _ => Ok(found),
        }
    })();
    (report, r)
}

/// Caches the inclusion proof of leaf `index` (the release `leaf`) against
/// the checkpoint in force of `spec`'s log as `report` holds it: the
/// verification that follows finds it there, even in a log without an
/// index.
fn cache_proof(ctx: &Context, spec: &LogSpec, report: &mut LogReport, index: u64, leaf: &[u8]) {
    let log = Log::new(ctx, spec);
    let (Some(c), Some(tiles)) = (report.checkpoint.clone(), log.tiles()) else {
        return;
    };
    if let Ok(proof) = check_leaf(&c, index, leaf, &tiles) {
        report.save_proof = Some(CachedProof::new(index, leaf, c.size, c.root, &proof));
    }
}

/// Brings `view` up to `cp`, reading from the log (never offline).
pub(super) fn update_view(
    log: &Log,
    view: &dyn crate::history::View,
    cp: &SignedCheckpoint,
) -> Step<()> {
    use crate::history::growth::Fault;
    use crate::history::HistoryError;
    // A Rekor log holds Sigstore entries, not releases: it has no release
    // history (its view stays empty; its checkpoint is still established,
    // saved and gossiped as any log's).
    if log.ctx.policy.is_rekor(log.spec) {
        return Ok(());
    }
    let (have, root) = view.size();
    // The same size with another root: the history read before and the
    // checkpoint in force are two trees (no tiles needed to know it).
    if have == cp.checkpoint.size && have > 0 && root.is_some_and(|r| r != cp.checkpoint.root) {
        let msg = format!("two different trees of size {have}");
        return Err(history_split(log, (have, root), cp, msg));
    }
    // A smaller checkpoint in force (the saved one lost or replaced while
    // the view stayed): the view's own first entries, each the exact leaf
    // it was verified as, say whether it is a prefix — no tile read.
    if cp.checkpoint.size < have && cp.checkpoint.size > 0 {
        if let Some(r) = root_at(view, cp.checkpoint.size) {
            if r != cp.checkpoint.root {
                let msg = format!(
                    "the release history's first {} entries are another tree than the checkpoint of that size",
                    cp.checkpoint.size
                );
                return Err(history_split(log, (have, root), cp, msg));
            }
        }
    }
    if have >= cp.checkpoint.size {
        return Ok(());
    }
    let Some(f) = log.source.as_deref() else {
        return Err(LogOutcome::Unreachable(format!(
            "the release history of this log covers {have} of {} entries and cannot be brought up to date offline",
            cp.checkpoint.size
        )));
    };
    let added = view.update(f, &cp.checkpoint).map_err(|e| match e {
        HistoryError::Log(Fault::SplitView(msg)) => history_split(log, view.size(), cp, msg),
        // Served data that does not hash to the signed root: anyone on
        // the path could have altered it (DESIGN §6).
        HistoryError::Log(Fault::BadData(m)) => {
            LogOutcome::Unreachable(format!("release history: {m}"))
        }
        HistoryError::Log(f) => LogOutcome::Unreachable(format!("release history: {f}")),
        e => LogOutcome::Refused(Cause::State, e.to_string()),
    })?;
    log.say(format!(
        "release history: {added} new entries read and verified"
    ));
    Ok(())
}

/// The root of the first `size` entries of `view`, recomputed from the
/// entries it holds — but only when the same recomputation over all of
/// them gives the root the view was verified at. A view keeps each entry
/// re-encoded, and a log may serve a leaf in another valid CBOR framing;
/// a view damaged on disk may still decode. Either way its entries are no
/// longer the exact leaves, and an honest log must not be called forked
/// for it: `None`, and the caller decides as before.
fn root_at(view: &dyn crate::history::View, size: u64) -> Option<crate::tlog::Hash> {
    let (have, root) = view.size();
    let mut hashes = crate::tlog::store::TileHashes::new();
    hashes.set_fresh(0, vec![]);
    for i in 0..have {
        let leaf = view.entry(i).ok()?.encode();
        let stored = tlog_tiles::stored_hashes(i, &leaf, &hashes).ok()?;
        hashes.push_fresh(&stored);
    }
    let faithful = root.is_some() && hashes.tree_hash(have).ok() == root;
    faithful.then(|| hashes.tree_hash(size).ok()).flatten()
}

/// The release history this machine verified earlier is not a prefix of
/// the checkpoint in force: a split view like any other — evidence kept,
/// the alarm raised, every later run refused until `alarm clear` — though
/// only the checkpoint's side is a signed note (a view keeps the size and
/// root it verified, not the note).
///
/// Attack stopped: a log (or a saved checkpoint lost or restored from an
/// older backup while the views stayed) serving a fork of the history
/// this machine read releases from; without the alarm each run was
/// refused, but no evidence was kept and nothing said so later.
fn history_split(
    log: &Log,
    (size, root): (u64, Option<crate::tlog::Hash>),
    cp: &SignedCheckpoint,
    msg: String,
) -> LogOutcome {
    use base64::Engine as _;
    let root = root.map_or_else(String::new, |r| {
        base64::engine::general_purpose::STANDARD.encode(r.0)
    });
    let view = format!(
        "# the release history this machine verified earlier (it keeps no signed note):\n# {}\n# {size}\n# {root}\n",
        log.spec.origin
    );
    let evidence =
        log.ctx
            .state
            .record_split_view(&log.spec.id, view.as_bytes(), &cp.note, "", log.ctx.now);
    let unsaved = super::checkpoint::unsaved(&evidence);
    LogOutcome::Misbehaved {
        msg: format!(
            "release history: {msg} (the history verified earlier, at size {size}, is not a prefix of the checkpoint in force)\n--- the checkpoint in force ---\n{}{unsaved}",
            String::from_utf8_lossy(&cp.note)
        ),
        evidence: evidence.ok(),
    }
}

/// Rebuilder attestations of the release `found` in this log (DESIGN §3,
/// `source`): entries for the same file, name and version by keys the
/// policy lists as `[[rebuilder]]`, each proven by inclusion. From the
/// attestations cached by earlier runs first; then, with `may_fetch`,
/// the other leaves the log's index lists for this hash. Returns the
/// names of the rebuilders that attested.
pub(super) fn attestations(
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
    for c in ctx.state.attestations(&log.spec.id, &file.sha256) {
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
        Err(LogOutcome::Refused(..)) => return Ok(names),
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
        log.say(format!(
            "rebuilder {name} attests this release at leaf {idx}"
        ));
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

/// Resolves `NAME@VERSION` (or `NAME@latest` with `version` `None`) from
/// every log's release history, concurrently. `NAME@latest` is the release
/// no other that any log holds is newer than ([`Placed::newer_than`]);
/// several of one version (other bytes), or logs that disagree, go to the
/// one most logs hold, ties to the policy's first log. The verification of
/// its bytes that follows applies the policy's history rules to every
/// release of them. Returns it with the per-log reports (their checkpoints
/// are worth saving), or the exit code and reason when no log holds such a
/// release.
pub fn resolve_release(
    ctx: &Context,
    name: &str,
    version: Option<&str>,
) -> (Vec<LogReport>, Result<Seen, (u8, String)>) {
    let logs: Vec<&LogSpec> = ctx.policy.trust.logs.iter().collect();
    let results = per_log(
        &logs,
        |l| find_release(ctx, l, name, version),
        |l| (LogReport::new(l, internal_error()), Err(internal_error())),
    );
    let mut reports = vec![];
    let mut found: Vec<(usize, Seen)> = vec![];
    let mut why = vec![];
    let mut code = exit::REFUSED;
    for (i, (report, r)) in results.into_iter().enumerate() {
        match r {
            Ok(seen) if seen.is_empty() => why.push(format!("{}: no such release", report.label)),
            Ok(seen) => found.extend(seen.into_iter().map(|s| (i, s))),
            Err(o) => {
                code = match (&o, code) {
                    (LogOutcome::Misbehaved { .. }, _) => exit::MISBEHAVIOUR,
                    (LogOutcome::Unreachable(_), exit::REFUSED) => exit::UNREACHABLE,
                    (_, c) => c,
                };
                why.push(format!("{}: {}", report.label, o.message()));
            }
        }
        reports.push(report);
    }
    let what = format!("{name}@{}", version.unwrap_or("latest"));
    if code == exit::MISBEHAVIOUR {
        let alert = format!("SECURITY ALERT: a log misbehaved — {}", why.join("; "));
        return (reports, Err((code, format!("{what}: {alert}"))));
    }
    let Some(best) = choose(place(found)) else {
        return (
            reports,
            Err((
                code,
                format!(
                    "{what}: no release for this platform by a publisher the policy allows for the name{}{}",
                    if why.is_empty() { "" } else { " — " },
                    why.join("; ")
                ),
            )),
        );
    };
    let leaf = best.entry.encode();
    for &(i, index) in &best.first {
        if let (Some(spec), Some(report)) = (logs.get(i), reports.get_mut(i)) {
            cache_proof(ctx, spec, report, index, &leaf);
        }
    }
    let index = best.first.first().map_or(0, |(_, i)| *i);
    (
        reports,
        Ok(Seen {
            index,
            entry: best.entry,
        }),
    )
}

/// The newest release (none newer than it), most logs and the first log
/// breaking ties; when every one has a newer (logs disagree), the one most
/// logs hold.
fn choose(placed: Vec<Placed>) -> Option<Placed> {
    let rank = |p: &Placed| {
        (
            std::cmp::Reverse(p.first.len()),
            p.first.iter().map(|(l, _)| *l).min().unwrap_or(usize::MAX),
        )
    };
    let newest = placed
        .iter()
        .filter(|p| {
            !placed
                .iter()
                .any(|o| o.sha256 != p.sha256 && o.newer_than(p))
        })
        .min_by_key(|p| rank(p));
    newest
        .or_else(|| placed.iter().min_by_key(|p| rank(p)))
        .cloned()
}
