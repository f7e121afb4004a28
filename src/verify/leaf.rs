//! Finding the leaf that proves a file in one log (DESIGN §6 step 3,
//! §10 "Finding the leaf"): a proof file beside the program, a proof
//! cached by an earlier run, or the log's `bt/index`; and checking that
//! the entry is this file's release by a publisher the policy allows.

use super::cause::Cause;
use super::current::{may_prove, Proves};
use super::log::{open, refused, Log, LogOutcome, LogReport, Step};
use crate::entry::Entry;
use crate::index;
use crate::store::{CachedProof, Ingested};
use crate::tlog::consistency::check_leaf;
use crate::tlog::tiles::{bundle_path, decode_bundle, tile_width, MAX_BUNDLE_BYTES, TILE_WIDTH};
use crate::tlog::{leaf_hash, verify_inclusion, Checkpoint, SignedCheckpoint, TlogProof};

/// How many candidate leaves an index shard may point us to for one hash.
pub(super) const MAX_CANDIDATES: usize = 16;

/// The leaf that proves the file, and the witnesses' cosignatures of a
/// proof file's checkpoint that covers it (how old the release is known to
/// be, for `min_release_age`).
pub(super) struct Found {
    pub(super) index: u64,
    pub(super) entry: Entry,
    pub(super) covers: Vec<crate::history::Cover>,
}

pub(super) fn host_platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// A proof cached by an earlier run, against a root this machine verified
/// (every later checkpoint was proven to extend it), still valid for `cp`.
/// Its entry's publisher signature verified before it was saved; the
/// policy's rules (publisher scope, platform) are applied again.
pub(super) fn cached_proof(log: &Log, cp: &Checkpoint, file: &Ingested) -> Option<Found> {
    let c = log.ctx.state.proof(&log.spec.id, &file.sha256)?;
    let leaf = still_valid(&c, cp)?;
    let entry = check_entry(log, &leaf, file, Signature::Saved).ok()?;
    Some(Found {
        index: c.index,
        entry,
        covers: vec![],
    })
}

/// The leaf of a proof cached against a root this machine verified, when
/// that root is still the one in force or a prefix of it (every later
/// checkpoint was proven to extend it) and the proof leads to it.
pub(super) fn still_valid(c: &CachedProof, cp: &Checkpoint) -> Option<Vec<u8>> {
    let (leaf, root, proof) = c.decode()?;
    let ok = c.size <= cp.size
        && (c.size != cp.size || root == cp.root)
        && verify_inclusion(leaf_hash(&leaf), c.index, c.size, &proof, root).is_ok();
    ok.then_some(leaf)
}

/// Whether an entry's publisher signature is to be verified, or was
/// verified before the entry was saved in the state directory.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Signature {
    Verify,
    Saved,
}

/// Checks a decoded leaf is this file's release, by an allowed publisher.
pub(super) fn check_entry(log: &Log, leaf: &[u8], file: &Ingested, sig: Signature) -> Step<Entry> {
    let e = Entry::decode(leaf)
        .map_err(|e| LogOutcome::Refused(Cause::Entry, format!("entry: {e}")))?;
    if e.release.sha256 != file.sha256 || e.release.size != file.size {
        return refused(
            Cause::OtherBytes,
            format!(
                "the entry is for other bytes (sha256 {}, {} bytes), not this file",
                hex::encode(e.release.sha256),
                e.release.size
            ),
        );
    }
    if sig == Signature::Verify {
        e.verify_signature().map_err(|_| {
            LogOutcome::Refused(
                Cause::Entry,
                format!(
                    "entry for {} {}: the publisher signature does not verify",
                    e.release.name, e.release.version
                ),
            )
        })?;
    }
    let platform = host_platform();
    if e.release.platform != "any" && e.release.platform != platform {
        return refused(
            Cause::Platform,
            format!(
                "the release is for platform {}, this machine is {platform}",
                e.release.platform
            ),
        );
    }
    let allowed = log
        .ctx
        .policy
        .publishers
        .iter()
        .any(|p| p.key == e.publisher && p.may_publish(&e.release.name));
    if !allowed {
        use base64::Engine;
        return refused(
            Cause::Publisher,
            format!(
                "publisher key {} is not allowed to publish {} by the policy ([[publisher]] names)",
                base64::engine::general_purpose::STANDARD.encode(e.publisher.as_bytes()),
                e.release.name
            ),
        );
    }
    Ok(e)
}

