//! Whether a checkpoint counts (DESIGN §6): its witness quorum within
//! `max_age` (and until when it stays fresh), no cosignature from the
//! future, and whether two checkpoints of one log are one history — the
//! one place consistency is decided, a proven fork raising the alarm.

use base64::{engine::general_purpose::STANDARD as B64, Engine};

use super::cause::Cause;
use super::log::{refused, Log, LogOutcome, Step};
use crate::tlog::consistency::{prove_prefix, Consistency, TileSource};
use crate::tlog::{Cosignature, Hash, SignedCheckpoint, MAX_SKEW_SECS};

/// The tile source when nothing may be fetched.
struct Offline;

impl TileSource for Offline {
    fn hash_tile(&self, _level: u8, _n: u64, _width: u64) -> Result<Vec<u8>, String> {
        Err("offline: the tiles that would prove it are not fetched".into())
    }
}

/// Whether two checkpoints validly signed by this log are one history:
/// `Ok(Ok(()))` when proven, `Ok(Err(why))` when it cannot be known now
/// (tiles missing, altered on the way, offline), and a split view — with
/// evidence written and the alarm raised — when proven otherwise.
///
/// The only place bt-exec, gossip and the saved-checkpoint rules decide
/// consistency; the proof itself is [`crate::tlog::consistency`]'s, whose
/// hashes all come from tiles authenticated against the larger signed
/// root. Attack stopped: a mirror, CDN or network path altering tiles can
/// neither make a fork look consistent nor an honest log look forked.
pub(super) fn one_history(
    log: &Log,
    a: &SignedCheckpoint,
    b: &SignedCheckpoint,
) -> Step<Result<(), String>> {
    let (older, newer) = if a.checkpoint.size <= b.checkpoint.size {
        (a, b)
    } else {
        (b, a)
    };
    let tiles = log.tiles();
    let source: &dyn TileSource = match &tiles {
        Some(t) => t,
        None => &Offline,
    };
    match prove_prefix(&older.checkpoint, &newer.checkpoint, source) {
        Consistency::Consistent => Ok(Ok(())),
        Consistency::Unknown(why) => Ok(Err(why)),
        Consistency::Inconsistent { proof } => Err(split_view(log, older, newer, &proof)),
    }
}

/// A split view: both notes, printed and kept as evidence, with the
/// consistency proof that fails between them.
fn split_view(
    log: &Log,
    older: &SignedCheckpoint,
    newer: &SignedCheckpoint,
    proof: &[Hash],
) -> LogOutcome {
    let (a, b) = (&older.checkpoint, &newer.checkpoint);
    let what = if a.size == b.size {
        format!("two different trees of size {}", a.size)
    } else {
        format!(
            "size {} is not a prefix of size {}: the consistency proof read from tiles that hash to the size-{} root fails against the size-{} root",
            a.size, b.size, b.size, a.size
        )
    };
    let proof_text: String = proof.iter().map(|h| B64.encode(h.0) + "\n").collect();
    let evidence = log.ctx.state.record_split_view(
        &log.spec.id,
        &older.note,
        &newer.note,
        &proof_text,
        log.ctx.now,
    );
    let unsaved = unsaved(&evidence);
    LogOutcome::Misbehaved {
        msg: format!(
            "split view: {what}\n--- one checkpoint ---\n{}--- the other ---\n{}{unsaved}",
            String::from_utf8_lossy(&older.note),
            String::from_utf8_lossy(&newer.note)
        ),
        evidence: evidence.ok(),
    }
}

/// What a split view's message adds when its evidence could not be kept:
/// the split view stands (123) either way; a failed write is said, never
/// swallowed.
pub(super) fn unsaved<E: std::fmt::Display>(evidence: &Result<std::path::PathBuf, E>) -> String {
    match evidence {
        Ok(_) => String::new(),
        Err(e) => format!("\nTHE EVIDENCE COULD NOT BE SAVED ({e}): keep this output"),
    }
}

