//! What the tests of the background refresh (tests/refresh.rs) read of
//! the state and the logs: how the last refresh ended, whether a refresher
//! still holds the lock, the saved checkpoints, a fork served.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use crate::common::world::{now, World};

/// Polls `f` every 50 ms until it gives a value; fails after `secs`.
pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "{what} (waited {secs} s)"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How the last refresh ended (`STATE/refresh/last`): its exit code and
/// the whole record.
pub fn last(w: &World) -> Option<(i32, String)> {
    let text = fs::read_to_string(w.root.join("state/refresh/last")).ok()?;
    let code = text.lines().nth(1)?.split(' ').nth(2)?.parse().ok()?;
    Some((code, text))
}

pub fn forget_last(w: &World) {
    let _ = fs::remove_file(w.root.join("state/refresh/last"));
}

/// Whether no process holds `STATE/refresh/lock` (a refresher holds it
/// until it exits, however it exits).
pub fn lock_free(w: &World) -> bool {
    let lock = w.root.join("state/refresh/lock");
    !lock.exists()
        || Command::new("flock")
            .arg("-n")
            .arg(&lock)
            .arg("true")
            .status()
            .expect("flock(1) could not be run")
            .success()
}

/// Waits until no refresher is left running.
pub fn no_refresher_left(w: &World) {
    wait_for(
        "a refresher is still running: STATE/refresh/lock is held",
        60,
        || lock_free(w).then_some(()),
    );
}

/// Waits for the refresher a run started to record how it ended and to
/// exit; returns its exit code and record.
pub fn refresher_ended(w: &World, why: &str) -> (i32, String) {
    let out = wait_for(
        &format!("{why}: no refresher recorded how it ended in STATE/refresh/last"),
        60,
        || last(w),
    );
    no_refresher_left(w);
    out
}

/// The lock file's content and modification time: a run that starts a
/// refresher stamps it before it execs the program.
pub fn lock_stamp(w: &World) -> Option<(String, SystemTime)> {
    let p = w.root.join("state/refresh/lock");
    Some((
        fs::read_to_string(&p).ok()?,
        fs::metadata(&p).ok()?.modified().ok()?,
    ))
}

/// Sleeps until every saved checkpoint was fetched more than `secs` ago.
pub fn wait_stale(w: &World, secs: u64) {
    let newest = fs::read_dir(w.root.join("state/checkpoints"))
        .expect("no saved checkpoints to grow stale")
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()
        .expect("no saved checkpoint to grow stale");
    let until = newest + Duration::from_secs(secs + 1);
    if let Ok(d) = until.duration_since(SystemTime::now()) {
        std::thread::sleep(d);
    }
}

/// The identity log `i`'s state is keyed by.
pub fn file_key(w: &World, i: usize) -> String {
    let origin = format!("example.org/log{i}");
    bt_exec::log_id::LogId::new(&origin, &w.logs[i].key.verifier()).file_key()
}

/// Log `i`'s saved checkpoint note.
pub fn saved(w: &World, i: usize) -> Option<Vec<u8>> {
    let name = format!("{}.checkpoint", file_key(w, i));
    fs::read(w.root.join("state/checkpoints").join(name)).ok()
}

pub fn saved_size(w: &World, i: usize) -> u64 {
    let note = saved(w, i).unwrap_or_else(|| panic!("log{i} has no saved checkpoint"));
    let text = String::from_utf8_lossy(&note);
    let size = text.lines().nth(1).and_then(|l| l.parse().ok());
    size.unwrap_or_else(|| panic!("log{i}'s saved checkpoint has no size: {text}"))
}

pub fn alarm(w: &World, i: usize) -> PathBuf {
    w.root.join("state/alarms").join(file_key(w, i))
}

/// Log `i` publishes `note`, atomically (as a log publishes it).
pub fn publish_note(w: &World, i: usize, note: &[u8]) {
    let tmp = w.logs[i].dir.join("checkpoint.tmp");
    fs::write(&tmp, note).unwrap();
    fs::rename(&tmp, w.logs[i].dir.join("checkpoint")).unwrap();
}

/// Log `i` serves a fork: another tree of the size it served, signed by
/// its key and cosigned now by both witnesses.
pub fn serve_fork(w: &World, i: usize) {
    let mut cp = w.checkpoint(i);
    cp.root.0[5] ^= 1;
    publish_note(w, i, &w.sign(i, &cp, &[Some(now()), Some(now())]));
}

/// `bt-exec ARGS`: exit code, and stdout and stderr together.
pub fn bt_exec(w: &World, args: &[&str]) -> (i32, String) {
    let out = w.run(args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("panicked"),
        "bt-exec {args:?} panicked: {text}"
    );
    (out.status.code().unwrap_or(-1), text)
}
