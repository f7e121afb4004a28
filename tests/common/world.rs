//! A test world for bt-exec: logs written by bt-log, witnesses whose
//! cosignatures the tests sign at chosen times, a policy, and a program
//! that leaves a canary file when it runs.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use bt_exec::log::{load_secret_key, sign_checkpoint};
use bt_exec::note::{sign_cosignature_line, SecretKey};
use bt_exec::tlog::Checkpoint;

use super::{bt_log, keygen};

pub const BT_EXEC: &str = env!("CARGO_BIN_EXE_bt-exec");

pub struct L {
    pub dir: PathBuf,
    pub key: SecretKey,
    pub vkey: String,
    pub url: String,
}

pub struct World {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub logs: Vec<L>,
    pub witnesses: Vec<(SecretKey, String)>,
    pub prog: PathBuf,
    pub canary: PathBuf,
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl World {
    pub fn new(n: usize) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        keygen(&root, "example.org", "pub.key");
        keygen(&root, "evil.example", "evil.key");
        let mut logs = vec![];
        for i in 0..n {
            let origin = format!("example.org/log{i}");
            let vkey = keygen(&root, &origin, &format!("log{i}.key"));
            let dir = root.join(format!("log{i}"));
            let (c, _, e) = bt_log(&[
                "init",
                dir.to_str().unwrap(),
                "--origin",
                &origin,
                "--key",
                root.join(format!("log{i}.key")).to_str().unwrap(),
            ]);
            assert_eq!(c, 0, "{e}");
            let key = load_secret_key(&root.join(format!("log{i}.key"))).unwrap();
            logs.push(L {
                url: format!("file://{}", dir.display()),
                dir,
                key,
                vkey,
            });
        }
        let witnesses = (1..=2)
            .map(|i| {
                let v = keygen(&root, &format!("w{i}.example"), &format!("w{i}.key"));
                (load_secret_key(&root.join(format!("w{i}.key"))).unwrap(), v)
            })
            .collect();
        let canary = root.join("canary");
        let prog = root.join("bin/prog");
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::write(
            &prog,
            format!(
                "#!/bin/sh\ntouch {}\necho \"args:$*\"\nread line\necho \"stdin:$line\"\nexit 3\n",
                canary.display()
            ),
        )
        .unwrap();
        chmod_x(&prog);
        World {
            _tmp: tmp,
            root,
            logs,
            witnesses,
            prog,
            canary,
        }
    }

    pub fn publish(&self, i: usize, file: &Path, key: &str) {
        self.publish_release(i, file, "example.org/prog", "1.0", key, None);
    }

    /// Adds `file` to log `i` as NAME VERSION; with `cas`, its bytes are
    /// copied under that base URL and the entry names them.
    pub fn publish_release(
        &self,
        i: usize,
        file: &Path,
        name: &str,
        version: &str,
        key: &str,
        cas: Option<&str>,
    ) {
        let dir = self.logs[i].dir.to_str().unwrap().to_string();
        let key = self.root.join(key);
        let mut args = vec![
            "add",
            &dir,
            file.to_str().unwrap(),
            "--name",
            name,
            "--version",
            version,
            "--publisher-key",
            key.to_str().unwrap(),
            "--proofs",
        ];
        if let Some(c) = cas {
            args.extend(["--cas-url", c]);
        }
        let (c, _, e) = bt_log(&args);
        assert_eq!(c, 0, "{e}");
    }

    pub fn checkpoint(&self, i: usize) -> Checkpoint {
        let note = fs::read(self.logs[i].dir.join("checkpoint")).unwrap();
        let end = note.windows(2).position(|w| w == b"\n\n").unwrap();
        Checkpoint::parse(&note[..=end]).unwrap()
    }

    /// Re-signs log `i`'s checkpoint `cp` with cosignatures at these times.
    pub fn sign(&self, i: usize, cp: &Checkpoint, times: &[Option<u64>]) -> Vec<u8> {
        let lines: Vec<String> = self
            .witnesses
            .iter()
            .zip(times)
            .filter_map(|((k, _), t)| t.map(|t| sign_cosignature_line(k, t, &cp.encode())))
            .collect();
        sign_checkpoint(&self.logs[i].key, cp, &lines)
    }

