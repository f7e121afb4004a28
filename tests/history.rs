//! Release history in the policy (DESIGN §5, §6 step 4): `latest`,
//! `no_downgrade`, `prior_revisions`, `min_release_age`, and
//! `NAME@VERSION` / `NAME@latest`, against logs written by bt-log with
//! cosignatures signed at chosen times (no sleeps).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::world::{chmod_x, now, World, BT_EXEC};

const NAME: &str = "example.org/tool";

/// A world with one log holding releases 1.0, 1.1 and 2.0 of NAME (each a
/// script that writes the canary and prints its version), their bytes in a
/// file:// CAS, all cosigned `age` seconds ago.
fn three_releases(age: u64) -> (World, Vec<PathBuf>, PathBuf) {
    let w = World::new(1);
    let cas = w.root.join("cas");
    let cas_url = format!("file://{}", cas.display());
    let files = publish_three(&w, &cas_url);
    let t = now() - age;
    w.cosign(0, &[Some(t), Some(t)]);
    (w, files, cas)
}

/// Publishes 1.0, 1.1 and 2.0 of NAME (each a script that writes the
/// canary and prints its version) with their bytes under `cas_url`.
fn publish_three(w: &World, cas_url: &str) -> Vec<PathBuf> {
    let mut files = vec![];
    for v in ["1.0", "1.1", "2.0"] {
        let f = w.root.join(format!("bin/tool-{v}"));
        let script = format!(
            "#!/bin/sh\ntouch {}\necho \"tool {v}: $*\"\n",
            w.canary.display()
        );
        fs::write(&f, script).unwrap();
        chmod_x(&f);
        w.publish_release(0, &f, NAME, v, "pub.key", Some(cas_url));
        files.push(f);
    }
    files
}

fn run(w: &World, args: &[&str]) -> (i32, String, String) {
    w.checked(args)
}

fn runs_ok(w: &World, f: &Path) -> String {
    let (c, out, err) = run(w, &[f.to_str().unwrap(), "hi"]);
    assert_eq!(c, 0, "{err}");
    assert!(w.canary.exists());
    out
}

fn refused(w: &World, f: &Path, code: i32) -> String {
    let (c, _, err) = run(w, &[f.to_str().unwrap()]);
    assert_eq!(c, code, "{err}");
    err
}

#[test]
fn latest_runs_the_newest_and_names_it_when_refusing() {
    let (w, f, _) = three_releases(0);
    w.policy("max_age = \"1h\"\nlatest = true");
    assert_eq!(runs_ok(&w, &f[2]), "tool 2.0: hi\n");
    let err = refused(&w, &f[1], 126);
    assert!(
        err.contains("not the latest") && err.contains("2.0"),
        "{err}"
    );
    let err = refused(&w, &f[0], 126);
    assert!(err.contains("2.0"), "{err}");
    // The verdict comes from the state alone once the view is current.
    w.policy("max_age = \"1h\"\nlatest = true\nrefresh = \"5m\"");
    assert_eq!(runs_ok(&w, &f[2]), "tool 2.0: hi\n");
    refused(&w, &f[1], 126);
    // The report names the release.
    let (c, out, err) = run(&w, &["verify", "--json", f[2].to_str().unwrap()]);
    assert_eq!(c, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["logs"][0]["release"]["version"], "2.0");
}

#[test]
fn latest_ignores_releases_by_keys_not_allowed_for_the_name() {
    let (w, f, _) = three_releases(0);
    // An unauthorised key logs a "newer" release of the name: it must not
    // make the real newest release look outdated.
    let junk = w.root.join("bin/junk");
    fs::write(&junk, "#!/bin/sh\necho junk\n").unwrap();
    w.publish_release(0, &junk, NAME, "9.9", "evil.key", None);
    w.cosign(0, &[Some(now()), Some(now())]);
    w.policy("max_age = \"1h\"\nlatest = true");
    assert_eq!(runs_ok(&w, &f[2]), "tool 2.0: hi\n");
}

