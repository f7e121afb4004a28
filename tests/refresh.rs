//! `bt-exec refresh` and the background refresher (issue 29) end to end,
//! with real processes and real HTTP: a run answers from the saved state
//! while it meets the policy and, once a saved checkpoint is older than
//! `require.refresh`, starts one detached refresher; only a state that
//! cannot meet the policy makes a run wait for the network; a fork served
//! after the last refresh is an alarm on the next one and the run after it
//! is refused (123); `kill -9` of a refresh never rolls the state back.
//! The logs are served by a Python server (tests/common/served.rs) that
//! records every request as it arrives, and can delay each response.

mod common;
#[path = "common/refresher.rs"]
mod refresher;
#[path = "common/served.rs"]
mod served;

use std::fs;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::world::{chmod_x, now, World, BT_EXEC};
use refresher::*;
use served::Served;

/// With `refresh = "2s"`, a run on checkpoints fetched longer ago still
/// runs from the state and starts exactly one refresher, which fetches
/// each log's checkpoint once and records exit 0 — started by the full
/// bt-exec (no warm verdict yet), then by the front serving a warm
/// verdict. A run on the state it left starts none.
#[test]
fn a_stale_state_still_runs_and_starts_exactly_one_refresher() {
    let mut w = World::ready(2);
    let srv = Served::start(&mut w, &[0, 1]);
    w.policy("logs = 2\nmax_age = \"1h\"\nrefresh = \"2s\"");
    w.runs();
    assert_eq!(last(&w), None, "a run on a fresh state started a refresher");
    let (proofs, aside) = (w.root.join("state/proofs"), w.root.join("aside"));
    for round in ["the full bt-exec", "the front's warm verdict"] {
        let front = round == "the front's warm verdict";
        assert_eq!(w.memos() > 0, front, "{round}: warm verdicts");
        if front {
            // Only the warm verdict can then run it without a request.
            fs::rename(&proofs, &aside).unwrap();
        }
        forget_last(&w);
        wait_stale(&w, 2);
        let before = srv.checkpoint_gets(2);
        // The program ran (exit 3, canary, arguments and stdin).
        w.runs();
        let (code, text) = refresher_ended(&w, round);
        assert_eq!(code, 0, "{round}: the refresher did not refresh: {text}");
        let want: Vec<usize> = before.iter().map(|n| n + 1).collect();
        assert_eq!(
            srv.checkpoint_gets(2),
            want,
            "{round}: not exactly one checkpoint GET per log after the stale run: {:?}",
            srv.requests()
        );
        if front {
            fs::rename(&aside, &proofs).unwrap();
        }
        // The checkpoints were fetched again: the next run starts nothing.
        let stamp = lock_stamp(&w);
        let requests = srv.requests().len();
        w.runs();
        assert_eq!(
            lock_stamp(&w),
            stamp,
            "{round}: a run on a just refreshed state started a refresher"
        );
        assert_eq!(
            srv.requests().len(),
            requests,
            "{round}: a run on a just refreshed state made a request: {:?}",
            srv.requests()
        );
    }
    no_refresher_left(&w);
}

/// The default `refresh` (10m) makes no request while the state meets
/// the policy; a saved checkpoint older than `max_age` makes the run fetch
/// it, and with the log unreachable such a run is refused (124), while a
/// state that still meets the policy runs with the log down.
#[test]
fn a_state_older_than_max_age_waits_for_the_network_and_is_124_without_it() {
    let mut w = World::ready(1);
    let fifty_minutes_ago = now() - 3000;
    w.cosign(0, &[Some(fifty_minutes_ago), Some(fifty_minutes_ago)]);
    let srv = Served::start(&mut w, &[0]);
    // The word "refresh" keeps World::policy from setting "0s": the default.
    w.policy("logs = 1\nmax_age = \"1h\"\n# refresh: the default");
    w.runs();
    let before = srv.checkpoint_gets(1)[0];
    w.runs();
    w.runs();
    assert_eq!(
        srv.checkpoint_gets(1)[0],
        before,
        "warm runs under the default refresh fetched the checkpoint"
    );
    // The log is cosigned again; the saved checkpoint, cosigned 50 minutes
    // ago, no longer meets a max_age of 40 minutes.
    let two_minutes_ago = now() - 120;
    w.cosign(0, &[Some(two_minutes_ago), Some(two_minutes_ago)]);
    w.policy("logs = 1\nmax_age = \"40m\"\n# refresh: the default");
    w.runs();
    assert_eq!(
        srv.checkpoint_gets(1)[0],
        before + 1,
        "a run on a checkpoint older than max_age did not fetch it: {:?}",
        srv.requests()
    );
    w.runs();
    assert_eq!(
        srv.checkpoint_gets(1)[0],
        before + 1,
        "the run after the fetch fetched again although the state met the policy"
    );
    drop(srv);
    w.runs();
    // Cosigned two minutes ago: older than a max_age of one minute.
    w.policy("logs = 1\nmax_age = \"1m\"\n# refresh: the default");
    let err = w.refused(
        124,
        "a state older than max_age with the log unreachable must be 124",
    );
    assert!(
        err.contains("max_age"),
        "the 124 does not say the state is older than max_age: {err}"
    );
    no_refresher_left(&w);
}