/// The leaf that proves `file` in this log, against `current` (which a
/// proof file's larger, policy-meeting checkpoint may replace).
pub(super) fn find_leaf(
    log: &Log,
    current: &mut SignedCheckpoint,
    file: &Ingested,
    sidecar: Option<&super::context::ProofFile>,
    report: &mut LogReport,
) -> Step<Found> {
    // 1. A proof file for this log (named for it, or the single one of its
    //    origin): it must verify, no fallback — a proof present for a log
    //    that does not prove the program is that log's refusal.
    if let Some(pf) = sidecar.filter(|pf| pf.concerns(&log.spec.origin)) {
        return match &pf.parsed {
            Ok(p) => match sidecar_leaf(log, current, file, &pf.path, p, report) {
                // The proof file's checkpoint could not be compared with
                // the one in force (offline, no tiles): neither evidence
                // for nor against the log, which counts as unreachable for
                // this run — and the cache decides (DESIGN §6): a proof
                // this machine verified earlier against a root in force.
                Err(LogOutcome::Unreachable(why)) => {
                    match cached_proof(log, &current.checkpoint, file) {
                        Some(found) => {
                            log.say(format!(
                                "{why}; proven from the cache at leaf {}",
                                found.index
                            ));
                            Ok(found)
                        }
                        None => Err(LogOutcome::Unreachable(why)),
                    }
                }
                other => other,
            },
            Err(e) => refused(Cause::ProofFile, format!("{}: {e}", pf.path.display())),
        };
    }
    let cp = &current.checkpoint;
    // 2. A proof cached by an earlier run.
    if let Some(found) = cached_proof(log, cp, file) {
        log.say(format!("proven from the cache at leaf {}", found.index));
        return Ok(found);
    }
    // 3. The log's index.
    let mut last = (Cause::NotInLog, "not in this log".to_string());
    for idx in index_candidates(log, cp, file)? {
        let (leaf, proof) = proven_leaf(log, cp, idx)?;
        match check_entry(log, &leaf, file, Signature::Verify) {
            Ok(entry) => {
                report.save_proof = Some(CachedProof::new(idx, &leaf, cp.size, cp.root, &proof));
                log.say(format!("proven from the log's index at leaf {idx}"));
                return Ok(Found {
                    index: idx,
                    entry,
                    covers: vec![],
                });
            }
            // The index points at another release's leaf: a lying or stale
            // index, which only makes the lookup fail (DESIGN §4) — not a
            // fault of the publisher's.
            Err(LogOutcome::Refused(Cause::OtherBytes, m)) => {
                last = (
                    Cause::NotInLog,
                    format!("not in this log: its index lists leaf {idx} for this hash, but {m}"),
                )
            }
            Err(LogOutcome::Refused(c, m)) => last = (c, m),
            Err(o) => return Err(o),
        }
    }
    Err(LogOutcome::Refused(last.0, last.1))
}

