//! `bt-exec guard` end to end, as root, on a tmpfs each test mounts (never
//! the machine's own filesystems): the guard marks it with fanotify, a
//! log written by bt-log is served by `python3 -m http.server`, and
//! programs are brought in by `bt-exec verify --guard` run as an
//! unprivileged user (nobody). Every exec is a real execve, answered by
//! the kernel with the guard's verdict. Without root (or a mount), the
//! tests say so and skip; under `CI=true` they fail instead.

mod common;
#[path = "common/guarded.rs"]
mod guarded;
#[path = "common/refresher.rs"]
#[allow(dead_code)]
mod refresher;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::world::{now, BT_EXEC};
use guarded::*;

/// The acceptance's first part: a program brought in by an unprivileged
/// user runs; unproven, one byte changed (a copy, and the file itself in
/// place), and an unpublished program a user asks for, are denied with
/// EPERM and recorded; `guard status` counts them.
#[test]
fn a_program_brought_in_by_a_user_runs_and_the_near_misses_are_denied() {
    let Some(mut g) = Guarded::new("brought_in", "enforce", REQUIRE, "") else {
        return;
    };
    let prog = g.program("prog");
    g.publish(&prog, "prog");
    g.start();
    assert_eq!(exec(&prog), Err(EPERM), "not brought in yet");
    let (code, out) = g.verify_as_nobody(&prog);
    assert_eq!(code, 0, "{out}\n{}", g.guard_log());
    assert!(out.contains("the guard proved"), "{out}");
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"));

    let other = g.program("other");
    assert_eq!(exec(&other), Err(EPERM), "never published");
    let (code, out) = g.verify_as_nobody(&other);
    assert_eq!(code, 126, "{out}");
    assert!(out.contains("the guard refused"), "{out}");
    assert_eq!(exec(&other), Err(EPERM), "refused when asked");

    let copy = g.fs.join("copy");
    let mut bytes = fs::read(&prog).unwrap();
    bytes[12] ^= 1;
    fs::write(&copy, &bytes).unwrap();
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(exec(&copy), Err(EPERM), "one byte changed, in a copy");

    // The proven file itself, one byte changed in place (same size).
    let orig = fs::read(&prog).unwrap();
    fs::write(&prog, &bytes).unwrap();
    assert_eq!(exec(&prog), Err(EPERM), "one byte changed in place");
    fs::write(&prog, &orig).unwrap();
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"), "the bytes again");

    let rec = g.records(&other.display().to_string());
    assert!(rec.contains("refused: not proven"), "{rec}");
    assert!(rec.contains(&other.display().to_string()), "{rec}");
    // Only root may have the guard refresh.
    let (code, out) = said(
        Command::new(BT_EXEC)
            .args(["guard", "refresh", "--config"])
            .arg(&g.cfg)
            .uid(NOBODY)
            .gid(NOBODY),
    );
    assert_eq!(code, 125, "{out}");
    assert!(out.contains("only root"), "{out}");
    let (code, status) = g.guard_cmd("status");
    assert_eq!(code, 0, "{status}");
    assert!(status.contains("guard: enforce"), "{status}");
    assert!(
        status.contains("refresh: the guard refreshes every 1800 s"),
        "max_age 1h: half of it, sooner than refresh 1h: {status}"
    );
    assert!(
        status.contains("refused (or would have been, in audit mode)"),
        "{status}"
    );
    assert!(status.contains("brought in: 1 program(s)"), "{status}");
    assert!(!status.contains(" 0 denied"), "{status}");
}

