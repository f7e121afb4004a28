//! Programs run under a policy's `[sigstore]` section (docs/SIGSTORE.md),
//! with bundles made by an independent test instance of Sigstore
//! (`tests/interop/sigstore_make.py`: a Fulcio-like CA, a CT log, Rekor v2
//! and v1 logs and an RFC 3161 TSA, written with pyca/cryptography): the
//! allowed identity runs; another identity, one changed byte, a Rekor v1
//! entry without `allow_rekor_v1`, an identity bound to other names, and
//! the rules a bundle cannot meet are refused (126) saying why.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SAN: &str = "https://github.com/example/tool/.github/workflows/release.yml@refs/tags/v1.0";
const SAN_PATTERN: &str =
    "https://github.com/example/tool/.github/workflows/release.yml@refs/tags/*";

/// A test Sigstore instance, a program, and bt-exec's directories.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// `None` (and a SKIP line) without python3 and pyca/cryptography.
    fn new(test: &str) -> Option<Fixture> {
        if !common::python_interop(test) {
            return None;
        }
        let f = Fixture {
            dir: tempfile::tempdir().unwrap(),
        };
        f.make(&["init", &f.path("inst")]);
        let prog = f.dir.path().join("tool");
        fs::write(&prog, "#!/bin/sh\necho \"tool ran $*\"\n").unwrap();
        fs::set_permissions(&prog, fs::Permissions::from_mode(0o755)).unwrap();
        Some(f)
    }

    fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).display().to_string()
    }

    fn make(&self, args: &[&str]) -> String {
        common::sigstore_make(args)
    }

    /// A bundle for `artifact` (relative to the fixture), signed keylessly
    /// by `san`, written to `out`; `extra` adds sigstore_make.py flags.
    fn sign(&self, artifact: &str, san: &str, out: &str, extra: &[&str]) -> PathBuf {
        let (inst, art, o) = (self.path("inst"), self.path(artifact), self.path(out));
        let mut args = vec![
            "sign",
            &inst,
            "--artifact",
            &art,
            "--out",
            &o,
            "--identity",
            san,
            "--issuer",
            ISSUER,
        ];
        args.extend_from_slice(extra);
        self.make(&args);
        PathBuf::from(o)
    }

    /// The policy: `[sigstore]` with the test instance's root, then `more`.
    fn policy(&self, more: &str) {
        let text = format!("[sigstore]\ntrusted_root = \"inst/trusted_root.json\"\n{more}\n");
        fs::write(self.dir.path().join("policy.toml"), text).unwrap();
    }

    fn identity(san: &str) -> String {
        format!("[[sigstore.identity]]\nissuer = \"{ISSUER}\"\nsan = \"{san}\"\n")
    }

    /// bt-exec ARGS: (exit code, stdout, stderr); never a panic.
    fn bt_exec(&self, args: &[&str]) -> (i32, String, String) {
        common::bt_exec_at(self.dir.path(), args)
    }
}

#[test]
fn a_program_with_a_bundle_by_an_allowed_identity_runs() {
    let Some(f) = Fixture::new("a_program_with_a_bundle_by_an_allowed_identity_runs") else {
        return;
    };
    f.policy(&Fixture::identity(SAN_PATTERN));
    f.sign("tool", SAN, "tool.sigstore.json", &[]);
    let (code, out, err) = f.bt_exec(&[&f.path("tool"), "a", "b"]);
    assert_eq!((code, out.as_str()), (0, "tool ran a b\n"), "{err}");
    // verify --json names the signer, the log, the entry and the time's source.
    let (code, out, err) = f.bt_exec(&["verify", "--json", &f.path("tool")]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = &doc["logs"][0]["sigstore"];
    assert_eq!(s["identity"], SAN, "{doc}");
    assert_eq!(s["issuer"], ISSUER);
    assert_eq!(s["log"]["origin"], "rekor.test.invalid");
    assert_eq!(s["log_index"], 0);
    assert_eq!(s["timestamp_source"], "rfc3161");
    assert_eq!(s["witnessed"], false);
    // A bundle given on the command line, and one for bytes not at hand.
    let moved = f.path("elsewhere.json");
    fs::rename(f.path("tool.sigstore.json"), &moved).unwrap();
    let (code, _, err) = f.bt_exec(&["--sigstore-bundle", &moved, &f.path("tool")]);
    assert_eq!(code, 0, "{err}");
    let sha = hex_sha256(&fs::read(f.path("tool")).unwrap());
    let (code, _, err) = f.bt_exec(&["verify", "--sigstore-bundle", &moved, "--sha256", &sha]);
    assert_eq!(code, 0, "{err}");
    // Without a bundle, nothing proves it (the policy lists no log).
    let (code, _, _) = f.bt_exec(&[&f.path("tool")]);
    assert_ne!(code, 0);
}

fn hex_sha256(b: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(b))
}

