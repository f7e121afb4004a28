//! Rekor v2 as a witnessed log (docs/SIGSTORE.md, "Rekor v2 as a witnessed
//! log"): a Rekor log the policy lists is a log like any other. The
//! checkpoint that proves a bundle's entry must meet the witness quorum and
//! `max_age` itself, or be proven a prefix of a fresh one the log serves;
//! it is checked against the saved one, a fork is 123 with evidence, and
//! the log counts toward `require.logs` with bt-log logs.
//!
//! The real staging checkpoint is checked here; the test logs are written
//! by the tests' independent Sigstore instance (tests/interop/sigstore_make.py,
//! C2SP tiles served by `python3 -m http.server`) and cosigned by
//! `bt-log witness serve` (tests/rekor_e2e.rs).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const STAGING_LOG: &str =
    "log2025-alpha3.rekor.sigstage.dev+d3d3a70c+AZQ93VXPMmj9uZj7U/7CefQ9yy8RgYFv6mKzOseipjqp";
const STAGEMOLE: &str =
    "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv";
const NAVIGLI: &str =
    "witness.navigli.sunlight.geomys.org+a3e00fe2+BNy/co4C1Hn1p+INwJrfUlgz7W55dSZReusH/GhUhJ/G";
const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The staging policy: the alpha3 log, `witnesses` (name, vkey), the
/// quorum of all of them, and `max_age`.
fn staging_policy(home: &Path, v: &Path, witnesses: &[(&str, &str)], max_age: &str) {
    let mut trust = format!("log {STAGING_LOG} https://log2025-alpha3.rekor.sigstage.dev/\n");
    for (name, vkey) in witnesses {
        trust.push_str(&format!("witness {name} {vkey}\n"));
    }
    let names: Vec<&str> = witnesses.iter().map(|w| w.0).collect();
    trust.push_str(&format!(
        "group all-of all {}\nquorum all-of\n",
        names.join(" ")
    ));
    let root = v.join("sigstore/trust-roots/staging.trusted_root.json");
    let text = format!(
        "trust = \"\"\"\n{trust}\"\"\"\n[sigstore]\ntrusted_root = \"{}\"\n[[sigstore.identity]]\nissuer = \"{ISSUER}\"\nsan = \"{IDENTITY}\"\n[require]\nmax_age = \"{max_age}\"\n",
        root.display()
    );
    fs::write(home.join("policy.toml"), text).unwrap();
}

/// The real Rekor v2 staging bundle whose checkpoint carries real witness
/// cosignatures proves its artifact under a policy naming those witnesses
/// (offline: the checkpoint meets the policy by itself), and is saved as
/// the log's checkpoint; a quorum it lacks, or a `max_age` it is older
/// than, refuses it.
#[test]
fn the_real_cosigned_staging_checkpoint_verifies_under_its_real_witnesses() {
    let Some(v) =
        common::vectors("the_real_cosigned_staging_checkpoint_verifies_under_its_real_witnesses")
    else {
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let art = h.join("a.txt");
    fs::copy(v.join("sigstore/conformance/a.txt"), &art).unwrap();
    fs::set_permissions(&art, fs::Permissions::from_mode(0o755)).unwrap();
    let bundle = v.join("sigstore-real/a.dsse.staging-rekor-v2.txt.sigstore.json");
    let (bundle, art) = (bundle.to_str().unwrap(), art.to_str().unwrap());
    let verify = |h: &Path| {
        common::bt_exec_at(
            h,
            &[
                "verify",
                "--offline",
                "--json",
                "--sigstore-bundle",
                bundle,
                art,
            ],
        )
    };
    // The cosignatures are from 2026-05-13: ten years of max_age.
    let real = [("stagemole", STAGEMOLE), ("navigli", NAVIGLI)];
    staging_policy(h, &v, &real, "3650d");
    let (code, out, err) = verify(h);
    assert_eq!(code, 0, "{out}{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let log = &doc["logs"][0];
    assert_eq!(log["origin"], "log2025-alpha3.rekor.sigstage.dev", "{doc}");
    assert_eq!(log["size"], 4026479);
    assert_eq!(log["leaf_index"], 4026478);
    let names: Vec<&str> = log["cosigners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "witness.stagemole.eu",
            "witness.navigli.sunlight.geomys.org"
        ]
    );
    assert_eq!(log["sigstore"]["witnessed"], true);
    assert_eq!(log["sigstore"]["identity"], IDENTITY);
    // Saved as the log's checkpoint, as a bt-log log's would be.
    let saved = fs::read_dir(h.join("state/checkpoints")).unwrap().count();
    assert_eq!(saved, 1);

    // A witness the checkpoint lacks: the quorum is not met (126).
    let other = tempfile::tempdir().unwrap();
    let o = other.path();
    let absent = common::keygen(o, "witness.absent.example", "absent.key");
    staging_policy(o, &v, &[real[0], real[1], ("absent", &absent)], "3650d");
    let (code, _, err) = verify(o);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("does not meet the policy"), "{err}");

    // Older than max_age, with nothing saved and offline: 126, naming it.
    let stale = tempfile::tempdir().unwrap();
    staging_policy(stale.path(), &v, &real, "30d");
    let (code, _, err) = verify(stale.path());
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("older than max_age"), "{err}");
}