/// `bt-exec refresh` exits 0 when every log was refreshed, 124 when one
/// could not be reached — keeping that log's saved checkpoint, on which
/// runs go on — and records its outcome in STATE/refresh/last.
#[test]
fn refresh_exits_0_when_all_were_refreshed_and_124_with_a_log_down() {
    let mut w = World::ready(2);
    let srv = Served::start(&mut w, &[0]);
    w.policy("logs = 2\nmax_age = \"1h\"\n# refresh: the default");
    w.runs();
    let before = srv.checkpoint_gets(1)[0];
    let (code, text) = bt_exec(&w, &["refresh"]);
    assert_eq!(code, 0, "bt-exec refresh with both logs reachable: {text}");
    assert_eq!(
        srv.checkpoint_gets(1)[0],
        before + 1,
        "bt-exec refresh did not fetch log0's checkpoint once: {:?}",
        srv.requests()
    );
    assert_eq!(
        last(&w).map(|l| l.0),
        Some(0),
        "the foreground refresh did not record exit 0 in STATE/refresh/last"
    );
    let kept = saved(&w, 0);
    drop(srv);
    let (code, text) = bt_exec(&w, &["refresh"]);
    assert_eq!(code, 124, "bt-exec refresh with log0 down: {text}");
    assert!(
        text.lines().any(|l| l.contains("example.org/log0")
            && (l.contains("not reached") || l.contains("not refreshed"))),
        "bt-exec refresh did not say log0 was not refreshed: {text}"
    );
    assert_eq!(
        saved(&w, 0),
        kept,
        "a refresh that could not reach log0 changed its saved checkpoint"
    );
    assert_eq!(
        last(&w).map(|l| l.0),
        Some(124),
        "STATE/refresh/last does not record the 124"
    );
    w.runs();
    no_refresher_left(&w);
}

/// A fork a log serves after the last refresh: the next `bt-exec refresh`
/// exits 123 with the alarm and evidence written, and the run after it
/// is refused (123), its warm verdict ended by the alarm.
#[test]
fn a_fork_served_after_the_last_refresh_is_an_alarm_on_the_next_refresh() {
    let mut w = World::ready(2);
    let _srv = Served::start(&mut w, &[0, 1]);
    w.policy("logs = 2\nmax_age = \"1h\"\n# refresh: the default");
    w.runs();
    w.runs();
    assert!(w.memos() > 0, "no warm verdict for the alarm to end");
    let (code, text) = bt_exec(&w, &["refresh"]);
    assert_eq!(code, 0, "bt-exec refresh of two honest logs: {text}");
    serve_fork(&w, 0);
    let (code, text) = bt_exec(&w, &["refresh"]);
    assert_eq!(code, 123, "bt-exec refresh of a log serving a fork: {text}");
    assert!(text.contains("SPLIT VIEW"), "no split view said: {text}");
    assert!(alarm(&w, 0).exists(), "no alarm for log0 after: {text}");
    assert!(
        !alarm(&w, 1).exists(),
        "an alarm for the honest log1: {text}"
    );
    let evidence = fs::read_dir(w.root.join("state/evidence")).map_or(0, |d| d.count());
    assert_eq!(evidence, 1, "not one evidence file for the split view");
    assert_eq!(last(&w).map(|l| l.0), Some(123), "STATE/refresh/last");
    let err = w.refused(123, "the run after the alarm");
    assert!(
        err.contains("alarm clear"),
        "the refusal does not say how to clear: {err}"
    );
    no_refresher_left(&w);
}

