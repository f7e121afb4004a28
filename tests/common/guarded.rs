//! The guard's test fixture (tests/guard.rs): a test world whose log 0
//! is served by `python3 -m http.server`, a tmpfs the test mounts, and
//! `bt-exec guard run` on it; programs brought in by nobody.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{
    self,
    world::{now, World, BT_EXEC},
};

pub const NOBODY: u32 = 65534;

/// A test world with a tmpfs the guard watches and a guard running on it.
pub struct Guarded {
    pub w: World,
    pub http: Option<common::Proc>,
    /// The tmpfs mount point.
    pub fs: PathBuf,
    pub cfg: PathBuf,
    pub sock: PathBuf,
    pub guard: Option<Child>,
}

/// Whether this process may mount and run the guard; says why not.
pub fn privileged(test: &str) -> bool {
    let root = rustix::process::geteuid().is_root();
    if !root {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: CI runs as root and must run the guard tests"
        );
        eprintln!("SKIPPED {test}: the guard tests need root (fanotify, mount)");
    }
    root
}

impl Guarded {
    /// A world whose log 0 is served over HTTP, a tmpfs at `fs/`, and a
    /// guard configuration (`mode`, `extra` lines) — the guard not yet
    /// started. `None` (after saying why) when the tests cannot run here.
    pub fn new(test: &str, mode: &str, require: &str, extra: &str) -> Option<Guarded> {
        if !privileged(test) {
            return None;
        }
        let mut w = World::new(1);
        fs::set_permissions(&w.root, fs::Permissions::from_mode(0o755)).unwrap();
        let fs_dir = w.root.join("fs");
        fs::create_dir(&fs_dir).unwrap();
        let m = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256m,mode=0755", "tmpfs"])
            .arg(&fs_dir)
            .output()
            .unwrap();
        if !m.status.success() {
            let why = String::from_utf8_lossy(&m.stderr);
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{test}: cannot mount a tmpfs: {why}"
            );
            eprintln!("SKIPPED {test}: cannot mount a tmpfs: {why}");
            return None;
        }
        let (http, url) = common::python_http_server(&w.root);
        w.logs[0].url = format!("{url}/log0");
        w.policy(require);
        let sock = w.root.join("run/guard.sock");
        let cfg = w.root.join("guard.toml");
        fs::write(
            &cfg,
            format!(
                "mode = \"{mode}\"\nfilesystems = [\"{}\"]\npolicy = \"{}\"\nstate = \"{}\"\nsocket = \"{}\"\n{extra}\n",
                fs_dir.display(),
                w.root.join("policy.toml").display(),
                w.root.join("gstate").display(),
                sock.display()
            ),
        )
        .unwrap();
        Some(Guarded {
            w,
            http: Some(http),
            fs: fs_dir,
            cfg,
            sock,
            guard: None,
        })
    }

    /// Starts the guard and waits until it answers on its socket.
    pub fn start(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.w.root.join("guard.log"))
            .unwrap();
        let child = Command::new(BT_EXEC)
            .args(["guard", "run", "--config"])
            .arg(&self.cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.guard = Some(child);
        let start = Instant::now();
        loop {
            let (code, out) = self.guard_cmd("status");
            if code == 0 {
                assert!(out.contains("guard: "), "{out}");
                return;
            }
            if let Some(Some(st)) = self.guard.as_mut().map(|g| g.try_wait().unwrap()) {
                panic!("the guard exited ({st}): {}", self.guard_log());
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the guard does not answer: {out}\n{}",
                self.guard_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `kill -9` of the guard.
    pub fn kill(&mut self) {
        if let Some(mut g) = self.guard.take() {
            let _ = g.kill();
            let _ = g.wait();
        }
    }

    pub fn guard_log(&self) -> String {
        fs::read_to_string(self.w.root.join("guard.log")).unwrap_or_default()
    }

    /// `bt-exec guard CMD --config …` as root: exit code, stdout+stderr.
    pub fn guard_cmd(&self, cmd: &str) -> (i32, String) {
        said(
            Command::new(BT_EXEC)
                .args(["guard", cmd, "--config"])
                .arg(&self.cfg),
        )
    }

    /// `bt-exec verify --guard=SOCKET PATH` as nobody.
    pub fn verify_as_nobody(&self, path: &Path) -> (i32, String) {
        said(
            Command::new(BT_EXEC)
                .arg("verify")
                .arg(format!("--guard={}", self.sock.display()))
                .arg(path)
                .env_clear()
                .env("HOME", "/nonexistent")
                .uid(NOBODY)
                .gid(NOBODY),
        )
    }

    /// A script at `fs/NAME` printing `ran NAME` (root's, mode 0755).
    pub fn program(&self, name: &str) -> PathBuf {
        let p = self.fs.join(name);
        fs::write(&p, format!("#!/bin/sh\necho ran {name}\n")).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Publishes `p` in log 0 under NAME and cosigns the checkpoint now.
    pub fn publish(&self, p: &Path, name: &str) {
        self.w
            .publish_release(0, p, &format!("example.org/{name}"), "1.0", "pub.key", None);
        self.w.cosign(0, &[Some(now()), Some(now())]);
    }

    /// The guard's records, once one holds `want` (they are written
    /// just after the exec is answered).
    pub fn records(&self, want: &str) -> String {
        let p = self.w.root.join("gstate/state/audit.jsonl");
        let start = Instant::now();
        loop {
            let text = fs::read_to_string(&p).unwrap_or_default();
            if text.contains(want) || start.elapsed() > Duration::from_secs(5) {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Adds `lines` to the guard's configuration (read when it starts).
    pub fn configure(&self, lines: &str) {
        let mut text = fs::read_to_string(&self.cfg).unwrap();
        text.push_str(lines);
        text.push('\n');
        fs::write(&self.cfg, text).unwrap();
    }
}

/// A guard (`mode`, `require`) running with `fs/prog` published and
/// brought in by nobody; `None` when the tests cannot run here.
pub fn with_prog_brought_in(test: &str, mode: &str, require: &str) -> Option<(Guarded, PathBuf)> {
    let mut g = Guarded::new(test, mode, require, "")?;
    let prog = g.program("prog");
    g.publish(&prog, "prog");
    g.start();
    let (code, out) = g.verify_as_nobody(&prog);
    assert_eq!(code, 0, "{out}\n{}", g.guard_log());
    assert_eq!(exec(&prog).as_deref(), Ok("ran prog\n"), "brought in");
    Some((g, prog))
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill();
        self.http.take();
        let _ = Command::new("umount").arg("-l").arg(&self.fs).status();
    }
}

/// Runs `c`: its exit code, and stdout and stderr together (never a panic).
pub fn said(c: &mut Command) -> (i32, String) {
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains("panicked"), "{text}");
    (out.status.code().unwrap_or(-1), text)
}

/// Execs `p` (a real execve): `Ok(stdout)` when it ran, `Err(errno)` when
/// the exec was refused.
pub fn exec(p: &Path) -> Result<String, i32> {
    match Command::new(p).stdin(Stdio::null()).output() {
        Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Err(e) => Err(e.raw_os_error().unwrap_or(-1)),
    }
}

pub const EPERM: i32 = 1;
pub const REQUIRE: &str = "logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"";
