//! Sigstore bundles (docs/SIGSTORE.md) through `bt-exec verify-bundle`,
//! the Sigstore conformance suite's client protocol: every case of
//! `../shared/vectors/sigstore/conformance/bundle-verify/` gives its verdict,
//! each failing case for the cause its README names; the real bundles of
//! `../shared/vectors/sigstore-real/` give the verdicts their README states.

mod common;

use std::path::Path;
use std::process::Command;

const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Each failing case and the cause(s) its README names, as `verify-bundle
/// --json` calls them. Two causes where the README's words fit both: an
/// entry altered after logging is refused by whichever proof of the log
/// covers it first (the inclusion proof, or the SET), and an entry for
/// other bytes is refused as an artifact mismatch or an entry mismatch.
const FAIL_CAUSES: &[(&str, &[&str])] = &[
    ("bundle-empty-certificate-chain_fail", &["certificate"]),
    ("bundle-from-wrong-instance_fail", &["unknown-log"]),
    ("bundle-invalid-base64-signature_fail", &["bundle"]),
    ("bundle-malformed-json_fail", &["bundle"]),
    ("bundle-negative-log-index_fail", &["bundle"]),
    ("bundle-unknown-version_fail", &["bundle"]),
    ("bundle-with-root-cert_fail", &["certificate"]),
    ("checkpoint-bad-keyhint_fail", &["checkpoint"]),
    ("checkpoint-wrong-roothash_fail", &["checkpoint"]),
    ("dsse-invalid-sig_fail", &["signature"]),
    ("dsse-mismatch-envelope_fail", &["log-entry"]),
    ("dsse-mismatch-sig_fail", &["log-entry"]),
    ("inclusion-proof-corrupted-hash_fail", &["inclusion-proof"]),
    (
        "incorrect-public-key_fail",
        &["inclusion-proof", "inclusion-promise"],
    ),
    ("integrated-time-in-future_fail", &["certificate"]),
    ("intoto-expired-certificate_fail", &["certificate"]),
    ("intoto-log-entry-mismatch_fail", &["log-entry"]),
    ("intoto-missing-inclusion-proof_fail", &["inclusion-proof"]),
    (
        "intoto-set-outside-signing-cert-validity_fail",
        &["certificate"],
    ),
    (
        "intoto-tsa-timestamp-outside-cert-validity_fail",
        &["certificate"],
    ),
    ("invalid-checkpoint-signature_fail", &["checkpoint"]),
    ("invalid-ct-key_fail", &["sct"]),
    ("invalid-inclusion-proof_fail", &["inclusion-proof"]),
    ("managed-key-no-key_fail", &["key"]),
    ("managed-key-wrong-key_fail", &["key"]),
    ("message-digest-mismatch_fail", &["artifact"]),
    (
        "rekor2-checkpoint-missing-log-signature_fail",
        &["checkpoint"],
    ),
    ("rekor2-checkpoint-missing-origin_fail", &["checkpoint"]),
    ("rekor2-checkpoint-missing-root-hash_fail", &["checkpoint"]),
    ("rekor2-checkpoint-missing-size_fail", &["checkpoint"]),
    (
        "rekor2-checkpoint-no-matching-signature_fail",
        &["checkpoint"],
    ),
    ("rekor2-dsse-invalid-sig_fail", &["signature"]),
    (
        "rekor2-dsse-mismatch-envelope_fail",
        &["log-entry", "artifact"],
    ),
    ("rekor2-dsse-mismatch-sig_fail", &["log-entry"]),
    ("rekor2-no-inclusion-proof_fail", &["inclusion-proof"]),
    ("rekor2-no-timestamp_fail", &["timestamp"]),
    (
        "rekor2-timestamp-outside-trust-root-tsa-validity_fail",
        &["timestamp"],
    ),
    (
        "rekor2-timestamp-outside-tsa-cert-validity_fail",
        &["timestamp"],
    ),
    ("rekor2-timestamp-payload-mismatch_fail", &["timestamp"]),
    (
        "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        &["timestamp"],
    ),
    (
        "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
        &["timestamp"],
    ),
    (
        "rekor2-timestamp-with-incorrect-time_fail",
        &["certificate"],
    ),
    ("set-invalid-signature_fail", &["inclusion-promise"]),
    ("signature-mismatch_fail", &["signature"]),
    (
        "trust-root-tlog-missing-validity-start_fail",
        &["trust-root"],
    ),
    ("wrong-hashedrekord-artifact_fail", &["artifact"]),
    ("wrong-hashedrekord-cert-and-sig_fail", &["log-entry"]),
    ("wrong-hashedrekord-entry_fail", &["log-entry", "artifact"]),
    ("wrong-material_fail", &["artifact"]),
];

