//! `bt-log monitor --rekor` against a Rekor v2 log written by the
//! independent Python writer (tests/interop/sigstore_make.py and
//! rekor_log.py) and served by `python3 -m http.server`: every entry is
//! listed with its digest and signer; the filters list only what matches
//! while everything is verified; a flipped byte in a hash tile or an entry
//! bundle, and a fork, fail the pass with nothing saved; a second pass
//! lists only what is new; witnesses are required; a watched identity
//! signing through another issuer is an alert.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{copy_dir, keygen, python_http_server, python_interop, spawn_server, BT_LOG};
use sha2::{Digest, Sha256};

const ISSUER: &str = "https://issuer.example";

/// A test Sigstore instance whose Rekor v2 log the monitor follows.
struct Rekor {
    tmp: tempfile::TempDir,
    dir: PathBuf,
    vkey: String,
    signed: usize,
}

fn python(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&common::sigstore_make(args)).unwrap()
}

impl Rekor {
    fn new() -> Rekor {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("sigstore");
        python(&["init", dir.to_str().unwrap(), "--no-rekor-v1"]);
        let vkey = fs::read_to_string(dir.join("rekor_v2.vkey"))
            .unwrap()
            .trim()
            .to_string();
        Rekor {
            tmp,
            dir,
            vkey,
            signed: 0,
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// Signs a new artifact with `how` (sign's own flags); returns its
    /// SHA-256 (hex) and the log index.
    fn sign(&mut self, how: &[&str]) -> (String, u64) {
        self.signed += 1;
        let artifact = self.tmp.path().join(format!("artifact-{}", self.signed));
        fs::write(&artifact, format!("release {}\n", self.signed)).unwrap();
        let bundle = self.tmp.path().join(format!("bundle-{}.json", self.signed));
        let mut args = vec![
            "sign",
            self.dir.to_str().unwrap(),
            "--artifact",
            artifact.to_str().unwrap(),
            "--out",
            bundle.to_str().unwrap(),
        ];
        args.extend_from_slice(how);
        let out = python(&args);
        let digest = hex::encode(Sha256::digest(fs::read(&artifact).unwrap()));
        (digest, out["log_index"].as_u64().unwrap())
    }

    fn keyless(&mut self, identity: &str) -> (String, u64) {
        self.sign(&["--identity", identity, "--issuer", ISSUER])
    }

    fn state(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// A key of the writer's (`--ed25519` or P-256): the private and public PEM files.
    fn key(&self, name: &str, ed25519: bool) -> (String, PathBuf) {
        let path = self.tmp.path().join(format!("{name}.pem"));
        let mut args = vec!["keygen", path.to_str().unwrap()];
        if ed25519 {
            args.push("--ed25519");
        }
        python(&args);
        (
            path.to_str().unwrap().to_string(),
            self.tmp.path().join(format!("{name}.pub")),
        )
    }
}

/// One pass over the log at `url`; returns (status, stdout, stderr).
fn monitor(url: &str, vkey: &str, state: &Path, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new(BT_LOG)
        .args(["monitor", url, "--rekor", "--key", vkey, "--state"])
        .arg(state)
        .args(extra)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
    )
}

fn entries(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn indexes(stdout: &str) -> Vec<u64> {
    entries(stdout)
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect()
}

/// The state directory's saved checkpoint for this log, if a pass saved one.
fn saved(state: &Path) -> Option<Vec<u8>> {
    let dir = fs::read_dir(state.join("monitor-rekor"))
        .ok()?
        .next()?
        .ok()?;
    fs::read(dir.path().join("checkpoint")).ok()
}

/// A public key's SHA-256, as bt-exec names keys.
fn fingerprint(pem: &Path) -> String {
    bt_exec::sigstore::Key::from_pem(&fs::read_to_string(pem).unwrap())
        .unwrap()
        .fingerprint
}

/// One entry as `--json` lists it: a hashedrekord of `digest` (hex) by
/// `signer`, its signature checked or not, no alert.
fn assert_entry(g: &serde_json::Value, digest: &str, signer: serde_json::Value, checked: bool) {
    assert_eq!(g["kind"], "hashedrekord", "{g}");
    assert_eq!(
        g["digest"], digest,
        "a message signature logs the artifact's digest: {g}"
    );
    assert_eq!(
        (&g["digest_algorithm"], &g["digest_of"]),
        (&"sha256".into(), &"signed_bytes".into())
    );
    assert_eq!(g["signers"], serde_json::json!([signer]), "{g}");
    assert_eq!(g["signatures_checked"], checked, "{g}");
    assert_eq!(g["alerts"], serde_json::json!([]));
}

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= 1;
    fs::write(path, b).unwrap();
}

#[test]
fn lists_every_entry_of_a_served_rekor_log_with_digest_and_identity() {
    if !python_interop("lists_every_entry_of_a_served_rekor_log_with_digest_and_identity") {
        return;
    }
    let mut r = Rekor::new();
    let (p256, p256_pub) = r.key("p256", false);
    let (ed, ed_pub) = r.key("ed", true);
    let a = r.keyless("alice@example.com");
    let b = r.sign(&[
        "--identity",
        "https://github.com/o/r/.github/workflows/r.yml@refs/tags/v1",
        "--issuer",
        "https://token.actions.githubusercontent.com",
    ]);
    let c = r.sign(&[
        "--identity",
        "alice@example.com",
        "--issuer",
        ISSUER,
        "--dsse",
    ]);
    let d = r.sign(&["--key", &p256]);
    let e = r.sign(&["--key", &ed]);
    assert_eq!([a.1, b.1, c.1, d.1, e.1], [0, 1, 2, 3, 4]);
    let (_http, url) = python_http_server(&r.log());
    let (code, out, err) = monitor(&url, &r.vkey, &r.state("s"), &["--json"]);
    assert_eq!(code, 0, "{err}");
    let got = entries(&out);
    assert_eq!(indexes(&out), vec![0, 1, 2, 3, 4], "{out}");
    let fp = fingerprint;
    let email = serde_json::json!({"identity": "alice@example.com", "identity_type": "email", "other_identities": [], "issuer": ISSUER});
    assert_entry(&got[0], &a.0, email, true);
    let workflow = serde_json::json!({
        "identity": "https://github.com/o/r/.github/workflows/r.yml@refs/tags/v1",
        "identity_type": "uri",
        "other_identities": [],
        "issuer": "https://token.actions.githubusercontent.com",
    });
    assert_entry(&got[1], &b.0, workflow, true);
    assert_entry(
        &got[3],
        &d.0,
        serde_json::json!({"key_sha256": fp(&p256_pub)}),
        true,
    );
    // Ed25519 signs the artifact itself, which the log does not hold.
    assert_entry(
        &got[4],
        &e.0,
        serde_json::json!({"key_sha256": fp(&ed_pub)}),
        false,
    );
    // A DSSE attestation is logged with the digest of what was signed (its
    // PAE), not of the artifact its statement names.
    let g = &got[2];
    assert_ne!(g["digest"], c.0.as_str());
    assert_eq!(g["signers"][0]["identity"], "alice@example.com");
    // The text form, on a fresh state: one line each, in order.
    let (code, out, err) = monitor(&url, &r.vkey, &r.state("text"), &[]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        lines[0],
        format!(
            "0 hashedrekord sha256:{} alice@example.com (issuer {ISSUER})",
            a.0
        )
    );
    assert_eq!(
        lines[3],
        format!("3 hashedrekord sha256:{} key sha256:{}", d.0, fp(&p256_pub))
    );
    assert!(
        err.contains("verified at size 5 (5 new entries, 5 listed"),
        "{err}"
    );
}

#[test]
fn filters_list_only_matching_entries_and_everything_is_still_verified() {
    if !python_interop("filters_list_only_matching_entries_and_everything_is_still_verified") {
        return;
    }
    let mut r = Rekor::new();
    let (p256, p256_pub) = r.key("p256", false);
    let a = r.keyless("alice@example.com");
    r.keyless("bob@example.com");
    r.keyless("bob@example.org");
    r.sign(&["--key", &p256]);
    r.sign(&[
        "--identity",
        "alice@example.com",
        "--issuer",
        "https://other.example",
    ]);
    let (_http, url) = python_http_server(&r.log());
    let cases: Vec<(Vec<&str>, Vec<u64>)> = vec![
        (vec!["--identity", "alice@example.com"], vec![0, 4]),
        (
            vec![
                "--identity",
                "alice@example.com",
                "--issuer",
                "https://other.example",
            ],
            vec![0, 4],
        ),
        (vec!["--identity", "bob@*"], vec![1, 2]),
        (
            vec![
                "--identity",
                "bob@*",
                "--identity",
                "alice@example.com",
                "--issuer",
                ISSUER,
            ],
            vec![0, 1, 2, 4],
        ),
        (vec!["--signer-key", p256_pub.to_str().unwrap()], vec![3]),
        (vec!["--sha256", &a.0], vec![0]),
        (vec!["--sha256", &a.0, "--identity", "bob@*"], vec![]),
        (vec!["--identity", "carol@example.com"], vec![]),
    ];
    for (i, (flags, want)) in cases.iter().enumerate() {
        let mut args = vec!["--json"];
        args.extend(flags);
        let (code, out, err) = monitor(&url, &r.vkey, &r.state(&format!("f{i}")), &args);
        // An alice certificate from another issuer than --issuer is listed
        // with an alert (status 4), whatever the filter.
        let alerts = entries(&out)
            .iter()
            .any(|e| e["alerts"] != serde_json::json!([]));
        assert_eq!(code, if alerts { 4 } else { 0 }, "{flags:?}: {err}");
        assert_eq!(&indexes(&out), want, "{flags:?}: {out}");
        assert!(
            err.contains("verified at size 5 (5 new entries"),
            "{flags:?}: {err}"
        );
    }
    // A filter that matches nothing still reads and checks every entry.
    let bad = r.state("bad-log");
    copy_dir(&r.log(), &bad);
    flip(&bad.join("tile/entries/000.p/5"), 300);
    let (_bad_http, bad_url) = python_http_server(&bad);
    let (code, out, err) = monitor(
        &bad_url,
        &r.vkey,
        &r.state("f-bad"),
        &["--identity", "carol@example.com"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty() && err.contains("bad log data"), "{err}");
}

/// Flags for one kind of log are usage errors with the other; a pattern
/// that is only `*` (everyone) is refused.
#[test]
fn flags_for_one_kind_of_log_are_usage_errors_with_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let vkey = keygen(tmp.path(), "rekor.test.invalid", "log.key");
    let url = format!("file://{}", tmp.path().join("none").display());
    for args in [
        vec!["--identity", "alice@example.com"],
        vec!["--sha256", "00"],
        vec!["--signer-key", "k.pub"],
        vec!["--rekor", "--name", "x"],
        vec!["--rekor", "--rebuilder", "r=AAAA"],
        vec!["--rekor", "--issuer", ISSUER],
    ] {
        let out = Command::new(BT_LOG)
            .args(["monitor", &url, "--key", &vkey])
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let state = tmp.path().join("s");
    for (flags, what) in [
        (["--identity", "*"], "--identity"),
        (["--sha256", "abcd"], "--sha256"),
    ] {
        let (code, _, err) = monitor(&url, &vkey, &state, &flags);
        assert_eq!(code, 1, "{err}");
        assert!(err.contains(what), "{err}");
    }
}

#[test]
fn a_flipped_byte_in_a_hash_tile_or_an_entry_bundle_is_rejected_and_nothing_is_saved() {
    if !python_interop(
        "a_flipped_byte_in_a_hash_tile_or_an_entry_bundle_is_rejected_and_nothing_is_saved",
    ) {
        return;
    }
    let mut r = Rekor::new();
    for i in 0..3 {
        r.keyless(&format!("dev{i}@example.com"));
    }
    for (file, at) in [("tile/0/000.p/3", 70), ("tile/entries/000.p/3", 500)] {
        let bad = r.state(&format!("bad-{}", file.replace('/', "_")));
        copy_dir(&r.log(), &bad);
        flip(&bad.join(file), at);
        let (_http, url) = python_http_server(&bad);
        let state = r.state("s");
        let (code, out, err) = monitor(&url, &r.vkey, &state, &[]);
        assert_eq!(code, 1, "{file}: {err}");
        assert!(
            out.is_empty(),
            "nothing listed from a log that did not verify: {out}"
        );
        assert!(
            err.contains("FAULT") && err.contains("bad log data"),
            "{file}: {err}"
        );
        assert!(saved(&state).is_none(), "{file}: nothing saved");
    }
    let (_http, url) = python_http_server(&r.log());
    let (code, out, err) = monitor(&url, &r.vkey, &r.state("s"), &[]);
    assert_eq!((code, out.lines().count()), (0, 3), "{err}");
}

#[test]
fn a_second_pass_after_more_signs_lists_only_the_new_entries() {
    if !python_interop("a_second_pass_after_more_signs_lists_only_the_new_entries") {
        return;
    }
    let mut r = Rekor::new();
    r.keyless("alice@example.com");
    r.keyless("bob@example.com");
    let (_http, url) = python_http_server(&r.log());
    let state = r.state("s");
    let (code, out, err) = monitor(&url, &r.vkey, &state, &["--json"]);
    assert_eq!((code, indexes(&out)), (0, vec![0, 1]), "{err}");
    r.keyless("carol@example.com");
    r.sign(&[
        "--identity",
        "alice@example.com",
        "--issuer",
        ISSUER,
        "--dsse",
    ]);
    let (code, out, err) = monitor(&url, &r.vkey, &state, &["--json"]);
    assert_eq!((code, indexes(&out)), (0, vec![2, 3]), "{err}");
    assert!(err.contains("verified at size 4 (2 new entries"), "{err}");
    let (code, out, err) = monitor(&url, &r.vkey, &state, &["--json"]);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
}

#[test]
fn a_forked_log_is_a_split_view_with_evidence() {
    if !python_interop("a_forked_log_is_a_split_view_with_evidence") {
        return;
    }
    let mut r = Rekor::new();
    r.keyless("alice@example.com");
    // The same instance (the same log key) copied: from here on, two trees.
    let fork_dir = r.tmp.path().join("fork");
    copy_dir(&r.dir, &fork_dir);
    r.keyless("alice@example.com");
    let mut fork = Rekor {
        tmp: tempfile::tempdir().unwrap(),
        dir: fork_dir,
        vkey: r.vkey.clone(),
        signed: 100,
    };
    fork.keyless("mallory@example.com");
    let state = r.state("s");
    let (_http, url) = python_http_server(&r.log());
    let (code, _, err) = monitor(&url, &r.vkey, &state, &[]);
    assert_eq!(code, 0, "{err}");
    let before = saved(&state);
    let (_fork_http, fork_url) = python_http_server(&fork.log());
    let (code, out, err) = monitor(&fork_url, &r.vkey, &state, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("split view") && err.contains("two different trees of size 2"),
        "{err}"
    );
    assert!(
        err.contains("checkpoint saved by an earlier pass"),
        "both notes: {err}"
    );
    let dir = fs::read_dir(state.join("monitor-rekor"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let evidence = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("evidence"))
        .count();
    assert_eq!(evidence, 1);
    // The fork grown further is still not an extension of the saved tree.
    fork.keyless("mallory@example.com");
    let (code, _, err) = monitor(&fork_url, &r.vkey, &state, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("split view"), "{err}");
    assert_eq!(saved(&state), before);
}

#[test]
fn witnesses_cosign_and_are_required_and_another_issuer_is_an_alert() {
    if !python_interop("witnesses_cosign_and_are_required_and_another_issuer_is_an_alert") {
        return;
    }
    let mut r = Rekor::new();
    let wkey = keygen(r.tmp.path(), "witness.example", "w.key");
    let other = keygen(r.tmp.path(), "other.example", "o.key");
    let w = spawn_server(&[
        "witness",
        "serve",
        "--key",
        r.tmp.path().join("w.key").to_str().unwrap(),
        "--state",
        r.tmp.path().join("w-state").to_str().unwrap(),
        "--log",
        &r.vkey,
    ]);
    let witnessed = [
        "--identity",
        "alice@example.com",
        "--issuer",
        ISSUER,
        "--witness",
        &w.addr,
    ];
    r.sign(&witnessed);
    let (_http, url) = python_http_server(&r.log());
    let state = r.state("s");
    let (code, _, err) = monitor(&url, &r.vkey, &state, &["--witness", &other]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("other.example"),
        "the missing witness named: {err}"
    );
    assert!(saved(&state).is_none());
    let watch = [
        "--witness",
        &wkey,
        "--identity",
        "alice@example.com",
        "--issuer",
        ISSUER,
        "--json",
    ];
    let (code, out, err) = monitor(&url, &r.vkey, &state, &watch);
    assert_eq!((code, indexes(&out)), (0, vec![0]), "{err}");
    // Alice's identity vouched for by another identity provider.
    r.sign(&[
        "--identity",
        "alice@example.com",
        "--issuer",
        "https://evil.example",
        "--witness",
        &w.addr,
    ]);
    let (code, out, err) = monitor(&url, &r.vkey, &state, &watch);
    assert_eq!(code, 4, "{err}");
    assert_eq!(indexes(&out), vec![1]);
    let alert = "alice@example.com signed with a certificate from OIDC issuer https://evil.example, not https://issuer.example";
    assert!(err.contains(&format!("ALERT at index 1: {alert}")), "{err}");
    assert_eq!(entries(&out)[0]["alerts"], serde_json::json!([alert]));
}

#[test]
fn what_the_log_says_is_shown_escaped() {
    if !python_interop("what_the_log_says_is_shown_escaped") {
        return;
    }
    let mut r = Rekor::new();
    r.sign(&[
        "--identity",
        "ev\u{1b}[2Jil@example.com",
        "--issuer",
        "https://i\u{202e}ss.example",
    ]);
    let (_http, url) = python_http_server(&r.log());
    for (i, json) in [false, true].into_iter().enumerate() {
        let args: &[&str] = if json { &["--json"] } else { &[] };
        let (code, out, err) = monitor(&url, &r.vkey, &r.state(&format!("s{i}")), args);
        assert_eq!(code, 0, "{err}");
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{202e}'),
            "{out:?}"
        );
        let shown = if json {
            let e = &entries(&out)[0]["signers"][0];
            format!(
                "{} (issuer {})",
                e["identity"].as_str().unwrap(),
                e["issuer"].as_str().unwrap()
            )
        } else {
            out.trim()
                .splitn(4, ' ')
                .nth(3)
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(
            shown,
            "ev\\u{1b}[2Jil@example.com (issuer https://i\\u{202e}ss.example)"
        );
    }
}