/// The same through the background refresher: the stale run answers from
/// the state (the fork is not seen yet) and starts the refresher, which
/// finds the fork and records 123; the following run is refused (123).
#[test]
fn a_fork_is_an_alarm_through_the_refresher_a_stale_run_starts() {
    let mut w = World::ready(2);
    let _srv = Served::start(&mut w, &[0, 1]);
    w.policy("logs = 2\nmax_age = \"1h\"\nrefresh = \"2s\"");
    w.runs();
    w.runs();
    wait_stale(&w, 2);
    forget_last(&w);
    serve_fork(&w, 0);
    w.runs();
    let (code, text) = refresher_ended(&w, "a stale run with log0 serving a fork");
    assert_eq!(
        code, 123,
        "the background refresher did not find the fork: {text}"
    );
    assert!(
        text.contains("SPLIT VIEW"),
        "no split view recorded: {text}"
    );
    assert!(alarm(&w, 0).exists(), "no alarm for log0 after: {text}");
    w.refused(
        123,
        "the run after the background refresher raised the alarm",
    );
    no_refresher_left(&w);
}

/// Every response of the logs is delayed `DELAY` seconds: a run that waited
/// for one would take at least that long.
const DELAY: u64 = 4;

/// 50 concurrent runs on a stale state all answer from it (each ends
/// before a single delayed response could have come) and start one
/// refresher between them: one checkpoint GET per log in total.
#[test]
fn fifty_concurrent_stale_runs_start_one_refresher_and_none_waits() {
    let mut w = World::ready(2);
    let srv = Served::start(&mut w, &[0, 1]);
    w.policy("logs = 2\nmax_age = \"1h\"\nrefresh = \"2s\"");
    w.runs();
    w.runs();
    wait_stale(&w, 2);
    let before = srv.checkpoint_gets(2);
    srv.set_delay(DELAY);
    // The runs wait on a gate (a shared flock(1) on a file this test holds
    // exclusively) and start together when it opens.
    let gate = w.root.join("gate");
    let held = nix::fcntl::Flock::lock(
        fs::File::create(&gate).unwrap(),
        nix::fcntl::FlockArg::LockExclusive,
    )
    .map_err(|(_, e)| e)
    .expect("lock the gate");
    let runs: Vec<_> = (0..50)
        .map(|_| {
            let mut c = Command::new("flock");
            w.env(c.args(["-o", "-s"]).arg(&gate).arg(BT_EXEC).arg(&w.prog))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let child = c.spawn().expect("spawn flock(1) and bt-exec");
            std::thread::spawn(move || {
                let out: std::io::Result<Output> = child.wait_with_output();
                (Instant::now(), out)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let opened = Instant::now();
    drop(held);
    let mut slowest = Duration::ZERO;
    for (i, r) in runs.into_iter().enumerate() {
        let (ended, out) = r.join().expect("a waiting thread panicked");
        let took = ended.saturating_duration_since(opened);
        slowest = slowest.max(took);
        let out = out.expect("wait for bt-exec");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(3),
            "run {i} of 50 did not run: {err}"
        );
        assert!(
            took < Duration::from_secs(DELAY),
            "run {i} of 50 took {took:?}: it waited for the network (each response \
             takes {DELAY} s) although the state met the policy: {err}"
        );
    }
    eprintln!("the slowest of 50 concurrent runs took {slowest:?}");
    let (code, text) = refresher_ended(&w, "50 stale runs");
    assert_eq!(code, 0, "the refresher did not refresh: {text}");
    let want: Vec<usize> = before.iter().map(|n| n + 1).collect();
    assert_eq!(
        srv.checkpoint_gets(2),
        want,
        "50 stale runs did not start exactly one refresher (one checkpoint GET per log): {:?}",
        srv.requests()
    );
}

/// The log grows (a release under another name, cosigned) by one.
fn grow(w: &World, i: usize) {
    let f = w.root.join(format!("bin/other-{i}"));
    fs::write(&f, format!("#!/bin/sh\necho other {i}\n")).unwrap();
    w.publish_release(
        0,
        &f,
        "example.org/other",
        &format!("0.{i}"),
        "pub.key",
        None,
    );
    publish_note(
        w,
        0,
        &w.sign(0, &w.checkpoint(0), &[Some(now()), Some(now())]),
    );
}

/// `kill -9` of a foreground `bt-exec refresh` at moments drawn from a
/// fixed seed, while the log grows between kills and `latest = true`
/// brings the release history forward: after each kill the saved
/// checkpoint is no smaller than before and a run is never refused.
#[test]
fn kill_9_of_refresh_never_leaves_a_state_a_run_refuses_or_rolled_back() {
    let mut w = World::ready(1);
    let _srv = Served::start(&mut w, &[0]);
    w.policy("logs = 1\nmax_age = \"1h\"\nlatest = true\n# refresh: the default");
    w.runs();
    let prog = w.prog.to_str().unwrap().to_string();
    let mut size = saved_size(&w, 0);
    let mut seed: u64 = 29;
    let mut killed = 0;
    for i in 0..20 {
        grow(&w, i);
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let ms = (seed >> 33) % 81;
        let mut child = w
            .env(Command::new(BT_EXEC).arg("refresh"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn bt-exec refresh");
        std::thread::sleep(Duration::from_millis(ms));
        if child.try_wait().ok().flatten().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        let now_size = saved_size(&w, 0);
        assert!(
            now_size >= size,
            "kill {i} (after {ms} ms) rolled the saved checkpoint back from size {size} to {now_size}"
        );
        size = now_size;
        let _ = fs::remove_file(&w.canary);
        let out = w.run(&[&prog]);
        let (code, err) = (out.status.code(), String::from_utf8_lossy(&out.stderr));
        assert!(
            code == Some(3) && w.canary.exists(),
            "after kill {i} of bt-exec refresh (after {ms} ms) the run was refused (exit {code:?}): {err}"
        );
        let now_size = saved_size(&w, 0);
        assert!(now_size >= size, "run {i} rolled the saved checkpoint back");
        size = now_size;
    }
    eprintln!("{killed} of 20 refreshes killed before they ended");
    assert!(killed > 0, "no kill landed while a refresh was running");
    let (code, text) = bt_exec(&w, &["refresh"]);
    assert_eq!(code, 0, "bt-exec refresh after the kills: {text}");
    assert_eq!(
        saved_size(&w, 0),
        w.checkpoint(0).size,
        "the refresh did not bring the saved checkpoint to the log's size"
    );
    w.runs();
    no_refresher_left(&w);
}

/// `bt-exec -- refresh` runs a program named `refresh` found on PATH;
/// `bt-exec refresh` is the subcommand and runs nothing.
#[test]
fn dash_dash_refresh_runs_a_program_named_refresh() {
    let w = World::new(1);
    let bin = w.root.join("on-path");
    fs::create_dir(&bin).unwrap();
    let prog = bin.join("refresh");
    let script = format!(
        "#!/bin/sh\ntouch {}\necho \"refresh program: $*\"\nexit 3\n",
        w.canary.display()
    );
    fs::write(&prog, script).unwrap();
    chmod_x(&prog);
    w.publish_release(0, &prog, "example.org/refresh", "1.0", "pub.key", None);
    w.cosign(0, &[Some(now()), Some(now())]);
    w.policy("logs = 1\nmax_age = \"1h\"\n# refresh: the default");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |args: &[&str]| {
        let mut c = Command::new(BT_EXEC);
        w.env(c.args(args))
            .env("PATH", &path)
            .stdin(Stdio::null())
            .output()
            .expect("run bt-exec")
    };
    let out = run(&["--", "refresh", "a", "b"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "bt-exec -- refresh did not run the program named refresh on PATH: {err}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "refresh program: a b\n",
        "bt-exec -- refresh: the program's output"
    );
    assert!(w.canary.exists(), "the program named refresh did not run");
    fs::remove_file(&w.canary).unwrap();
    let out = run(&["refresh"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "bt-exec refresh: {err}");
    assert!(
        !w.canary.exists(),
        "bt-exec refresh ran the program named refresh instead of refreshing"
    );
    assert_eq!(last(&w).map(|l| l.0), Some(0), "STATE/refresh/last");
    no_refresher_left(&w);
}

/// The refresher a run starts holds nothing the run's caller left open: a
/// shell reading the run's output through a descriptor above 2 sees its
/// end when the program ends, not when the refresher, waiting on a slow
/// log, does.
#[test]
fn the_refresher_holds_none_of_the_callers_descriptors() {
    let mut w = World::ready(1);
    let srv = Served::start(&mut w, &[0]);
    w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"2s\"");
    w.runs();
    w.runs();
    wait_stale(&w, 2);
    srv.set_delay(DELAY);
    forget_last(&w);
    // Fd 3 is the shell's standard output, which this test reads to its
    // end; fd 4 the refresh lock file itself, opened by the caller (a
    // descriptor of the same file that holds no lock).
    let lock = w.root.join("state/refresh/lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::write(&lock, "").unwrap();
    fs::set_permissions(&lock, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let script = format!(
        "exec 3>&1 4<{} >/dev/null 2>&1; {} {} </dev/null",
        lock.display(),
        BT_EXEC,
        w.prog.display()
    );
    let mut c = Command::new("sh");
    w.env(c.arg("-c").arg(script)).stdout(Stdio::piped());
    let start = Instant::now();
    let out = c.output().expect("run sh");
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(3), "the program did not run");
    assert!(
        took < Duration::from_secs(DELAY),
        "the caller's descriptor stayed open {took:?}: the refresher, waiting on a \
         response that takes {DELAY} s, held it"
    );
    assert!(
        !lock_free(&w),
        "the refresher, waiting on the log, does not hold the lock (the caller's \
         descriptor of the lock file was handed down in its place)"
    );
    let (code, text) = refresher_ended(&w, "a stale run with fd 3 open");
    assert_eq!(code, 0, "the refresher did not refresh: {text}");
}

/// The refresher's directory or lock planted or opened to other users
/// (they could hold the lock so that nothing is ever refreshed): the run
/// is refused (125), as for any such file of the state — by the front
/// (a warm verdict held) and by the full path — naming the path.
#[test]
fn a_refresh_lock_others_could_hold_refuses_the_run() {
    use std::os::unix::fs::PermissionsExt;
    let mut w = World::ready(1);
    let srv = Served::start(&mut w, &[0]);
    w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"2s\"");
    w.runs();
    w.runs();
    assert_eq!(w.memos(), 1, "the warm run recorded no verdict");
    fs::create_dir_all(w.root.join("state/refresh")).unwrap();
    let dir = w.root.join("state/refresh");
    let lock = dir.join("lock");
    let mode = |p: &std::path::Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m));
    // The directory others can write, then the lock file others can open.
    for (planted, path, bad, good) in [
        ("directory", &dir, 0o777, 0o700),
        ("lock", &lock, 0o644, 0o600),
    ] {
        if !path.exists() {
            fs::write(path, "").unwrap();
        }
        mode(path, bad).unwrap();
        // Not due yet: nothing reads the lock, the run goes on.
        w.runs();
        assert!(w.memos() > 0, "{planted}: no warm verdict");
        wait_stale(&w, 2);
        for how in ["from a warm verdict", "verified in full"] {
            if how == "verified in full" {
                let _ = fs::remove_dir_all(w.root.join("state/memos"));
            }
            let err = w.refused(125, &format!("{planted}, {how}"));
            assert!(err.contains("state/refresh"), "{planted}, {how}: {err}");
        }
        mode(path, good).unwrap();
        forget_last(&w);
        w.runs();
        let (code, text) = refresher_ended(&w, &format!("the {planted} mended"));
        assert_eq!(code, 0, "{planted}: the refresher did not refresh: {text}");
    }
    drop(srv);
}

/// `refresh --detach` by hand with a descriptor of the lock file that holds
/// no lock, while another process holds it: refused (125), no second
/// refresher.
#[test]
fn detach_refuses_a_descriptor_that_holds_no_lock() {
    let w = World::ready(1);
    w.runs();
    let lock = w.root.join("state/refresh/lock");
    fs::create_dir_all(lock.parent().unwrap()).unwrap();
    fs::write(&lock, "").unwrap();
    fs::set_permissions(&lock, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut holder = Command::new("flock")
        .arg("-x")
        .arg(&lock)
        .args(["sleep", "30"])
        .spawn()
        .expect("flock(1)");
    wait_for("the lock taken", 10, || (!lock_free(&w)).then_some(()));
    forget_last(&w);
    let script = format!(
        "exec 5<{}; {} refresh --detach --lock-fd 5 --policy={}",
        lock.display(),
        env!("CARGO_BIN_EXE_bt-exec-full"),
        w.root.join("policy.toml").display()
    );
    let mut c = Command::new("sh");
    let out = w.env(c.arg("-c").arg(script)).output().expect("run sh");
    let _ = holder.kill();
    let _ = holder.wait();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("holding its lock"), "{err}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(last(&w).is_none(), "a refresher ran without the lock");
}
