//! Every Sigsum vector in `../shared/vectors/sigsum/` gives its documented
//! verdict through bt-exec's Sigsum verification (the `sigsum` crate), and
//! a program with a Sigsum proof beside it runs under a `[sigsum]` policy.

mod common;

use common::sigsum_log::one_leaf_log;

use std::fs;
use std::path::Path;

use bt_exec::sigsum_interop::{load_policy, parse_key, verify};
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

fn keys(path: &Path) -> Vec<[u8; 32]> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_key(l).unwrap())
        .collect()
}

#[test]
fn sigsum_vectors_give_their_documented_verdicts() {
    let Some(v) = common::vectors("sigsum_vectors_give_their_documented_verdicts") else {
        return;
    };
    let proofs = v.join("sigsum/proofs");
    let policies = v.join("sigsum/policies");
    let hello: [u8; 32] =
        Sha256::digest(fs::read(proofs.join("serviceberry-test.hello.message")).unwrap()).into();
    let hello_key = keys(&proofs.join("serviceberry-test.hello.submitter-key.hex"));
    // The test policy, as a file and as the crate's built-in of that name.
    for spec in [
        policies
            .join("sigsum-test-2025-3.policy")
            .display()
            .to_string(),
        "sigsum-test-2025-3".to_string(),
    ] {
        let policy = load_policy(&spec, Path::new(".")).unwrap();
        let proof = fs::read(proofs.join("serviceberry-test.hello.proof")).unwrap();
        let ok = verify(&hello, &proof, &hello_key, &policy).unwrap();
        assert_eq!(ok.leaf_index, 381381);
        assert_eq!(ok.size, 381382);
        for bad in [
            "INVALID.quorum-not-met",
            "INVALID.bad-node-hash",
            "INVALID.wrong-leaf-index",
            "INVALID.size-changed",
            "REJECT-STRICT.cosignature-timestamp-changed",
        ] {
            let p = fs::read(proofs.join(format!("serviceberry-test.hello.{bad}.proof"))).unwrap();
            assert!(
                verify(&hello, &p, &hello_key, &policy).is_err(),
                "{bad} accepted"
            );
        }
        // Other bytes, and another key, are refused.
        let other: [u8; 32] = Sha256::digest(b"Hello, Sigsum?\n").into();
        assert!(verify(&other, &proof, &hello_key, &policy).is_err());
        assert!(verify(&hello, &proof, &[[7; 32]], &policy).is_err());
    }
    // The production proof under the generic policy; a second key of the
    // submitter that did not sign must not matter.
    let generic = load_policy(
        &policies
            .join("sigsum-generic-2025-1.policy")
            .display()
            .to_string(),
        Path::new("."),
    )
    .unwrap();
    let relay: [u8; 32] =
        Sha256::digest(fs::read(proofs.join("seasalp-production.relay-list.message")).unwrap())
            .into();
    let relay_keys = keys(&proofs.join("seasalp-production.relay-list.submitter-keys.hex"));
    let proof = fs::read(proofs.join("seasalp-production.relay-list.proof")).unwrap();
    verify(&relay, &proof, &relay_keys, &generic).unwrap();
    // The hello proof names a log the generic policy does not know.
    let hello_proof = fs::read(proofs.join("serviceberry-test.hello.proof")).unwrap();
    assert!(verify(&hello, &hello_proof, &hello_key, &generic).is_err());
    // Garbage is an error, not a panic.
    for junk in [
        &b""[..],
        b"version=2\n",
        b"\xff\xfe",
        b"version=9\nlog=zz\n",
    ] {
        assert!(verify(&hello, junk, &hello_key, &generic).is_err());
    }
}

