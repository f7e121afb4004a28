//! A log's state is keyed by its identity, origin and key (DESIGN §7), end
//! to end with the binaries: two logs of one origin share nothing, and the
//! state an earlier version wrote (keyed by origin alone, written by that
//! release: fixtures/legacy-state/make.sh) is moved on first use: the
//! checkpoint to the log whose key signed it and to no other, alarms to
//! every log of their origin, cached proofs dropped.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use bt_exec::log_id::origin_key;
use common::world::{now, World, BT_EXEC};
use common::{bt_log, copy_dir, keygen};

/// A copy of fixtures/legacy-state: its logs, the program, and the state
/// directory the earlier release left (an alarm for log b included).
struct Legacy {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Legacy {
    fn new() -> Legacy {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/legacy-state");
        for d in ["logs", "keys", "state"] {
            copy_dir(&fixture.join(d), &root.join(d));
        }
        fs::copy(fixture.join("hello"), root.join("hello")).unwrap();
        let policy = fs::read_to_string(fixture.join("policy.toml.in")).unwrap();
        fs::write(
            root.join("policy.toml"),
            policy.replace("@DIR@", root.to_str().unwrap()),
        )
        .unwrap();
        Legacy { _tmp: tmp, root }
    }

    /// Lists a fresh key for `log` (`log-a`, `log-b`) in the policy: the
    /// log's key replaced under the same origin.
    fn replace_key(&self, log: &str) {
        let new = keygen(
            &self.root,
            &format!("example.org/{log}"),
            &format!("new-{log}.key"),
        );
        let policy = fs::read_to_string(self.root.join("policy.toml")).unwrap();
        let old = fs::read_to_string(self.root.join(format!("keys/{log}.key.pub"))).unwrap();
        fs::write(
            self.root.join("policy.toml"),
            policy.replace(old.trim(), &new),
        )
        .unwrap();
    }

    fn run(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(BT_EXEC)
            .args(args)
            .env("BT_EXEC_CACHE_DIR", self.root.join("cache"))
            .env("BT_EXEC_STATE_DIR", self.root.join("state"))
            .env("BT_EXEC_POLICY", self.root.join("policy.toml"))
            .current_dir(&self.root)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(!text.contains("panicked"), "{text}");
        (out.status.code().unwrap_or(-1), text)
    }

