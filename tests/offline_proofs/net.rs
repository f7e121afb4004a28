//! The network of tests/offline_proofs.rs: two logs served by `bt-log
//! serve` and two witnesses, each a process of its own; bt-exec on a
//! machine of its own state; and what a test does to a proof file's
//! checkpoint note.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use bt_exec::log::{load_secret_key, sign_checkpoint};
use bt_exec::log_id::LogId;
use bt_exec::note::{sign_cosignature_line, VerifierKey};
use bt_exec::tlog::Checkpoint;

use crate::common::accepting::{free_port, serve};
use crate::common::world::{chmod_x, BT_EXEC};
use crate::common::{bt_log, keygen, spawn_server, Proc};

/// One log of the [`Net`]: its directory, key, URL, and server (when up).
pub struct Log {
    pub dir: PathBuf,
    pub vkey: String,
    pub url: String,
    pub listen: String,
    pub admission: PathBuf,
    pub server: Option<Proc>,
}

/// Two logs, each cosigned by both of two witnesses; every one a process
/// of its own. The policy requires both logs, and both witnesses on each.
pub struct Net {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub logs: Vec<Log>,
    pub witnesses: Vec<Proc>,
}

impl Net {
    pub fn new() -> Net {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let publisher = keygen(&root, "example.org", "pub.key");
        let vkeys: Vec<String> = (0..2)
            .map(|i| {
                keygen(
                    &root,
                    &format!("example.org/log{i}"),
                    &format!("log{i}.key"),
                )
            })
            .collect();
        let mut witnesses = vec![];
        let mut wargs = vec![];
        let mut trust = String::new();
        for i in 0..2 {
            let wvkey = keygen(&root, &format!("w{i}.example"), &format!("w{i}.key"));
            let key = root.join(format!("w{i}.key"));
            let state = root.join(format!("wstate{i}"));
            let mut args = vec!["witness", "serve", "--key", key.to_str().unwrap()];
            args.extend(["--state", state.to_str().unwrap()]);
            for v in &vkeys {
                args.extend(["--log", v]);
            }
            let w = spawn_server(&args);
            wargs.push(format!("{}={wvkey}", w.addr));
            trust.push_str(&format!("witness w{i} {wvkey}\n"));
            witnesses.push(w);
        }
        let mut logs = vec![];
        for (i, vkey) in vkeys.into_iter().enumerate() {
            let dir = root.join(format!("log{i}"));
            let key = root.join(format!("log{i}.key"));
            let origin = format!("example.org/log{i}");
            let mut args = vec!["init", dir.to_str().unwrap(), "--origin", &origin];
            args.extend(["--key", key.to_str().unwrap()]);
            for w in &wargs {
                args.extend(["--witness", w]);
            }
            let (c, _, e) = bt_log(&args);
            assert_eq!(c, 0, "{e}");
            let admission = root.join(format!("admit{i}.toml"));
            let admit =
                format!("[[publisher]]\nkey = \"{publisher}\"\nnames = [\"example.org/*\"]\n");
            fs::write(&admission, admit).unwrap();
            let listen = format!("127.0.0.1:{}", free_port());
            trust.insert_str(0, &format!("log {vkey} http://{listen}\n"));
            logs.push(Log {
                url: format!("http://{listen}"),
                dir,
                vkey,
                listen,
                admission,
                server: None,
            });
        }
        trust.push_str("group both all w0 w1\nquorum both\n");
        let policy = format!("trust = \"\"\"\n{trust}\"\"\"\n\n[[publisher]]\nnames = [\"example.org/*\"]\nkey = \"{publisher}\"\n\n[require]\nlogs = 2\nmax_age = \"1h\"\nrefresh = \"0s\"\n");
        fs::write(root.join("policy.toml"), policy).unwrap();
        fs::create_dir_all(root.join("bin")).unwrap();
        let mut net = Net {
            _tmp: tmp,
            root,
            logs,
            witnesses,
        };
        net.start_logs();
        net
    }

    pub fn start_logs(&mut self) {
        for l in &mut self.logs {
            let interval = ["--checkpoint-interval", "200ms"];
            l.server = Some(serve(&l.dir, &l.admission, &l.listen, &interval));
        }
    }

    pub fn stop_logs(&mut self) {
        for l in &mut self.logs {
            l.server = None;
        }
    }

    /// A program that says its name and arguments when it runs.
    pub fn program(&self, name: &str) -> PathBuf {
        let p = self.root.join("bin").join(name);
        fs::write(&p, format!("#!/bin/sh\necho \"ran {name}:$*\"\n")).unwrap();
        chmod_x(&p);
        p
    }

    /// `bt-log publish` to both logs, the proofs written beside `file`.
    pub fn publish(&self, file: &Path, name: &str, version: &str) {
        let key = self.root.join("pub.key");
        let policy = self.root.join("policy.toml");
        let mut args = vec!["publish", file.to_str().unwrap(), "--name", name];
        args.extend([
            "--version",
            version,
            "--publisher-key",
            key.to_str().unwrap(),
        ]);
        args.extend(["--policy", policy.to_str().unwrap()]);
        let logs: Vec<String> = self
            .logs
            .iter()
            .map(|l| format!("{}={}", l.url, l.vkey))
            .collect();
        for l in &logs {
            args.extend(["--log", l]);
        }
        let (c, _, err) = bt_log(&args);
        assert_eq!(c, 0, "{err}");
    }