#[test]
fn no_downgrade_after_a_newer_release_ran() {
    let (w, f, _) = three_releases(0);
    w.policy("max_age = \"1h\"\nno_downgrade = true");
    runs_ok(&w, &f[1]);
    runs_ok(&w, &f[2]);
    let err = refused(&w, &f[1], 126);
    assert!(err.contains("downgrade") && err.contains("2.0"), "{err}");
    let (c, out, _) = run(&w, &["status"]);
    assert_eq!(c, 0);
    assert!(
        out.contains(&format!("{NAME} 2.0: example.org/log0 leaf 2")),
        "{out}"
    );
    // verify alone never counts as running.
    let fresh = w.root.join("state2");
    let out = Command::new(BT_EXEC)
        .args(["verify", f[2].to_str().unwrap()])
        .env("BT_EXEC_CACHE_DIR", w.root.join("cache"))
        .env("BT_EXEC_STATE_DIR", &fresh)
        .env("BT_EXEC_POLICY", w.root.join("policy.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(!fresh.join("runs").exists());
}

#[test]
fn no_downgrade_survives_a_process_killed_at_any_moment() {
    let (w, f, _) = three_releases(0);
    w.policy("max_age = \"1h\"\nno_downgrade = true");
    // Warm the caches so the kills land around the record and the exec.
    runs_ok(&w, &f[2]);
    for i in 0..30u64 {
        let _ = fs::remove_dir_all(w.root.join("state/runs"));
        let _ = fs::remove_file(&w.canary);
        let mut child = Command::new(BT_EXEC)
            .arg(&f[2])
            .env("BT_EXEC_CACHE_DIR", w.root.join("cache"))
            .env("BT_EXEC_STATE_DIR", w.root.join("state"))
            .env("BT_EXEC_POLICY", w.root.join("policy.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_micros(300 * i));
        let _ = child.kill();
        let _ = child.wait();
        // Let a program that was already exec'd finish writing its canary.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let ran = w.canary.exists();
        let (c, _, err) = run(&w, &[f[1].to_str().unwrap()]);
        if ran {
            assert_eq!(c, 126, "2.0 ran, then 1.1 was allowed: {err}");
        } else {
            assert!(c == 0 || c == 126, "{err}");
        }
    }
}

#[test]
fn prior_revisions_counts_earlier_releases_whose_bytes_are_fetchable() {
    let (w, f, cas) = three_releases(0);
    w.policy("max_age = \"1h\"\nprior_revisions = 2");
    runs_ok(&w, &f[2]);
    let err = refused(&w, &f[1], 126);
    assert!(err.contains("prior_revisions"), "{err}");
    // Delete the CAS copy of 1.0: 2.0 now has one fetchable predecessor.
    let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        fs::read(&f[0]).unwrap(),
    ));
    fs::remove_file(cas.join("sha256").join(&h)).unwrap();
    let err = refused(&w, &f[2], 126);
    assert!(err.contains("1.0"), "{err}");
}

/// Releases 1.0, 1.1 and 2.0 whose entries name `cas` URLs under `serve`'s
/// server: `serve` is started on the folder bt-log copies their bytes to
/// (`<log>/cas` for an http CAS) and returns its URL.
fn releases_on_http_cas(
    serve: impl FnOnce(&Path) -> (common::Proc, String),
) -> (World, Vec<PathBuf>, PathBuf, common::Proc) {
    let w = World::new(1);
    let cas = w.logs[0].dir.join("cas");
    fs::create_dir_all(&cas).unwrap();
    let (server, url) = serve(&cas);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let files = publish_three(&w, &url);
    w.cosign(0, &[Some(now()), Some(now())]);
    (w, files, cas, server)
}

/// Deletes the served copy of `file`.
fn unserve(cas: &Path, file: &Path) {
    let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        fs::read(file).unwrap(),
    ));
    fs::remove_file(cas.join("sha256").join(&h)).unwrap();
}