/// A log later seen to fork (the guard's refresher, here asked at once
/// with `guard refresh`) denies what it proved: in enforce, and in audit
/// too (a split view over bytes the guard brought in is never audited
/// away), while audit still allows and records what was never proven.
#[test]
fn a_fork_seen_later_denies_what_the_log_proved_in_both_modes() {
    for mode in ["enforce", "audit"] {
        let Some((g, prog)) = with_prog_brought_in("fork", mode, REQUIRE) else {
            return;
        };
        refresher::serve_fork(&g.w, 0);
        let (code, out) = g.guard_cmd("refresh");
        assert_eq!(code, 123, "{mode}: {out}\n{}", g.guard_log());
        assert_eq!(exec(&prog), Err(EPERM), "{mode}: forked log");
        let rec = g.records("split view");
        assert!(rec.contains("refused: split view"), "{mode}: {rec}");
        let (_, status) = g.guard_cmd("status");
        assert!(
            status.contains("ALARM") || status.contains("alarm"),
            "{status}"
        );
    }
}

/// Audit mode allows what enforce would deny, and records it as the
/// CLI's audit mode does ("would refuse: …"); `guard status` gives the
/// same summary as `bt-exec status`.
#[test]
fn audit_mode_allows_and_records_what_enforce_would_deny() {
    let Some(mut g) = Guarded::new("audit", "audit", REQUIRE, "") else {
        return;
    };
    let other = g.program("other");
    g.start();
    assert_eq!(exec(&other).as_deref(), Ok("ran other\n"));
    assert_eq!(exec(&other).as_deref(), Ok("ran other\n"));
    let rec = g.records("would refuse");
    assert!(rec.contains("would refuse: not proven"), "{rec}");
    assert_eq!(rec.lines().count(), 1, "recorded once an hour: {rec}");
    let (code, status) = g.guard_cmd("status");
    assert_eq!(code, 0, "{status}");
    assert!(status.contains("guard: audit"), "{status}");
    assert!(
        status.contains("0 denied, 2 would have been denied"),
        "{status}"
    );
    assert!(
        status.contains("audit log: 1 verdict(s), 1 would have been refused"),
        "{status}"
    );
}

/// Killing the guard (`kill -9`) lets every exec through, as the kernel
/// does when a fanotify group is gone; starting it again resumes
/// enforcement from its state alone: the unproven is denied, and what
/// was brought in runs without being asked for again.
#[test]
fn killing_the_guard_lets_execs_through_and_a_restart_resumes() {
    let Some((mut g, prog)) = with_prog_brought_in("restart", "enforce", REQUIRE) else {
        return;
    };
    let other = g.program("other");
    assert_eq!(exec(&other), Err(EPERM));
    g.kill();
    assert_eq!(exec(&other).as_deref(), Ok("ran other\n"), "no guard");
    // The log is no longer reachable: the restarted guard answers from
    // its state.
    g.http.take();
    g.start();
    assert_eq!(exec(&other), Err(EPERM), "enforcing again");
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"), "from the state");
}

/// 50 concurrent execs of proven programs all succeed.
#[test]
fn fifty_concurrent_execs_of_proven_programs_all_succeed() {
    let Some(mut g) = Guarded::new("concurrent", "enforce", REQUIRE, "") else {
        return;
    };
    let progs: Vec<PathBuf> = (0..5)
        .map(|i| {
            let p = g.program(&format!("p{i}"));
            g.publish(&p, &format!("p{i}"));
            p
        })
        .collect();
    g.start();
    for p in &progs {
        assert_eq!(g.verify_as_nobody(p).0, 0, "{}", g.guard_log());
    }
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let p = progs[i % progs.len()].clone();
            std::thread::spawn(move || exec(&p))
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let want = format!("ran p{}\n", i % progs.len());
        assert_eq!(t.join().unwrap().as_deref(), Ok(want.as_str()), "exec {i}");
    }
    let (_, status) = g.guard_cmd("status");
    assert!(status.contains("0 denied"), "{status}");
}

/// When the state can no longer meet `max_age` (the logs cannot be
/// reached), enforce denies what was proven, and says why.
#[test]
fn a_state_too_old_for_max_age_denies_and_says_why() {
    let require = "logs = 1\nmax_age = \"3s\"\nrefresh = \"1h\"";
    let Some((mut g, prog)) = with_prog_brought_in("stale", "enforce", require) else {
        return;
    };
    g.http.take();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(exec(&prog), Err(EPERM), "stale");
    let rec = g.records("max_age");
    assert!(rec.contains("max_age"), "the record says why: {rec}");
}