    /// The proof file of log `i` beside `file`, as `bt-log publish` names it.
    pub fn proof_of(&self, file: &Path, i: usize) -> PathBuf {
        let key = VerifierKey::parse_log(&self.logs[i].vkey).unwrap();
        bt_exec::publish::proof_path(file, &LogId::new(&key.name, &key))
    }

    /// bt-exec on the machine whose state and cache are under `machine`:
    /// exit status, stdout, stderr (never a panic).
    pub fn exec(&self, machine: &str, args: &[&str]) -> (i32, String, String) {
        let m = self.root.join(machine);
        exec_with(
            &m.join("cache"),
            &m.join("state"),
            &self.root.join("policy.toml"),
            args,
        )
    }
}

pub fn exec_with(
    cache: &Path,
    state: &Path,
    policy: &Path,
    args: &[&str],
) -> (i32, String, String) {
    let out = Command::new(BT_EXEC)
        .env("BT_EXEC_CACHE_DIR", cache)
        .env("BT_EXEC_STATE_DIR", state)
        .env("BT_EXEC_POLICY", policy)
        .args(args)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    let out_s = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), out_s, err)
}

/// Every file directly in `dir` and its content (empty when `dir` is not).
pub fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let Ok(rd) = fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    rd.flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The sizes of the checkpoints saved in `state`, sorted.
pub fn saved_sizes(state: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = files(&state.join("checkpoints"))
        .values()
        .map(|n| Checkpoint::of_note(n).unwrap().size)
        .collect();
    v.sort();
    v
}

/// `dir` replaced by a copy of `from`.
pub fn restore(from: &Path, dir: &Path) {
    let _ = fs::remove_dir_all(dir);
    crate::common::copy_dir(from, dir);
}

/// A tlog-proof whose checkpoint note is replaced by `note`.
pub fn with_note(proof: &[u8], note: &[u8]) -> Vec<u8> {
    let at = proof.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    [&proof[..at], note].concat()
}

/// The checkpoint note of a tlog-proof.
pub fn note_of(proof: &[u8]) -> &[u8] {
    &proof[proof.windows(2).position(|w| w == b"\n\n").unwrap() + 2..]
}

/// A note without its signature lines by `signer`.
pub fn without_line(note: &[u8], signer: &str) -> Vec<u8> {
    let text = String::from_utf8(note.to_vec()).unwrap();
    let prefix = format!("— {signer} ");
    let kept: Vec<&str> = text
        .split_inclusive('\n')
        .filter(|l| !l.starts_with(&prefix))
        .collect();
    assert_ne!(kept.concat(), text, "no line by {signer}");
    kept.concat().into_bytes()
}

/// Log `i`'s checkpoint in `note` signed again by its key, with both
/// witnesses' cosignatures dated `t`.
pub fn resigned(root: &Path, i: usize, note: &[u8], t: u64) -> Vec<u8> {
    let cp = Checkpoint::of_note(note).unwrap();
    let lines: Vec<String> = (0..2)
        .map(|w| {
            let k = load_secret_key(&root.join(format!("w{w}.key"))).unwrap();
            sign_cosignature_line(&k, t, &cp.encode())
        })
        .collect();
    let key = load_secret_key(&root.join(format!("log{i}.key"))).unwrap();
    sign_checkpoint(&key, &cp, &lines)
}

/// `bt-log add DIR FILE --proofs` (as NAME 1.0): the new leaf's proof
/// file. Its witnesses, if it has any, may be down (exit 3).
pub fn add(dir: &Path, file: &Path, name: &str, key: &Path) -> Vec<u8> {
    let args = [
        "add",
        dir.to_str().unwrap(),
        file.to_str().unwrap(),
        "--name",
        name,
    ];
    let more = [
        "--version",
        "1.0",
        "--publisher-key",
        key.to_str().unwrap(),
        "--proofs",
    ];
    let (c, out, err) = bt_log(&[&args[..], &more[..]].concat());
    let uncosigned = c == 3 && err.contains("published without those cosignatures");
    assert!(c == 0 || uncosigned, "{c}: {err}");
    let index: u64 = out.trim().parse().unwrap_or_else(|_| panic!("{out}"));
    fs::read(dir.join(format!("bt/proof/{index:03}.tlog-proof"))).unwrap()
}

/// `bt-log init DIR` with log `i`'s origin and key (under `root`): the
/// log key's start of another history.
pub fn init_fork(root: &Path, dir: &Path, i: usize) {
    let key = root.join(format!("log{i}.key"));
    let origin = format!("example.org/log{i}");
    let args = ["init", dir.to_str().unwrap(), "--origin", &origin, "--key"];
    let (c, _, err) = bt_log(&[&args[..], &[key.to_str().unwrap()]].concat());
    assert_eq!(c, 0, "{err}");
}