    pub fn cosign(&self, i: usize, times: &[Option<u64>]) {
        let note = self.sign(i, &self.checkpoint(i), times);
        fs::write(self.logs[i].dir.join("checkpoint"), note).unwrap();
    }

    /// Writes the policy with `require` as its `[require]` section. A
    /// section that does not set `refresh` gets `refresh = "0s"`: these
    /// tests follow what each run fetches, which the default (a run
    /// answers from the state, a background refresher fetches:
    /// tests/refresh.rs) would leave to the refresher.
    pub fn policy(&self, require: &str) -> PathBuf {
        let require = if require.contains("refresh") {
            require.to_string()
        } else {
            format!("{require}\nrefresh = \"0s\"")
        };
        let mut trust = String::new();
        for l in &self.logs {
            trust.push_str(&format!("log {} {}\n", l.vkey, l.url));
        }
        for (i, (_, v)) in self.witnesses.iter().enumerate() {
            trust.push_str(&format!("witness w{i} {v}\n"));
        }
        trust.push_str("group both all w0 w1\nquorum both\n");
        let p = self.root.join("policy.toml");
        let publisher = fs::read_to_string(self.root.join("pub.key.pub")).unwrap();
        fs::write(&p, format!("trust = \"\"\"\n{trust}\"\"\"\n\n[[publisher]]\nnames = [\"example.org/*\"]\nkey = \"{}\"\n\n[require]\n{require}\n", publisher.trim())).unwrap();
        p
    }

    /// Points `c` at this world's cache, state and policy.
    pub fn env<'c>(&self, c: &'c mut Command) -> &'c mut Command {
        c.env("BT_EXEC_CACHE_DIR", self.root.join("cache"))
            .env("BT_EXEC_STATE_DIR", self.root.join("state"))
            .env("BT_EXEC_POLICY", self.root.join("policy.toml"))
    }

    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new(BT_EXEC);
        self.env(c.args(args))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        let _ = child.stdin.take().unwrap().write_all(b"from stdin\n");
        child.wait_with_output().unwrap()
    }

    /// Runs bt-exec with `args` (the canary removed first): its exit code,
    /// stdout and stderr; never a panic, and a refusal never ran the program.
    pub fn checked(&self, args: &[&str]) -> (i32, String, String) {
        let _ = fs::remove_file(&self.canary);
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        let code = out.status.code().unwrap_or(-1);
        if code != 0 {
            assert!(
                !self.canary.exists(),
                "refused with {code} but the program ran: {err}"
            );
        }
        (code, String::from_utf8_lossy(&out.stdout).into_owned(), err)
    }

    /// Runs the program through bt-exec and asserts it was refused with `code`.
    pub fn refused(&self, code: i32, why: &str) -> String {
        let _ = fs::remove_file(&self.canary);
        let out = self.run(&[self.prog.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "{why}: {err}");
        assert!(!self.canary.exists(), "{why}: the program ran");
        assert!(!err.contains("panicked"), "{why}: {err}");
        err
    }

    pub fn runs(&self) -> String {
        let _ = fs::remove_file(&self.canary);
        let out = self.run(&[self.prog.to_str().unwrap(), "x", "y z"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(3), "{err}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "args:x y z\nstdin:from stdin\n"
        );
        assert!(self.canary.exists());
        err
    }

    /// Publishes `file` in log 0, cosigns that checkpoint now and requires
    /// that one log.
    pub fn logged_in_one(&self, file: &Path) {
        self.publish(0, file, "pub.key");
        self.cosign(0, &[Some(now()), Some(now())]);
        self.policy("logs = 1");
    }

    /// How many warm verdicts (src/exec/memo.rs) the state holds.
    pub fn memos(&self) -> usize {
        let Ok(shards) = fs::read_dir(self.root.join("state/memos")) else {
            return 0;
        };
        shards
            .flatten()
            .map(|d| fs::read_dir(d.path()).map_or(0, |r| r.count()))
            .sum()
    }

    /// Two logs with the program published and freshly cosigned.
    pub fn ready(n: usize) -> World {
        let w = World::new(n);
        for i in 0..n {
            w.publish(i, &w.prog, "pub.key");
            w.cosign(i, &[Some(now()), Some(now())]);
        }
        w.policy(&format!("logs = {n}\nmax_age = \"1h\""));
        w
    }
}

pub fn chmod_x(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).unwrap();
}
