//! Rekor v2 as a witnessed log, end to end (docs/SIGSTORE.md, "Rekor v2 as
//! a witnessed log"): a Rekor v2 test log written by the tests' independent
//! Sigstore instance (tests/interop/sigstore_make.py: hashedrekord v0.0.2
//! leaves in C2SP tiles) served by `python3 -m http.server`, its
//! checkpoints cosigned by two `bt-log witness serve` witnesses, beside a
//! bt-log log (tests/common/world.rs) cosigned by the same two witnesses.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use bt_exec::note::sign_cosignature_line;
use bt_exec::tlog::Checkpoint;
use common::world::{chmod_x, now, World};
use common::Proc;

const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SAN: &str = "https://github.com/example/tool/.github/workflows/release.yml@refs/tags/v1.0";

/// The world: a bt-log log (log 0), a Rekor v2 test instance, its log
/// served over HTTP, and the two witnesses serving it.
struct Rk {
    w: World,
    inst: PathBuf,
    vkey: String,
    url: String,
    witnesses: Vec<String>,
    _procs: Vec<Proc>,
    /// The Rekor log's HTTP server (dropped: the log is out of reach).
    http: Option<Proc>,
}

impl Rk {
    /// `None` (and a SKIP line) without python3 and pyca/cryptography.
    fn new(test: &str) -> Option<Rk> {
        if !common::python_interop(test) {
            return None;
        }
        let w = World::new(1);
        let inst = w.root.join("inst");
        common::sigstore_make(&["init", inst.to_str().unwrap()]);
        let vkey = fs::read_to_string(inst.join("rekor_v2.vkey"))
            .unwrap()
            .trim()
            .to_string();
        let mut procs = vec![];
        let mut witnesses = vec![];
        for i in 1..=2 {
            let key = w.root.join(format!("w{i}.key"));
            let state = w.root.join(format!("rekor-w{i}"));
            let p = common::spawn_server(&[
                "witness",
                "serve",
                "--key",
                key.to_str().unwrap(),
                "--state",
                state.to_str().unwrap(),
                "--log",
                &vkey,
            ]);
            witnesses.push(p.addr.clone());
            procs.push(p);
        }
        let (http, url) = common::python_http_server(&inst.join("log"));
        Some(Rk {
            w,
            inst,
            vkey,
            url,
            witnesses,
            _procs: procs,
            http: Some(http),
        })
    }

    /// A program (its text ends with `tag`) at `name` under the world.
    fn program(&self, name: &str, tag: &str) -> PathBuf {
        let p = self.w.root.join("bin").join(name);
        let canary = self.w.canary.display();
        fs::write(
            &p,
            format!("#!/bin/sh\ntouch {canary}\necho \"args:$*\"\nread line\necho \"stdin:$line\"\nexit 3\n# {tag}\n"),
        )
        .unwrap();
        chmod_x(&p);
        p
    }

    /// Signs `prog` into the Rekor v2 test log, its bundle beside it; with
    /// `witnesses` (indices) cosigning the new checkpoint; `extra` flags.
    fn sign(&self, prog: &Path, witnesses: &[usize], extra: &[&str]) -> PathBuf {
        self.sign_in(&self.inst, prog, witnesses, extra)
    }