/// `bt-exec ARGS` with a fresh HOME: (exit code, stdout, stderr).
fn bt_exec(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bt-exec"))
        .args(args)
        .env("HOME", home)
        .env_remove("BT_EXEC_POLICY")
        .output()
        .expect("bt-exec runs");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!e.contains("panicked"), "bt-exec {args:?} panicked: {e}");
    (out.status.code().unwrap_or(-1), o, e)
}

/// A conformance case's command line, exactly as the suite's protocol
/// orders it: `verify-bundle --bundle FILE (--certificate-identity ID
/// --certificate-oidc-issuer URL | --key FILE) --trusted-root FILE
/// FILE_OR_DIGEST`.
pub fn case_args(cases: &Path, case: &Path, trust_roots: &Path) -> Vec<String> {
    let read = |f: &str| {
        std::fs::read_to_string(case.join(f))
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut a = vec!["verify-bundle".into(), "--bundle".into()];
    a.push(case.join("bundle.sigstore.json").display().to_string());
    if case.join("key.pub").exists() {
        a.extend(["--key".into(), case.join("key.pub").display().to_string()]);
    } else {
        a.extend([
            "--certificate-identity".into(),
            read("identity").unwrap_or_else(|| DEFAULT_IDENTITY.into()),
            "--certificate-oidc-issuer".into(),
            read("issuer").unwrap_or_else(|| DEFAULT_ISSUER.into()),
        ]);
    }
    let root = if case.join("trusted_root.json").exists() {
        case.join("trusted_root.json")
    } else {
        trust_roots.join("production.trusted_root.json")
    };
    a.extend(["--trusted-root".into(), root.display().to_string()]);
    let artifact = if case.join("artifact").exists() {
        case.join("artifact")
    } else {
        cases.join("a.txt")
    };
    a.push(artifact.display().to_string());
    a
}

/// The conformance cases (one folder each), sorted.
fn case_names(cases: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(cases)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_conformance_case_gives_its_verdict_for_the_cause_its_readme_names() {
    let Some(v) = common::vectors("every_conformance_case_gives_its_verdict") else {
        return;
    };
    let cases = v.join("sigstore/conformance/bundle-verify");
    let roots = v.join("sigstore/trust-roots");
    let home = tempfile::tempdir().unwrap();
    let names = case_names(&cases);
    let (mut passed, mut failed) = (0, 0);
    for name in &names {
        let args = case_args(&cases, &cases.join(name), &roots);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = bt_exec(home.path(), &args);
        let mut with_json = args.clone();
        with_json.insert(1, "--json");
        let (_, out, _) = bt_exec(home.path(), &with_json);
        let doc: serde_json::Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("{name}: --json printed {out:?}: {e}"));
        if name.ends_with("_fail") {
            failed += 1;
            assert_ne!(code, 0, "{name} must fail: {err}");
            let causes = FAIL_CAUSES
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name}: a new failing case: read its README and add the cause it names to FAIL_CAUSES"))
                .1;
            let cause = doc["cause"].as_str().unwrap_or("none");
            assert!(
                causes.contains(&cause),
                "{name} failed for {cause}, its README names {causes:?}: {}",
                doc["reason"]
            );
        } else {
            passed += 1;
            assert_eq!(code, 0, "{name} must verify: {err}");
            assert_eq!(doc["verified"], true, "{name}: {doc}");
        }
    }
    assert_eq!(
        (passed, failed),
        (21, 49),
        "the 70 cases the vectors README lists"
    );
}