#[test]
fn a_bundle_signed_by_another_identity_is_refused_naming_it() {
    let Some(f) = Fixture::new("a_bundle_signed_by_another_identity_is_refused_naming_it") else {
        return;
    };
    f.policy(&Fixture::identity(SAN_PATTERN));
    let other = "https://github.com/mallory/tool/.github/workflows/release.yml@refs/tags/v1.0";
    f.sign("tool", other, "tool.sigstore.json", &[]);
    let (code, out, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{out}{err}");
    assert!(
        err.contains(other) && err.contains("does not allow"),
        "{err}"
    );
    // The pattern's prefix must match: a branch, not a tag, is refused.
    let branch = "https://github.com/example/tool/.github/workflows/release.yml@refs/heads/main";
    f.sign("tool", branch, "tool.sigstore.json", &[]);
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
    // An exact SAN is exact: a longer one is refused.
    f.policy(&Fixture::identity(SAN));
    f.sign("tool", &format!("{SAN}.1"), "tool.sigstore.json", &[]);
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
    // The same issuer is needed too.
    f.sign("tool", SAN, "tool.sigstore.json", &[]);
    f.policy(&format!(
        "[[sigstore.identity]]\nissuer = \"https://accounts.google.com\"\nsan = \"{SAN}\"\n"
    ));
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
}

#[test]
fn a_program_with_one_byte_changed_is_refused() {
    let Some(f) = Fixture::new("a_program_with_one_byte_changed_is_refused") else {
        return;
    };
    f.policy(&Fixture::identity(SAN_PATTERN));
    f.sign("tool", SAN, "tool.sigstore.json", &[]);
    let mut bytes = fs::read(f.path("tool")).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 1;
    fs::write(f.path("tool"), bytes).unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("artifact"), "{err}");
    // A DSSE statement naming the original bytes does not prove these either.
    fs::write(f.path("tool"), "#!/bin/sh\necho \"tool ran $*\"\n").unwrap();
    f.sign("tool", SAN, "tool.sigstore.json", &["--dsse"]);
    fs::write(f.path("tool"), "#!/bin/sh\necho \"tool ran $*!\"\n").unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
}

#[test]
fn a_dsse_attestation_naming_the_program_proves_it() {
    let Some(f) = Fixture::new("a_dsse_attestation_naming_the_program_proves_it") else {
        return;
    };
    f.policy(&Fixture::identity(SAN_PATTERN));
    f.sign("tool", SAN, "tool.sigstore.json", &["--dsse"]);
    let (code, out, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!((code, out.as_str()), (0, "tool ran \n"), "{err}");
    // JSON lines, as `gh attestation download` writes them: the first
    // bundle is for other bytes, the second proves the program.
    let other = f.sign("inst/instance.json", SAN, "other.json", &[]);
    let good = fs::read_to_string(f.path("tool.sigstore.json")).unwrap();
    let lines = format!(
        "{}\n{}\n",
        compact(&fs::read_to_string(other).unwrap()),
        compact(&good)
    );
    fs::write(f.path("tool.sigstore.json"), lines).unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 0, "{err}");
}

fn compact(json: &str) -> String {
    serde_json::from_str::<serde_json::Value>(json)
        .unwrap()
        .to_string()
}

