//! The background refresher: keeping each log's saved checkpoint fetched
//! without a run waiting for the network (`require.refresh`).
//!
//! A run answers from the saved state while it meets the policy
//! (`max_age`, the quorum: `crate::verify` decides that). When a policy
//! log's checkpoint was fetched `refresh` ago or more ([`due`]), the run
//! also starts one detached `bt-exec refresh` ([`start`]) before it execs
//! the program, so the next run finds the state fetched again. At most one
//! refresher runs per state directory: the run that takes the lock
//! `refresh/lock` (non-blocking `flock`) hands that very lock to the
//! refresher it starts, which holds it until it exits (the kernel lets it
//! go however that happens, `kill -9` included); a run that finds the lock
//! held starts nothing. After an attempt (its start time is written in
//! the lock file) a new one waits [`backoff`], so a log that cannot be
//! reached is not asked again on every run.
//!
//! The refresher is started through an intermediate `bt-exec refresh
//! --detach` that starts the real one (`--background`) and exits at once:
//! the program the run execs is never the refresher's parent, so it never
//! sees a child it did not start (a shell reaping any child, a SIGCHLD it
//! did not ask for). The refresher leaves its own session, reads nothing
//! from and writes nothing to the terminal, and records how it ended in
//! `refresh/last` (`bt-exec status` shows it).
//!
//! Bound (docs/VERIFY.md): a split view a log starts serving is an alarm
//! within `refresh` plus one run (the run that finds the checkpoint stale
//! starts the refresher that sees it), and the run after the alarm is
//! refused (123).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::policy::Policy;
use crate::store::Store;

/// The refresher's lock, below the state directory.
pub const LOCK: &str = "refresh/lock";
/// How the last refresh ended, below the state directory.
pub const LAST: &str = "refresh/last";
/// The longest wait after an attempt before a run starts another.
pub const MAX_BACKOFF_SECS: u64 = 60;

/// Whether a refresh is due at `now`: some policy log's checkpoint was
/// saved (fetched) `refresh` seconds ago or more, or never, or at a time
/// after `now` (a clock set back: its age is unknown). Never with
/// `refresh` 0, where every run fetches. Pure: `saved_at` is each policy
/// log's checkpoint save time.
pub fn due(saved_at: &[Option<u64>], now: u64, refresh: u64) -> bool {
    refresh > 0
        && saved_at.iter().any(|t| match t {
            Some(t) => now < *t || now - t >= refresh,
            None => true,
        })
}

/// How long after an attempt no run starts another: `refresh`, at most
/// [`MAX_BACKOFF_SECS`].
pub fn backoff(refresh: u64) -> u64 {
    refresh.min(MAX_BACKOFF_SECS)
}

/// Whether an attempt that started at `last` (the time written in the
/// lock file) leaves room for another at `now`. Pure. A time after `now` (a
/// clock set back) does not hold attempts off.
pub fn may_start(last: Option<u64>, now: u64, refresh: u64) -> bool {
    match last {
        Some(t) if t <= now => now - t >= backoff(refresh),
        _ => true,
    }
}

/// What [`start`] did.
#[derive(Debug)]
pub enum Started {
    /// A refresher was started; it holds the lock.
    Started,
    /// A refresher is running already (the lock is held).
    Running,
    /// The last attempt started less than [`backoff`] ago.
    Recent,
    /// The lock, or a directory above it below the state directory, is one
    /// another user could have planted or could hold (src/strict.rs): the
    /// run refuses (125), as for any such file of the state, rather than go
    /// on while nothing can be refreshed.
    Refused(crate::strict::StrictError),
    /// None could be started (why). The run goes on: the state still
    /// meets the policy, and the next run tries again.
    Failed(String),
}

