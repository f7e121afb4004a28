//! What release these bytes are (DESIGN §6), and the release-history rules
//! over every one of them: `latest`, `no_downgrade`, `prior_revisions`,
//! `min_release_age` (DESIGN §5). Decided here, and only here.
//!
//! The same bytes may be logged as several releases: under other names, by
//! other publishers, in other logs. Every entry for the program's SHA-256
//! and size, signed by a publisher the policy allows for that entry's name,
//! for this platform or `any`, that a log checked in this run holds, is a
//! release of these bytes. Which ones exist is read from each log's release
//! history — entries verified against a signed root the policy accepted —
//! never from `bt/index`, a proof file or the cache alone: those are hints
//! that find one release faster, and never decide which. Every rule must
//! hold for every release.
//!
//! Attacks stopped:
//! - **another admitted publisher** (or a stolen key for another name)
//!   logging the exact bytes of an outdated `a.example/tool 1.0` as its own
//!   `x.example/relogged 1`, and shipping that entry's proof beside the
//!   program (or letting the cache or index find it first), so that
//!   `latest`, `no_downgrade` and `min_release_age` judge its name instead
//!   of the real one: the real release is found in the history and judged
//!   too;
//! - **a mirror reordering or truncating `bt/index`** so that another
//!   release of the bytes is found first: the index only finds a leaf;
//! - **a log that lags or omits** a release, in a policy that needs fewer
//!   logs than it lists: every log checked in the run is read for newer
//!   releases, not only the one that proved the leaf;
//! - **run records per log**: `no_downgrade` compares with what ran under
//!   the name, whichever log proved it.
//!
//! What another admitted publisher can still do is make bt-exec refuse
//! (log the bytes as an older release of its own name, or a newer release
//! of its own name): visible in the log, and fail-closed
//! (docs/HISTORY.md).

use std::sync::Arc;

use super::context::Context;
use super::exit;
use super::leaf::host_platform;
use super::log::{LogOutcome, LogReport};
use super::placed::{place, Placed};
use crate::entry::Entry;
use crate::history::{covered_since, Cover, HistoryError, Seen, View};
use crate::policy::{LogSpec, Policy};

/// Whether the policy has rules that read the release history.
pub fn rules_read_history(policy: &Policy) -> bool {
    let r = &policy.require;
    r.latest || r.no_downgrade || r.prior_revisions > 0 || !r.min_release_age.is_zero()
}

/// One log of the run whose history is read.
struct Held<'a> {
    /// Its position among the run's reports.
    report: usize,
    spec: &'a LogSpec,
    label: &'a str,
    view: Arc<dyn View>,
    covers: &'a [Cover],
}

impl Placed {
    /// Where it is, for messages: "leaf I of LOG".
    fn where_in(&self, held: &[Held]) -> String {
        self.first
            .first()
            .and_then(|&(l, i)| Some(format!("leaf {i} of {}", held.get(l)?.label)))
            .unwrap_or_else(|| "no log checked in this run".into())
    }
}

/// Whether `e` is a release the policy recognises here: for this platform
/// (or `any`), by a publisher allowed to publish its name.
pub fn recognised(policy: &Policy, e: &Entry) -> bool {
    let platform = host_platform();
    (e.release.platform == "any" || e.release.platform == platform)
        && policy
            .publishers
            .iter()
            .any(|p| p.key == e.publisher && p.may_publish(&e.release.name))
}

fn state_error(label: &str, e: HistoryError) -> (u8, String) {
    (
        exit::CONFIG,
        format!("{label}: the release history cannot be read: {e}"),
    )
}

/// Every recognised release of `name` the checked logs hold.
fn releases_of_name(
    policy: &Policy,
    held: &[Held],
    name: &str,
) -> Result<Vec<Placed>, (u8, String)> {
    let mut all = vec![];
    for (i, h) in held.iter().enumerate() {
        let seen = h.view.releases(name).map_err(|e| state_error(h.label, e))?;
        all.extend(
            seen.into_iter()
                .filter(|s| recognised(policy, &s.entry))
                .map(|s| (i, s)),
        );
    }
    Ok(place(all))
}