#[test]
fn a_rekor_v1_bundle_needs_allow_rekor_v1() {
    let Some(f) = Fixture::new("a_rekor_v1_bundle_needs_allow_rekor_v1") else {
        return;
    };
    f.policy(&Fixture::identity(SAN_PATTERN));
    f.sign("tool", SAN, "tool.sigstore.json", &["--rekor", "v1"]);
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
    assert!(
        err.contains("rekor-v1") && err.contains("allow_rekor_v1"),
        "{err}"
    );
    f.policy(&format!(
        "allow_rekor_v1 = true\n{}",
        Fixture::identity(SAN_PATTERN)
    ));
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn a_bundle_cannot_meet_history_rules() {
    let Some(f) = Fixture::new("a_bundle_cannot_meet_history_rules") else {
        return;
    };
    f.sign("tool", SAN, "tool.sigstore.json", &[]);
    for (rule, named) in [
        ("latest = true", "require.latest"),
        ("no_downgrade = true", "require.no_downgrade"),
        ("prior_revisions = 1", "require.prior_revisions"),
    ] {
        f.policy(&format!(
            "{}\n[require]\n{rule}\n",
            Fixture::identity(SAN_PATTERN)
        ));
        let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
        assert_eq!(code, 126, "{rule}: {err}");
        assert!(err.contains(named), "{rule}: {err}");
    }
    // Nor min_release_age: a bundle dates its signature, not when anyone
    // could first see it (a signer who logs late would pass), so even a
    // bundle signed long ago does not meet it.
    f.sign(
        "tool",
        SAN,
        "tool.sigstore.json",
        &["--at", "2026-01-01T00:00:00Z"],
    );
    f.policy(&format!(
        "{}\n[require]\nmin_release_age = \"1d\"\n",
        Fixture::identity(SAN_PATTERN)
    ));
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("require.min_release_age"), "{err}");
    f.policy(&Fixture::identity(SAN_PATTERN));
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn an_identity_bound_to_names_does_not_sign_other_programs() {
    let Some(f) = Fixture::new("an_identity_bound_to_names_does_not_sign_other_programs") else {
        return;
    };
    f.policy(&format!(
        "{}names = [\"example.org/tool\"]\n",
        Fixture::identity(SAN_PATTERN)
    ));
    f.sign("tool", SAN, "tool.sigstore.json", &[]);
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("names"), "{err}");
}

#[test]
fn a_managed_key_bundle_needs_the_policys_key() {
    let Some(f) = Fixture::new("a_managed_key_bundle_needs_the_policys_key") else {
        return;
    };
    let (k1, k2) = (f.path("k1.pem"), f.path("k2.pem"));
    f.make(&["keygen", &k1]);
    f.make(&["keygen", &k2]);
    let (inst, tool, out) = (f.path("inst"), f.path("tool"), f.path("tool.sigstore.json"));
    f.make(&[
        "sign",
        &inst,
        "--artifact",
        &tool,
        "--out",
        &out,
        "--key",
        &k1,
    ]);
    f.policy("[[sigstore.identity]]\nkey = \"k1.pub\"\n");
    let (code, _, err) = f.bt_exec(&[&tool]);
    assert_eq!(code, 0, "{err}");
    f.policy("[[sigstore.identity]]\nkey = \"k2.pub\"\n");
    let (code, _, err) = f.bt_exec(&[&tool]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("none of the 1 key"), "{err}");
}

#[test]
fn a_policy_log_line_disagreeing_with_the_trusted_root_is_a_configuration_error() {
    let Some(f) = Fixture::new(
        "a_policy_log_line_disagreeing_with_the_trusted_root_is_a_configuration_error",
    ) else {
        return;
    };
    let inst: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(f.path("inst/instance.json")).unwrap()).unwrap();
    let vkey = inst["rekor_v2"]["vkey"].as_str().unwrap().to_string();
    f.sign("tool", SAN, "tool.sigstore.json", &[]);
    // The root's own key for the log: accepted.
    let with_log = |vkey: &str| {
        format!("trust = \"\"\"\nlog {vkey} https://rekor.test.invalid\nquorum none\n\"\"\"\n")
    };
    fs::write(
        f.dir.path().join("policy.toml"),
        format!(
            "{}[sigstore]\ntrusted_root = \"inst/trusted_root.json\"\n{}",
            with_log(&vkey),
            Fixture::identity(SAN_PATTERN)
        ),
    )
    .unwrap();
    let (code, _, err) = f.bt_exec(&["policy", "check", &f.path("policy.toml")]);
    assert_eq!(code, 0, "{err}");
    // Another key under the log's name: 125, naming the log.
    let other = common::keygen(f.dir.path(), "rekor.test.invalid", "other.key");
    fs::write(
        f.dir.path().join("policy.toml"),
        format!(
            "{}[sigstore]\ntrusted_root = \"inst/trusted_root.json\"\n{}",
            with_log(&other),
            Fixture::identity(SAN_PATTERN)
        ),
    )
    .unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("rekor.test.invalid") && err.contains("disagrees"),
        "{err}"
    );
}

#[test]
fn a_planted_bundle_that_is_not_a_file_is_refused_not_skipped() {
    let Some(f) = Fixture::new("a_planted_bundle_that_is_not_a_file_is_refused_not_skipped") else {
        return;
    };
    f.policy(&Fixture::identity(SAN_PATTERN));
    std::os::unix::fs::symlink(f.path("nowhere"), f.path("tool.sigstore.json")).unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
    fs::remove_file(f.path("tool.sigstore.json")).unwrap();
    nix::unistd::mkfifo(
        Path::new(&f.path("tool.sigstore.json")),
        nix::sys::stat::Mode::S_IRWXU,
    )
    .unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
}