/// Starts one detached refresher of the logs of the policy at `policy`,
/// run by the full bt-exec at `full`, over the state directory `state`,
/// unless one runs already or the last attempt was too recent. Waits only
/// for the intermediate process (which starts the refresher and exits).
pub fn start(state: &Path, full: &Path, policy: &Path, now: u64, refresh: u64) -> Started {
    let lock_path = state.join(LOCK);
    // Attack stopped: another local user planting the lock (or the
    // directory holding it) to hold it for ever, so that no refresher
    // ever runs while runs go on from the state.
    if let Err(e) = strict_lock(&lock_path) {
        return Started::Refused(e);
    }
    let file = match crate::fsutil::Lock::open(&lock_path) {
        Ok(f) => f,
        Err(e) => return Started::Failed(format!("{}: {e}", lock_path.display())),
    };
    // The lock is taken on this open file description and handed down
    // with it; it is never unlocked explicitly (that would release the
    // refresher's too), only closed here once the refresher has it.
    use rustix::fs::{flock, FlockOperation};
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => {
            let last = read_stamp(&file);
            return held(&lock_path, taken_at(&file, last.as_ref(), now), now);
        }
        Err(e) => return Started::Failed(format!("{}: {e}", lock_path.display())),
    }
    // Read with the lock held: whoever writes it holds the lock.
    let last = read_stamp(&file);
    if !may_start(last.as_ref().map(|s| s.at), now, refresh) {
        // An attempt that failed is said again until the next one.
        return match last.and_then(|s| s.failed) {
            Some(why) => Started::Failed(why),
            None => Started::Recent,
        };
    }
    if let Err(e) = stamp(&file, now, None) {
        return Started::Failed(format!("{}: {e}", lock_path.display()));
    }
    // Inherited by the intermediate and by the refresher it starts.
    if let Err(e) = rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::empty()) {
        return Started::Failed(format!("{}: {e}", lock_path.display()));
    }
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let status = detached(Command::new(full))
        .args(["refresh", "--detach", &format!("--lock-fd={fd}")])
        .arg(policy_arg(policy))
        .status();
    let failed = match status {
        Ok(s) if s.success() => return Started::Started,
        Ok(s) => format!("{} refresh --detach: {s}", full.display()),
        Err(e) => format!("{}: {e}", full.display()),
    };
    // Recorded, so that the runs until the next attempt say it too.
    let _ = stamp(&file, now, Some(&failed));
    Started::Failed(failed)
}

/// What a run does when the lock is held: a refresher runs, unless the
/// lock was taken longer ago than any refresher runs — then another
/// process holds it (a refresh by hand that hangs, or one another user
/// started before the file was made private), and the run says so.
fn held(lock: &Path, since: Option<u64>, now: u64) -> Started {
    match since {
        Some(t) if now.saturating_sub(t) > REFRESHER_MAX_SECS + MAX_BACKOFF_SECS => {
            Started::Failed(format!(
                "{}: held since {} s ago, longer than a refresher runs; find the process that holds it (fuser {})",
                lock.display(),
                now - t,
                lock.display()
            ))
        }
        _ => Started::Running,
    }
}

/// When the lock was last taken: the attempt the file records, else
/// (nothing readable in it, or a time after `now`) its modification time.
fn taken_at(file: &File, last: Option<&Stamp>, now: u64) -> Option<u64> {
    last.map(|s| s.at).filter(|&t| t <= now).or_else(|| {
        let m = file.metadata().ok()?.modified().ok()?;
        m.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    })
}

/// The lock and the directories holding it under the strict modes, and
/// the lock file private: whoever can open it can take the lock.
fn strict_lock(lock: &Path) -> Result<(), crate::strict::StrictError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(m) = crate::strict::existing(lock)? {
        let mode = m.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(crate::strict::StrictError::OpenLock {
                path: lock.to_path_buf(),
                mode,
            });
        }
    }
    Ok(())
}

/// `--policy=PATH` as one argument: a path that starts with `-` stays a
/// path.
fn policy_arg(policy: &Path) -> std::ffi::OsString {
    let mut a = std::ffi::OsString::from("--policy=");
    a.push(policy);
    a
}

/// The longest a background refresher runs: it then exits (124), as if
/// killed, which leaves the state as a run would (every save is atomic).
pub const REFRESHER_MAX_SECS: u64 = 600;

/// The intermediate's part: starts the refresher (this binary, `exe`,
/// with `refresh --background`) with the lock, descriptor `lock_fd` the
/// run handed down, and nothing else the run had open, and returns
/// without waiting for it.
pub fn detach(state: &Path, exe: &Path, policy: &Path, lock_fd: i32) -> std::io::Result<()> {
    only_the_lock_passes_on(&state.join(LOCK), lock_fd)?;
    detached(Command::new(exe))
        .args(["refresh", "--background"])
        .arg(policy_arg(policy))
        .spawn()
        .map(drop)
}