    fn sign_in(&self, inst: &Path, prog: &Path, witnesses: &[usize], extra: &[&str]) -> PathBuf {
        let out = PathBuf::from(format!("{}.sigstore.json", prog.display()));
        let mut args: Vec<String> = [
            "sign",
            inst.to_str().unwrap(),
            "--artifact",
            prog.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--identity",
            SAN,
            "--issuer",
            ISSUER,
        ]
        .map(String::from)
        .to_vec();
        for &i in witnesses {
            args.extend(["--witness".into(), self.witnesses[i].clone()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        common::sigstore_make(&args.iter().map(String::as_str).collect::<Vec<_>>());
        out
    }

    /// Has `witnesses` cosign the checkpoint the Rekor log serves.
    fn cosign(&self, witnesses: &[usize]) {
        let inst = self.inst.display().to_string();
        let mut args = vec!["cosign", inst.as_str()];
        for &i in witnesses {
            args.extend(["--witness", self.witnesses[i].as_str()]);
        }
        common::sigstore_make(&args);
    }

    /// The policy: the Rekor log at `url` and the bt-log log, both
    /// witnesses and the quorum of both, the bt-log publisher, the test
    /// instance's trusted root and identity, then `require`.
    fn policy_at(&self, url: &str, require: &str) {
        let l = &self.w.logs[0];
        let mut trust = format!("log {} {url}\nlog {} {}\n", self.vkey, l.vkey, l.url);
        for (i, (_, v)) in self.w.witnesses.iter().enumerate() {
            trust.push_str(&format!("witness w{i} {v}\n"));
        }
        trust.push_str("group both all w0 w1\nquorum both\n");
        let publisher = fs::read_to_string(self.w.root.join("pub.key.pub")).unwrap();
        // Every run fetches, unless `require` sets `refresh` (the warm path).
        let refresh = if require.contains("refresh") {
            ""
        } else {
            "refresh = \"0s\"\n"
        };
        let text = format!(
            "trust = \"\"\"\n{trust}\"\"\"\n\n[[publisher]]\nnames = [\"example.org/*\"]\nkey = \"{}\"\n\n[sigstore]\ntrusted_root = \"inst/trusted_root.json\"\n[[sigstore.identity]]\nissuer = \"{ISSUER}\"\nsan = \"{SAN}\"\n\n[require]\n{require}\n{refresh}",
            publisher.trim()
        );
        fs::write(self.w.root.join("policy.toml"), text).unwrap();
    }

    fn policy(&self, require: &str) {
        self.policy_at(&self.url.clone(), require);
    }

    /// Runs `prog` through bt-exec: its exit code and stderr; a refusal
    /// never ran it.
    fn run(&self, prog: &Path) -> (i32, String) {
        self.run_with(&[], prog)
    }

    /// Runs `prog` through bt-exec with `flags` first.
    fn run_with(&self, flags: &[&str], prog: &Path) -> (i32, String) {
        let _ = fs::remove_file(&self.w.canary);
        let mut args = flags.to_vec();
        args.push(prog.to_str().unwrap());
        let out = self.w.run(&args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!err.contains("panicked"), "{err}");
        let code = out.status.code().unwrap_or(-1);
        // The programs exit 3 once they ran.
        if code != 3 {
            assert!(
                !self.w.canary.exists(),
                "refused with {code}, yet it ran: {err}"
            );
        }
        (code, err)
    }

    fn runs(&self, prog: &Path) {
        let (code, err) = self.run(prog);
        assert_eq!(code, 3, "{err}");
        assert!(self.w.canary.exists(), "{err}");
    }
}

/// The checkpoint note inside a bundle.
fn bundle_note(bundle: &Path) -> String {
    let doc = common::json(bundle);
    doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `note` with its cosignature lines replaced by the world's witnesses'
/// cosignatures dated `at` (the log's signature kept).
fn redated(w: &World, note: &str, at: u64) -> String {
    let (body, sigs) = note.split_once("\n\n").unwrap();
    let cp = Checkpoint::parse(format!("{body}\n").as_bytes()).unwrap();
    let log_line = sigs.lines().next().unwrap();
    let mut out = format!("{body}\n\n{log_line}\n");
    for (k, _) in &w.witnesses {
        out.push_str(&sign_cosignature_line(k, at, &cp.encode()));
        out.push('\n');
    }
    out
}

/// Rewrites the checkpoint inside `bundle` as `note`.
fn set_bundle_note(bundle: &Path, note: &str) {
    let mut doc = common::json(bundle);
    doc["verificationMaterial"]["tlogEntries"][0]["inclusionProof"]["checkpoint"]["envelope"] =
        serde_json::Value::String(note.to_string());
    fs::write(bundle, doc.to_string()).unwrap();
}

/// A program whose bundle's checkpoint both witnesses cosigned runs under
/// a policy that lists the Rekor log; `verify --json` says it was held to
/// the witnesses, and the checkpoint is saved as the log's.
#[test]
fn a_bundle_whose_checkpoint_the_witnesses_cosigned_runs() {
    let Some(r) = Rk::new("a_bundle_whose_checkpoint_the_witnesses_cosigned_runs") else {
        return;
    };
    let prog = r.program("tool", "one");
    r.sign(&prog, &[0, 1], &[]);
    r.policy("logs = 1\nmax_age = \"1h\"");
    r.runs(&prog);
    let (code, out, err) = r.w.checked(&["verify", "--json", prog.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rekor = &doc["logs"][0];
    assert_eq!(rekor["origin"], "rekor.test.invalid", "{doc}");
    assert_eq!(rekor["result"], "proven");
    assert_eq!(rekor["cosigners"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(rekor["sigstore"]["witnessed"], true);
    assert_eq!(rekor["sigstore"]["identity"], SAN);
    // The bt-log log does not hold it, which logs = 1 allows.
    assert_eq!(doc["logs"][1]["result"], "refused", "{doc}");
}

/// A checkpoint only one of the two witnesses cosigned does not meet the
/// quorum (126), until the log serves one both cosigned that it is proven
/// a prefix of.
#[test]
fn a_checkpoint_without_the_quorum_is_refused_until_a_cosigned_one_covers_it() {
    let Some(r) =
        Rk::new("a_checkpoint_without_the_quorum_is_refused_until_a_cosigned_one_covers_it")
    else {
        return;
    };
    let prog = r.program("tool", "one");
    r.sign(&prog, &[0], &[]);
    r.policy("logs = 1\nmax_age = \"1h\"");
    let (code, err) = r.run(&prog);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("rekor.test.invalid"), "{err}");
    // Both witnesses cosign what the log serves now: the bundle's
    // checkpoint is proven a prefix of it.
    r.cosign(&[0, 1]);
    r.runs(&prog);
}

/// A checkpoint whose cosignatures are older than max_age, served so by
/// the log too, is refused (126); once the log serves a freshly cosigned
/// one, the same bundle runs (its checkpoint is proven a prefix of it).
#[test]
fn a_stale_checkpoint_is_refused_until_the_log_serves_a_fresh_one() {
    let Some(r) = Rk::new("a_stale_checkpoint_is_refused_until_the_log_serves_a_fresh_one") else {
        return;
    };
    let prog = r.program("tool", "one");
    let bundle = r.sign(&prog, &[0, 1], &[]);
    let old = now() - 2 * 3600;
    let stale = redated(&r.w, &bundle_note(&bundle), old);
    set_bundle_note(&bundle, &stale);
    fs::write(r.inst.join("log/checkpoint"), &stale).unwrap();
    r.policy("logs = 1\nmax_age = \"1h\"");
    let (code, err) = r.run(&prog);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("older than max_age"), "{err}");
    r.cosign(&[0, 1]);
    r.runs(&prog);
}

/// The log operator's private extension: a bundle whose checkpoint covers
/// an entry the log never served, signed by the log key alone, larger than
/// every checkpoint the witnesses cosigned: 126, saying so.
#[test]
fn a_checkpoint_larger_than_every_cosigned_one_is_refused() {
    let Some(r) = Rk::new("a_checkpoint_larger_than_every_cosigned_one_is_refused") else {
        return;
    };
    let first = r.program("first", "one");
    r.sign(&first, &[0, 1], &[]);
    let hidden = r.program("hidden", "two");
    r.sign(&hidden, &[], &["--unpublished"]);
    r.policy("logs = 1\nmax_age = \"1h\"");
    r.runs(&first);
    let (code, err) = r.run(&hidden);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("larger than size 1"), "{err}");
}

/// A fork: a bundle whose checkpoint the log key signed for another tree of
/// the size this machine saw — 123 with the evidence kept, and every run
/// after it refused until the alarm is cleared; a log serving a fork of
/// what was seen is 123 too.
#[test]
fn a_checkpoint_inconsistent_with_one_seen_before_is_a_split_view() {
    let Some(r) = Rk::new("a_checkpoint_inconsistent_with_one_seen_before_is_a_split_view") else {
        return;
    };
    // The fork: the same instance (its keys) before anything was logged.
    let fork = r.w.root.join("inst-fork");
    common::copy_dir(&r.inst, &fork);
    let prog = r.program("tool", "one");
    r.sign(&prog, &[0, 1], &[]);
    r.policy("logs = 1\nmax_age = \"1h\"");
    r.runs(&prog);
    let other = r.program("other", "fork");
    r.sign_in(&fork, &other, &[], &[]);
    let (code, err) = r.run(&other);
    assert_eq!(code, 123, "{err}");
    assert!(err.contains("evidence"), "{err}");
    let evidence = fs::read_dir(r.w.root.join("state"))
        .unwrap()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().contains("evidence"));
    assert!(evidence, "no evidence kept: {err}");
    let (code, err) = r.run(&prog);
    assert_eq!(code, 123, "the alarm stands: {err}");

    // On another machine: the log itself serves the fork after the
    // honest checkpoint was seen.
    let r2 = Rk::new("a_checkpoint_inconsistent_with_one_seen_before_is_a_split_view");
    let Some(r2) = r2 else { return };
    let fork2 = r2.w.root.join("inst-fork");
    common::copy_dir(&r2.inst, &fork2);
    let prog = r2.program("tool", "one");
    r2.sign(&prog, &[0, 1], &[]);
    r2.policy("logs = 1\nmax_age = \"1h\"");
    r2.runs(&prog);
    let a = r2.program("a", "fork-a");
    let b = r2.program("b", "fork-b");
    r2.sign_in(&fork2, &a, &[], &[]);
    r2.sign_in(&fork2, &b, &[], &[]);
    let (_http, furl) = common::python_http_server(&fork2.join("log"));
    r2.policy_at(&furl, "logs = 1\nmax_age = \"1h\"");
    let (code, err) = r2.run(&prog);
    assert_eq!(code, 123, "{err}");
}

/// `require.logs = 2` is met by a Sigstore bundle in the Rekor log and the
/// release in the bt-log log together; either alone is refused.
#[test]
fn a_bundle_and_a_bt_log_release_together_meet_logs_2() {
    let Some(r) = Rk::new("a_bundle_and_a_bt_log_release_together_meet_logs_2") else {
        return;
    };
    let w = &r.w;
    let prog = w.prog.clone();
    w.publish(0, &prog, "pub.key");
    w.cosign(0, &[Some(now()), Some(now())]);
    let bundle = r.sign(&prog, &[0, 1], &[]);
    r.policy("logs = 2\nmax_age = \"1h\"");
    r.runs(&prog);
    let (code, out, err) = w.checked(&["verify", "--json", prog.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let results: Vec<&str> = doc["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["proven", "proven"], "{doc}");

    // The bt-log release alone: the Rekor log has no bundle to go by.
    let kept = w.root.join("kept.sigstore.json");
    fs::rename(&bundle, &kept).unwrap();
    let (code, err) = r.run(&prog);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("no Sigstore bundle"), "{err}");
    fs::rename(&kept, &bundle).unwrap();
    r.runs(&prog);

    // A bundle alone: another program, signed but not published.
    let only = r.program("only-signed", "unpublished");
    r.sign(&only, &[0, 1], &[]);
    let (code, err) = r.run(&only);
    assert_eq!(code, 126, "{err}");
    r.policy("logs = 1\nmax_age = \"1h\"");
    r.runs(&only);
}

/// `status` and `gossip export` include the Rekor log; a fork of it
/// imported by gossip raises its alarm (123), and runs are refused.
#[test]
fn status_and_gossip_include_the_rekor_log() {
    let Some(r) = Rk::new("status_and_gossip_include_the_rekor_log") else {
        return;
    };
    let fork = r.w.root.join("inst-fork");
    common::copy_dir(&r.inst, &fork);
    let prog = r.program("tool", "one");
    r.sign(&prog, &[0, 1], &[]);
    r.policy("logs = 1\nmax_age = \"1h\"");
    r.runs(&prog);
    let (code, out, err) = r.w.checked(&["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("log rekor.test.invalid: size 1, 2 cosignature(s)"),
        "{out}"
    );
    let (code, exported, err) = r.w.checked(&["gossip", "export"]);
    assert_eq!(code, 0, "{err}");
    assert!(exported.contains("rekor.test.invalid\n1\n"), "{exported}");

    // A fork of the same size, signed by the log key, gossiped in.
    let other = r.program("other", "fork");
    let fork_bundle = r.sign_in(&fork, &other, &[], &[]);
    let fork_note = r.w.root.join("fork.note");
    fs::write(&fork_note, bundle_note(&fork_bundle)).unwrap();
    let (code, _, err) =
        r.w.checked(&["gossip", "import", fork_note.to_str().unwrap()]);
    assert_eq!(code, 123, "{err}");
    let (code, err) = r.run(&prog);
    assert_eq!(code, 123, "{err}");
}

/// With a Rekor log listed, a bundle from another log (here Rekor v1, which
/// the policy allows) proves nothing in it: the bundle cannot choose the
/// route that skips the witnesses.
#[test]
fn a_bundle_from_a_log_the_policy_does_not_list_proves_nothing_in_its_rekor_log() {
    let Some(r) =
        Rk::new("a_bundle_from_a_log_the_policy_does_not_list_proves_nothing_in_its_rekor_log")
    else {
        return;
    };
    let prog = r.program("tool", "v1");
    r.sign(&prog, &[], &["--rekor", "v1"]);
    r.policy("logs = 1\nmax_age = \"1h\"");
    let text = fs::read_to_string(r.w.root.join("policy.toml"))
        .unwrap()
        .replace("[sigstore]\n", "[sigstore]\nallow_rekor_v1 = true\n");
    fs::write(r.w.root.join("policy.toml"), text).unwrap();
    let (code, err) = r.run(&prog);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("has its entry in"), "{err}");
}

/// A file of several bundles (JSON lines, as `gh attestation download`
/// writes) is not decided by its first: a Rekor v1 line and a Rekor v2 line
/// whose checkpoint no witness cosigned come before one whose checkpoint
/// the quorum cosigned, and the program runs offline on that one.
#[test]
fn a_file_of_several_bundles_is_not_decided_by_its_first() {
    let Some(r) = Rk::new("a_file_of_several_bundles_is_not_decided_by_its_first") else {
        return;
    };
    let prog = r.program("tool", "lines");
    let v1 = fs::read_to_string(r.sign(&prog, &[], &["--rekor", "v1"])).unwrap();
    let alone = fs::read_to_string(r.sign(&prog, &[], &["--unpublished"])).unwrap();
    let bundle = r.sign(&prog, &[0, 1], &[]);
    let good = fs::read_to_string(&bundle).unwrap();
    r.policy("logs = 1\nmax_age = \"1h\"");
    let text = fs::read_to_string(r.w.root.join("policy.toml"))
        .unwrap()
        .replace("[sigstore]\n", "[sigstore]\nallow_rekor_v1 = true\n");
    fs::write(r.w.root.join("policy.toml"), text).unwrap();
    let one_line = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s)
            .unwrap()
            .to_string()
    };
    fs::write(
        &bundle,
        format!("{}\n{}\n", one_line(&v1), one_line(&alone)),
    )
    .unwrap();
    // Neither of the first two proves it (and offline, the bt-log log that
    // might have is out of reach: 124).
    let (code, err) = r.run_with(&["--offline"], &prog);
    assert_eq!(code, 124, "{err}");
    assert!(err.contains("does not meet the policy by itself"), "{err}");
    fs::write(
        &bundle,
        format!(
            "{}\n{}\n{}\n",
            one_line(&v1),
            one_line(&alone),
            one_line(&good)
        ),
    )
    .unwrap();
    let (code, err) = r.run_with(&["--offline"], &prog);
    assert_eq!(code, 3, "{err}");
}

/// Once a bundle's entry was proven against its checkpoint, a later run
/// needs no request to the log while the saved checkpoint meets the
/// policy (`require.refresh` set: the warm path, as for any log), even
/// after the saved checkpoint moved past the bundle's; with
/// `refresh = "0s"` every run asks the log, and with it out of reach the
/// bundle's older, stale checkpoint cannot be linked to the saved one
/// (124). A
/// bundle whose checkpoint was never compared with the saved line (here,
/// one from a fork) goes the full way.
#[test]
fn a_proven_bundle_runs_again_without_asking_the_log_while_the_state_is_fresh() {
    let Some(mut r) =
        Rk::new("a_proven_bundle_runs_again_without_asking_the_log_while_the_state_is_fresh")
    else {
        return;
    };
    let fork = r.w.root.join("inst-fork");
    common::copy_dir(&r.inst, &fork);
    let prog = r.program("tool", "warm");
    let bundle = r.sign(&prog, &[0, 1], &[]);
    // Its checkpoint does not meet the policy by itself (its cosignatures
    // are older than max_age): the log's own proves it.
    let stale = redated(&r.w, &bundle_note(&bundle), now() - 2 * 3600);
    set_bundle_note(&bundle, &stale);
    r.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"");
    r.runs(&prog);
    // The log grows, and this machine saves its newer checkpoint.
    let next = r.program("next", "grown");
    r.sign(&next, &[0, 1], &[]);
    r.runs(&next);
    // The log goes away.
    r.http = None;
    r.runs(&prog);
    let (code, _, err) = r.w.checked(&["verify", "-v", prog.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("was proven against the bundle's checkpoint before"),
        "{err}"
    );
    // Every run asks the log: out of reach, nothing links the bundle's
    // checkpoint (size 1) to the saved one (size 2).
    r.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"0s\"");
    let (code, err) = r.run(&prog);
    assert_eq!(code, 124, "{err}");
    // A fork's bundle is never answered warm.
    r.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"");
    let other = r.program("other", "warm-fork");
    let fork_bundle = r.sign_in(&fork, &other, &[], &[]);
    fs::copy(&fork_bundle, format!("{}.sigstore.json", prog.display())).unwrap();
    let (code, err) = r.run(&prog);
    assert_ne!(code, 3, "{err}");
}

/// A bundle that proves the program does not hide a fork another bundle of
/// the same file shows: 123 with the fork after the good bundle, as before
/// it.
#[test]
fn a_fork_in_a_file_of_several_bundles_is_a_split_view_wherever_it_is() {
    let Some(r) = Rk::new("a_fork_in_a_file_of_several_bundles_is_a_split_view_wherever_it_is")
    else {
        return;
    };
    let fork = r.w.root.join("inst-fork");
    common::copy_dir(&r.inst, &fork);
    let prog = r.program("tool", "both");
    let good = fs::read_to_string(r.sign(&prog, &[0, 1], &[])).unwrap();
    r.policy("logs = 1\nmax_age = \"1h\"");
    r.runs(&prog);
    let forked = fs::read_to_string(r.sign_in(&fork, &prog, &[], &[])).unwrap();
    let line = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s)
            .unwrap()
            .to_string()
    };
    let bundle = format!("{}.sigstore.json", prog.display());
    fs::write(&bundle, format!("{}\n{}\n", line(&good), line(&forked))).unwrap();
    let (code, err) = r.run(&prog);
    assert_eq!(code, 123, "{err}");
}