/// The policy's release-history rules hold for the guard too: under
/// `latest`, a newer release of the name logged since (seen by the
/// guard's refresher) ends the older one's runs; the newer one, brought
/// in, runs; asking for the older one again is refused (126).
#[test]
fn a_newer_release_logged_since_ends_the_older_ones_runs_under_latest() {
    let require = "logs = 1\nlatest = true\nmax_age = \"1h\"\nrefresh = \"1h\"";
    let Some((g, prog)) = with_prog_brought_in("latest", "enforce", require) else {
        return;
    };
    let v2 = g.program("prog2");
    g.w.publish_release(0, &v2, "example.org/prog", "2.0", "pub.key", None);
    g.w.cosign(0, &[Some(now()), Some(now())]);
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"), "not seen yet");
    let (code, out) = g.guard_cmd("refresh");
    assert_eq!(code, 0, "{out}");
    assert_eq!(exec(&prog), Err(EPERM), "2.0 is the latest now");
    let rec = g.records("release history");
    assert!(rec.contains("refused: release history"), "{rec}");
    let (code, out) = g.verify_as_nobody(&v2);
    assert_eq!(code, 0, "{out}");
    assert_eq!(exec(&v2).as_deref(), Ok("ran prog2\n"));
    let (code, out) = g.verify_as_nobody(&prog);
    assert_eq!(code, 126, "{out}");
    assert_eq!(exec(&prog), Err(EPERM));
}

/// A user exec'ing many files slow to hash at once does not hold up a
/// program the guard remembers (the reader answers it from memory), and
/// does not end the guard: each slow file is denied, the proven program
/// runs during the flood, and the guard still enforces after it.
#[test]
fn a_flood_of_files_slow_to_hash_holds_up_no_remembered_program() {
    let Some((g, prog)) = with_prog_brought_in("flood", "enforce", REQUIRE) else {
        return;
    };
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"), "its hash kept");
    let slow: Vec<PathBuf> = (0..120)
        .map(|i| {
            let p = g.fs.join(format!("slow{i}"));
            let f = fs::File::create(&p).unwrap();
            f.set_len(2 << 30).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
            p
        })
        .collect();
    let flood: Vec<_> = slow
        .into_iter()
        .map(|p| std::thread::spawn(move || exec(&p)))
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"), "during the flood");
    for t in flood {
        assert_eq!(t.join().unwrap(), Err(EPERM), "a slow file is denied");
    }
    let (code, status) = g.guard_cmd("status");
    assert_eq!(code, 0, "the guard is still there: {status}");
    let other = g.program("other");
    assert_eq!(exec(&other), Err(EPERM), "still enforcing");
}