/// Whether a cosignature counts at `now`: one dated beyond the allowed
/// clock skew does not.
///
/// Attack stopped: one witness of several (or a path that can add lines
/// to a plain-http answer) vetoing a log. A single valid cosignature dated
/// a year ahead used to make every client refuse the whole checkpoint
/// ("check this machine's clock"); now it costs that witness only — the
/// others' cosignatures still make the quorum — and is named in a warning
/// ([`future_warnings`]).
pub(super) fn in_time(c: &Cosignature, now: u64) -> bool {
    c.timestamp <= now.saturating_add(MAX_SKEW_SECS)
}

/// A warning for each cosignature of `sc` dated beyond the allowed skew
/// (not counted: [`in_time`]).
pub(super) fn future_warnings(log: &Log, sc: &SignedCheckpoint) -> Vec<String> {
    let now = log.ctx.now;
    sc.cosignatures
        .iter()
        .filter(|c| !in_time(c, now))
        .map(|c| {
            format!(
                "cosignature by witness {} is dated {} s in the future; it is not counted (that witness's clock or key is wrong)",
                c.witness.name,
                c.timestamp - now
            )
        })
        .collect()
}

/// Whether `sc` meets the policy on its own (DESIGN §5): the witnesses
/// whose cosignatures are at most `max_age` old, and not dated beyond the
/// allowed clock skew ([`in_time`]), meet the quorum. When only lines from
/// the future would meet it, the quorum itself is in the future: this
/// machine's clock is the likelier fault, and the refusal says so. (The
/// log signature and the cosignatures themselves were verified when `sc`
/// was opened.)
pub(super) fn fresh(log: &Log, sc: &SignedCheckpoint) -> Step<()> {
    let now = log.ctx.now;
    let max_age = log.ctx.policy.require.max_age.as_secs();
    let trust = &log.ctx.policy.trust;
    let young = |c: &&Cosignature| c.timestamp.saturating_add(max_age) >= now;
    let counted = || sc.cosignatures.iter().filter(|c| in_time(c, now));
    if trust.quorum_met(&trust.witness_positions(counted().filter(young).map(|c| &c.witness))) {
        return Ok(());
    }
    let with_future =
        trust.witness_positions(sc.cosignatures.iter().filter(young).map(|c| &c.witness));
    if trust.quorum_met(&with_future) {
        let ahead = sc
            .cosignatures
            .iter()
            .filter(|c| !in_time(c, now))
            .map(|c| format!("{}: {} s in the future", c.witness.name, c.timestamp - now))
            .collect::<Vec<_>>()
            .join(", ");
        return refused(
            Cause::FutureCosignature,
            format!("the witness quorum is met only with cosignatures dated in the future ({ahead}); check this machine's clock"),
        );
    }
    let all = trust.witness_positions(counted().map(|c| &c.witness));
    if trust.quorum_met(&all) {
        refused(Cause::Stale, format!("the witness cosignatures are older than max_age ({max_age} s): the checkpoint is stale"))
    } else {
        refused(
            Cause::Quorum,
            format!(
                "the witness quorum is not met ({} valid cosignature(s) from policy witnesses)",
                all.len()
            ),
        )
    }
}

/// The last moment `sc` meets [`fresh`]'s quorum: `max_age` after the
/// latest `t` such that the cosignatures dated `t` or later (and counted
/// now: [`in_time`]) meet the quorum (`u64::MAX` when the policy needs no
/// cosignature; `None` when no quorum ever met).
pub(super) fn fresh_until(log: &Log, sc: &SignedCheckpoint) -> Option<u64> {
    let trust = &log.ctx.policy.trust;
    if trust.quorum_met(&Default::default()) {
        return Some(u64::MAX);
    }
    let max_age = log.ctx.policy.require.max_age.as_secs();
    let now = log.ctx.now;
    let counted: Vec<&Cosignature> = sc.cosignatures.iter().filter(|c| in_time(c, now)).collect();
    let mut times: Vec<u64> = counted.iter().map(|c| c.timestamp).collect();
    times.sort_unstable();
    times.dedup();
    times
        .into_iter()
        .rev()
        .find(|&t| {
            let since = counted.iter().filter(|c| c.timestamp >= t);
            trust.quorum_met(&trust.witness_positions(since.map(|c| &c.witness)))
        })
        .map(|t| t.saturating_add(max_age))
}