/// A verify-bundle run of a real bundle: (exit code, the --json document).
fn real(
    home: &Path,
    dir: &Path,
    bundle: &str,
    who: (&str, &str),
    root: &Path,
    artifact: &str,
) -> (i32, serde_json::Value) {
    let bundle = dir.join(bundle).display().to_string();
    let root = root.display().to_string();
    let (code, out, err) = bt_exec(
        home,
        &[
            "verify-bundle",
            "--json",
            "--bundle",
            &bundle,
            "--certificate-identity",
            who.0,
            "--certificate-oidc-issuer",
            who.1,
            "--trusted-root",
            &root,
            artifact,
        ],
    );
    let doc =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{bundle}: {out:?} {err}: {e}"));
    (code, doc)
}

#[test]
fn the_real_bundles_give_the_verdicts_their_readme_states() {
    let Some(v) = common::vectors("the_real_bundles_give_the_verdicts_their_readme_states") else {
        return;
    };
    let dir = v.join("sigstore-real");
    let prod = v.join("sigstore/trust-roots/production.trusted_root.json");
    let staging = v.join("sigstore/trust-roots/staging.trusted_root.json");
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    // A GitHub Actions release of rfc8785 0.1.2: Rekor v1 production.
    let gh = (
        "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
        DEFAULT_ISSUER,
    );
    let wheel = "sha256:c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201";
    let (code, doc) = real(
        h,
        &dir,
        "bundle_v3_github.whl.sigstore.json",
        gh,
        &prod,
        wheel,
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["bundle"]["log_index"], 79605083, "{doc}");
    assert_eq!(doc["bundle"]["rekor"], 1);
    assert_eq!(doc["bundle"]["timestamp_source"], "rekor-integrated-time");
    // One hex digit changed: other bytes.
    let other = wheel.replace("c4e9", "c4e8");
    let (code, doc) = real(
        h,
        &dir,
        "bundle_v3_github.whl.sigstore.json",
        gh,
        &prod,
        &other,
    );
    assert_eq!(
        (code, doc["cause"].as_str()),
        (126, Some("artifact")),
        "{doc}"
    );
    // Another signer asked for: refused naming who signed.
    let (code, doc) = real(
        h,
        &dir,
        "bundle_v3_github.whl.sigstore.json",
        (DEFAULT_IDENTITY, DEFAULT_ISSUER),
        &prod,
        wheel,
    );
    assert_eq!(
        (code, doc["cause"].as_str()),
        (126, Some("identity")),
        "{doc}"
    );
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("trailofbits/rfc8785.py"),
        "{doc}"
    );
    // CPython 3.12.5: a v0.1 bundle with no checkpoint, which a verifier
    // that requires a signed checkpoint must refuse.
    let py = ("thomas@python.org", "https://accounts.google.com");
    let tgz = "sha256:38dc4e2c261d49c661196066edbfb70fdb16be4a79cc8220c224dfeb5636d405";
    let (code, doc) = real(h, &dir, "Python-3.12.5.tgz.sigstore.json", py, &prod, tgz);
    assert_eq!(
        (code, doc["cause"].as_str()),
        (126, Some("checkpoint")),
        "{doc}"
    );
    // Rekor v2 staging: an Ed25519 checkpoint and an RFC 3161 timestamp.
    let txt = dir.join("staging-rekor-v2.txt").display().to_string();
    let (code, doc) = real(
        h,
        &dir,
        "staging-rekor-v2.txt.sigstore.json",
        ("jku@goto.fi", "https://github.com/login/oauth"),
        &staging,
        &txt,
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["bundle"]["rekor"], 2);
    assert_eq!(doc["bundle"]["timestamp_source"], "rfc3161");
    // The production root does not list the staging log.
    let (code, doc) = real(
        h,
        &dir,
        "staging-rekor-v2.txt.sigstore.json",
        ("jku@goto.fi", "https://github.com/login/oauth"),
        &prod,
        &txt,
    );
    assert_eq!(
        (code, doc["cause"].as_str()),
        (126, Some("unknown-log")),
        "{doc}"
    );
    // A DSSE entry whose checkpoint carries three real cosignatures; its
    // in-toto statement's subject is the conformance suite's a.txt.
    let a_txt = v.join("sigstore/conformance/a.txt").display().to_string();
    let (code, doc) = real(
        h,
        &dir,
        "a.dsse.staging-rekor-v2.txt.sigstore.json",
        (DEFAULT_IDENTITY, DEFAULT_ISSUER),
        &staging,
        &a_txt,
    );
    assert_eq!(code, 0, "{doc}");
    assert_eq!(
        doc["bundle"]["log"]["origin"], "log2025-alpha3.rekor.sigstage.dev",
        "{doc}"
    );
}

