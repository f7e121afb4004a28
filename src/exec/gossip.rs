//! `bt-exec gossip`: sharing the checkpoint cache between machines, so a
//! split view shown to one is caught by the others (DESIGN §8). An export
//! is every cached checkpoint note, each after a `# bt-exec gossip` line;
//! an import reads such files, and plain checkpoint notes, and verifies each
//! checkpoint against the policy and the local view before keeping it.

use std::path::PathBuf;

use crate::exec::app::{self, Fail};
use crate::policy::{LogSpec, Policy};
use crate::store::Store;
use crate::tlog::SignedCheckpoint;
use crate::verify::{self, exit};

/// The line in front of each note of an export.
const SEPARATOR: &str = "# bt-exec gossip\n";

/// Cap on one file read by an import (an export of sixteen logs' largest
/// checkpoints).
const MAX_FILE_BYTES: usize = 16 * crate::tlog::MAX_CHECKPOINT_BYTES;

/// The export document: every cached checkpoint note.
pub fn export(store: &Store) -> Vec<u8> {
    let mut out = vec![];
    for n in store.all_checkpoints() {
        out.extend_from_slice(SEPARATOR.as_bytes());
        out.extend_from_slice(&n);
    }
    out
}

/// The checkpoint notes in one imported file: an export, or one plain note.
pub(crate) fn notes(text: &str) -> Vec<String> {
    if text.contains(SEPARATOR) {
        text.split(SEPARATOR)
            .filter(|n| !n.trim().is_empty())
            .map(String::from)
            .collect()
    } else {
        vec![text.to_string()]
    }
}

/// Imports the checkpoints in `files`: each one of a log the policy lists
/// is checked for consistency with the local view, and a newer consistent
/// one is saved. `say` receives a line for each note (without the
/// `bt-exec: ` prefix). Fails with the worst exit code found (123 before
/// all) when any note is not consistent.
pub fn import(
    store: &Store,
    policy: &Policy,
    offline: bool,
    files: &[PathBuf],
    say: &mut dyn FnMut(&str),
) -> Result<(), Fail> {
    let ctx = app::context(policy, store, offline);
    let mut worst = 0u8;
    for f in files {
        let data = crate::fsutil::read_capped(f, MAX_FILE_BYTES)
            .map_err(|e| Fail::new(exit::CONFIG, format!("{}: {e}", f.display())))?;
        for note in notes(&String::from_utf8_lossy(&data)) {
            let origin = note.lines().next().unwrap_or_default().to_string();
            let Some(spec) = log_of(policy, &origin, note.as_bytes()) else {
                // What a peer sent is echoed bounded: a line of megabytes
                // is not a message.
                let shown: String = origin.chars().take(100).collect();
                let more = if shown.len() < origin.len() {
                    "…"
                } else {
                    ""
                };
                say(&format!(
                    "{}: skipping a checkpoint of {shown:?}{more}, a log the policy does not list",
                    f.display()
                ));
                continue;
            };
            let name = &spec.label;
            match check_and_save(&ctx, store, spec, note.as_bytes())? {
                Ok(verify::Gossip::Newer { .. }) => {
                    say(&format!("{name}: newer consistent checkpoint imported"))
                }
                Ok(verify::Gossip::Known) => {
                    say(&format!("{name}: consistent with the local view"))
                }
                Ok(verify::Gossip::NotSaved(why)) => say(&format!(
                    "{name}: consistent with the local view; not saved, it does not meet the policy: {why}"
                )),
                Err(o) => {
                    say(&format!("{}: {name}: {}", f.display(), o.message()));
                    worst = exit::worse(worst, o.exit_code());
                }
            }
        }
    }
    // An online contact: pending checkpoint pairs are proven (DESIGN §6).
    let pending = crate::exec::status::prove_pending(store, policy, offline, say);
    worst = exit::worse(worst, pending);
    if worst != 0 {
        return Err(Fail::new(worst, "gossip import found problems (above)"));
    }
    Ok(())
}

/// The listed log a gossiped note is of: among the logs with its origin,
/// the one whose key signed it (several logs may share an origin), else the
/// first, whose check then says what is wrong with the note.
fn log_of<'a>(policy: &'a Policy, origin: &'a str, note: &[u8]) -> Option<&'a LogSpec> {
    let mut logs = policy.trust.logs_of(origin).peekable();
    let first = *logs.peek()?;
    Some(
        logs.find(|l| SignedCheckpoint::verify(note, origin, &l.key, &[]).is_ok())
            .unwrap_or(first),
    )
}

/// Checks a gossiped note and saves it when it is newer — only in place of
/// the checkpoint the check read; when another process saved one
/// meanwhile, checks again against that (`saving::ATTEMPTS` times).
fn check_and_save(
    ctx: &verify::Context,
    store: &Store,
    spec: &LogSpec,
    note: &[u8],
) -> Result<Result<verify::Gossip, verify::LogOutcome>, Fail> {
    for _ in 0..crate::exec::saving::ATTEMPTS {
        let r = verify::gossip_check(ctx, spec, note);
        let Ok(verify::Gossip::Newer { note: n, replaces }) = &r else {
            return Ok(r);
        };
        let _lock = app::lock(store)?;
        let saved =
            crate::state::State::save_checkpoint(store, &spec.id, replaces.as_deref(), n, ctx.now)
                .map_err(|e| Fail::new(exit::CONFIG, format!("cannot save the checkpoint: {e}")))?;
        if saved {
            return Ok(r);
        }
    }
    Err(Fail::new(
        exit::UNREACHABLE,
        format!(
            "{}: the saved checkpoint kept changing while the gossiped one was checked; try again",
            spec.label
        ),
    ))
}