/// Every release of the bytes `sha256`/`size` the checked logs hold, and
/// the entries the logs proved the file by (`found`: log position, entry),
/// which are among them whenever the views are what they should be.
fn releases_of_bytes(
    policy: &Policy,
    held: &[Held],
    sha256: &[u8; 32],
    size: u64,
    found: Vec<(usize, Seen)>,
) -> Result<Vec<Placed>, (u8, String)> {
    let mut all = found;
    for (i, h) in held.iter().enumerate() {
        let seen = h
            .view
            .by_sha256(sha256)
            .map_err(|e| state_error(h.label, e))?;
        all.extend(seen.into_iter().map(|s| (i, s)));
    }
    Ok(place(all.into_iter().filter(|(_, s)| {
        s.entry.release.size == size
            && &s.entry.release.sha256 == sha256
            && recognised(policy, &s.entry)
    })))
}

/// The logs whose release history is read: those checked in this run
/// (their views cover their checkpoints in force), and every other listed
/// log whose view this machine built before — what it saw then is still
/// verified history, a lower bound of what the log holds. With what each
/// proved the file by.
///
/// Attack stopped: a mirror (or a slow first read) that keeps one log's
/// entry bundles from being read, so that, with `logs = 1`, a lagging log
/// proves 1.0 while the release history this machine already holds of the
/// other log shows 2.0.
fn held<'a>(ctx: &'a Context, reports: &'a [LogReport]) -> (Vec<Held<'a>>, Vec<(usize, Seen)>) {
    const NONE: &[Cover] = &[];
    let mut held = vec![];
    let mut found = vec![];
    for (report, r) in reports.iter().enumerate() {
        let Some(id) = &r.log else { continue };
        let Some(spec) = ctx.policy.trust.logs.iter().find(|l| &l.id == id) else {
            continue;
        };
        let view = ctx.state.view(&spec.id);
        let covers: &[Cover] = match &r.history {
            Some(checked) => &checked.covers,
            None if view.size().0 > 0 => NONE,
            None => continue,
        };
        if let (LogOutcome::Proven { index }, Some(e)) = (&r.outcome, &r.entry) {
            found.push((
                held.len(),
                Seen {
                    index: *index,
                    entry: e.clone(),
                },
            ));
        }
        held.push(Held {
            report,
            spec,
            label: &r.label,
            view,
            covers,
        });
    }
    (held, found)
}

/// A warning for each listed log whose release history could not be
/// brought up to its checkpoint in this run: the rules were judged without
/// what it may hold since (or at all, when this machine never read it).
pub fn unchecked_warnings(ctx: &Context, reports: &mut [LogReport]) {
    for r in reports.iter_mut().filter(|r| r.history.is_none()) {
        let Some(id) = &r.log else { continue };
        let seen = ctx.state.view(id).size().0;
        r.warnings.push(if seen > 0 {
            format!("its release history could not be brought up to date in this run; the history rules read the {seen} entries this machine verified before")
        } else {
            "its release history could not be read in this run and was never read before: a newer release it may hold is not known here".into()
        });
    }
}

/// Judges every release of the file's bytes by the policy's history rules
/// (call only when [`rules_read_history`]). Returns the releases (every
/// one to be recorded as run; [`Placed::first`] by position in `reports`),
/// or the exit code and a reason naming the release and the log that
/// refused it.
pub fn judge(
    ctx: &Context,
    sha256: &[u8; 32],
    size: u64,
    reports: &[LogReport],
) -> Result<Vec<Placed>, (u8, String)> {
    let (held, found) = held(ctx, reports);
    let releases = releases_of_bytes(ctx.policy, &held, sha256, size, found)?;
    if releases.is_empty() {
        return Err((
            exit::REFUSED,
            "no log checked in this run holds a release of these bytes by a publisher the policy allows".into(),
        ));
    }
    let req = &ctx.policy.require;
    let views: Vec<Arc<dyn View>> = held.iter().map(|h| h.view.clone()).collect();
    for r in &releases {
        let of_name = releases_of_name(ctx.policy, &held, &r.name)?;
        if req.latest {
            latest(r, &of_name, &held)?;
        }
        if req.no_downgrade {
            no_downgrade(ctx, r, &of_name, &held)?;
        }
        if req.prior_revisions > 0 {
            super::prior::prior_revisions(ctx, r, &of_name, &views)?;
        }
    }
    if !req.min_release_age.is_zero() {
        release_age(ctx, &releases, &held)?;
    }
    // Placed by the run's reports from here on (what the run record names).
    Ok(releases
        .into_iter()
        .map(|mut r| {
            r.first = r
                .first
                .iter()
                .filter_map(|&(l, i)| Some((held.get(l)?.report, i)))
                .collect();
            r
        })
        .collect())
}