/// A program proven by a log leaves a warm verdict; a bundle beside it, or
/// named with --sigstore-bundle, is still checked on every run — a warm
/// verdict never stands in for a proof the run was given.
#[test]
fn a_bundle_is_checked_even_when_a_warm_verdict_holds() {
    let Some(f) = Fixture::new("a_bundle_is_checked_even_when_a_warm_verdict_holds") else {
        return;
    };
    let w = common::world::World::ready(1);
    let policy = w.policy("logs = 1\nmax_age = \"1h\"\n# refresh: the default");
    let sigstore = format!(
        "\n[sigstore]\ntrusted_root = \"{}\"\n{}",
        f.path("inst/trusted_root.json"),
        Fixture::identity(SAN_PATTERN)
    );
    let mut text = fs::read_to_string(&policy).unwrap();
    // [sigstore] must come before [require] ends: append as a new table.
    text.push_str(&sigstore);
    fs::write(&policy, text).unwrap();
    w.runs();
    w.runs();
    let memos = fs::read_dir(w.root.join("state/memos"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(memos > 0, "the proven runs left a warm verdict");
    // A bundle by another identity beside the program: refused, not run.
    let other = "https://github.com/mallory/tool/.github/workflows/release.yml@refs/tags/v1";
    let inst = f.path("inst");
    let prog = w.prog.display().to_string();
    let beside = format!("{prog}.sigstore.json");
    f.make(&[
        "sign",
        &inst,
        "--artifact",
        &prog,
        "--out",
        &beside,
        "--identity",
        other,
        "--issuer",
        ISSUER,
    ]);
    let (code, _, err) = w.checked(&[&prog]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains(other), "{err}");
    // Named on the command line instead.
    let named = f.path("named.json");
    fs::rename(&beside, &named).unwrap();
    let (code, _, err) = w.checked(&["--sigstore-bundle", &named, &prog]);
    assert_eq!(code, 126, "{err}");
    // Without it, the warm verdict runs the program again.
    w.runs();
}

#[test]
fn a_json_lines_file_passes_over_lines_that_do_not_parse() {
    let Some(f) = Fixture::new("a_json_lines_file_passes_over_lines_that_do_not_parse") else {
        return;
    };
    f.policy(&Fixture::identity(SAN_PATTERN));
    let good = f.sign("tool", SAN, "good.json", &[]);
    let lines = format!(
        "{{\"mediaType\": \"unknown\"}}\nnot json at all\n{}\n",
        compact(&fs::read_to_string(good).unwrap())
    );
    fs::write(f.path("tool.sigstore.json"), lines).unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 0, "{err}");
    // No line proves it: the refusal counts them and names the last that parsed.
    fs::write(
        f.path("tool.sigstore.json"),
        "not json\n{\"mediaType\": \"unknown\"}\n",
    )
    .unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("none of the 2 bundles"), "{err}");
}

/// The trusted root decides who may sign: one another user could rewrite
/// refuses every run (125), as the policy itself would.
#[test]
fn a_trusted_root_others_could_rewrite_is_refused() {
    let Some(f) = Fixture::new("a_trusted_root_others_could_rewrite_is_refused") else {
        return;
    };
    f.policy(&Fixture::identity(SAN_PATTERN));
    f.sign("tool", SAN, "tool.sigstore.json", &[]);
    let root = f.path("inst/trusted_root.json");
    fs::set_permissions(&root, fs::Permissions::from_mode(0o666)).unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("trusted_root"), "{err}");
    fs::set_permissions(&root, fs::Permissions::from_mode(0o644)).unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 0, "{err}");
}