/// The conformance cases sigstore-python cannot express, or reads against
/// the suite, and why: bt-exec follows the suite there.
const PYTHON_DIFFERS: &[(&str, &str)] = &[
    (
        "managed-key-happy-path",
        "sigstore-python has no managed-key verification",
    ),
    (
        "managed-key-and-trusted-root",
        "sigstore-python has no managed-key verification",
    ),
    (
        "managed-key-wrong-key_fail",
        "sigstore-python has no managed-key verification",
    ),
    (
        "intoto-with-custom-trust-root",
        "sigstore-python 4 refuses every intoto 0.0.2 entry",
    ),
    (
        "trust-root-tsa-validity-end-inclusive",
        "sigstore-python reads a TSA's validFor end as exclusive; the suite says inclusive",
    ),
];

/// sigstore-python's verdicts (`tests/interop/sigstore_verify.py --batch`)
/// on argument lists: "pass", "fail" or "unsupported".
fn python_verdicts(cases: &[Vec<String>]) -> Vec<String> {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/sigstore_verify.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg("--batch")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for c in cases {
        input.push_str(&serde_json::to_string(c).unwrap());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sigstore_verify.py --batch failed");
    let verdicts: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["verdict"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(verdicts.len(), cases.len());
    verdicts
}

/// Whether sigstore-python is installed (under CI it must be).
fn sigstore_python(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import sigstore.verify"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have sigstore-python (tests/requirements.txt)"
        );
        eprintln!("SKIP {test}: sigstore-python not found (pip install -r tests/requirements.txt)");
    }
    ok
}

#[test]
fn sigstore_python_agrees_on_every_verdict_both_can_express() {
    let test = "sigstore_python_agrees_on_every_verdict_both_can_express";
    let Some(v) = common::vectors(test) else {
        return;
    };
    if !sigstore_python(test) {
        return;
    }
    let cases = v.join("sigstore/conformance/bundle-verify");
    let roots = v.join("sigstore/trust-roots");
    let home = tempfile::tempdir().unwrap();
    let names = case_names(&cases);
    let args: Vec<Vec<String>> = names
        .iter()
        .map(|n| case_args(&cases, &cases.join(n), &roots))
        .collect();
    let python = python_verdicts(&args.iter().map(|a| a[1..].to_vec()).collect::<Vec<_>>());
    let mut compared = 0;
    for ((name, a), py) in names.iter().zip(&args).zip(&python) {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let ours = if bt_exec(home.path(), &a).0 == 0 {
            "pass"
        } else {
            "fail"
        };
        if let Some((_, why)) = PYTHON_DIFFERS.iter().find(|(n, _)| n == name) {
            eprintln!("{name}: bt-exec {ours}, sigstore-python {py} ({why})");
            continue;
        }
        assert_eq!(ours, py, "{name}: bt-exec and sigstore-python disagree");
        compared += 1;
    }
    assert_eq!(compared, 65, "every case but the documented five compared");
}
