//! bt-exec end to end: logs written by bt-log (file:// and over HTTP from an
//! ordinary static file server), witnesses whose cosignatures the tests sign
//! at chosen times, and every refusal with its exit code — the program never
//! runs when it is refused (its canary file never appears).

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use common::world::{chmod_x, now, World, BT_EXEC};

/// Changes one base64 character of the signature line starting with `prefix`.
fn corrupt_signature_line(w: &World, prefix: &str) {
    let p = w.logs[0].dir.join("checkpoint");
    let text = fs::read_to_string(&p).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(prefix))
        .unwrap()
        .to_string();
    let mut b = line.clone().into_bytes();
    let n = b.len() - 6;
    b[n] = if b[n] == b'A' { b'B' } else { b'A' };
    fs::write(&p, text.replace(&line, &String::from_utf8(b).unwrap())).unwrap();
}

fn flip_in(path: &Path, find: &[u8], at: usize) {
    let mut b = fs::read(path).unwrap();
    let pos = b.windows(find.len()).position(|w| w == find).unwrap() + at;
    b[pos] ^= 1;
    fs::write(path, b).unwrap();
}

#[test]
fn runs_a_logged_program_with_its_io_and_status() {
    let w = World::ready(2);
    w.runs();
    // By name on PATH too.
    let out = w
        .env(Command::new(BT_EXEC).arg("prog"))
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", w.root.join("bin").display()),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // verify --json reports both logs and never runs the program.
    let _ = fs::remove_file(&w.canary);
    let out = w.run(&["verify", "--json", w.prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!w.canary.exists());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "run");
    let logs = v["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 2);
    for l in logs {
        assert_eq!(l["result"], "proven");
        assert_eq!(l["cosigners"].as_array().unwrap().len(), 2);
        assert_eq!(l["leaf_index"], 0);
    }
    // Warm and offline: everything from the cache.
    let out = w.run(&["--offline", w.prog.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn argv0_is_preserved_for_binaries() {
    let w = World::new(1);
    let src = w.root.join("argv0.c");
    fs::write(
        &src,
        "#include <stdio.h>\nint main(int c, char **v) { printf(\"%s\\n\", v[0]); return 0; }\n",
    )
    .unwrap();
    let bin = w.root.join("bin/argv0");
    if !Command::new("cc")
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .status()
        .is_ok_and(|s| s.success())
    {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have a C compiler"
        );
        eprintln!("SKIP argv0_is_preserved_for_binaries: no C compiler");
        return;
    }
    w.logged_in_one(&bin);
    let out = w.run(&[bin.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        bin.to_str().unwrap(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn refusals_of_the_program_and_its_publisher() {
    let w = World::ready(2);
    // A tampered copy.
    let tampered = w.root.join("bin/prog");
    let original = fs::read(&tampered).unwrap();
    fs::write(&tampered, [original.as_slice(), b"# extra\n"].concat()).unwrap();
    let err = w.refused(126, "tampered binary");
    assert!(err.contains("not in this log"), "{err}");
    fs::write(&tampered, &original).unwrap();
    // Logged by a key not allowed for the name.
    let other = w.root.join("bin/other");
    fs::write(&other, "#!/bin/sh\ntouch \"$0.ran\"\n").unwrap();
    chmod_x(&other);
    for i in 0..2 {
        w.publish(i, &other, "evil.key");
        w.cosign(i, &[Some(now()), Some(now())]);
    }
    let out = w.run(&[other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not allowed to publish example.org/prog")
    );
    // In one log only, with logs = 2.
    let third = w.root.join("bin/third");
    fs::write(&third, "#!/bin/sh\nexit 0\n").unwrap();
    chmod_x(&third);
    w.publish(0, &third, "pub.key");
    w.cosign(0, &[Some(now()), Some(now())]);
    let out = w.run(&[third.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(126),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("proven in 1 log(s), the policy requires 2")
    );
}

#[test]
fn refusals_of_checkpoints_and_cosignatures() {
    type Case = (&'static str, fn(&World), i32, &'static str);
    let cases: Vec<Case> = vec![
        (
            "cosignatures older than max_age",
            |w| w.cosign(0, &[Some(now() - 7200), Some(now() - 7200)]),
            126,
            "older than max_age",
        ),
        (
            "cosignature from the future",
            |w| w.cosign(0, &[Some(now() + 3600), Some(now())]),
            126,
            "in the future",
        ),
        (
            "missing witness quorum",
            |w| w.cosign(0, &[Some(now()), None]),
            126,
            "quorum is not met",
        ),
        (
            "corrupted cosignature",
            |w| corrupt_signature_line(w, "— w1.example"),
            126,
            "does not verify",
        ),
        (
            "corrupted log signature",
            |w| corrupt_signature_line(w, "— example.org/log0"),
            126,
            "does not verify",
        ),
        (
            "wrong origin",
            |w| {
                let mut cp = w.checkpoint(0);
                cp.origin = "example.org/elsewhere".into();
                fs::write(
                    w.logs[0].dir.join("checkpoint"),
                    w.sign(0, &cp, &[Some(now()), Some(now())]),
                )
                .unwrap();
            },
            126,
            "origin",
        ),
        (
            "flipped root, not re-signed",
            |w| flip_in(&w.logs[0].dir.join("checkpoint"), b"\n1\n", 4),
            126,
            "checkpoint",
        ),
        (
            "flipped root, re-signed by the log",
            |w| {
                let mut cp = w.checkpoint(0);
                cp.root.0[0] ^= 1;
                fs::write(
                    w.logs[0].dir.join("checkpoint"),
                    w.sign(0, &cp, &[Some(now()), Some(now())]),
                )
                .unwrap();
            },
            // Served data that does not hash to the signed root: anyone
            // on the path could have altered it (DESIGN §6), not 123.
            124,
            "does not hash to its place under the signed root",
        ),
        (
            "unreachable log, no cache",
            |w| fs::remove_dir_all(&w.logs[1].dir).unwrap(),
            124,
            "cannot be reached",
        ),
    ];
    for (what, corrupt, code, msg) in cases {
        let w = World::ready(2);
        corrupt(&w);
        let err = w.refused(code, what);
        assert!(err.contains(msg), "{what}: {err}");
    }
}

#[test]
fn offline_and_unreachable_fall_back_to_a_fresh_cache_only() {
    let w = World::ready(1);
    w.runs(); // caches checkpoint and proof
    fs::rename(&w.logs[0].dir, w.root.join("gone")).unwrap();
    w.runs(); // unreachable, fresh cache: still runs
    assert_eq!(
        w.run(&["--offline", w.prog.to_str().unwrap()])
            .status
            .code(),
        Some(3)
    );
    // A stale cache does not do.
    w.policy("logs = 1\nmax_age = \"1s\"");
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let err = w.refused(124, "offline with a stale cache");
    assert!(err.contains("does not meet the policy"), "{err}");
    let out = w.run(&["--offline", w.prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(124));
}

#[test]
fn policies_that_are_wrong_are_configuration_errors() {
    let w = World::ready(1);
    let good = fs::read_to_string(w.root.join("policy.toml")).unwrap();
    for (what, text) in [
        (
            "unknown key",
            good.replace("[require]", "[require]\nmax_agee = \"1h\""),
        ),
        ("malformed TOML", good.replace("[require]", "[require")),
        (
            "bad trust line",
            good.replace("quorum both", "quorum nobody"),
        ),
        (
            "bad duration",
            good.replace("max_age = \"1h\"", "max_age = \"1 hour\""),
        ),
        (
            "more logs than listed",
            good.replace("logs = 1", "logs = 3"),
        ),
        (
            "negative prior_revisions",
            good.replace("[require]", "[require]\nprior_revisions = -1"),
        ),
    ] {
        fs::write(w.root.join("policy.toml"), &text).unwrap();
        let err = w.refused(125, what);
        assert!(err.contains("policy"), "{what}: {err}");
    }
    let out = w.run(&["/nonexistent/prog"]);
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn fork_after_the_original_was_seen_is_a_split_view() {
    let w = World::ready(1);
    w.runs();
    let original = fs::read(w.logs[0].dir.join("checkpoint")).unwrap();
    // The log key signs another tree of the same size; no witness cosigned it.
    let mut cp = w.checkpoint(0);
    cp.root.0[5] ^= 1;
    fs::write(
        w.logs[0].dir.join("checkpoint"),
        w.sign(0, &cp, &[None, None]),
    )
    .unwrap();
    let err = w.refused(123, "fork");
    assert!(err.contains("split view"), "{err}");
    let evidence: Vec<_> = fs::read_dir(w.root.join("state/evidence"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(evidence.len(), 1);
    let text = fs::read_to_string(evidence[0].path()).unwrap();
    assert_eq!(
        text.matches("example.org/log0\n1\n").count(),
        2,
        "both notes in the evidence"
    );
    // The alarm stays until a person clears it, even once the log is fixed.
    fs::write(w.logs[0].dir.join("checkpoint"), &original).unwrap();
    w.refused(123, "alarm");
    let out = w.run(&["alarm", "clear", "example.org/log0"]);
    assert_eq!(out.status.code(), Some(0));
    w.runs();
}

#[test]
fn smaller_checkpoints_stale_or_forked() {
    let w = World::ready(1);
    let stale = fs::read(w.logs[0].dir.join("checkpoint")).unwrap();
    let more = w.root.join("bin/more");
    fs::write(&more, "#!/bin/sh\nexit 0\n").unwrap();
    chmod_x(&more);
    w.publish(0, &more, "pub.key");
    w.cosign(0, &[Some(now()), Some(now())]);
    w.runs(); // sees size 2
              // A CDN serves the stale size-1 checkpoint: no alarm, still runs.
    fs::write(w.logs[0].dir.join("checkpoint"), &stale).unwrap();
    w.runs();
    // A smaller checkpoint that is not a prefix: a split view.
    let mut cp = w.checkpoint(0);
    cp.root.0[1] ^= 1;
    fs::write(
        w.logs[0].dir.join("checkpoint"),
        w.sign(0, &cp, &[Some(now()), Some(now())]),
    )
    .unwrap();
    let err = w.refused(123, "inconsistent smaller checkpoint");
    assert!(err.contains("split view"), "{err}");
}

#[test]
fn gossip_import_reveals_a_fork() {
    let w = World::ready(1);
    w.runs();
    let out = w.run(&["gossip", "export"]);
    assert_eq!(out.status.code(), Some(0));
    let exported = w.root.join("export.txt");
    fs::write(&exported, &out.stdout).unwrap();
    assert_eq!(
        w.run(&["gossip", "import", exported.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    let mut cp = w.checkpoint(0);
    cp.root.0[9] ^= 1;
    let forked = w.root.join("forked.checkpoint");
    fs::write(&forked, w.sign(0, &cp, &[None, None])).unwrap();
    let out = w.run(&["gossip", "import", forked.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(123),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fs::read_dir(w.root.join("state/evidence")).unwrap().count() == 1);
}

/// What `gossip import` is given is read capped and from regular files
/// only: a FIFO (which would block the read for ever) is refused at once
/// (125), and a peer's line of megabytes is echoed bounded.
#[test]
fn gossip_import_refuses_a_fifo_and_bounds_what_it_echoes() {
    let w = World::ready(1);
    let fifo = w.root.join("peer.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let start = std::time::Instant::now();
    let out = w.run(&["gossip", "import", fifo.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    let long = w.root.join("long.txt");
    fs::write(
        &long,
        format!(
            "{}
",
            "x".repeat(3 << 20)
        ),
    )
    .unwrap();
    let out = w.run(&["gossip", "import", long.to_str().unwrap()]);
    assert!(out.stderr.len() < 4096, "{} bytes echoed", out.stderr.len());
}

#[test]
fn fifty_processes_at_once_on_a_fresh_state() {
    let w = World::ready(2);
    let children: Vec<_> = (0..50)
        .map(|_| {
            Command::new(BT_EXEC)
                .args(["verify", w.prog.to_str().unwrap()])
                .env("BT_EXEC_CACHE_DIR", w.root.join("cache"))
                .env("BT_EXEC_STATE_DIR", w.root.join("state"))
                .env("BT_EXEC_POLICY", w.root.join("policy.toml"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    w.runs();
    assert_eq!(
        w.run(&["--offline", w.prog.to_str().unwrap()])
            .status
            .code(),
        Some(3)
    );
}

/// Starts a Python helper server and returns it with its URL.
#[test]
fn two_logs_over_http_and_file_with_real_witnesses() {
    // Log 0 is served by an ordinary static file server, log 1 is file://;
    // both ask two `bt-log witness serve` witnesses for cosignatures.
    let mut w = World::new(2);
    let mut witnesses = vec![];
    for (i, (_, v)) in w.witnesses.iter().enumerate() {
        let logs: Vec<&str> = w.logs.iter().map(|l| l.vkey.as_str()).collect();
        let mut args = vec!["witness", "serve", "--key"];
        let key = w.root.join(format!("w{}.key", i + 1));
        let state = w.root.join(format!("w{i}-state"));
        args.push(key.to_str().unwrap());
        args.push("--state");
        args.push(state.to_str().unwrap());
        for l in &logs {
            args.push("--log");
            args.push(l);
        }
        let p = common::spawn_server(&args);
        witnesses.push((p.addr.clone(), v.clone(), p));
    }
    for (i, l) in w.logs.iter().enumerate() {
        let cfg = l.dir.join(".bt-log/config.toml");
        let mut text = fs::read_to_string(&cfg)
            .unwrap()
            .replace("witness = []\n", "");
        for (url, v, _) in &witnesses {
            text.push_str(&format!("\n[[witness]]\nurl = \"{url}\"\nvkey = \"{v}\"\n"));
        }
        fs::write(&cfg, text).unwrap();
        w.publish(i, &w.prog, "pub.key");
    }
    let (_http, url) = common::helper_server(&["-c", "import http.server,socketserver,sys,os;os.chdir(sys.argv[1]);s=socketserver.TCPServer(('127.0.0.1',0),http.server.SimpleHTTPRequestHandler);print(s.server_address[1],flush=True);s.serve_forever()", w.logs[0].dir.to_str().unwrap()]);
    w.logs[0].url = url;
    w.policy("logs = 2\nmax_age = \"1h\"");
    w.runs();
    let out = w.run(&["verify", "--json", w.prog.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let origins: Vec<&str> = v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["origin"].as_str().unwrap())
        .collect();
    assert_eq!(origins, ["example.org/log0", "example.org/log1"]);
    assert!(v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|l| l["result"] == "proven" && l["cosigners"].as_array().unwrap().len() == 2));
}

#[test]
fn independent_log_with_a_sidecar_proof() {
    if !common::python_interop("independent_log_with_a_sidecar_proof") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("log");
    let gen = |env: &[(&str, &str)]| common::independent_log(&dir, 300, env);
    let meta = gen(&[("PROOF_AT", "260")]);
    let policy = tmp.path().join("policy.toml");
    fs::write(&policy, format!(
        "trust = \"\"\"\nlog {} file://{}\nquorum none\n\"\"\"\n[[publisher]]\nnames = [\"example.net/*\"]\nkey = \"{}\"\n",
        meta["log_vkey"].as_str().unwrap(), dir.display(), meta["publisher"].as_str().unwrap()
    )).unwrap();
    let run = |extra: &str| {
        let prog = dir.join("release-260");
        let out = Command::new(BT_EXEC)
            .arg(&prog)
            .env(
                "BT_EXEC_CACHE_DIR",
                tmp.path().join(format!("cache{extra}")),
            )
            .env(
                "BT_EXEC_STATE_DIR",
                tmp.path().join(format!("state{extra}")),
            )
            .env("BT_EXEC_POLICY", &policy)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run("a");
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "independent release 260\n"),
        "{err}"
    );
    // Without the sidecar there is no index to find it: refused.
    let proof = dir.join("release-260.tlog-proof");
    let saved = fs::read(&proof).unwrap();
    fs::remove_file(&proof).unwrap();
    assert_eq!(run("b").0, Some(126));
    // A flipped hash in the proof, a flipped byte in the entry: refused, no fallback.
    let text = String::from_utf8(saved.clone()).unwrap();
    let hash_line = text.lines().nth(3).unwrap().to_string();
    let mut flipped = hash_line.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    fs::write(
        &proof,
        text.replace(&hash_line, std::str::from_utf8(&flipped).unwrap()),
    )
    .unwrap();
    assert_eq!(run("c").0, Some(126));
    let extra_line = text.lines().nth(1).unwrap().to_string();
    let mut flipped = extra_line.clone().into_bytes();
    flipped[40] = if flipped[40] == b'A' { b'B' } else { b'A' };
    fs::write(
        &proof,
        text.replace(&extra_line, std::str::from_utf8(&flipped).unwrap()),
    )
    .unwrap();
    assert_eq!(run("d").0, Some(126));
    // An entry with a bad publisher signature, proven in the log.
    gen(&[("PROOF_AT", "260"), ("CORRUPT_SIG_AT", "260")]);
    let (code, _, err) = run("e");
    assert_eq!(code, Some(126), "{err}");
    assert!(err.contains("publisher signature does not verify"), "{err}");
    // A fork in a proof file after the client saw the original: same key,
    // same size, another tree (different release at index 0).
    gen(&[("PROOF_AT", "260")]);
    assert_eq!(run("f").0, Some(0));
    let forked_dir = tmp.path().join("fork");
    common::independent_log(
        &forked_dir,
        300,
        &[("PROOF_AT", "260"), ("CORRUPT_SIG_AT", "3")],
    );
    fs::copy(forked_dir.join("release-260.tlog-proof"), &proof).unwrap();
    let (code, _, err) = run("f");
    assert_eq!(code, Some(123), "{err}");
    assert!(err.contains("split view"), "{err}");
}

#[test]
fn endless_or_stalled_servers_are_bounded() {
    for mode in ["endless", "slow"] {
        let w = World::ready(1);
        let (_srv, url) = common::helper_server(&[
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/bad_server.py"),
            mode,
        ]);
        let mut w = w;
        w.logs[0].url = url;
        w.policy("logs = 1");
        let start = std::time::Instant::now();
        // Served data over its cap is the log unreachable, never a
        // refusal: anyone on the path could have sent it (DESIGN §6).
        let err = w.refused(124, mode);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(40),
            "{mode}: took {:?}",
            start.elapsed()
        );
        assert!(
            err.contains("more than")
                || err.contains("reached")
                || err.contains("deadline")
                || err.contains("timed out"),
            "{mode}: {err}"
        );
    }
}