/// A proven program rewritten through a shared mapping — on tmpfs a
/// page already mapped writable changes no time when stored to, so the
/// hash cache's key stays the same — is hashed again when its writer
/// closes it (`FAN_CLOSE_WRITE`) and denied; and while anyone holds a
/// writable mapping, the guard allows no exec of it (a lease says so).
#[test]
fn a_program_rewritten_through_a_shared_mapping_is_denied() {
    let Some((_g, prog)) = with_prog_brought_in("mmap", "enforce", REQUIRE) else {
        return;
    };
    // Old enough for its hash to be kept (two seconds), then run twice (the hash kept).
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"));
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"));
    let before = fs::metadata(&prog).unwrap();
    let script = "import mmap, os, sys\n\
f = os.open(sys.argv[1], os.O_RDWR)\n\
m = mmap.mmap(f, 0)\n\
_ = m[0]\n\
at = m.find(b'ran')\n\
m[at:at + 3] = b'RAN'\n\
m.close()\n\
os.close(f)\n";
    let st = Command::new("python3")
        .args(["-c", script])
        .arg(&prog)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(fs::read_to_string(&prog).unwrap().contains("echo RAN prog"));
    let after = fs::metadata(&prog).unwrap();
    eprintln!(
        "times moved: {}",
        (before.modified().unwrap(), before.len()) != (after.modified().unwrap(), after.len())
    );
    assert_eq!(exec(&prog), Err(EPERM), "other bytes, same key or not");

    // The proven bytes again, in a file a user owns (one only root can
    // write has no writer the guard asks about), old enough for their hash
    // to be kept.
    fs::write(&prog, "#!/bin/sh\necho ran prog\n").unwrap();
    std::os::unix::fs::chown(&prog, Some(NOBODY), Some(NOBODY)).unwrap();
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"));
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"), "again");
    // A writable mapping still held while the exec waits for the guard:
    // the guard says no (EPERM), before the kernel's own ETXTBSY, so its
    // dropping the mapping in the meantime changes nothing.
    let holder = "import mmap, os, sys, time\n\
f = os.open(sys.argv[1], os.O_RDWR)\n\
m = mmap.mmap(f, 0)\n\
os.close(f)\n\
print('mapped', flush=True)\n\
time.sleep(3)\n";
    let mut child = Command::new("python3")
        .args(["-c", holder])
        .arg(&prog)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "mapped\n");
    assert_eq!(exec(&prog), Err(EPERM), "mapped writable: the guard denies");
    child.wait().unwrap();
}