#[test]
fn prior_revisions_counts_earlier_releases_served_by_python_http_server() {
    let (w, f, cas, _server) = releases_on_http_cas(common::python_http_server);
    w.policy("max_age = \"1h\"\nprior_revisions = 2");
    runs_ok(&w, &f[2]);
    let err = refused(&w, &f[1], 126);
    assert!(err.contains("prior_revisions"), "{err}");
    // Only two releases came before 2.0.
    w.policy("max_age = \"1h\"\nprior_revisions = 3");
    let err = refused(&w, &f[2], 126);
    assert!(err.contains("prior_revisions"), "{err}");
    // The server no longer has 1.1's bytes: 2.0 has one fetchable predecessor.
    w.policy("max_age = \"1h\"\nprior_revisions = 2");
    unserve(&cas, &f[1]);
    let err = refused(&w, &f[2], 126);
    assert!(
        err.contains("prior_revisions") && err.contains("1.1 (leaf 1)"),
        "{err}"
    );
    assert!(!err.contains("1.0 (leaf 0)"), "{err}");
    // One is enough for prior_revisions = 1.
    w.policy("max_age = \"1h\"\nprior_revisions = 1");
    runs_ok(&w, &f[2]);
}

/// A CAS that cannot be reached (its server gone: an outage, or a path
/// that drops the requests) is the network, not the history: bytes seen
/// served before still count, and when none were, the run is 124 — never
/// a refusal (126) a path attacker could cause by dropping packets.
#[test]
fn prior_revisions_with_the_cas_unreachable_is_124_or_the_record() {
    let (w, f, _cas, server) = releases_on_http_cas(common::python_http_server);
    w.policy("max_age = \"1h\"\nprior_revisions = 1");
    runs_ok(&w, &f[2]);
    drop(server);
    runs_ok(&w, &f[2]);
    fs::remove_dir_all(w.root.join("state")).unwrap();
    let err = refused(&w, &f[2], 124);
    assert!(err.contains("could not be reached"), "{err}");
}

/// Python's file server with HEAD answered 501, as servers that do not
/// implement HEAD answer it: availability is then asked with a ranged GET
/// (which this server ignores, answering 200 with the whole length).
#[test]
fn prior_revisions_asks_with_a_ranged_get_where_head_is_not_implemented() {
    let (w, f, cas, _server) = releases_on_http_cas(|dir| {
        common::helper_server(&[
            "-c",
            "import functools,sys,http.server as h\n\
             H=type('H',(h.SimpleHTTPRequestHandler,),{'do_HEAD':lambda s:s.send_error(501)})\n\
             s=h.ThreadingHTTPServer(('127.0.0.1',0),functools.partial(H,directory=sys.argv[1]))\n\
             print(s.server_address[1],flush=True)\n\
             s.serve_forever()",
            dir.to_str().unwrap(),
        ])
    });
    w.policy("max_age = \"1h\"\nprior_revisions = 2");
    runs_ok(&w, &f[2]);
    unserve(&cas, &f[0]);
    let err = refused(&w, &f[2], 126);
    assert!(
        err.contains("prior_revisions") && err.contains("1.0 (leaf 0)"),
        "{err}"
    );
}

#[test]
fn min_release_age_from_cosignature_times() {
    // 1.0, 1.1 and 2.0 cosigned two hours ago, and seen then.
    let (w, f, _) = three_releases(7200);
    w.policy("max_age = \"1d\"\nmin_release_age = \"1h\"");
    runs_ok(&w, &f[2]);
    // A new release cosigned a minute ago is too young.
    let young = w.root.join("bin/tool-3.0");
    fs::write(&young, "#!/bin/sh\necho tool 3.0\n").unwrap();
    chmod_x(&young);
    w.publish_release(0, &young, NAME, "3.0", "pub.key", None);
    w.cosign(0, &[Some(now() - 60), Some(now() - 60)]);
    let err = refused(&w, &young, 126);
    assert!(err.contains("min_release_age"), "{err}");
    // The older releases still run: they were covered two hours ago.
    runs_ok(&w, &f[1]);
    // A machine that never saw the old checkpoint cannot know 2.0's age.
    let _ = fs::remove_dir_all(w.root.join("state"));
    refused(&w, &f[2], 126);
}