/// Marks every descriptor above the standard three close-on-exec, but the
/// lock at `lock`: the intermediate inherited whatever the run's caller
/// left open (a pipe a shell waits on to end, another program's `flock`),
/// which the program the run execs must get, but a refresher that may wait
/// on the network for minutes must not hold.
fn only_the_lock_passes_on(lock: &Path, lock_fd: i32) -> std::io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    use std::os::unix::fs::MetadataExt;
    let want = std::fs::metadata(lock)?;
    // The very descriptor the run took the lock on, by its number: the
    // caller may have the same file open on another, which holds nothing.
    let is_lock = nix::sys::stat::fstat(lock_fd)
        .is_ok_and(|st| st.st_dev == want.dev() && st.st_ino == want.ino());
    // And it holds the lock: taking it again on the same open file is
    // nothing, and on another (a descriptor of the file that holds no
    // lock, opened by hand) it would block while the run's refresher
    // holds it. Known only by its number here: nix's raw-descriptor
    // `flock`, deprecated for the owned `Flock`, is what checks it
    // without `unsafe`.
    #[allow(deprecated)]
    let holds = || nix::fcntl::flock(lock_fd, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok();
    if lock_fd <= 2 || !is_lock || !holds() {
        return Err(std::io::Error::other(format!(
            "descriptor {lock_fd} is not {} holding its lock: no refresher without the lock",
            lock.display()
        )));
    }
    // Every open descriptor, from /proc; else every number up to the
    // limit of open files (at most 65536 of them).
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(rd) => rd
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse().ok())
            .collect(),
        Err(_) => {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
            (0..i32::try_from(limit.unwrap_or(1024).min(65536)).unwrap_or(1024)).collect()
        }
    };
    for fd in fds.into_iter().filter(|&fd| fd > 2 && fd != lock_fd) {
        // A descriptor closed meanwhile (the directory read's own) is fine.
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
    Ok(())
}

/// `cmd` with no terminal: standard descriptors on /dev/null, and none of
/// the front's hand-over mark.
fn detached(cmd: Command) -> Command {
    let mut cmd = cmd;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .env_remove(crate::exec::program::FROM_FRONT);
    cmd
}

/// What the lock file says of the last attempt.
struct Stamp {
    /// When it started.
    at: u64,
    /// Why no refresher could be started, when none could.
    failed: Option<String>,
}

/// The last attempt the lock file records (`None` for a file just
/// created, or one that says nothing readable).
fn read_stamp(file: &File) -> Option<Stamp> {
    use std::io::Read;
    let mut text = String::new();
    file.take(1024).read_to_string(&mut text).ok()?;
    parse_stamp(&text)
}

/// Why the last attempt recorded in the state directory `state` could not
/// start a refresher, if it could not (for `bt-exec status`).
pub fn last_failure(state: &Path) -> Option<String> {
    let text = crate::fsutil::read_optional(&state.join(LOCK), 4096).ok()??;
    parse_stamp(&String::from_utf8_lossy(&text))?.failed
}

/// The attempt in a lock file's text ([`stamp`]).
fn parse_stamp(text: &str) -> Option<Stamp> {
    let mut lines = text.lines();
    let at = lines.next()?.strip_prefix(STAMP)?.parse().ok()?;
    let failed = lines
        .next()
        .and_then(|l| l.strip_prefix(FAILED))
        .map(String::from);
    Some(Stamp { at, failed })
}

/// How the lock file's text starts, and its line when the attempt failed.
const STAMP: &str = "refresh started ";
const FAILED: &str = "failed: ";

/// Records on the lock file that an attempt starts at `now` (what
/// [`may_start`] reads back), and why it failed when it did.
fn stamp(file: &File, now: u64, failed: Option<&str>) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut text = format!("{STAMP}{now}\n");
    if let Some(why) = failed {
        let why: String = why.chars().filter(|c| !c.is_control()).take(400).collect();
        text.push_str(&format!("{FAILED}{why}\n"));
    }
    file.set_len(0)?;
    file.write_all_at(text.as_bytes(), 0)
}

