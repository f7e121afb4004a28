//! Audit mode, policy expiry and `bt-exec policy check`.

mod common;

use std::fs;

use common::world::{now, World};

fn set_policy(w: &World, f: impl Fn(String) -> String) {
    let p = w.root.join("policy.toml");
    let text = fs::read_to_string(&p).unwrap();
    fs::write(&p, f(text)).unwrap();
}

fn tamper(w: &World) {
    let mut b = fs::read(&w.prog).unwrap();
    b.extend_from_slice(b"\n# tampered\n");
    fs::write(&w.prog, b).unwrap();
}

#[test]
fn audit_mode_runs_what_it_would_refuse_and_records_why() {
    let w = World::ready(1);
    tamper(&w);
    w.refused(126, "tampered, enforcing");
    set_policy(&w, |t| format!("mode = \"audit\"\n{t}"));
    let err = w.runs();
    assert!(err.contains("AUDIT: would refuse"), "{err}");
    let log = fs::read_to_string(w.root.join("state/audit.jsonl")).unwrap();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(last["verdict"], "would refuse: hash mismatch", "{log}");
    assert_eq!(last["exit_code"], 126);
    // status sums it up.
    let out = w.run(&["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 would have been refused"), "{text}");
    assert!(text.contains("would refuse: hash mismatch"), "{text}");
}

#[test]
fn audit_flag_and_a_split_view_still_exits_123() {
    let w = World::ready(1);
    w.runs();
    // --audit on the command line, a proven run: recorded as "run".
    let out = w.run(&["--audit", w.prog.to_str().unwrap(), "a"]);
    assert_eq!(out.status.code(), Some(3));
    let log = fs::read_to_string(w.root.join("state/audit.jsonl")).unwrap();
    assert!(log.contains("\"verdict\":\"run\""), "{log}");
    // The log forks (same size, another root, signed by the log key).
    let mut cp = w.checkpoint(0);
    cp.root.0[3] ^= 1;
    let note = w.sign(0, &cp, &[Some(now()), Some(now())]);
    fs::write(w.logs[0].dir.join("checkpoint"), note).unwrap();
    set_policy(&w, |t| format!("mode = \"audit\"\n{t}"));
    w.refused(123, "split view in audit mode");
}

#[test]
fn an_expired_policy_is_refused_with_its_date() {
    let w = World::ready(1);
    set_policy(&w, |t| format!("expires = 2020-06-01\n{t}"));
    let err = w.refused(125, "expired policy");
    assert!(err.contains("expired on 2020-06-01"), "{err}");
    set_policy(&w, |t| {
        t.replace("expires = 2020-06-01", "expires = 2999-01-01")
    });
    w.runs();
    set_policy(&w, |t| {
        t.replace("expires = 2999-01-01", "expires = \"soon\"")
    });
    w.refused(125, "expires is not a date");
}

#[test]
fn policy_check_prints_what_a_policy_trusts() {
    let w = World::ready(2);
    set_policy(&w, |t| format!("expires = 2999-01-01\n{t}"));
    let p = w.root.join("policy.toml");
    let out = w.run(&["policy", "check", p.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for want in [
        "valid",
        "log example.org/log0",
        "log example.org/log1",
        "witness w0",
        "quorum: both: 2 of (w0, w1)",
        "may publish example.org/*",
        "logs 2 of 2",
        "mode: enforce",
        "expires: 2999-01-01",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    set_policy(&w, |t| {
        t.replace("expires = 2999-01-01", "expires = 2001-01-01")
    });
    let out = w.run(&["policy", "check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    set_policy(&w, |t| t.replace("[require]", "[require]\nlatests = true"));
    let out = w.run(&["policy", "check", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line"), "{err}");
}

/// Logs an attestation: `key`'s own entry for `file` as example.org/prog 1.0,
/// with the source it was rebuilt from.
fn attest(w: &World, file: &std::path::Path, key: &str) {
    let dir = w.logs[0].dir.to_str().unwrap().to_string();
    let key = w.root.join(key);
    let (c, _, e) = common::bt_log(&[
        "add",
        &dir,
        file.to_str().unwrap(),
        "--name",
        "example.org/prog",
        "--version",
        "1.0",
        "--publisher-key",
        key.to_str().unwrap(),
        "--source-repo",
        "https://example.org/prog.git",
        "--source-rev",
        "v1.0",
    ]);
    assert_eq!(c, 0, "{e}");
}

#[test]
fn rebuilders_k_of_n() {
    let w = World::new(1);
    w.publish(0, &w.prog, "pub.key");
    let r1 = common::keygen(&w.root, "r1.example", "r1.key");
    let r2 = common::keygen(&w.root, "r2.example", "r2.key");
    attest(&w, &w.prog, "r1.key");
    // Attestations that must not count: an unlisted key, and r2 vouching
    // for other bytes under the same name and version.
    attest(&w, &w.prog, "evil.key");
    let other = w.root.join("other");
    fs::write(&other, "#!/bin/sh\necho other\n").unwrap();
    attest(&w, &other, "r2.key");
    w.cosign(0, &[Some(now()), Some(now())]);
    w.policy("max_age = \"1h\"\nrebuilders = 2");
    set_policy(&w, |t| {
        format!("{t}\n[[rebuilder]]\nname = \"r1\"\nkey = \"{r1}\"\n\n[[rebuilder]]\nname = \"r2\"\nkey = \"{r2}\"\n")
    });
    let err = w.refused(126, "one of two rebuilders");
    assert!(err.contains("attested by [r1], missing [r2]"), "{err}");
    // r2 rebuilds the same bytes: both attest, it runs.
    attest(&w, &w.prog, "r2.key");
    w.cosign(0, &[Some(now()), Some(now())]);
    w.runs();
    let out = w.run(&["verify", "--json", w.prog.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rebuilders"], serde_json::json!(["r1", "r2"]), "{v}");
    // Warm, from the cached attestations.
    set_policy(&w, |t| t.replace("refresh = \"0s\"", "refresh = \"5m\""));
    w.runs();
    // A policy asking for more rebuilders than it lists is a configuration error.
    set_policy(&w, |t| t.replace("rebuilders = 2", "rebuilders = 3"));
    w.refused(125, "rebuilders > listed");
}