/// Releases 1.0, 1.1, 2.0 whose bytes a `bt-log serve` of the log serves
/// over loopback HTTP, plus `example.org/endless` and `example.org/stalled`
/// whose `cas` URLs point at servers that misbehave.
fn served_releases() -> (World, Vec<PathBuf>, Vec<common::Proc>) {
    let w = World::new(1);
    let serve = common::spawn_server(&["serve", w.logs[0].dir.to_str().unwrap()]);
    let cas_url = format!("{}/cas", serve.addr);
    let files = publish_three(&w, &cas_url);
    // A file:// CAS whose copy is a FIFO: reading it could block forever.
    let fifo_cas = w.root.join("fifo-cas");
    let f = w.root.join("bin/fifo");
    fs::write(&f, format!("#!/bin/sh\ntouch {}\n", w.canary.display())).unwrap();
    let url = format!("file://{}", fifo_cas.display());
    w.publish_release(0, &f, "example.org/fifo", "1.0", "pub.key", Some(&url));
    let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        fs::read(&f).unwrap(),
    ));
    let copy = fifo_cas.join("sha256").join(h);
    fs::remove_file(&copy).unwrap();
    nix::unistd::mkfifo(&copy, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let mut procs = vec![serve];
    for (mode, name) in [("endless", "endless"), ("slow", "stalled")] {
        let (p, url) = common::helper_server(&["tests/interop/bad_server.py", mode]);
        let f = w.root.join(format!("bin/{name}"));
        // 100 bytes: the stalling server announces that length, so only the
        // deadline can end the wait.
        let mut script = format!("#!/bin/sh\ntouch {}\n#", w.canary.display());
        while script.len() < 99 {
            script.push('#');
        }
        script.push('\n');
        fs::write(&f, script).unwrap();
        w.publish_release(
            0,
            &f,
            &format!("example.org/{name}"),
            "1.0",
            "pub.key",
            Some(&url),
        );
        procs.push(p);
    }
    w.cosign(0, &[Some(now()), Some(now())]);
    w.policy("max_age = \"1h\"");
    (w, files, procs)
}

#[test]
fn name_at_version_fetches_verifies_and_runs_from_the_cas() {
    let (w, _, _procs) = served_releases();
    let (c, out, err) = run(&w, &[&format!("{NAME}@1.1"), "hi"]);
    assert_eq!((c, out.as_str()), (0, "tool 1.1: hi\n"), "{err}");
    let (c, out, err) = run(&w, &[&format!("{NAME}@latest"), "hi"]);
    assert_eq!((c, out.as_str()), (0, "tool 2.0: hi\n"), "{err}");
    // A log without an index: the history knows the leaf, and its proof is
    // what the verification finds (fresh state and cache, nothing cached).
    fs::remove_dir_all(w.logs[0].dir.join("bt/index")).unwrap();
    for d in ["state", "cache"] {
        let _ = fs::remove_dir_all(w.root.join(d));
    }
    let (c, out, err) = run(&w, &[&format!("{NAME}@1.0"), "hi"]);
    assert_eq!((c, out.as_str()), (0, "tool 1.0: hi\n"), "{err}");
    // verify resolves and proves without running.
    let (c, _, err) = run(&w, &["verify", &format!("{NAME}@1.0")]);
    assert_eq!(c, 0, "{err}");
    assert!(!w.canary.exists());
    // Unknown versions and names are refused by name.
    let (c, _, err) = run(&w, &[&format!("{NAME}@7.7")]);
    assert_eq!(c, 126, "{err}");
    assert!(err.contains("@7.7"), "{err}");
    // The policy's publisher rules apply: a name no key may publish.
    let text = fs::read_to_string(w.root.join("policy.toml"))
        .unwrap()
        .replace("example.org/*", "example.org/other");
    fs::write(w.root.join("policy.toml"), text).unwrap();
    let (c, _, err) = run(&w, &[&format!("{NAME}@2.0")]);
    assert_eq!(c, 126, "{err}");
}

