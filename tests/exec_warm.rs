//! bt-exec end to end, the warm path and the process it hands over: a run
//! the state alone proves makes no request, a warm verdict holds only while
//! what it rests on is unchanged, a forked proof file is a split view on a
//! warm run too; and the program gets its own flags, signal dispositions and
//! standard descriptors.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::world::{chmod_x, now, World, BT_EXEC};

#[test]
fn warm_path_with_refresh_makes_no_request() {
    let mut w = World::ready(1);
    let access = w.root.join("access.log");
    let log_file = fs::File::create(&access).unwrap();
    let mut child = Command::new("python3")
        .args(["-c", "import http.server,socketserver,sys,os;os.chdir(sys.argv[1]);s=socketserver.TCPServer(('127.0.0.1',0),http.server.SimpleHTTPRequestHandler);print(s.server_address[1],flush=True);s.serve_forever()"])
        .arg(&w.logs[0].dir)
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _server = common::Proc {
        child,
        addr: String::new(),
    };
    w.logs[0].url = format!("http://127.0.0.1:{}", line.trim());
    w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"5m\"");
    w.runs();
    let requests = |p: &Path| {
        fs::read_to_string(p)
            .unwrap()
            .lines()
            .filter(|l| l.contains("\"GET "))
            .count()
    };
    let cold = requests(&access);
    assert!(
        cold >= 2,
        "the first run fetched the checkpoint, index, bundle and tiles"
    );
    w.runs();
    assert_eq!(requests(&access), cold, "the warm run made a request");
    // Without refresh, every run fetches the checkpoint (and only it).
    w.policy("logs = 1\nmax_age = \"1h\"");
    w.runs();
    assert_eq!(requests(&access), cold + 1);
}

