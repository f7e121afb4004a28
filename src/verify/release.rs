//! The release history in the policy (DESIGN §5, §6 step 4): finding a
//! release by name (`NAME@VERSION`), `latest`, `prior_revisions`,
//! `no_downgrade`, `min_release_age`; and rebuilder attestations.

use super::current::current;
use super::leaf::{host_platform, index_candidates, proven_leaf, still_valid, Found};
use super::log::{refused, Log, LogOutcome, LogReport, Step};
use super::{exit, internal_error, Cause, Context};
use crate::entry::Entry;
use crate::history::Seen;
use crate::policy::LogSpec;
use crate::store::{CachedProof, Ingested};
use crate::tlog::consistency::check_leaf;
use crate::tlog::{Checkpoint, SignedCheckpoint};

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
    let mut report = LogReport::new(spec, LogOutcome::Refused(Cause::Internal, String::new()));
    let r = (|| {
        let cp = current(&log, &mut report)?;
        let view = ctx.state.view(&spec.id);
        update_view(&log, &*view, &cp)?;
        let platform = host_platform();
        let releases = view
            .releases(name)
            .map_err(|e| LogOutcome::Refused(Cause::State, e.to_string()))?;
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
            if let Some(tiles) = log.tiles() {
                if let Ok(proof) = check_leaf(c, s.index, &leaf, &tiles) {
                    report.save_proof =
                        Some(CachedProof::new(s.index, &leaf, c.size, c.root, &proof));
                }
            }
        }
        Ok(found)
    })();
    (report, r)
}