/// The leaf that proves `file`, found in the log's release history (already
/// brought up to `cp`): every entry of these bytes it holds, in log order,
/// the first by an allowed publisher proven by inclusion against `cp`.
///
/// Attack stopped: a mirror that truncates or reorders `bt/index` so that
/// a logged program is "not in this log". Under history rules the view is
/// read anyway, and the index is only a hint that finds a leaf faster.
pub(super) fn from_view(
    log: &Log,
    cp: &Checkpoint,
    file: &Ingested,
    report: &mut LogReport,
) -> Step<Option<Found>> {
    let seen = log
        .ctx
        .state
        .view(&log.spec.id)
        .by_sha256(&file.sha256)
        .map_err(|e| LogOutcome::Refused(Cause::State, e.to_string()))?;
    for s in seen.into_iter().filter(|s| s.index < cp.size) {
        let (leaf, proof) = proven_leaf(log, cp, s.index)?;
        match check_entry(log, &leaf, file, Signature::Verify) {
            Ok(entry) => {
                report.save_proof =
                    Some(CachedProof::new(s.index, &leaf, cp.size, cp.root, &proof));
                log.say(format!(
                    "proven from the release history at leaf {}",
                    s.index
                ));
                return Ok(Some(Found {
                    index: s.index,
                    entry,
                    covers: vec![],
                }));
            }
            Err(LogOutcome::Refused(..)) => continue,
            Err(o) => return Err(o),
        }
    }
    Ok(None)
}

/// The leaves the log's index lists for this file's hash (below `cp`'s
/// size, at most [`MAX_CANDIDATES`]); a missing shard means "not in this
/// log". One listed only beyond `cp` is the log unreachable for this run:
/// a checkpoint older than its index (a stale or replayed copy, which
/// anyone on the path can serve) never makes a logged release "not in
/// this log".
pub(super) fn index_candidates(log: &Log, cp: &Checkpoint, file: &Ingested) -> Step<Vec<u64>> {
    let shard_path = index::shard_path(&file.sha256);
    let shard = match log.get(&shard_path, index::MAX_SHARD_BYTES)? {
        Some(s) => s,
        None => {
            return refused(
                Cause::NotInLog,
                "not in this log (its index has no entry for this hash)",
            )
        }
    };
    // A shard cut short or over its cap is served data anyone on the path
    // could have altered: the log is unreachable for this run, never a
    // refusal (DESIGN §6).
    let candidates = index::lookup(&shard, &file.sha256)
        .map_err(|e| LogOutcome::Unreachable(format!("{shard_path}: {e}")))?;
    let below: Vec<u64> = candidates
        .iter()
        .copied()
        .filter(|&i| i < cp.size)
        .take(MAX_CANDIDATES)
        .collect();
    if let (true, Some(beyond)) = (below.is_empty(), candidates.first()) {
        return Err(LogOutcome::Unreachable(format!(
            "the log's index lists leaf {beyond} for this hash, beyond the checkpoint in force (size {}): that checkpoint is older than the index",
            cp.size
        )));
    }
    Ok(below)
}

/// Leaf `idx` from its entry bundle, with its inclusion proof from the
/// log's tiles, both checked against `cp`'s signed root. A bundle or tile
/// that does not match the root is served data anyone on the path could
/// have altered: the log is unreachable for this run, never misbehaving
/// (DESIGN §6, "What is 123 and what is not").
pub(super) fn proven_leaf(
    log: &Log,
    cp: &Checkpoint,
    idx: u64,
) -> Step<(Vec<u8>, Vec<crate::tlog::Hash>)> {
    let n = idx / TILE_WIDTH;
    let w = tile_width(0, n, cp.size);
    let bpath = bundle_path(n, w);
    let bundle = log
        .get(&bpath, MAX_BUNDLE_BYTES)?
        .ok_or_else(|| LogOutcome::Unreachable(format!("{bpath} is missing")))?;
    let unreachable = |m: String| LogOutcome::Unreachable(format!("{bpath}: {m}"));
    let leaves = decode_bundle(&bundle, w as usize).map_err(|e| unreachable(e.to_string()))?;
    let leaf = leaves
        .get((idx % TILE_WIDTH) as usize)
        .copied()
        .unwrap_or_default()
        .to_vec();
    let tiles = log.tiles().ok_or_else(|| {
        LogOutcome::Unreachable("offline: tiles are needed and not cached".into())
    })?;
    let proof = check_leaf(cp, idx, &leaf, &tiles).map_err(unreachable)?;
    Ok((leaf, proof))
}

