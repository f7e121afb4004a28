//! Local files bt-exec reads but does not control: a FIFO (or any file that
//! is not a regular one) planted as the sidecar proof, inside a `file://`
//! log, as the program or as the policy is refused at once, each with its
//! exit code and the path — never a hang. Every bt-exec here runs under a
//! hang guard: still running after [`HANG`], it is killed and the test fails.

mod common;

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::world::{World, BT_EXEC};

/// Far beyond any refusal's time, far below "forever".
const HANG: Duration = Duration::from_secs(20);

/// Runs `c` to its end: (exit code, stdout, stderr). A run still going after
/// [`HANG`] is killed and fails the test.
fn guarded(c: &mut Command) -> (i32, String, String) {
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |r: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(child.stdout.take().map(|r| Box::new(r) as _));
    let err = drain(child.stderr.take().map(|r| Box::new(r) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > HANG {
            let _ = child.kill();
            let _ = child.wait();
            panic!("bt-exec still running after {HANG:?}: it hung");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    assert!(!err.contains("panicked"), "{err}");
    (status.code().unwrap_or(-1), out, err)
}

/// bt-exec `args` in `w`'s cache, state and policy, under the hang guard;
/// a run that was refused must not have run the program.
fn run(w: &World, args: &[&str]) -> (i32, String, String) {
    let _ = fs::remove_file(&w.canary);
    let r = guarded(w.env(Command::new(BT_EXEC).args(args)));
    if r.0 != 3 {
        assert!(!w.canary.exists(), "refused with {} but ran: {}", r.0, r.2);
    }
    r
}

/// Replaces `path` (which must exist) with a FIFO nobody writes to.
fn fifo_at(path: &Path) {
    assert!(path.exists(), "{}", path.display());
    fs::remove_file(path).unwrap();
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o755)).unwrap();
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
}

#[test]
fn a_fifo_as_the_proof_file_is_refused_with_126() {
    let w = World::ready(1);
    let sidecar = w.root.join("bin/prog.tlog-proof");
    fs::write(&sidecar, "").unwrap();
    fifo_at(&sidecar);
    let prog = w.prog.to_str().unwrap();
    for args in [vec![prog], vec!["verify", prog]] {
        let (code, _, err) = run(&w, &args);
        assert_eq!(code, 126, "{err}");
        assert!(err.contains(&sidecar.display().to_string()), "{err}");
        assert!(err.contains("a FIFO, not a regular file"), "{err}");
    }
    // A directory there is refused the same way.
    fs::remove_file(&sidecar).unwrap();
    fs::create_dir(&sidecar).unwrap();
    let (code, _, err) = run(&w, &[prog]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("a directory, not a regular file"), "{err}");
}

#[test]
fn a_fifo_inside_a_file_log_makes_that_log_unreachable() {
    for file in ["checkpoint", "bt/index/", "tile/entries/000.p/1"] {
        let w = World::ready(2);
        let path = match file {
            // The index shard of the program's hash.
            "bt/index/" => w.logs[0].dir.join(file).join(&sha256_hex(&w.prog)[..2]),
            _ => w.logs[0].dir.join(file),
        };
        let saved = fs::read(&path).unwrap();
        fifo_at(&path);
        // Both logs required: the one with the FIFO cannot be reached (124);
        // -v narrates why, naming the file.
        let (code, _, err) = run(&w, &["-v", w.prog.to_str().unwrap()]);
        assert_eq!(code, 124, "{file}: {err}");
        assert!(err.contains(&path.display().to_string()), "{file}: {err}");
        assert!(err.contains("not a regular file"), "{file}: {err}");
        // One log required: the other proves it, and it runs.
        w.policy("logs = 1\nmax_age = \"1h\"");
        let (code, out, err) = run(&w, &[w.prog.to_str().unwrap(), "a"]);
        assert_eq!(code, 3, "{file}: {err}");
        assert!(out.starts_with("args:a\n"), "{file}: {out}");
        fs::remove_file(&path).unwrap();
        fs::write(&path, saved).unwrap();
    }
}

#[test]
fn a_fifo_as_the_program_is_not_found() {
    let w = World::ready(1);
    let fifo = w.root.join("bin/fifo");
    fs::write(&fifo, "").unwrap();
    fifo_at(&fifo);
    let (code, _, err) = run(&w, &[fifo.to_str().unwrap()]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains(&fifo.display().to_string()), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    // By name on PATH: a FIFO is not a program to be found.
    let (code, _, err) = guarded(
        w.env(Command::new(BT_EXEC).arg("fifo"))
            .env("PATH", w.root.join("bin")),
    );
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("fifo: command not found"), "{err}");
}

#[test]
fn a_fifo_as_the_policy_is_a_configuration_error() {
    let w = World::ready(1);
    let policy = w.root.join("policy.toml");
    fifo_at(&policy);
    let (code, _, err) = run(&w, &[w.prog.to_str().unwrap()]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains(&policy.display().to_string()), "{err}");
}

/// A FIFO at the state lock: every command that takes the lock fails at
/// once (125) instead of waiting for a writer that never comes.
#[test]
fn a_fifo_as_the_state_lock_is_a_configuration_error() {
    let w = World::ready(1);
    let lock = w.root.join("state/lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    nix::unistd::mkfifo(&lock, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    // The first run has a checkpoint and a proof to save, under the lock.
    let (code, _, err) = run(&w, &[w.prog.to_str().unwrap()]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("lock"), "{err}");
}

/// A lock file other users can open is refused (125): one of them could
/// hold a shared lock on it and stall every run.
#[test]
fn a_lock_file_others_can_open_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::ready(1);
    let lock = w.root.join("state/lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::write(&lock, "").unwrap();
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = run(&w, &[w.prog.to_str().unwrap()]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
}

/// The ordinary layout still works, through the same guard.
#[test]
fn regular_files_still_work() {
    let w = World::ready(2);
    let (code, out, err) = run(&w, &[w.prog.to_str().unwrap(), "x"]);
    assert_eq!(code, 3, "{err}");
    assert!(out.starts_with("args:x\n"), "{out}");
}
