//! Strict modes for what bt-exec takes its trust from (DESIGN §7): the
//! policy file, its `trust_file`, the Sigsum policy its `[sigsum]` section
//! names, and every directory above each. The attack: another local user
//! who can write one of them (or replace it) rewrites it to trust their own
//! log and key, and their program runs. Each row is refused with 125,
//! naming the path and the fix, and nothing runs — through the full
//! bt-exec, `policy check` and the front with a warm verdict; the honest
//! layouts beside them run.

use std::fs;
use std::os::unix::fs::{chown, lchown, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::common::world::{World, BT_EXEC};
use super::{dir, mode, nobody, root};

/// A valid Ed25519 public key (RFC 8032, test 1), for the Sigsum files.
const KEY_HEX: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

/// The world's policy text (inline trust).
fn policy_text(w: &World) -> String {
    fs::read_to_string(w.root.join("policy.toml")).unwrap()
}

/// The policy text with its trust moved to `trust_file = "trust.txt"`
/// (written into `at`).
fn with_trust_file(w: &World, at: &Path) -> String {
    let text = policy_text(w);
    let (head, rest) = text.split_once("trust = \"\"\"\n").unwrap();
    let (trust, tail) = rest.split_once("\"\"\"\n").unwrap();
    fs::write(at.join("trust.txt"), trust).unwrap();
    format!("{head}trust_file = \"trust.txt\"\n{tail}")
}

/// The policy text with a `[sigsum]` section naming `sigsum.policy`
/// (written into `at`).
fn with_sigsum(w: &World, at: &Path) -> String {
    fs::write(
        at.join("sigsum.policy"),
        format!("log {KEY_HEX}\nquorum none\n"),
    )
    .unwrap();
    format!(
        "{}\n[sigsum]\npolicy = \"sigsum.policy\"\n[[sigsum.submitter]]\nnames = [\"other\"]\nkey = \"{KEY_HEX}\"\n",
        policy_text(w)
    )
}

/// A directory `name` (mode 0755) under the world holding `policy.toml`
/// with `text(dir)`.
fn placed(w: &World, name: &str, text: impl Fn(&Path) -> String) -> PathBuf {
    let d = dir(&w.root.join(name), 0o755);
    let t = text(&d);
    fs::write(d.join("policy.toml"), t).unwrap();
    d.join("policy.toml")
}

fn run_with(w: &World, args: &[&Path]) -> Output {
    let _ = fs::remove_file(&w.canary);
    w.env(Command::new(BT_EXEC).args(args))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn runs_with(w: &World, policy: &Path) {
    let out = run_with(w, &[Path::new("--policy"), policy, &w.prog]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{}: {err}", policy.display());
    assert!(w.canary.exists());
}

/// 125 naming `culprit` and `fix`, the program not run; and `policy check`
/// says the same.
fn refused_with(w: &World, policy: &Path, culprit: &Path, fix: &str) {
    for args in [
        vec![Path::new("--policy"), policy, &w.prog],
        vec![Path::new("policy"), Path::new("check"), policy],
    ] {
        let out = run_with(w, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        let row = format!("{args:?}, {}", culprit.display());
        assert_eq!(out.status.code(), Some(125), "{row}: {err}");
        assert!(
            err.contains(&format!("{}: ", culprit.display())),
            "{row}: {err}"
        );
        assert!(err.contains(fix), "{row}: {fix}: {err}");
        assert!(!w.canary.exists(), "{row}: it ran");
    }
}

#[test]
fn a_policy_or_a_file_it_names_that_others_could_rewrite_is_refused() {
    if !root("a_policy_or_a_file_it_names_that_others_could_rewrite_is_refused") {
        return;
    }
    let w = World::ready(1);
    let (nobody, nogroup) = nobody();
    let (fix, owner) = ("chmod go-w ", "owned by uid");
    // The policy file: writable by its group, by everyone, or another
    // user's.
    for m in [0o664, 0o646, 0o666] {
        let p = placed(&w, &format!("mode{m:o}"), |_| policy_text(&w));
        mode(&p, m);
        refused_with(&w, &p, &p, fix);
    }
    let p = placed(&w, "theirs", |_| policy_text(&w));
    chown(&p, Some(nobody), Some(nogroup)).unwrap();
    refused_with(&w, &p, &p, owner);
    // A directory above it: writable by everyone (not sticky), by its
    // group; sticky and world-writable but another user's.
    for (m, uid, why) in [(0o777, 0, fix), (0o775, 0, fix), (0o1777, nobody, owner)] {
        let p = placed(&w, &format!("above{m:o}-{uid}"), |_| policy_text(&w));
        let above = p.parent().unwrap();
        mode(above, m);
        chown(above, Some(uid), None).unwrap();
        refused_with(&w, &p, above, why);
    }
    // Its trust_file, writable by others or another user's.
    let p = placed(&w, "trust-others", |d| with_trust_file(&w, d));
    let trust = p.with_file_name("trust.txt");
    mode(&trust, 0o646);
    refused_with(&w, &p, &trust, fix);
    mode(&trust, 0o644);
    chown(&trust, Some(nobody), Some(nogroup)).unwrap();
    refused_with(&w, &p, &trust, owner);
    // The Sigsum policy its [sigsum] section names, writable by others.
    let p = placed(&w, "sigsum-others", |d| with_sigsum(&w, d));
    let sigsum = p.with_file_name("sigsum.policy");
    mode(&sigsum, 0o646);
    refused_with(&w, &p, &sigsum, fix);
    // A link to a good policy that another user owns (they could point it
    // anywhere); a link of root's to a policy in a group-writable directory.
    let good = placed(&w, "good", |_| policy_text(&w));
    let links = dir(&w.root.join("links"), 0o755);
    let link = links.join("policy.toml");
    symlink(&good, &link).unwrap();
    lchown(&link, Some(nobody), Some(nogroup)).unwrap();
    refused_with(&w, &link, &link, owner);
    let open = placed(&w, "open", |_| policy_text(&w));
    mode(open.parent().unwrap(), 0o775);
    let link2 = links.join("to-open.toml");
    symlink(&open, &link2).unwrap();
    refused_with(&w, &link2, open.parent().unwrap(), fix);
}

/// The honest layouts: a 0644 policy in a 0755 directory, under a root-owned
/// sticky directory such as /tmp, through a link of root's, with a 0644
/// trust_file or Sigsum policy; `policy check` accepts each.
#[test]
fn a_policy_only_its_owner_can_write_is_used() {
    let w = World::ready(1);
    let plain = placed(&w, "plain", |_| policy_text(&w));
    let sticky = dir(&w.root.join("sticky"), 0o1777);
    let under_sticky = placed(&w, "sticky/mine", |_| policy_text(&w));
    let trust = placed(&w, "trust", |d| with_trust_file(&w, d));
    let sigsum = placed(&w, "sigsum", |d| with_sigsum(&w, d));
    let link = w.root.join("link.toml");
    symlink(&plain, &link).unwrap();
    assert!(sticky.is_dir());
    for p in [&plain, &under_sticky, &trust, &sigsum, &link] {
        runs_with(&w, p);
        let out = run_with(&w, &[Path::new("policy"), Path::new("check"), p]);
        assert_eq!(out.status.code(), Some(0), "{}: {out:?}", p.display());
    }
}

/// A warm verdict recorded under a policy does not serve once the policy
/// could be rewritten by others: the front falls through to the full
/// bt-exec, which refuses with 125; nothing runs.
#[test]
fn a_warm_verdict_does_not_serve_under_a_policy_others_could_rewrite() {
    if !root("a_warm_verdict_does_not_serve_under_a_policy_others_could_rewrite") {
        return;
    }
    let w = World::ready(1);
    let policy = w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"");
    runs_with(&w, &policy);
    runs_with(&w, &policy);
    assert!(w.memos() > 0, "no warm verdict recorded");
    mode(&policy, 0o664);
    refused_with(&w, &policy, &policy, "chmod go-w ");
    mode(&policy, 0o644);
    chown(&policy, Some(nobody().0), None).unwrap();
    refused_with(&w, &policy, &policy, "owned by uid");
    chown(&policy, Some(0), None).unwrap();
    runs_with(&w, &policy);
}