/// A file too large to hash within `hash_deadline` is denied at once and
/// hashed in the background; the next exec finds its hash.
#[test]
fn a_file_too_slow_to_hash_is_denied_then_hashed_in_the_background() {
    let Some(mut g) = Guarded::new("slow", "enforce", REQUIRE, "hash_deadline = \"1ms\"") else {
        return;
    };
    let big = g.fs.join("big");
    let mut bytes = b"#!/bin/sh\necho ran big\nexit 0\n".to_vec();
    bytes.resize(96 << 20, b'#');
    fs::write(&big, &bytes).unwrap();
    fs::set_permissions(&big, fs::Permissions::from_mode(0o755)).unwrap();
    g.publish(&big, "big");
    // A hash is kept only once the file's ctime is two seconds older than it
    // (src/exec/guard/hashing.rs, HashCache::put).
    std::thread::sleep(Duration::from_millis(2100));
    g.start();
    assert_eq!(g.verify_as_nobody(&big).0, 0, "{}", g.guard_log());
    assert_eq!(exec(&big).as_deref(), Ok("ran big\n"), "hashed by verify");
    // A new guard has no hash of it: too slow for 1 ms.
    g.kill();
    g.start();
    assert_eq!(exec(&big), Err(EPERM), "too slow to hash");
    let rec = g.records("hash_deadline");
    assert!(rec.contains("hash_deadline"), "{rec}");
    let start = Instant::now();
    while exec(&big).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "never hashed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Exemptions: a root-owned file under an exempt root-owned directory
/// runs unproven; a file there that another user owns, or in a directory
/// below it another user can write, does not. The allow-list written by
/// `guard snapshot` from dpkg's records lets exactly the files whose
/// bytes match dpkg's MD5 run.
#[test]
fn exemptions_cover_roots_files_and_the_dpkg_allow_list_only() {
    let Some(mut g) = Guarded::new("exempt", "enforce", REQUIRE, "") else {
        return;
    };
    let sys = g.fs.join("sys");
    fs::create_dir_all(sys.join("open")).unwrap();
    fs::set_permissions(&sys, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(sys.join("open"), fs::Permissions::from_mode(0o777)).unwrap();
    g.configure(&format!(
        "exempt = [\"{}\"]\nallow_list = \"{}\"",
        sys.display(),
        g.w.root.join("allow-list").display()
    ));
    let ok = g.program("sys/tool");
    let theirs = g.program("sys/theirs");
    std::os::unix::fs::chown(&theirs, Some(NOBODY), None).unwrap();
    let open = g.program("sys/open/tool");
    // The allow-list from a dpkg database: one file as installed, one
    // changed after installation.
    let pkg = g.program("pkgtool");
    let changed = g.program("pkgchanged");
    let info = g.w.root.join("dpkgroot/var/lib/dpkg/info");
    fs::create_dir_all(&info).unwrap();
    let rel = |p: &Path| p.strip_prefix("/").unwrap().display().to_string();
    let md5 = |b: &[u8]| {
        let out = Command::new("md5sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(b)?;
                c.wait_with_output()
            })
            .unwrap();
        String::from_utf8_lossy(&out.stdout)[..32].to_string()
    };
    let listed = format!(
        "{}  {}\n{}  {}\n",
        md5(&fs::read(&pkg).unwrap()),
        rel(&pkg),
        md5(b"#!/bin/sh\necho as installed\n"),
        rel(&changed)
    );
    fs::write(info.join("t.md5sums"), listed).unwrap();
    // The snapshot reads the files under --root: link the tmpfs in.
    let inside = g.w.root.join("dpkgroot").join(rel(&g.fs));
    fs::create_dir_all(inside.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&g.fs, &inside).unwrap();
    let out = Command::new(BT_EXEC)
        .args(["guard", "snapshot", "--config"])
        .arg(&g.cfg)
        .arg("--root")
        .arg(g.w.root.join("dpkgroot"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    g.start();
    assert_eq!(exec(&ok).as_deref(), Ok("ran sys/tool\n"), "exempt");
    assert_eq!(exec(&theirs), Err(EPERM), "another user's file");
    assert_eq!(exec(&open), Err(EPERM), "a directory others can write");
    assert!(text.contains("1 executables allow-listed"), "{text}");
    assert!(text.contains("differs from what dpkg installed"), "{text}");
    assert_eq!(exec(&pkg).as_deref(), Ok("ran pkgtool\n"), "allow-listed");
    assert_eq!(exec(&changed), Err(EPERM), "changed after installation");
}

/// A listener another user put where the guard's socket should be (the
/// guard stopped, the directory theirs) is not asked: `verify --guard`
/// refuses it (125) rather than take its "proven", and so does a socket
/// root owns in a directory another user can write.
#[test]
fn a_socket_that_is_not_the_guards_is_refused() {
    if !privileged("fake_socket") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let prog = dir.path().join("prog");
    fs::write(&prog, "#!/bin/sh\n").unwrap();
    fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
    let theirs = dir.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let open = dir.path().join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let nobodys = theirs.join("guard.sock");
    let fake = std::os::unix::net::UnixListener::bind(&nobodys).unwrap();
    std::os::unix::fs::chown(&nobodys, Some(NOBODY), Some(NOBODY)).unwrap();
    let in_open = open.join("guard.sock");
    let _fake2 = std::os::unix::net::UnixListener::bind(&in_open).unwrap();
    for (sock, why) in [
        (&nobodys, "not a socket owned by root"),
        (&in_open, "writable by group or others"),
    ] {
        let (code, out) = said(
            Command::new(BT_EXEC)
                .arg("verify")
                .arg(format!("--guard={}", sock.display()))
                .arg(&prog),
        );
        assert_eq!(code, 125, "{out}");
        assert!(
            out.contains("is not the guard's") && out.contains(why),
            "{out}"
        );
    }
    drop(fake);
}

/// The systemd unit passes `systemd-analyze verify` with nothing to say
/// (its ExecStart pointed at the built binary), where systemd-analyze
/// exists.
#[test]
fn the_systemd_unit_verifies() {
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED the_systemd_unit_verifies: no systemd-analyze here");
        return;
    }
    let unit = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/systemd/bt-exec-guard.service"),
    )
    .unwrap();
    let full = Path::new(BT_EXEC).with_file_name("bt-exec-full");
    let unit = unit.replace("/usr/local/bin/bt-exec-full", full.to_str().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bt-exec-guard.service");
    fs::write(&p, unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&p)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        said.trim().is_empty(),
        "systemd-analyze has remarks: {said}"
    );
}
