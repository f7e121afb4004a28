//! A checkpoint note gossiped by another machine (`bt-exec gossip
//! import`), checked against the local view: its log signature, then
//! consistency with the saved checkpoint, then whether it may be saved.

use super::cause::Cause;
use super::checkpoint::{fresh, one_history};
use super::log::{open, saved_read, to_save, Log, LogOutcome};

/// What a gossiped checkpoint note adds to the local view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gossip {
    /// Newer, consistent and meeting the policy: the note to save, in
    /// place of the saved checkpoint as it was read (`replaces`).
    Newer {
        note: Vec<u8>,
        replaces: Option<Vec<u8>>,
    },
    /// Consistent with the saved checkpoint, and nothing newer to keep.
    Known,
    /// Consistent, but it does not meet the policy itself (why): a
    /// checkpoint only the log key signed is evidence (a fork in it is a
    /// split view), never the checkpoint in force.
    NotSaved(String),
}

/// Checks a gossiped checkpoint note against the local view: its log
/// signature, then consistency with the saved checkpoint (fetching tiles
/// unless offline), then whether it may be saved.
pub fn gossip_check(
    ctx: &super::context::Context,
    spec: &crate::policy::LogSpec,
    note: &[u8],
) -> Result<Gossip, LogOutcome> {
    let log = Log::new(ctx, spec);
    let theirs = open(note, &log)
        .map_err(|e| LogOutcome::Refused(Cause::Checkpoint, format!("gossiped checkpoint: {e}")))?;
    // A log with a split view on record stays refused on every route,
    // gossip included: an honest-looking note does not clear it.
    if let Some(ev) = ctx.state.alarm(&spec.id) {
        return Err(LogOutcome::Misbehaved {
            msg: format!("a split view of this log was recorded earlier ({ev}); it stays refused until a person runs `bt-exec alarm clear {}`", spec.origin),
            evidence: Some(std::path::PathBuf::from(ev)),
        });
    }
    let meets = match fresh(&log, &theirs) {
        Ok(()) => Ok(()),
        Err(o) => Err(o.message()),
    };
    let (raw, ours) = saved_read(&log);
    let newer = match ours {
        None => true,
        Some(ours) => match one_history(&log, &ours, &theirs)? {
            Ok(()) => theirs.checkpoint.size > ours.checkpoint.size,
            Err(why) => return Err(LogOutcome::Unreachable(format!(
                "whether the gossiped checkpoint (size {}) and the saved one (size {}) are one history cannot be proven now: {why}",
                theirs.checkpoint.size, ours.checkpoint.size
            ))),
        },
    };
    Ok(match (newer, meets) {
        (true, Ok(())) => Gossip::Newer {
            note: to_save(&log, &theirs),
            replaces: raw,
        },
        (true, Err(why)) => Gossip::NotSaved(why),
        (false, _) => Gossip::Known,
    })
}