    /// The names of the files in `state/<dir>`.
    fn names(&self, dir: &str) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(self.root.join("state").join(dir))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn vkey(root: &Path, log: &str) -> bt_exec::note::VerifierKey {
    let text = fs::read_to_string(root.join("keys").join(format!("{log}.key.pub"))).unwrap();
    bt_exec::note::VerifierKey::parse(text.trim()).unwrap()
}

#[test]
fn state_of_the_earlier_release_is_moved_to_its_log() {
    let l = Legacy::new();
    let a = bt_exec::log_id::LogId::new("example.org/log-a", &vkey(&l.root, "log-a"));
    let b = bt_exec::log_id::LogId::new("example.org/log-b", &vkey(&l.root, "log-b"));
    let old_a = origin_key("example.org/log-a");
    assert!(l
        .names("checkpoints")
        .contains(&format!("{old_a}.checkpoint")));

    // The first command with the policy moves everything, offline.
    // Exits 123: the alarm moved with log b stands.
    let (code, out) = l.run(&["status"]);
    assert_eq!(code, 123, "{out}");
    assert!(out.contains("log example.org/log-a: size 2"), "{out}");
    assert!(out.contains("ALARM"), "the alarm moved with log b: {out}");
    assert!(
        out.contains("example.org/hello 1.0"),
        "the run record: {out}"
    );
    assert_eq!(
        l.names("checkpoints"),
        vec![
            format!("{}.checkpoint", a.file_key()),
            format!("{}.checkpoint", b.file_key())
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    // Raised for log b's key; the earlier alarm stays (for other policies
    // sharing this state) until cleared by origin.
    let old_b = origin_key("example.org/log-b");
    assert_eq!(l.names("alarms"), vec![old_b, b.file_key()]);
    // Cached proofs and views say nothing of which key's tree they came
    // from: dropped, fetched again.
    for dir in ["proofs", "views"] {
        assert!(l.names(dir).is_empty(), "{dir}: {:?}", l.names(dir));
    }
    let runs = l.names("runs");
    let record = fs::read_to_string(l.root.join("state/runs").join(&runs[0])).unwrap();
    assert!(
        record.contains(&a.file_key()) && !record.contains("example.org/log-a"),
        "{record}"
    );

    // The alarm is in force: the program is refused, offline too.
    let (code, out) = l.run(&["--offline", "./hello"]);
    assert_eq!(code, 123, "{out}");
    // Cleared by origin, it runs again (its proofs fetched anew).
    let (code, out) = l.run(&["alarm", "clear", "example.org/log-b"]);
    assert_eq!(code, 0, "{out}");
    assert!(l.names("alarms").is_empty(), "{:?}", l.names("alarms"));
    let (code, out) = l.run(&["./hello"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("hello from the fixture"), "{out}");
    // The log b fork is still a split view against the moved checkpoint
    // (without it, the fork would be taken on first use).
    let (code, out) = l.run(&["gossip", "import", "logs/log-b-fork/checkpoint"]);
    assert_eq!(code, 123, "{out}");
}

#[test]
fn a_replaced_key_inherits_nothing_from_the_earlier_release() {
    let l = Legacy::new();
    // Log a's key replaced under the same origin.
    l.replace_key("log-a");
    // 123: the fixture's alarm of log b stands.
    let (code, out) = l.run(&["status"]);
    assert_eq!(code, 123, "{out}");
    assert!(
        out.contains("log example.org/log-a: nothing cached yet"),
        "{out}"
    );
    assert!(
        l.names("checkpoints")
            .contains(&format!("{}.checkpoint", origin_key("example.org/log-a"))),
        "the old key's state stays where it is"
    );
    let (code, out) = l.run(&["--offline", "./hello"]);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("hello from the fixture"), "{out}");
}

/// Two logs of one origin, different keys: the program is in log 0 only.
/// Run once under `logs = 1` (its proof in log 0 cached), then under
/// `logs = 2` (warm verdicts allowed) it is refused on every run; a
/// gossiped checkpoint goes to the log whose key signed it.
#[test]
fn two_logs_of_one_origin_share_nothing() {
    let mut w = World::new(2);
    let origin = "example.org/log0";
    let vkey = keygen(&w.root, origin, "log1b.key");
    let dir = w.root.join("log1b");
    let key_path = w.root.join("log1b.key");
    let (c, _, e) = bt_log(&[
        "init",
        dir.to_str().unwrap(),
        "--origin",
        origin,
        "--key",
        key_path.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{e}");
    w.logs[1] = common::world::L {
        url: format!("file://{}", dir.display()),
        key: bt_exec::log::load_secret_key(&key_path).unwrap(),
        dir,
        vkey,
    };
    w.publish(0, &w.prog, "pub.key");
    let other = w.root.join("other");
    fs::write(&other, "#!/bin/sh\necho other\n").unwrap();
    for v in ["0.1", "0.2", "0.3"] {
        w.publish_release(1, &other, "example.org/other", v, "pub.key", None);
        fs::write(&other, format!("#!/bin/sh\necho other {v}\n")).unwrap();
    }
    for i in 0..2 {
        w.cosign(i, &[Some(now()), Some(now())]);
    }
    w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"");
    w.runs();
    w.policy("logs = 2\nmax_age = \"1h\"\nrefresh = \"1h\"");
    for _ in 0..3 {
        let err = w.refused(126, "in one of two same-origin logs");
        assert!(
            err.contains("(key "),
            "the logs told apart by key ID: {err}"
        );
    }
    let note = w.logs[1].dir.join("checkpoint");
    let (code, out, err) = w.checked(&["gossip", "import", note.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

/// An alarm the earlier release raised is never lost: not when its log's
/// saved checkpoint is gone (an earlier release did not fsync it), nor when
/// the log's key was replaced since — it is raised for every listed log of
/// its origin.
#[test]
fn an_earlier_alarm_outlives_its_checkpoint_and_its_key() {
    let l = Legacy::new();
    let legacy_b = format!("checkpoints/{}.checkpoint", origin_key("example.org/log-b"));
    fs::write(l.root.join("state").join(&legacy_b), "").unwrap();
    let (code, out) = l.run(&["./hello"]);
    assert_eq!(code, 123, "{out}");

    let l = Legacy::new();
    l.replace_key("log-b");
    let (code, out) = l.run(&["status"]);
    assert_eq!(code, 123, "the alarm stands: {out}");
    assert!(out.contains("ALARM"), "{out}");
    let (code, out) = l.run(&["./hello"]);
    assert_eq!(code, 123, "{out}");
}

/// Legacy state under a directory another user can write is refused (125,
/// naming it) before anything is moved: a link planted there must not get
/// bt-exec to move or remove what it points at.
#[test]
fn legacy_state_in_a_writable_directory_is_refused_before_it_is_moved() {
    use std::os::unix::fs::PermissionsExt;
    let l = Legacy::new();
    let dir = l.root.join("state/alarms");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let (code, out) = l.run(&["status"]);
    assert_eq!(code, 125, "{out}");
    assert!(out.contains(&dir.display().to_string()), "{out}");
    let old = origin_key("example.org/log-b");
    assert!(dir.join(&old).exists(), "nothing moved");
}

/// After a downgrade, an earlier version raises an alarm under the origin
/// alone: a warm verdict (which serves before the policy is loaded and the
/// alarm moved) ends at once, and the alarm is moved and in force.
#[test]
fn an_alarm_of_an_earlier_version_ends_a_warm_verdict() {
    let w = World::ready(1);
    w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"");
    w.runs();
    w.runs();
    assert!(w.memos() > 0, "a warm verdict was recorded");
    let alarms = w.root.join("state/alarms");
    fs::create_dir_all(&alarms).unwrap();
    fs::write(alarms.join(origin_key("example.org/log0")), "evidence").unwrap();
    w.refused(123, "an earlier version's alarm");
    w.refused(123, "still, once moved");
}
