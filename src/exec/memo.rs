//! Warm verdicts: the record that running a program was proven from the
//! state directory alone, so the next run of the same bytes under the same
//! policy text can skip parsing the policy, the checkpoints, the proofs and
//! the entries again, while nothing the verdict depended on has changed.
//!
//! A memo is written only after a run whose every policy log was proven on
//! the warm path (no request, nothing fetched: `LogReport::warm_until`),
//! under a policy in enforce mode with inline trust and no `[sigsum]`
//! section, so the policy text's digest covers everything the policy says.
//! It holds the program's SHA-256, when it was made, until when it holds
//! (the earliest moment one of those logs would leave the warm path:
//! `require.refresh` after the checkpoint was fetched, or `max_age` after
//! its freshest quorum of cosignatures; and the policy's `expires`), and
//! the state files that could turn the verdict into a refusal — each log's
//! alarm (absent), its release-history view (`size`, `coverage`, as read
//! before the verification) and its pending checkpoint pairs (absent) when
//! `latest` or `min_release_age` reads it,
//! the run record of the release name under `no_downgrade` (as read after
//! this run was recorded, and checked against `no_downgrade` again) —
//! with a digest of each one's content, or "absent". It is used only while
//! every one of those files still has that content, so an alarm raised, a
//! newer release indexed, or another release of the name run, by any
//! process, ends it at once; no writer needs to know memos exist. (A newer
//! checkpoint cannot make a proven release unproven; a memo outlives it
//! only until its own `valid_until`.)
//!
//! A run uses them when its flags allow one
//! (`crate::cli::CommonArgs::may_serve_warm`),
//! [`run_warm`] (exec at once when one holds), [`pending`] (the state read
//! before the verification) and [`record`] (after a proven run); the file
//! itself is [`holds`] and [`write`].
//!
//! The memo lives in the state directory, which is trusted for integrity
//! exactly as the CAS beside it (docs/ARCHITECTURE.md): whoever can forge a
//! memo can replace the bytes it names.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::exec::app::now;
use crate::exec::background;
use crate::exec::saving::{run_at, RunAt};
use crate::fsutil::{self, Durability};
use crate::policy::{Mode, Policy};
use crate::store::{Ingested, Store};
use crate::verify::Verdict;

/// v3: each dependency line says whether it is a log's checkpoint (whose
/// age starts the background refresher), and the header holds
/// `require.refresh`. (v2 named the state files by the log's identity, as
/// v3 does; a v1 verdict names the files of state keyed by origin alone,
/// which are gone once moved — src/store/migrate.rs — so "the alarm is
/// absent" would hold for ever: v1 verdicts must never serve.) Verdicts of
/// another version are not read: the next run verifies in full.
const VERSION: &str = "bt-exec memo v3";
/// Cap on a memo and on each file it depends on.
const MAX_BYTES: usize = 1 << 20;
/// At most this many files per memo.
const MAX_DEPS: usize = 4096;

fn memo_path(store: &Store, policy_digest: &[u8; 32], sha256: &[u8; 32]) -> PathBuf {
    let mut h = Sha256::new();
    h.update(VERSION.as_bytes());
    h.update(policy_digest);
    h.update(sha256);
    let key = hex::encode(h.finalize());
    store.state.join("memos").join(&key[..2]).join(&key)
}

/// Digest of a dependency's content (`-` when absent, else 32 hex
/// digits) and, when present, its modification time (Unix seconds).
fn content_digest(path: &Path) -> Option<(String, Option<u64>)> {
    match fsutil::read_optional_with_mtime(path, MAX_BYTES) {
        Ok(None) => Some(("-".into(), None)),
        Ok(Some((b, mtime))) => Some((hex::encode(&Sha256::digest(&b)[..16]), mtime)),
        Err(_) => None,
    }
}

/// The line kind of a log's checkpoint: its modification time is when it
/// was last fetched, which the background refresher goes by.
const CHECKPOINT: &str = "c";
/// The line kind of any other dependency.
const FILE: &str = "f";

/// A memo that holds.
#[derive(Debug, PartialEq, Eq)]
pub struct Held {
    /// `require.refresh` (seconds) under the policy it was made for.
    pub refresh: u64,
    /// Whether one of the logs' checkpoints was fetched `refresh` ago or
    /// more: the run starts the background refresher
    /// (`crate::exec::background::due`).
    pub refresh_due: bool,
}