fn refuse<T>(why: String) -> Result<T, (u8, String)> {
    Err((exit::REFUSED, why))
}

/// `require.latest`: no release of the name newer than `r` in any checked
/// log.
fn latest(r: &Placed, of_name: &[Placed], held: &[Held]) -> Result<(), (u8, String)> {
    let newer: Vec<&Placed> = of_name
        .iter()
        .filter(|n| n.sha256 != r.sha256 && n.newer_than(r))
        .collect();
    // Named: the newest of them (none newer than it), else any.
    let newest = newer
        .iter()
        .find(|n| {
            !newer
                .iter()
                .any(|m| m.sha256 != n.sha256 && m.newer_than(n))
        })
        .or(newer.first());
    match newest {
        None => Ok(()),
        Some(n) => refuse(format!(
            "{} {} is not the latest release: {} {} ({}) is newer; run that one (`bt-exec {}@latest`), or set require.latest = false",
            r.name,
            r.version,
            n.name,
            n.version,
            n.where_in(held),
            r.name
        )),
    }
}

/// `require.no_downgrade`: no release of the name newer than `r` ran on
/// this machine, whichever log proved it.
fn no_downgrade(
    ctx: &Context,
    r: &Placed,
    of_name: &[Placed],
    held: &[Held],
) -> Result<(), (u8, String)> {
    let runs = ctx.state.runs(&r.name);
    let mut ran: Vec<Placed> = vec![];
    for p in &runs.ran {
        let Some(sha) = p.sha256() else { continue };
        match of_name.iter().find(|n| n.sha256 == sha) {
            Some(n) => ran.push(n.clone()),
            None => ran.push(Placed {
                name: r.name.clone(),
                version: p.version.clone(),
                sha256: sha,
                size: 0,
                published: p.published,
                first: vec![],
                entry: r.entry.clone(),
            }),
        }
    }
    // Records of earlier versions name only leaves, per log.
    for h in held {
        let Some((index, _)) = runs.logs.get(&h.spec.id.file_key()) else {
            continue;
        };
        if *index >= h.view.size().0 {
            continue;
        }
        let Ok(e) = h.view.entry(*index) else {
            continue;
        };
        if let Some(n) = of_name.iter().find(|n| n.sha256 == e.release.sha256) {
            ran.push(n.clone());
        }
    }
    match ran.iter().find(|p| p.sha256 != r.sha256 && p.newer_than(r)) {
        None => Ok(()),
        Some(p) => refuse(format!(
            "downgrade: {} {} ran on this machine before ({}); {} {} is older (require.no_downgrade)",
            r.name,
            p.version,
            if p.first.is_empty() {
                format!("its publisher claims it was published at Unix time {}", p.published)
            } else {
                p.where_in(held)
            },
            r.name,
            r.version,
        )),
    }
}

/// `require.min_release_age`: the bytes were covered by a quorum of the
/// policy's current witnesses at least that long ago — the earliest such
/// time over every release of them in every checked log.
fn release_age(ctx: &Context, releases: &[Placed], held: &[Held]) -> Result<(), (u8, String)> {
    let trust = &ctx.policy.trust;
    let mut since: Option<u64> = None;
    for r in releases {
        for &(l, index) in &r.first {
            let Some(h) = held.get(l) else { continue };
            let recorded = h.view.coverage();
            let t = covered_since(trust, recorded.iter().chain(h.covers.iter()), index);
            since = match (since, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
    }
    let need = ctx.policy.require.min_release_age.as_secs();
    let age = since.map(|t| ctx.now.saturating_sub(t));
    if age.is_some_and(|a| a >= need) {
        return Ok(());
    }
    let names: Vec<String> = releases
        .iter()
        .map(|r| format!("{} {} ({})", r.name, r.version, r.where_in(held)))
        .collect();
    refuse(format!(
        "these bytes ({}) were first seen cosigned by a quorum of the policy's witnesses {} ago; the policy requires {need} s (require.min_release_age); a .tlog-proof with an older cosigned checkpoint would show an earlier time",
        names.join("; "),
        age.map_or("never".into(), |a| format!("{a} s")),
    ))
}