#[test]
fn a_cas_that_serves_other_endless_or_no_bytes_is_refused_in_time() {
    let (w, files, _procs) = served_releases();
    // The served copy of 1.0 is replaced by other bytes.
    let h = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        fs::read(&files[0]).unwrap(),
    ));
    let served = w.logs[0].dir.join("cas/sha256").join(&h);
    fs::remove_file(&served).unwrap();
    fs::write(&served, fs::read(&files[1]).unwrap()).unwrap();
    let (c, _, err) = run(&w, &[&format!("{NAME}@1.0")]);
    assert_eq!(c, 126, "{err}");
    assert!(
        err.contains("other bytes") || err.contains("bytes"),
        "{err}"
    );
    let start = std::time::Instant::now();
    let (c, _, err) = run(&w, &["example.org/endless@1.0"]);
    assert_eq!(c, 126, "{err}");
    assert!(err.contains("more than"), "{err}");
    let (c, _, err) = run(&w, &["example.org/fifo@1.0"]);
    assert_eq!(c, 124, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    let (c, _, err) = run(&w, &["example.org/stalled@1.0"]);
    assert_eq!(c, 124, "{err}");
    // Bounded by bt-exec's 20 s deadline, with room for a slow machine.
    assert!(start.elapsed() < std::time::Duration::from_secs(45));
}

/// A warm verdict (src/exec/memo.rs) never outlives the history it passed:
/// running a newer release ends an older one's under `no_downgrade`, and a
/// newer release entering the view ends it under `latest`.
#[test]
fn warm_verdicts_end_when_the_history_they_passed_changes() {
    let (w, f, _) = three_releases(0);
    w.policy("max_age = \"1h\"\nno_downgrade = true\nrefresh = \"1h\"");
    for _ in 0..3 {
        runs_ok(&w, &f[1]);
    }
    assert_eq!(w.memos(), 1);
    runs_ok(&w, &f[2]);
    let err = refused(&w, &f[1], 126);
    assert!(err.contains("downgrade"), "{err}");

    let w = World::new(1);
    let cas_url = format!("file://{}", w.root.join("cas").display());
    let mut files = vec![];
    for v in ["1.0", "1.1"] {
        let f = w.root.join(format!("bin/tool-{v}"));
        fs::write(
            &f,
            format!("#!/bin/sh\ntouch {}\necho {v}\n", w.canary.display()),
        )
        .unwrap();
        chmod_x(&f);
        w.publish_release(0, &f, NAME, v, "pub.key", Some(&cas_url));
        files.push(f);
    }
    w.cosign(0, &[Some(now()), Some(now())]);
    w.policy("max_age = \"1h\"\nlatest = true\nrefresh = \"1h\"");
    for _ in 0..3 {
        runs_ok(&w, &files[1]);
    }
    assert_eq!(w.memos(), 1);
    let newer = w.root.join("bin/tool-2.0");
    fs::write(
        &newer,
        format!("#!/bin/sh\ntouch {}\necho 2.0\n", w.canary.display()),
    )
    .unwrap();
    chmod_x(&newer);
    w.publish_release(0, &newer, NAME, "2.0", "pub.key", Some(&cas_url));
    w.cosign(0, &[Some(now()), Some(now())]);
    // Its first run is cold: the checkpoint is fetched and the view grows.
    runs_ok(&w, &newer);
    let err = refused(&w, &files[1], 126);
    assert!(
        err.contains("not the latest") && err.contains("2.0"),
        "{err}"
    );
}