/// Whether a memo of running `sha256` under the policy text with
/// `policy_digest` holds at `now`, and whether a refresh is due.
pub fn holds(store: &Store, policy_digest: &[u8; 32], sha256: &[u8; 32], now: u64) -> Option<Held> {
    let bytes =
        fsutil::read_optional(&memo_path(store, policy_digest, sha256), MAX_BYTES).ok()??;
    let text = std::str::from_utf8(&bytes).ok()?;
    let mut lines = text.lines();
    let header = format!("{VERSION} {}", hex::encode(sha256));
    if lines.next() != Some(header.as_str()) {
        return None;
    }
    let mut times = lines.next()?.split(' ').map(|t| t.parse::<u64>().ok());
    let (Some(Some(created)), Some(Some(until)), Some(Some(refresh)), None) =
        (times.next(), times.next(), times.next(), times.next())
    else {
        return None;
    };
    // A clock set back before the memo was made is not trusted with it.
    if now < created || now >= until {
        return None;
    }
    let mut deps = 0;
    let mut fetched = vec![];
    let mut gone: Vec<PathBuf> = vec![];
    for line in lines {
        let mut parts = line.splitn(3, ' ');
        let (Some(kind), Some(digest), Some(rel)) = (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        deps += 1;
        // Paths are relative to the state directory and stay inside it.
        let rel = Path::new(rel);
        let inside = rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if deps > MAX_DEPS || !inside || (kind != CHECKPOINT && kind != FILE) {
            return None;
        }
        let path = store.state.join(rel);
        if digest == "-" && absent_dir_of(store, &path, &mut gone) {
            continue;
        }
        let (d, mtime) = content_digest(&path)?;
        if d != digest {
            return None;
        }
        if kind == CHECKPOINT {
            fetched.push(mtime);
        }
    }
    (deps > 0).then(|| Held {
        refresh,
        refresh_due: crate::exec::background::due(&fetched, now, refresh),
    })
}

/// Whether `path`, a file one level below a directory of the state
/// directory (an alarm: `alarms/KEY`), is absent because that directory
/// is: found absent once (`gone`), or now. Nothing else then needs
/// checking: the state directory itself passed the strict modes when the
/// store was opened, so no other user could have removed the directory,
/// and no file is below a directory that is not there. On a machine that
/// never saw a split view this is one call for all the alarms.
fn absent_dir_of(store: &Store, path: &Path, gone: &mut Vec<PathBuf>) -> bool {
    let Some(dir) = path.parent().filter(|d| d.parent() == Some(&*store.state)) else {
        return false;
    };
    if gone.iter().any(|g| g == dir) {
        return true;
    }
    let absent =
        std::fs::symlink_metadata(dir).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound);
    if absent {
        gone.push(dir.to_path_buf());
    }
    absent
}

/// The state files a verdict depends on, each with the content the
/// verification saw: taken before the verification reads them (files that
/// only grow, so a change in between shows as a difference later), or from
/// the very bytes checked.
#[derive(Default)]
pub struct Snapshot(Vec<(&'static str, PathBuf, String)>);

impl Snapshot {
    /// Records `path` with its content now.
    pub fn read(&mut self, path: PathBuf) -> std::io::Result<()> {
        self.read_as(FILE, path)
    }

    /// Records a log's checkpoint at `path` with its content now (its age
    /// starts the background refresher).
    pub fn checkpoint(&mut self, path: PathBuf) -> std::io::Result<()> {
        self.read_as(CHECKPOINT, path)
    }

    fn read_as(&mut self, kind: &'static str, path: PathBuf) -> std::io::Result<()> {
        let (d, _) = content_digest(&path).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "an unreadable dependency")
        })?;
        self.0.push((kind, path, d));
        Ok(())
    }

    /// Records that `path` must not exist (the verdict required that).
    pub fn absent(&mut self, path: PathBuf) {
        self.0.push((FILE, path, "-".into()));
    }

    /// Records `path` with the content `bytes` (`None`: absent) the caller
    /// read and checked.
    pub fn content(&mut self, path: PathBuf, bytes: Option<&[u8]>) {
        let d = bytes.map_or("-".into(), |b| hex::encode(&Sha256::digest(b)[..16]));
        self.0.push((FILE, path, d));
    }
}

/// Records a memo (see the module documentation). Best effort for the
/// caller: an error only means the next run verifies in full.
pub fn write(
    store: &Store,
    policy_digest: &[u8; 32],
    sha256: &[u8; 32],
    now: u64,
    (valid_until, refresh): (u64, u64),
    deps: &Snapshot,
) -> std::io::Result<()> {
    let invalid = |m: &str| std::io::Error::new(std::io::ErrorKind::InvalidInput, m.to_string());
    if deps.0.is_empty() || deps.0.len() > MAX_DEPS || valid_until <= now {
        return Err(invalid("nothing to record"));
    }
    let mut text = format!(
        "{VERSION} {}\n{now} {valid_until} {refresh}\n",
        hex::encode(sha256)
    );
    for (kind, path, digest) in &deps.0 {
        let rel = path
            .strip_prefix(&store.state)
            .map_err(|_| invalid("a dependency outside the state directory"))?;
        let rel = rel
            .to_str()
            .filter(|r| !r.contains('\n'))
            .ok_or_else(|| invalid("a path that is not one UTF-8 line"))?;
        text.push_str(&format!("{kind} {digest} {rel}\n"));
    }
    let p = memo_path(store, policy_digest, sha256);
    fsutil::write_atomic(&p, text.as_bytes(), 0o644, Durability::Batch)
}