/// Brings `view` up to `cp`, reading from the log (never offline).
pub(super) fn update_view(
    log: &Log,
    view: &dyn crate::history::View,
    cp: &SignedCheckpoint,
) -> Step<()> {
    use crate::history::HistoryError;
    use crate::monitor::Fault;
    let (have, _) = view.size();
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
        HistoryError::Log(Fault::SplitView { msg, evidence }) => {
            LogOutcome::Misbehaved { msg, evidence }
        }
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

/// The policy's release-history rules (DESIGN §5): `latest`,
/// `prior_revisions`, `no_downgrade`, `min_release_age`. With `may_fetch`
/// false nothing is read from the network (the warm path).
pub(super) fn history(
    log: &Log,
    cp: &SignedCheckpoint,
    found: &Found,
    may_fetch: bool,
) -> Step<()> {
    let req = &log.ctx.policy.require;
    let view = log.ctx.state.view(&log.spec.id);
    if req.latest || req.prior_revisions > 0 {
        let releases = allowed_releases(log, &*view, cp, found, may_fetch)?;
        if req.latest {
            latest(found, &releases)?;
        }
        if req.prior_revisions > 0 {
            prior_revisions(log, &*view, found, &releases)?;
        }
    }
    if req.no_downgrade {
        no_downgrade(log, found)?;
    }
    if !req.min_release_age.is_zero() {
        release_age(log, &*view, cp, found)?;
    }
    Ok(())
}

/// The releases of `found`'s name in this log's history (brought up to
/// `cp` first, unless nothing may be fetched) by publishers the policy
/// allows for the name.
fn allowed_releases(
    log: &Log,
    view: &dyn crate::history::View,
    cp: &SignedCheckpoint,
    found: &Found,
    may_fetch: bool,
) -> Step<Vec<crate::history::Seen>> {
    if may_fetch {
        update_view(log, view, cp)?;
    } else if view.size().0 < cp.checkpoint.size {
        return Err(LogOutcome::Unreachable(
            "the release history is behind".into(),
        ));
    }
    let allowed = |e: &Entry| {
        log.ctx
            .policy
            .publishers
            .iter()
            .any(|p| p.key == e.publisher && p.may_publish(&e.release.name))
    };
    Ok(view
        .releases(&found.entry.release.name)
        .map_err(|e| LogOutcome::Refused(Cause::State, e.to_string()))?
        .into_iter()
        .filter(|s| allowed(&s.entry))
        .collect())
}

/// `require.latest`: no later release of the name for this platform.
fn latest(found: &Found, releases: &[crate::history::Seen]) -> Step<()> {
    let r = &found.entry.release;
    let platform = host_platform();
    if let Some(n) = releases.iter().rev().find(|s| {
        s.index > found.index
            && (s.entry.release.platform == "any" || s.entry.release.platform == platform)
    }) {
        return refused(Cause::ReleaseHistory, format!(
            "{} {} is not the latest release: {} {} (leaf {}) is in the log; run that one (`bt-exec {}@latest`), or set require.latest = false",
            r.name, r.version, n.entry.release.name, n.entry.release.version, n.index, r.name
        ));
    }
    Ok(())
}

/// `require.prior_revisions`: that many earlier releases whose bytes are
/// still fetchable from their `cas` URLs (offline: seen fetchable before).
fn prior_revisions(
    log: &Log,
    view: &dyn crate::history::View,
    found: &Found,
    releases: &[crate::history::Seen],
) -> Step<()> {
    let ctx = log.ctx;
    let (r, need) = (&found.entry.release, ctx.policy.require.prior_revisions);
    let mut ok = 0u64;
    let mut missing = vec![];
    for s in releases.iter().rev().filter(|s| s.index < found.index) {
        if ok >= need {
            break;
        }
        let e = &s.entry.release;
        let fetchable = if log.source.is_none() {
            view.available_since(&e.sha256).is_some()
        } else {
            e.cas
                .iter()
                .any(|u| crate::fetch::available(u, e.size, ctx.deadline).unwrap_or(false))
        };
        if fetchable {
            if log.source.is_some() {
                // Only `--offline` runs read this back; failing to write it
                // makes them stricter, never laxer.
                let _ = view.record_available(&e.sha256, ctx.now);
            }
            ok += 1;
        } else {
            missing.push(format!("{} (leaf {})", e.version, s.index));
        }
    }
    if ok >= need {
        return Ok(());
    }
    let gone = if missing.is_empty() {
        String::new()
    } else {
        format!(
            "; bytes not fetchable from their cas URLs: {}",
            missing.join(", ")
        )
    };
    refused(Cause::ReleaseHistory, format!(
        "{} {} has {ok} earlier release(s) still fetchable in this log, the policy requires {need} (require.prior_revisions){gone}",
        r.name, r.version
    ))
}

/// `require.no_downgrade`: no later leaf of the name ran here before.
fn no_downgrade(log: &Log, found: &Found) -> Step<()> {
    let r = &found.entry.release;
    let runs = log.ctx.state.runs(&r.name);
    if let Some((i, v)) = runs.logs.get(&log.spec.id.file_key()) {
        if *i > found.index {
            return refused(Cause::ReleaseHistory, format!(
                "downgrade: {} {v} (leaf {i}) ran on this machine before; {} (leaf {}) is older (require.no_downgrade)",
                r.name, r.version, found.index
            ));
        }
    }
    Ok(())
}

/// `require.min_release_age`: the entry was covered by a checkpoint the
/// quorum cosigned at least that long ago.
fn release_age(
    log: &Log,
    view: &dyn crate::history::View,
    cp: &SignedCheckpoint,
    found: &Found,
) -> Step<()> {
    let ctx = log.ctx;
    let r = &found.entry.release;
    let now_cover = (cp.checkpoint.size > found.index)
        .then(|| crate::history::quorum_time(&ctx.policy.trust, &cp.cosignatures))
        .flatten();
    let since = [view.covered_since(found.index), found.proof_time, now_cover]
        .into_iter()
        .flatten()
        .min();
    let need = ctx.policy.require.min_release_age.as_secs();
    let age = since.map(|t| ctx.now.saturating_sub(t));
    if age.map_or(true, |a| a < need) {
        return refused(Cause::ReleaseHistory, format!(
            "{} {} was first seen cosigned {} ago; the policy requires {need} s (require.min_release_age){}",
            r.name,
            r.version,
            age.map_or("never".into(), |a| format!("{a} s")),
            if found.proof_time.is_none() { "; a .tlog-proof with an older cosigned checkpoint would show it" } else { "" }
        ));
    }
    Ok(())
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
/// every log's release history, concurrently: the release most logs agree
/// on (by file hash; ties go to the policy's first log). Returns it with
/// the per-log reports (their checkpoints are worth saving), or the exit
/// code and reason when no log holds such a release.
pub fn resolve_release(
    ctx: &Context,
    name: &str,
    version: Option<&str>,
) -> (Vec<LogReport>, Result<Seen, (u8, String)>) {
    let logs: Vec<&LogSpec> = ctx.policy.trust.logs.iter().collect();
    let results = super::per_log(
        &logs,
        |l| find_release(ctx, l, name, version),
        |l| (LogReport::new(l, internal_error()), Err(internal_error())),
    );
    let mut reports = vec![];
    let mut found: Vec<Seen> = vec![];
    let mut why = vec![];
    let mut code = exit::REFUSED;
    for (report, r) in results {
        match r {
            Ok(Some(seen)) => found.push(seen),
            Ok(None) => why.push(format!("{}: no such release", report.label)),
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
    let best = most_agreed(&found);
    // Only proofs of the chosen release are worth caching.
    for r in &mut reports {
        let leaf = r
            .save_proof
            .as_ref()
            .and_then(|p| p.decode())
            .map(|(l, _, _)| l);
        let of_best = match (&best, leaf.and_then(|l| Entry::decode(&l).ok())) {
            (Some(b), Some(e)) => e.release.sha256 == b.entry.release.sha256,
            _ => false,
        };
        if !of_best {
            r.save_proof = None;
        }
    }
    let what = format!("{name}@{}", version.unwrap_or("latest"));
    if code == exit::MISBEHAVIOUR {
        let alert = format!("SECURITY ALERT: a log misbehaved — {}", why.join("; "));
        return (reports, Err((code, format!("{what}: {alert}"))));
    }
    let r = match best {
        Some(b) => Ok(b),
        _ => Err((
            code,
            format!(
                "{what}: no release for this platform by a publisher the policy allows for the name{}{}",
                if why.is_empty() { "" } else { " — " },
                why.join("; ")
            ),
        )),
    };
    (reports, r)
}

/// The release most logs found (by file hash; ties go to the first).
fn most_agreed(found: &[Seen]) -> Option<Seen> {
    let votes = |s: &Seen| {
        found
            .iter()
            .filter(|o| o.entry.release.sha256 == s.entry.release.sha256)
            .count()
    };
    let mut best: Option<(&Seen, usize)> = None;
    for s in found {
        let v = votes(s);
        if best.map_or(true, |(_, bv)| v > bv) {
            best = Some((s, v));
        }
    }
    best.map(|(s, _)| s.clone())
}
