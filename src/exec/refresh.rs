//! `bt-exec refresh`: every policy log's checkpoint fetched, proven
//! consistent with the saved one and saved, its pending pairs proven, a
//! split view made an alarm (with its evidence), and its release history
//! brought up to the new checkpoint when the policy's rules read it — what
//! a run would learn of each log, without a program. Runs start it in the
//! background when the saved checkpoints grow older than
//! `require.refresh` (src/exec/background.rs); a timer may run it too.
//!
//! Safe beside everything else: each checkpoint is saved only in place of
//! the one the refresh read (`crate::exec::saving::save`), and when another
//! process saved one meanwhile that log is refreshed again from it.

use crate::exec::saving::{self, Saved};
use crate::fsutil::{self, Durability};
use crate::policy::LogSpec;
use crate::store::Store;
use crate::verify::{self, exit, Context, LogOutcome, LogReport};

/// What one refresh found: the exit code (the worst of the logs': 123 a
/// split view, 124 a log not reached, 126 a log whose checkpoint no longer
/// meets the policy, 125 the state not written) and a line per log, with
/// its warnings.
pub struct Outcome {
    pub code: u8,
    pub lines: Vec<String>,
}

/// Refreshes every log of the policy (concurrently), at `ctx.now`, saving
/// into `ctx.state`.
pub fn refresh(ctx: &Context) -> Outcome {
    let logs = &ctx.policy.trust.logs;
    let idx: Vec<usize> = (0..logs.len()).collect();
    let done = verify::per_log(
        &idx,
        |i| one(ctx, &logs[i]),
        |i| {
            let o = verify::internal_error();
            (
                o.exit_code(),
                vec![format!("{}: {}", logs[i].label, o.message())],
            )
        },
    );
    let mut out = Outcome {
        code: 0,
        lines: vec![],
    };
    for (code, lines) in done {
        out.code = exit::worse(out.code, code);
        out.lines.extend(lines);
    }
    out
}

/// One log refreshed and saved; when another process saved a checkpoint
/// of it meanwhile, refreshed again from that one.
fn one(ctx: &Context, spec: &LogSpec) -> (u8, Vec<String>) {
    for _ in 0..saving::ATTEMPTS {
        let (report, r) = verify::refresh_log(ctx, spec);
        let saved = saving::save(ctx.state, std::slice::from_ref(&report), &[0; 32], ctx.now);
        let (code, line) = match (r, saved) {
            (_, Ok(Saved::Conflict(_))) => continue,
            (Err(o), _) => (o.exit_code(), failed(spec, &o)),
            (Ok(_), Err(f)) => (f.code, format!("{}: {}", spec.label, f.message)),
            (Ok(_), Ok(Saved::Done(unsaved))) if !unsaved.is_empty() => {
                (exit::CONFIG, unsaved.join("; "))
            }
            // Reached, but nothing it served was saved as the checkpoint
            // in force (an older one, one whose link to the saved one the
            // tiles do not prove, a newer one not cosigned): not
            // refreshed, whatever was reached. (A checkpoint served
            // exactly as saved is saved again: fetched now.)
            (Ok(r), Ok(Saved::Done(_))) if r.reached && report.save_checkpoint.is_none() => {
                let why = report
                    .unproven_growth
                    .clone()
                    .or_else(|| report.warnings.first().cloned())
                    .unwrap_or_else(|| "nothing it served could be saved".into());
                let size = report.checkpoint.as_ref().map_or(0, |c| c.size);
                let line = format!(
                    "{}: not refreshed: {why}; the saved checkpoint (size {size}) stays in force while it meets the policy",
                    spec.label
                );
                (exit::UNREACHABLE, line)
            }
            (Ok(r), Ok(Saved::Done(_))) => {
                let line = done(spec, &report, r.reached, r.history, ctx.now);
                (if r.reached { 0 } else { exit::UNREACHABLE }, line)
            }
        };
        let mut lines = vec![line];
        lines.extend(
            report
                .warnings
                .iter()
                .map(|w| format!("{}: {w}", spec.label)),
        );
        return (code, lines);
    }
    (
        exit::UNREACHABLE,
        vec![format!(
            "{}: the saved checkpoint changed under each of {} attempts (other bt-exec processes saving newer ones); try again",
            spec.label,
            saving::ATTEMPTS
        )],
    )
}