/// A file whose bundles for the Rekor log all fail is judged by the
/// likeliest to prove it later: one the log could not be reached for (124)
/// outranks one refused outright (126), whatever their order; and a
/// bundle by another identity is refused as that, though a Rekor v1
/// bundle of the file proves the program elsewhere.
#[test]
fn a_file_of_several_failing_bundles_is_judged_by_what_could_prove_it() {
    let Some(r) = Rk::new("a_file_of_several_failing_bundles_is_judged_by_what_could_prove_it")
    else {
        return;
    };
    let prog = r.program("tool", "order");
    let line = |p: PathBuf| {
        let s = fs::read_to_string(p).unwrap();
        serde_json::from_str::<serde_json::Value>(&s)
            .unwrap()
            .to_string()
    };
    // Size 1, signed by the log alone; then size 2, cosigned and served;
    // then size 3, signed by the log alone.
    let small = line(r.sign(&prog, &[], &["--unpublished"]));
    r.sign(&r.program("between", "b"), &[0, 1], &[]);
    let big = line(r.sign(&prog, &[], &["--unpublished"]));
    // No hash tile can be read: nothing links size 1 to size 2.
    fs::remove_dir_all(r.inst.join("log/tile/0")).unwrap();
    r.policy("logs = 1\nmax_age = \"1h\"");
    let bundle = format!("{}.sigstore.json", prog.display());
    for lines in [[&small, &big], [&big, &small]] {
        fs::write(&bundle, format!("{}\n{}\n", lines[0], lines[1])).unwrap();
        let (code, err) = r.run(&prog);
        assert_eq!(code, 124, "{err}");
    }

    // Another identity's Rekor v2 bundle beside a good Rekor v1 one.
    let other = r.program("other", "identity");
    let v2 = r.w.root.join("v2.json");
    let inst = r.inst.display().to_string();
    common::sigstore_make(&[
        "sign",
        &inst,
        "--artifact",
        other.to_str().unwrap(),
        "--out",
        v2.to_str().unwrap(),
        "--identity",
        "https://github.com/evil/tool/.github/workflows/release.yml@refs/tags/v1.0",
        "--issuer",
        ISSUER,
    ]);
    let v1 = r.sign(&other, &[], &["--rekor", "v1"]);
    let text = fs::read_to_string(r.w.root.join("policy.toml"))
        .unwrap()
        .replace("[sigstore]\n", "[sigstore]\nallow_rekor_v1 = true\n");
    fs::write(r.w.root.join("policy.toml"), text).unwrap();
    fs::write(&v1, format!("{}\n{}\n", line(v2.clone()), line(v1.clone()))).unwrap();
    let (code, err) = r.run(&other);
    assert_eq!(code, 126, "{err}");
    assert!(err.contains("evil"), "named who signed: {err}");
}