/// After a run decided by the full bt-exec (`full()`, this binary, found
/// only then): starts the refresher when a log of `policy` is due
/// ([`due`]). Never with `--offline` (the caller's to check), nor for a
/// policy with no logs.
pub fn after_run(
    store: &Store,
    policy: &Policy,
    full: &dyn Fn() -> std::io::Result<PathBuf>,
    now: u64,
) -> Option<Started> {
    let refresh = policy.require.refresh.as_secs();
    let saved_at: Vec<Option<u64>> = policy
        .trust
        .logs
        .iter()
        .map(|l| store.checkpoint_saved_at(&l.id))
        .collect();
    due(&saved_at, now, refresh).then(|| match full() {
        Ok(full) => start(&store.state, &full, &policy.path, now, refresh),
        Err(e) => Started::Failed(format!("cannot find bt-exec's own file: {e}")),
    })
}

/// `bt-exec refresh` run by hand or by a timer: waits for a refresher
/// running already (which the kernel releases when it ends, however it
/// ends), then holds the lock itself, stamped with `now` so that no run
/// starts another meanwhile.
pub fn hold(state: &Path, now: u64) -> std::io::Result<crate::fsutil::Lock> {
    let path = state.join(LOCK);
    strict_lock(&path).map_err(std::io::Error::other)?;
    let lock = crate::fsutil::Lock::exclusive(&path)?;
    stamp(&crate::fsutil::Lock::open(&path)?, now, None)?;
    Ok(lock)
}