/// The leaf a proof file beside the program names. Its checkpoint must be
/// one [`may_prove`] allows (a larger one that meets the policy becomes the
/// checkpoint in force and is saved); then the inclusion proof and the
/// entry are checked.
fn sidecar_leaf(
    log: &Log,
    current: &mut SignedCheckpoint,
    file: &Ingested,
    path: &std::path::Path,
    p: &TlogProof,
    report: &mut LogReport,
) -> Step<Found> {
    let ctx = log.ctx;
    let at = path.display();
    let sc = open(&p.checkpoint, log)
        .map_err(|e| LogOutcome::Refused(Cause::ProofFile, format!("{at}: checkpoint: {e}")))?;
    // A proof this machine verified earlier against the checkpoint in
    // force needs no pending pair.
    let cached = |cp: &Checkpoint, why: &str| {
        let found = cached_proof(log, cp, file)?;
        log.say(format!(
            "{at}: {why}; proven from the cache at leaf {}",
            found.index
        ));
        Some(found)
    };
    if let Some(found) = shipped(log, current, &sc, &at.to_string(), report, cached)? {
        return Ok(found);
    }
    let leaf = p.extra.as_deref().ok_or_else(|| {
        LogOutcome::Refused(
            Cause::ProofFile,
            format!("{at}: no extra line with the entry"),
        )
    })?;
    verify_inclusion(
        leaf_hash(leaf),
        p.index,
        sc.checkpoint.size,
        &p.proof,
        sc.checkpoint.root,
    )
    .map_err(|e| LogOutcome::Refused(Cause::ProofFile, format!("{at}: {e}")))?;
    let entry = check_entry(log, leaf, file, Signature::Verify)?;
    log.say(format!("proven by {at} at leaf {}", p.index));
    // Its checkpoint is in force now, or proven a prefix of the one that
    // is: the proof is kept, so that a later run that cannot compare the
    // file's checkpoint (offline) still has it. Never one against a
    // checkpoint not linked to the one in force: a cached proof is
    // trusted as proven against it ([`still_valid`]).
    if !report.deferred {
        report.save_proof = Some(CachedProof::new(
            p.index,
            leaf,
            sc.checkpoint.size,
            sc.checkpoint.root,
            &p.proof,
        ));
    }
    Ok(Found {
        index: p.index,
        entry,
        covers: crate::history::Cover::of(sc.checkpoint.size, &sc.cosignatures, ctx.now),
    })
}

/// What a checkpoint shipped with a proof (`sc`, read at `at`) does to the
/// checkpoint in force, as [`may_prove`] decides: nothing (a prefix), it
/// becomes the checkpoint in force (it extends it, and is saved), or —
/// not linked to it now — `cached` may still answer from a proof this
/// machine verified earlier (`Some`), else the pair is kept pending.
pub(super) fn shipped<T>(
    log: &Log,
    current: &mut SignedCheckpoint,
    sc: &SignedCheckpoint,
    at: &str,
    report: &mut LogReport,
    cached: impl FnOnce(&Checkpoint, &str) -> Option<T>,
) -> Step<Option<T>> {
    report
        .warnings
        .extend(super::checkpoint::future_warnings(log, sc));
    match may_prove(log, current, sc, at)? {
        Proves::Prefix => {}
        Proves::Extends(newer) => {
            report.save_checkpoint = Some(super::log::to_save(log, &newer));
            report.checkpoint = Some(newer.checkpoint.clone());
            *current = newer;
        }
        Proves::Unlinked(why) => match cached(&current.checkpoint, &why) {
            Some(found) => return Ok(Some(found)),
            None => super::pending::defer(log, current, sc, at, &why, report)?,
        },
    }
    Ok(None)
}