#[test]
fn a_program_with_a_sigsum_proof_runs_under_a_sigsum_policy() {
    use common::world::{chmod_x, World};
    let w = World::new(1);
    let submitter = SigningKey::from_bytes(&[5; 32]);
    let prog = w.root.join("bin/sigsummed");
    let script = format!(
        "#!/bin/sh\ntouch {}\necho sigsum-ok \"$@\"\n",
        w.canary.display()
    );
    fs::write(&prog, &script).unwrap();
    chmod_x(&prog);
    let (proof, policy) = one_leaf_log(script.as_bytes(), &submitter);
    fs::write(w.root.join("bin/sigsummed.sigsum-proof"), &proof).unwrap();
    fs::write(w.root.join("test.sigsum-policy"), &policy).unwrap();
    let key = hex::encode(submitter.verifying_key().as_bytes());
    let bt = format!(
        "[sigsum]\npolicy = \"test.sigsum-policy\"\n[[sigsum.submitter]]\nnames = [\"sigsummed\"]\nkey = \"{key}\"\n"
    );
    fs::write(w.root.join("policy.toml"), &bt).unwrap();
    let out = w.run(&[prog.to_str().unwrap(), "a"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "sigsum-ok a\n");
    // verify --json reports the Sigsum log and leaf.
    let out = w.run(&["verify", "--json", prog.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["decision"], "run", "{v}");
    assert!(v["logs"][0]["origin"]
        .as_str()
        .unwrap()
        .starts_with("sigsum.org/v1/tree/"));
    // Other bytes with the same proof: refused, the program never runs.
    let other = w.root.join("bin/sigsummed2");
    fs::write(&other, format!("{script}echo pwned\n")).unwrap();
    chmod_x(&other);
    fs::write(w.root.join("bin/sigsummed2.sigsum-proof"), &proof).unwrap();
    let bt2 = bt.replace("[\"sigsummed\"]", "[\"sigsummed*\"]");
    fs::write(w.root.join("policy.toml"), &bt2).unwrap();
    let _ = fs::remove_file(&w.canary);
    let out = w.run(&[other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    assert!(!w.canary.exists());
    // A key not scoped to the program's name does not count.
    fs::write(
        w.root.join("policy.toml"),
        bt.replace("[\"sigsummed\"]", "[\"other\"]"),
    )
    .unwrap();
    let out = w.run(&[prog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Sigsum submitter key"));
    // Standalone: no bt-exec policy, everything on the command line.
    fs::remove_file(w.root.join("policy.toml")).unwrap();
    let out = std::process::Command::new(common::world::BT_EXEC)
        .args(["verify", "--sigsum-proof"])
        .arg(w.root.join("bin/sigsummed.sigsum-proof"))
        .arg("--sigsum-policy")
        .arg(w.root.join("test.sigsum-policy"))
        .args(["--sigsum-key", &key])
        .arg(&prog)
        .env("BT_EXEC_CACHE_DIR", w.root.join("cache"))
        .env("BT_EXEC_STATE_DIR", w.root.join("state"))
        .env("BT_EXEC_POLICY", w.root.join("policy.toml"))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Sigsum proof names no release: under a policy with both `trust` and
/// `[sigsum]` whose `[require]` has a history rule, `rebuilders` or
/// `logs` above 1, a `.sigsum-proof` planted beside a program does not meet
/// it (126, naming the rule); the same policy without those rules runs it.
#[test]
fn a_sigsum_proof_alone_does_not_meet_history_rules() {
    use common::world::{chmod_x, World};
    let w = World::new(2);
    let submitter = SigningKey::from_bytes(&[5; 32]);
    let prog = w.root.join("bin/sigsummed");
    let script = format!("#!/bin/sh\ntouch {}\necho sigsum-ok\n", w.canary.display());
    fs::write(&prog, &script).unwrap();
    chmod_x(&prog);
    let (proof, policy) = one_leaf_log(script.as_bytes(), &submitter);
    fs::write(w.root.join("bin/sigsummed.sigsum-proof"), &proof).unwrap();
    fs::write(w.root.join("test.sigsum-policy"), &policy).unwrap();
    let key = hex::encode(submitter.verifying_key().as_bytes());
    let section = format!(
        "[sigsum]\npolicy = \"test.sigsum-policy\"\n[[sigsum.submitter]]\nnames = [\"sigsummed\"]\nkey = \"{key}\"\n\n[require]"
    );
    for (require, rule) in [
        ("latest = true", "require.latest = true"),
        ("no_downgrade = true", "require.no_downgrade = true"),
        ("min_release_age = \"1h\"", "require.min_release_age"),
        ("prior_revisions = 1", "require.prior_revisions = 1"),
        ("logs = 2", "require.logs = 2"),
        ("", ""),
    ] {
        let p = w.policy(require);
        let text = fs::read_to_string(&p)
            .unwrap()
            .replacen("[require]", &section, 1);
        fs::write(&p, text).unwrap();
        let (code, _, err) = w.checked(&[prog.to_str().unwrap()]);
        if rule.is_empty() {
            assert_eq!(code, 0, "the control: {err}");
        } else {
            assert_eq!(code, 126, "{require}: {err}");
            assert!(
                err.contains(rule) && err.contains("Sigsum proof alone"),
                "{err}"
            );
        }
    }
}