/// The path of the full bt-exec beside `own` (the front's own file).
pub fn full_beside(own: &Path) -> PathBuf {
    own.with_file_name("bt-exec-full")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests that start processes, one at a time: a lock descriptor
    /// made inheritable for a moment is inherited by whatever another
    /// thread of the test harness spawns then (bt-exec itself starts the
    /// refresher from its only thread).
    static SPAWNING: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
        SPAWNING.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[test]
    fn due_only_past_refresh_and_never_with_refresh_zero() {
        let now = 1_000_000;
        assert!(!due(&[Some(now - 599)], now, 600));
        assert!(due(&[Some(now - 600)], now, 600));
        assert!(due(&[Some(now - 10), Some(now - 601)], now, 600));
        assert!(due(&[Some(now - 10), None], now, 600), "never fetched");
        assert!(due(&[Some(now + 5)], now, 600), "saved in the future");
        assert!(!due(&[], now, 600));
        assert!(!due(&[Some(0), None], now, 0), "refresh 0: runs fetch");
    }

    #[test]
    fn attempts_wait_the_backoff_after_the_last_one() {
        let now = 1_000_000;
        assert_eq!(backoff(600), MAX_BACKOFF_SECS);
        assert_eq!(backoff(2), 2);
        assert!(may_start(None, now, 600));
        assert!(!may_start(Some(now - 59), now, 600));
        assert!(may_start(Some(now - 60), now, 600));
        assert!(!may_start(Some(now - 1), now, 2));
        assert!(may_start(Some(now - 2), now, 2));
        assert!(may_start(Some(now + 100), now, 600), "a clock set back");
    }

    #[test]
    fn the_lock_file_says_when_the_last_attempt_started() {
        let at = |t: &str| parse_stamp(t).map(|s| (s.at, s.failed));
        assert_eq!(at("refresh started 1234\n"), Some((1234, None)));
        assert_eq!(
            at("refresh started 1234\nfailed: no bt-exec-full\n"),
            Some((1234, Some("no bt-exec-full".into())))
        );
        for text in [
            "",
            "refresh started \n",
            "refresh started x",
            "1234",
            "refresh started -1",
        ] {
            assert!(parse_stamp(text).is_none(), "{text:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let f = crate::fsutil::Lock::open(&dir.path().join(LOCK)).unwrap();
        assert!(read_stamp(&f).is_none(), "a lock file just created");
        stamp(&f, 1234, Some("why")).unwrap();
        stamp(&f, 99, None).unwrap();
        let again = crate::fsutil::Lock::open(&dir.path().join(LOCK)).unwrap();
        let s = read_stamp(&again).unwrap();
        assert_eq!((s.at, s.failed), (99, None));
    }

    /// A stand-in for bt-exec-full: `refresh --detach` leaves a child
    /// holding what it inherited for `secs` seconds, and exits at once.
    fn stand_in(dir: &Path, secs: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.join("full");
        std::fs::write(&p, format!("#!/bin/sh\nsleep {secs} &\nexit 0\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// One refresher at a time: the lock passes to the process started and
    /// is held until it ends; then the backoff holds the next attempt off.
    #[test]
    fn one_refresher_at_a_time_and_none_within_the_backoff() {
        let _one = one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let (state, policy) = (dir.path().join("state"), dir.path().join("p.toml"));
        let full = stand_in(dir.path(), 2);
        let now = 1_000_000;
        let is = |r: Started, want: fn(&Started) -> bool| assert!(want(&r), "{r:?}");
        is(start(&state, &full, &policy, now, 600), |r| {
            matches!(r, Started::Started)
        });
        // The child started holds the lock.
        is(start(&state, &full, &policy, now + 120, 600), |r| {
            matches!(r, Started::Running)
        });
        let free = || crate::fsutil::Lock::try_exclusive(&state.join(LOCK)).unwrap();
        let t = std::time::Instant::now();
        while free().is_none() {
            assert!(t.elapsed().as_secs() < 30, "the lock was never released");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        is(start(&state, &full, &policy, now + 59, 600), |r| {
            matches!(r, Started::Recent)
        });
        is(start(&state, &full, &policy, now + 60, 600), |r| {
            matches!(r, Started::Started)
        });
    }

    /// A lock file another local user planted (a link, one open to
    /// others) starts nothing, and says why.
    #[test]
    fn a_planted_lock_file_starts_nothing() {
        let _one = one_at_a_time();
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let full = stand_in(dir.path(), 0);
        std::fs::create_dir_all(state.join("refresh")).unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        std::os::unix::fs::symlink(&target, state.join(LOCK)).unwrap();
        let r = start(&state, &full, Path::new("p"), 1_000_000, 600);
        assert!(
            matches!(r, Started::Failed(_) | Started::Refused(_)),
            "{r:?}"
        );
        std::fs::remove_file(state.join(LOCK)).unwrap();
        std::fs::write(state.join(LOCK), "").unwrap();
        std::fs::set_permissions(state.join(LOCK), std::fs::Permissions::from_mode(0o644)).unwrap();
        let r = start(&state, &full, Path::new("p"), 1_000_000, 600);
        assert!(
            matches!(&r, Started::Refused(e) if e.to_string().contains("chmod 600")),
            "{r:?}"
        );
    }

    /// A refresher that cannot be started is said by every run until the
    /// next attempt, never taken for a recent one.
    #[test]
    fn a_refresher_that_cannot_start_is_said_until_the_next_attempt() {
        let _one = one_at_a_time();
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (state, full) = (dir.path().join("state"), dir.path().join("full"));
        std::fs::write(&full, "#!/bin/sh\nexit 125\n").unwrap();
        std::fs::set_permissions(&full, std::fs::Permissions::from_mode(0o755)).unwrap();
        let now = 1_000_000;
        for t in [now, now + 30] {
            let r = start(&state, &full, Path::new("p"), t, 600);
            assert!(
                matches!(&r, Started::Failed(m) if m.contains("125")),
                "{t}: {r:?}"
            );
        }
        let missing = dir.path().join("missing");
        let r = start(&state, &missing, Path::new("p"), now + 60, 600);
        assert!(
            matches!(&r, Started::Failed(m) if m.contains("missing")),
            "{r:?}"
        );
    }

    /// A lock held far longer than any refresher runs is another process's:
    /// said, not taken for a running refresher.
    #[test]
    fn a_lock_held_longer_than_a_refresher_runs_is_said() {
        let _one = one_at_a_time();
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let full = stand_in(dir.path(), 0);
        let lock = state.join(LOCK);
        stamp(&crate::fsutil::Lock::open(&lock).unwrap(), 1_000_000, None).unwrap();
        let _other = crate::fsutil::Lock::try_exclusive(&lock).unwrap().unwrap();
        let r = start(&state, &full, Path::new("p"), 1_000_100, 600);
        assert!(matches!(r, Started::Running), "{r:?}");
        let r = start(&state, &full, Path::new("p"), 1_000_000 + 661, 600);
        assert!(
            matches!(&r, Started::Failed(m) if m.contains("held since")),
            "{r:?}"
        );
        // Nothing readable in it: its modification time says when.
        std::fs::write(&lock, "garbage").unwrap();
        let f = std::fs::File::options().write(true).open(&lock).unwrap();
        f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap();
        let r = start(&state, &full, Path::new("p"), 1_000_000 + 661, 600);
        assert!(
            matches!(&r, Started::Failed(m) if m.contains("held since")),
            "{r:?}"
        );
    }
}