#[test]
fn flags_before_the_program_are_bt_exec_s_and_after_it_the_program_s() {
    let w = World::ready(1);
    assert_eq!(
        w.run(&["--no-such-flag", w.prog.to_str().unwrap()])
            .status
            .code(),
        Some(125)
    );
    let out = w.run(&["--", w.prog.to_str().unwrap(), "-v", "--json", "--", "x"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("args:-v --json -- x\n"));
}

/// The program inherits the signal dispositions and descriptors bt-exec was
/// started with: SIGPIPE stays at its default (a program piped into `head`
/// is ended by it) or stays ignored when the caller ignored it, and a
/// closed standard input reaches the program as /dev/null, never as a file
/// bt-exec opened.
#[test]
fn signal_dispositions_and_standard_descriptors_pass_through() {
    let w = World::new(1);
    let prog = w.root.join("bin/sig");
    fs::write(
        &prog,
        "#!/bin/sh\nsed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status\nreadlink /proc/self/fd/0\n",
    )
    .unwrap();
    chmod_x(&prog);
    w.logged_in_one(&prog);
    let run = |shell: &str| {
        let out = w
            .env(Command::new("sh").arg("-c").arg(shell).arg("sh"))
            .arg(BT_EXEC)
            .arg(&prog)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        let ignored = u64::from_str_radix(lines.next().unwrap(), 16).unwrap();
        (
            ignored & (1 << (13 - 1)) != 0,
            lines.next().unwrap_or("").to_owned(),
        )
    };
    // std's Command starts `sh` with SIGPIPE at its default.
    let (ignored, stdin) = run("exec \"$1\" \"$2\" </dev/null");
    assert!(!ignored, "SIGPIPE ignored in the program");
    assert_eq!(stdin, "/dev/null");
    let (ignored, _) = run("trap '' PIPE; exec \"$1\" \"$2\" </dev/null");
    assert!(ignored, "the caller's ignored SIGPIPE was not passed on");
    let (_, stdin) = run("exec \"$1\" \"$2\" <&-");
    assert_eq!(
        stdin, "/dev/null",
        "a closed stdin must reach the program as /dev/null"
    );
}

/// A warm verdict (src/exec/memo.rs) stands in for the verification while
/// nothing it depends on has changed: it alone runs the program (here with
/// the cached proofs gone and no network), but an alarm, other bytes,
/// another policy text, -v, or the end of `max_age` each send the run
/// through the full verification again.
#[test]
fn warm_verdicts_hold_only_while_their_state_and_time_do() {
    let w = World::ready(2);
    w.policy("logs = 2\nmax_age = \"1h\"\nrefresh = \"1h\"");
    w.runs();
    assert_eq!(w.memos(), 0, "a cold run records no warm verdict");
    w.runs();
    assert_eq!(w.memos(), 1, "the warm run records its verdict");
    let prog = w.prog.to_str().unwrap();
    let checkpoints = w.root.join("state/checkpoints");
    let proofs = w.root.join("state/proofs");
    let aside = w.root.join("proofs-aside");
    fs::rename(&proofs, &aside).unwrap();
    let _ = fs::remove_file(&w.canary);
    let out = w.run(&["--offline", prog, "x"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(w.canary.exists(), "the warm verdict ran the program");
    // Asking to see the verification gets the verification.
    let out = w.run(&["--offline", "-v", prog]);
    assert_eq!(
        out.status.code(),
        Some(124),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::rename(&aside, &proofs).unwrap();
    // An alarm raised by any process ends it at once.
    let origin = "example.org/log1";
    // The log's state key: `<origin-key>-<key-hash>`, as its checkpoint's name.
    let prefix = format!("{}-", bt_exec::log_id::origin_key(origin));
    let key = fs::read_dir(&checkpoints)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(&prefix))
        .expect("the log's saved checkpoint");
    let alarm = w
        .root
        .join("state/alarms")
        .join(key.trim_end_matches(".checkpoint"));
    fs::create_dir_all(alarm.parent().unwrap()).unwrap();
    fs::write(&alarm, "evidence").unwrap();
    let err = w.refused(123, "an alarm after the warm verdict");
    assert!(err.contains("alarm clear"), "{err}");
    assert_eq!(w.run(&["alarm", "clear", origin]).status.code(), Some(0));
    w.runs();
    // Another policy text is another verdict.
    w.policy("logs = 3\nmax_age = \"1h\"\nrefresh = \"1h\"");
    w.refused(125, "more logs required than the policy lists");
    // Other bytes at the same path are verified, and refused.
    w.policy("logs = 2\nmax_age = \"1h\"\nrefresh = \"1h\"");
    w.runs();
    let original = fs::read(&w.prog).unwrap();
    let mut tampered = original.clone();
    tampered.extend_from_slice(b"\n# tampered\n");
    fs::write(&w.prog, &tampered).unwrap();
    w.refused(126, "tampered after a warm verdict");
    fs::write(&w.prog, &original).unwrap();
    // A verdict holds no longer than the saved checkpoints meet max_age
    // (here 3 s after their cosignatures), however `refresh` is set.
    w.policy("logs = 2\nmax_age = \"3s\"\nrefresh = \"1h\"");
    for i in 0..2 {
        w.cosign(i, &[Some(now()), Some(now())]);
    }
    w.runs();
    w.runs();
    assert_eq!(
        w.memos(),
        2,
        "the warm run under this policy recorded its verdict"
    );
    std::thread::sleep(std::time::Duration::from_secs(4));
    let out = w.run(&["--offline", prog]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(124), "{err}");
    assert!(err.contains("max_age"), "{err}");
}

/// A proof file beside the program is checked even when the cache alone
/// would prove the program: a fork in it is a split view on a warm run too
/// (and a warm verdict never stands in for it).
#[test]
fn a_forked_sidecar_proof_is_a_split_view_on_the_warm_path_too() {
    use base64::{engine::general_purpose::STANDARD as B64, Engine};
    use sha2::{Digest, Sha256};
    let w = World::new(1);
    w.publish(0, &w.prog, "pub.key");
    let other = w.root.join("bin/other");
    fs::write(&other, "#!/bin/sh\necho other\n").unwrap();
    chmod_x(&other);
    w.publish_release(0, &other, "example.org/other", "1.0", "pub.key", None);
    w.cosign(0, &[Some(now()), Some(now())]);
    w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"");
    w.runs();
    w.runs();
    assert_eq!(w.memos(), 1);
    // The log key signs another tree of size 2 holding the program at
    // leaf 0 beside a made-up leaf; no witness cosigned it.
    let logged = fs::read_to_string(w.logs[0].dir.join("bt/proof/000.tlog-proof")).unwrap();
    let extra = logged
        .lines()
        .nth(1)
        .unwrap()
        .strip_prefix("extra ")
        .unwrap();
    let leaf = B64.decode(extra).unwrap();
    let sibling = [7u8; 32];
    let leaf_hash: [u8; 32] = Sha256::new()
        .chain_update([0u8])
        .chain_update(&leaf)
        .finalize()
        .into();
    let root: [u8; 32] = Sha256::new()
        .chain_update([1u8])
        .chain_update(leaf_hash)
        .chain_update(sibling)
        .finalize()
        .into();
    let mut cp = w.checkpoint(0);
    assert_eq!(cp.size, 2);
    cp.root.0 = root;
    let note = String::from_utf8(w.sign(0, &cp, &[None, None])).unwrap();
    let sidecar = format!(
        "c2sp.org/tlog-proof@v1\nextra {extra}\nindex 0\n{}\n\n{note}",
        B64.encode(sibling)
    );
    fs::write(format!("{}.tlog-proof", w.prog.display()), sidecar).unwrap();
    let err = w.refused(123, "a forked proof file on a warm run");
    assert!(err.contains("split view"), "{err}");
}

/// bt-exec's front (src/bin/bt-exec.rs) serves a warm verdict itself, and
/// hands everything else to `bt-exec-full` beside it with the arguments and
/// the caller's umask untouched; without `bt-exec-full` it says so (125).
#[test]
fn the_front_serves_warm_verdicts_and_hands_over_the_rest() {
    let w = World::ready(1);
    w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"");
    w.runs();
    w.runs();
    assert_eq!(w.memos(), 1, "the full run recorded a warm verdict");
    let bin = w.root.join("front");
    fs::create_dir(&bin).unwrap();
    let front = bin.join("bt-exec");
    fs::copy(BT_EXEC, &front).unwrap();
    let handed = w.root.join("handed");
    // A stand-in for bt-exec-full that records what it was given.
    let full = bin.join("bt-exec-full");
    let script = "#!/bin/sh\n{ umask; printf '%s\\n' \"$@\"; } > \"$HANDED\"\nexit 42\n";
    fs::write(&full, script).unwrap();
    chmod_x(&full);
    let prog = w.prog.to_str().unwrap();
    let run = |args: &[&str]| {
        let _ = fs::remove_file(&handed);
        let mut c = Command::new("sh");
        c.args(["-c", "umask 0002; exec \"$@\"", "sh"])
            .arg(&front)
            .args(args)
            .env("HANDED", &handed)
            .stdin(Stdio::null());
        w.env(&mut c).output().unwrap()
    };
    let out = run(&[prog, "x", "y z"]);
    assert_eq!(out.status.code(), Some(3), "the warm verdict ran it");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("args:x y z\n"));
    let policy = w.root.join("policy.toml");
    let policy = policy.to_str().unwrap();
    let out = run(&["--policy", policy, "--offline", "--", prog, "-v", ""]);
    assert_eq!(out.status.code(), Some(3), "the warm verdict ran it");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("args:-v \n"));
    assert!(!handed.exists(), "a warm run went to bt-exec-full");

    let other = w.root.join("other");
    fs::write(&other, "#!/bin/sh\necho other\n").unwrap();
    chmod_x(&other);
    let other = other.to_str().unwrap();
    for args in [
        vec![other, "a"],
        vec!["-v", prog, "x"],
        vec!["--json", prog],
        vec!["--policy", policy, "--audit", "--", prog, "-v", ""],
        vec!["status"],
        vec!["--help"],
        vec!["example.org/hello@1.0"],
        vec![],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(42), "{args:?}");
        let got = fs::read_to_string(&handed).unwrap();
        let mut want = String::from("0002\n");
        for a in &args {
            want.push_str(a);
            want.push('\n');
        }
        if args.is_empty() {
            want.push('\n');
        }
        assert_eq!(got, want, "{args:?}");
    }

    // Missing, or the front again (a link or a copy): 125, said, no loop.
    fs::remove_file(&full).unwrap();
    let out = run(&["status"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bt-exec-full is missing"), "{err}");
    std::os::unix::fs::symlink("bt-exec", &full).unwrap();
    let out = run(&["status"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another copy of bt-exec's front"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The hand-over leaves nothing in the environment of the program run.
#[test]
fn the_program_does_not_inherit_the_hand_over() {
    let w = World::ready(1);
    let env = w.root.join("bin/env.sh");
    fs::write(&env, "#!/bin/sh\nenv\n").unwrap();
    chmod_x(&env);
    w.publish_release(0, &env, "example.org/env", "1.0", "pub.key", None);
    w.cosign(0, &[Some(now()), Some(now())]);
    let out = w.run(&[env.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let env = String::from_utf8_lossy(&out.stdout);
    assert!(env.contains("BT_EXEC_CACHE_DIR="), "{env}");
    assert!(!env.contains("BT_EXEC_FROM_FRONT"), "{env}");
}

/// A refusal keeps its exit code when standard error cannot be written;
/// a proof file beside a program whose name is not UTF-8, or one that is a
/// link to nothing, is still a proof file to check (126).
#[test]
fn refusals_hold_without_stderr_and_for_odd_proof_files() {
    use std::os::unix::ffi::OsStrExt;
    let w = World::ready(1);
    w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"");
    let other = w.root.join("bin/other");
    fs::write(&other, "#!/bin/sh\ntouch \"$0.ran\"\n").unwrap();
    chmod_x(&other);
    let mut c = Command::new(BT_EXEC);
    w.env(c.arg(&other))
        .stderr(fs::File::create("/dev/full").unwrap());
    assert_eq!(c.status().unwrap().code(), Some(126));
    // The logged program, twice (the second run warm), beside an odd name.
    let dir = w.root.join(std::ffi::OsStr::from_bytes(b"odd\xff"));
    fs::create_dir(&dir).unwrap();
    let prog = dir.join("prog");
    fs::copy(&w.prog, &prog).unwrap();
    let run = || {
        let _ = fs::remove_file(&w.canary);
        let mut c = Command::new(BT_EXEC);
        w.env(c.arg(&prog)).stdin(Stdio::null()).output().unwrap()
    };
    for _ in 0..2 {
        assert_eq!(run().status.code(), Some(3));
    }
    let proof = dir.join("prog.tlog-proof");
    fs::write(&proof, "not a proof").unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(!w.canary.exists());
    fs::remove_file(&proof).unwrap();
    std::os::unix::fs::symlink(dir.join("nowhere"), &proof).unwrap();
    let out = run();
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("symbolic link to nothing"), "{err}");
    assert!(!w.canary.exists());
}