/// Never past a split view: while a log of the policy has a standing
/// alarm, a program a bundle proves is refused with 123 too.
#[test]
fn a_standing_split_view_alarm_refuses_bundle_proven_programs_too() {
    let Some(f) = Fixture::new("a_standing_split_view_alarm_refuses_bundle_proven_programs_too")
    else {
        return;
    };
    let inst: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(f.path("inst/instance.json")).unwrap()).unwrap();
    let vkey = inst["rekor_v2"]["vkey"].as_str().unwrap();
    fs::write(
        f.dir.path().join("policy.toml"),
        format!(
            "trust = \"\"\"\nlog {vkey} https://rekor.test.invalid\nquorum none\n\"\"\"\n[sigstore]\ntrusted_root = \"inst/trusted_root.json\"\n{}",
            Fixture::identity(SAN_PATTERN)
        ),
    )
    .unwrap();
    f.sign("tool", SAN, "tool.sigstore.json", &[]);
    let (code, _, err) = f.bt_exec(&["verify", &f.path("tool")]);
    assert_eq!(code, 0, "{err}");
    let policy = bt_exec::policy::Policy::load(&f.dir.path().join("policy.toml")).unwrap();
    let alarms = f.dir.path().join("state/alarms");
    fs::create_dir_all(&alarms).unwrap();
    let alarm = alarms.join(policy.trust.logs[0].id.file_key());
    fs::write(&alarm, "evidence/x.split-view").unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 123, "{err}");
    assert!(err.contains("alarm clear"), "{err}");
    let sha = hex_sha256(&fs::read(f.path("tool")).unwrap());
    let bundle = f.path("tool.sigstore.json");
    let (code, _, err) = f.bt_exec(&["verify", "--sigstore-bundle", &bundle, "--sha256", &sha]);
    assert_eq!(code, 123, "{err}");
    fs::remove_file(&alarm).unwrap();
    let (code, _, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 0, "{err}");
}

/// What a bundle quotes in a refusal (its media type, an entry's kind)
/// reaches the terminal escaped: no control character from it can clear
/// the refusal line or retitle the window — on a run, and in `status`'s
/// replay of audit mode's records.
#[test]
fn control_characters_in_a_bundle_never_reach_the_terminal() {
    let Some(f) = Fixture::new("control_characters_in_a_bundle_never_reach_the_terminal") else {
        return;
    };
    f.policy(&Fixture::identity(SAN_PATTERN));
    let good = f.sign("tool", SAN, "good.json", &[]);
    let mut b: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(good).unwrap()).unwrap();
    b["mediaType"] =
        "application/vnd.dev.sigstore.bundle.v0.3+json\u{1b}[2K\rPROGRAM RAN\u{1b}]0;owned\u{7}"
            .into();
    fs::write(f.path("tool.sigstore.json"), b.to_string()).unwrap();
    let raw = |s: &str| s.contains(['\u{1b}', '\u{7}', '\r']);
    let (code, out, err) = f.bt_exec(&[&f.path("tool")]);
    assert_eq!(code, 126, "{err}");
    assert!(!raw(&err) && !raw(&out), "{err:?}");
    assert!(
        err.contains("PROGRAM RAN"),
        "the media type is quoted, escaped: {err:?}"
    );
    let (code, out, err) = f.bt_exec(&["--audit", &f.path("tool")]);
    assert_eq!(code, 0, "{err}");
    assert!(!raw(&err), "{err:?}");
    let (_, out2, err2) = f.bt_exec(&["status", "--offline"]);
    assert!(!raw(&out2) && !raw(&err2) && !raw(&out), "{out2:?}");
    assert!(
        out2.contains("PROGRAM RAN"),
        "status replays the audit record: {out2:?}"
    );
}

/// An Ed25519 message signature signs the bytes themselves, not a digest:
/// the program's bytes are read from the cache then (and only then: every
/// other bundle is verified from the SHA-256 already known). With only a
/// digest (`verify --sha256`) such a bundle cannot be verified.
#[test]
fn an_ed25519_message_signature_is_verified_over_the_programs_bytes() {
    let Some(f) = Fixture::new("an_ed25519_message_signature_is_verified_over_the_programs_bytes")
    else {
        return;
    };
    let k = f.path("ed.pem");
    f.make(&["keygen", &k, "--ed25519"]);
    let (inst, tool, out) = (f.path("inst"), f.path("tool"), f.path("tool.sigstore.json"));
    // Rekor v1 logs such a signature as hashedrekord 0.0.1.
    f.make(&[
        "sign",
        &inst,
        "--artifact",
        &tool,
        "--out",
        &out,
        "--key",
        &k,
        "--rekor",
        "v1",
    ]);
    f.policy("allow_rekor_v1 = true\n[[sigstore.identity]]\nkey = \"ed.pub\"\n");
    let (code, stdout, err) = f.bt_exec(&[&tool, "x"]);
    assert_eq!((code, stdout.as_str()), (0, "tool ran x\n"), "{err}");
    let sha = hex_sha256(&fs::read(&tool).unwrap());
    let (code, _, err) = f.bt_exec(&["verify", "--sigstore-bundle", &out, "--sha256", &sha]);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("artifact"), "{err}");
    // One byte changed: the bytes read are not the bytes signed.
    let mut bytes = fs::read(&tool).unwrap();
    bytes[3] ^= 1;
    fs::write(&tool, bytes).unwrap();
    let (code, _, err) = f.bt_exec(&[&tool]);
    assert_eq!(code, 126, "{err}");
}