/// The line of a log whose checkpoint in force was established.
fn done(spec: &LogSpec, report: &LogReport, reached: bool, history: bool, now: u64) -> String {
    let size = report.checkpoint.as_ref().map_or(0, |c| c.size);
    let newest = report.cosigners.iter().map(|(_, t)| *t).max();
    let age = newest.map_or_else(
        || "no cosignatures".to_string(),
        |t| format!("newest cosignature {} s old", now.saturating_sub(t)),
    );
    if !reached {
        return format!(
            "{}: not reached; the saved checkpoint (size {size}, {age}) stays in force while it meets the policy",
            spec.label
        );
    }
    let was = report.saved_before.as_deref().and_then(|n| {
        crate::store::Pair::tree(&String::from_utf8_lossy(n))
            .0
            .parse::<u64>()
            .ok()
    });
    let grew = match was {
        Some(w) if w < size => format!("grew from {w}"),
        Some(_) => "unchanged".into(),
        None => "first fetch".into(),
    };
    let history = if history {
        "; release history up to date"
    } else {
        ""
    };
    format!("{}: size {size} ({grew}), {age}{history}", spec.label)
}

/// The line of a log whose refresh failed.
fn failed(spec: &LogSpec, o: &LogOutcome) -> String {
    match o {
        LogOutcome::Misbehaved { .. } => format!(
            "{}: SPLIT VIEW, every run is refused until `bt-exec alarm clear {}`: {}",
            spec.label,
            spec.origin,
            o.message()
        ),
        LogOutcome::Unreachable(m) => format!("{}: not refreshed: {m}", spec.label),
        _ => format!("{}: refused: {}", spec.label, o.message()),
    }
}

/// Records how a refresh that started at `started` ended (`refresh/last`
/// below the state directory, for `bt-exec status`). Best effort.
pub fn record(store: &Store, started: u64, ended: u64, out: &Outcome) {
    let mut text = format!("bt-exec refresh v1\n{started} {ended} {}\n", out.code);
    // A message's own lines stay lines (a split view's quotes both notes);
    // each is bounded, and any other control character is a space: a
    // message carries what a log served.
    for l in out
        .lines
        .iter()
        .flat_map(|l| l.lines())
        .take(LAST_MAX_LINES)
    {
        let l: String = l
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(400)
            .collect();
        text.push_str(&l);
        text.push('\n');
    }
    let mut end = text.len().min(LAST_MAX_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    let p = store.state.join(crate::exec::background::LAST);
    let _ = fsutil::write_atomic(&p, text.as_bytes(), 0o644, Durability::Batch);
}

/// Caps on `refresh/last`.
const LAST_MAX_BYTES: usize = 16 * 1024;
const LAST_MAX_LINES: usize = 256;

/// How the last refresh ended: (started, ended, exit code, its lines).
pub fn last(store: &Store) -> Option<(u64, u64, u8, Vec<String>)> {
    let p = store.state.join(crate::exec::background::LAST);
    let b = fsutil::read_optional(&p, LAST_MAX_BYTES).ok()??;
    let text = String::from_utf8(b).ok()?;
    let mut lines = text.lines();
    if lines.next() != Some("bt-exec refresh v1") {
        return None;
    }
    let mut head = lines.next()?.split(' ');
    let started = head.next()?.parse().ok()?;
    let ended = head.next()?.parse().ok()?;
    let code = head.next()?.parse().ok()?;
    Some((started, ended, code, lines.map(String::from).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a refresh records is read back line for line: a message's own
    /// lines stay lines, control characters are spaces, and the record is
    /// bounded whatever the logs served.
    #[test]
    fn the_last_refresh_is_recorded_bounded_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("cache"), dir.path().join("state"));
        assert!(last(&store).is_none(), "nothing recorded yet");
        let out = Outcome {
            code: 123,
            lines: vec![
                "log0: SPLIT VIEW: two trees\nexample.org/log0\n1\n".into(),
                "log1: size 4\x1b[2J (grew from 3)".into(),
            ],
        };
        record(&store, 10, 12, &out);
        let (started, ended, code, lines) = last(&store).unwrap();
        assert_eq!((started, ended, code), (10, 12, 123));
        assert_eq!(
            lines,
            [
                "log0: SPLIT VIEW: two trees",
                "example.org/log0",
                "1",
                "log1: size 4 [2J (grew from 3)"
            ]
        );
        let flood = Outcome {
            code: 124,
            lines: vec!["é".repeat(100_000), "x\n".repeat(10_000)],
        };
        record(&store, 20, 21, &flood);
        let (.., code, lines) = last(&store).unwrap();
        assert_eq!(code, 124);
        assert!(lines.len() <= LAST_MAX_LINES, "{}", lines.len());
        let p = store.state.join(crate::exec::background::LAST);
        assert!(std::fs::metadata(p).unwrap().len() <= LAST_MAX_BYTES as u64);
    }
}