/// Runs PROGRAM (`path`, typed as `program`) at once when a warm verdict
/// recorded for its bytes under this exact policy text (`--policy`
/// `policy_flag`, else the default) still holds — first starting the
/// background refresher, the full bt-exec at `full()`, when a log's
/// checkpoint is older than `require.refresh` (never for an `--offline`
/// run: `full` is `None`). Returns when there is none, with the program
/// ingested when that got so far, and the full verification follows.
pub fn run_warm(
    policy_flag: Option<&Path>,
    store: &Store,
    (path, program, args): (&Path, &OsStr, &[OsString]),
    full: Option<&dyn Fn() -> Option<PathBuf>>,
) -> Option<Ingested> {
    let policy_path = Policy::locate(policy_flag)?;
    // A policy another user could rewrite decides nothing here: the full
    // bt-exec refuses it (125, src/strict.rs).
    let text = crate::fsutil::read_config(&policy_path, Policy::MAX_BYTES).ok()?;
    // A proof file beside the program is evidence to check every time.
    for beside in [".tlog-proof", ".tlog-proofs", ".sigstore.json"] {
        if std::fs::symlink_metadata(fsutil::beside(path, beside)).is_ok() {
            return None;
        }
    }
    let file = store.ingest(path).ok()?;
    let now = now();
    if let Some(held) = holds(store, &Policy::text_digest(&text), &file.sha256, now) {
        if held.refresh_due {
            if let Some(full) = full.and_then(|f| f()) {
                use background::Started;
                match background::start(&store.state, &full, &policy_path, now, held.refresh) {
                    Started::Started | Started::Running | Started::Recent => {}
                    // Said (a warning), or refused, by the full path.
                    Started::Failed(_) | Started::Refused(_) => return Some(file),
                }
            }
        }
        // Returns only if the exec failed; the full path then decides.
        let _ = crate::exec::program::exec(&file.cas_path, program, args);
    }
    Some(file)
}

/// A warm verdict this run may record once it is proven: the digest of the
/// policy text and the state it depends on, read before the verification.
pub struct Pending {
    policy_digest: [u8; 32],
    deps: Snapshot,
}

/// The state a warm verdict under `policy` (whose text has the digest
/// `policy_digest`) depends on, read before the verification: each log's
/// alarm, under its name and the name earlier versions gave it (which must
/// stay absent) and, when the policy's release-history
/// rules read it, its view. `None` when the policy allows no warm verdict
/// (audit mode, a `[sigsum]` section) or that state cannot be read.
pub fn pending(store: &Store, policy: &Policy, policy_digest: [u8; 32]) -> Option<Pending> {
    if policy.mode != Mode::Enforce || policy.sigsum.is_some() {
        return None;
    }
    // Every history rule reads the views (`prior_revisions` never takes
    // the warm path, so never leaves a memo).
    let history = crate::verify::rules_read_history(policy);
    let mut deps = Snapshot::default();
    for l in &policy.trust.logs {
        deps.absent(store.alarm_path(&l.id));
        // An alarm an earlier version raises under the origin alone (after
        // a downgrade) ends the verdict too: the verdict serves before the
        // policy is loaded, so before that alarm is moved.
        deps.absent(store.legacy_alarm_path(&l.origin));
        // The checkpoint in force: a newer one saved by anything (a run,
        // `gossip import`) may hold a newer release or prove what the memo
        // rests on was a fork, so it ends the verdict. Attack stopped: a
        // warm verdict under `latest` outliving the checkpoint that shows
        // 2.0, while `bt-exec verify` on the same state refuses 1.0.
        deps.checkpoint(store.checkpoint_path(&l.id)).ok()?;
        if history {
            for f in crate::history::DirView::files(store, &l.id) {
                deps.read(f).ok()?;
            }
            // A pair kept pending since ends it: no warm verdict under
            // history rules rests on a pair not proven one history.
            deps.absent(store.pending_path(&l.id));
        }
    }
    Some(Pending {
        policy_digest,
        deps,
    })
}

/// Records a warm verdict when every log of the policy proved the program
/// on the warm path (best effort: without it the next run verifies in full).
pub fn record(store: &Store, policy: &Policy, verdict: &Verdict, pending: Pending) {
    let Pending {
        policy_digest,
        mut deps,
    } = pending;
    if verdict.logs.len() != policy.trust.logs.len() {
        return;
    }
    // None when any log was not proven on the warm path.
    let Some(mut until) = verdict.logs.iter().map(|r| r.warm_until).min().flatten() else {
        return;
    };
    if let Some((t, _)) = &policy.expires {
        until = until.min(*t);
    }
    // Under `no_downgrade`, the run record of every name these bytes were
    // released under, as this run left it: another release of any of them
    // run since ends the verdict.
    if policy.require.no_downgrade {
        for RunAt { name, .. } in run_at(verdict) {
            let p = crate::history::runs_path(store, &name);
            let Ok(bytes) = fsutil::read_optional(&p, MAX_BYTES) else {
                return;
            };
            deps.content(p, bytes.as_deref());
        }
    }
    let _ = write(
        store,
        &policy_digest,
        &verdict.file.sha256,
        now(),
        (until, policy.require.refresh.as_secs()),
        &deps,
    );
}
