//! Strict modes (src/strict.rs, DESIGN §7): the cache and state directories,
//! everything above them and every file read from them must belong to the
//! user or root and not be writable by others; each way another local user
//! could have put bytes there is refused with 125, naming the path and what
//! to fix, and nothing runs. Then the ordinary layouts — `$HOME`, the XDG
//! directories, any umask — still work, as root and as an unprivileged user.
//!
//! Files owned by another user are made with chown, so most of this needs
//! root; without it each test says SKIP.

mod common;

#[path = "strict/policy.rs"]
mod policy;

use std::fs;
use std::os::unix::fs::{chown, lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::world::{chmod_x, now, World, BT_EXEC};

/// A user and group other than root and the test's own.
const OTHER: u32 = 12345;

fn nobody() -> (u32, u32) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&"nobody")).then(|| {
                let id = |i: usize| f.get(i).and_then(|s| s.parse().ok());
                Some((id(2)?, id(3)?))
            })?
        })
        .unwrap_or((65534, 65534))
}

fn root(test: &str) -> bool {
    let yes = rustix::process::geteuid().is_root();
    if !yes {
        eprintln!("SKIP {test}: needs root to make files owned by another user");
    }
    yes
}

fn mode(p: &Path, m: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
}

fn dir(p: &Path, m: u32) -> PathBuf {
    fs::create_dir_all(p).unwrap();
    mode(p, m);
    p.to_path_buf()
}

fn chown_r(p: &Path, uid: u32, gid: u32) {
    lchown(p, Some(uid), Some(gid)).unwrap();
    if fs::symlink_metadata(p).unwrap().is_dir() {
        for e in fs::read_dir(p).unwrap() {
            chown_r(&e.unwrap().path(), uid, gid);
        }
    }
}

/// The program run by bt-exec with this cache and state.
fn run_in(w: &World, cache: &Path, state: &Path) -> Output {
    let _ = fs::remove_file(&w.canary);
    w.env(Command::new(BT_EXEC).arg(&w.prog))
        .env("BT_EXEC_CACHE_DIR", cache)
        .env("BT_EXEC_STATE_DIR", state)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn runs_in(w: &World, cache: &Path, state: &Path) {
    let out = run_in(w, cache, state);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(w.canary.exists());
}

/// Refused with 125, naming `culprit` and `fix`; the program did not run.
fn refused_in(w: &World, cache: &Path, state: &Path, culprit: &Path, fix: &str) {
    let out = run_in(w, cache, state);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{}: {err}", culprit.display());
    assert!(
        err.contains(&format!("{}: ", culprit.display())),
        "{}: {err}",
        culprit.display()
    );
    assert!(err.contains(fix), "{fix}: {err}");
    assert!(!w.canary.exists(), "{}: it ran", culprit.display());
}

#[test]
fn directories_others_can_write_or_own_are_refused() {
    if !root("directories_others_can_write_or_own_are_refused") {
        return;
    }
    let w = World::ready(1);
    let (nobody, nogroup) = nobody();
    let fix = "chmod go-w ";
    let owner = "owned by uid";
    let mut n = 0;
    let mut fresh = |m: u32| {
        n += 1;
        let base = dir(&w.root.join(format!("row{n}")), 0o755);
        (dir(&base.join("cache"), m), dir(&base.join("state"), 0o755))
    };
    // The cache or state directory itself, writable by its group or everyone.
    for m in [0o775, 0o757, 0o777, 0o1777] {
        let (cache, state) = fresh(m);
        refused_in(&w, &cache, &state, &cache, fix);
        mode(&cache, 0o755);
        mode(&state, m);
        refused_in(&w, &cache, &state, &state, fix);
    }
    // Owned by another user.
    let (cache, state) = fresh(0o755);
    chown(&cache, Some(nobody), Some(nogroup)).unwrap();
    refused_in(&w, &cache, &state, &cache, owner);
    let (cache, state) = fresh(0o755);
    chown(&state, Some(OTHER), Some(OTHER)).unwrap();
    refused_in(&w, &cache, &state, &state, owner);
    // A directory above it: group-writable; owned by another user, sticky
    // and world-writable or not (only root's sticky directories are fine).
    let (cache, state) = fresh(0o755);
    let above = cache.parent().unwrap();
    mode(above, 0o775);
    refused_in(&w, &cache, &state, above, fix);
    mode(above, 0o755);
    chown(above, Some(nobody), Some(nogroup)).unwrap();
    refused_in(&w, &cache, &state, above, owner);
    mode(above, 0o1777);
    refused_in(&w, &cache, &state, above, owner);
    // Positive control: above it, a root-owned sticky directory such as /tmp
    // is fine; and a cache that does not exist yet is made, not writable by
    // others even under umask 000.
    chown(above, Some(0), Some(0)).unwrap();
    runs_in(&w, &cache, &state);
    let (_, state) = fresh(0o755);
    let new_cache = state.parent().unwrap().join("new/cache");
    let out = w
        .env(Command::new("sh").args(["-c", "umask 000; exec \"$0\" \"$1\""]))
        .arg(BT_EXEC)
        .arg(&w.prog)
        .env("BT_EXEC_CACHE_DIR", &new_cache)
        .env("BT_EXEC_STATE_DIR", &state)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    for d in [&new_cache, &new_cache.join("cas/sha256")] {
        let m = fs::metadata(d).unwrap().permissions().mode();
        assert_eq!(m & 0o022, 0, "{}: {m:o}", d.display());
    }
    runs_in(&w, &new_cache, &state);
}

/// A file that is absent counts as absent only if no other user could have
/// removed it: an alarms directory others can write, or owned by another
/// user, is refused even when it holds no alarm (whoever could write it
/// could have deleted one), cold and warm.
#[test]
fn an_absent_alarm_in_a_directory_others_can_write_is_refused() {
    if !root("an_absent_alarm_in_a_directory_others_can_write_is_refused") {
        return;
    }
    let w = World::ready(1);
    w.policy("logs = 1\nmax_age = \"1h\"\nrefresh = \"1h\"");
    let base = dir(&w.root.join("row"), 0o755);
    let (cache, state) = (
        dir(&base.join("cache"), 0o755),
        dir(&base.join("state"), 0o755),
    );
    runs_in(&w, &cache, &state);
    runs_in(&w, &cache, &state);
    let alarms = dir(&state.join("alarms"), 0o777);
    refused_in(&w, &cache, &state, &alarms, "chmod go-w ");
    mode(&alarms, 0o755);
    runs_in(&w, &cache, &state);
    chown(&alarms, Some(OTHER), Some(OTHER)).unwrap();
    refused_in(&w, &cache, &state, &alarms, "owned by uid");
}

#[test]
fn symbolic_links_for_or_in_the_cache_are_refused() {
    if !root("symbolic_links_for_or_in_the_cache_are_refused") {
        return;
    }
    let w = World::ready(1);
    let (nobody, nogroup) = nobody();
    let base = dir(&w.root.join("links"), 0o755);
    let real = dir(&base.join("real-cache"), 0o755);
    let state = dir(&base.join("state"), 0o755);
    // The cache or state path is itself a link (root's, to a good directory).
    let link = base.join("cache-link");
    symlink(&real, &link).unwrap();
    refused_in(&w, &link, &state, &link, "a symbolic link");
    let state_link = base.join("state-link");
    symlink(&state, &state_link).unwrap();
    refused_in(&w, &real, &state_link, &state_link, "a symbolic link");
    // A link inside the cache: its content lives where the link says.
    runs_in(&w, &real, &state);
    let elsewhere = dir(&base.join("elsewhere"), 0o755);
    fs::rename(real.join("cas/sha256"), elsewhere.join("sha256")).unwrap();
    symlink(elsewhere.join("sha256"), real.join("cas/sha256")).unwrap();
    refused_in(
        &w,
        &real,
        &state,
        &real.join("cas/sha256"),
        "a symbolic link",
    );
    // A link above the cache is fine when root or the user owns it, not
    // when another user does (they could point it anywhere).
    let real2 = dir(&base.join("real2"), 0o755);
    let above = base.join("above-link");
    symlink(&real2, &above).unwrap();
    runs_in(&w, &above.join("cache"), &state);
    lchown(&above, Some(nobody), Some(nogroup)).unwrap();
    refused_in(&w, &above.join("cache"), &state, &above, "owned by uid");
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(fs::read(path).unwrap()))
}

/// Every file of `dir`'s tree.
fn files(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir).map_or(vec![], |rd| {
        rd.flatten()
            .flat_map(|e| match e.file_type() {
                Ok(t) if t.is_dir() => files(&e.path()),
                _ => vec![e.path()],
            })
            .collect()
    })
}

#[test]
fn files_planted_in_the_cache_or_state_are_refused() {
    if !root("files_planted_in_the_cache_or_state_are_refused") {
        return;
    }
    let w = World::ready(1);
    let (nobody, nogroup) = nobody();
    let hex = sha256_hex(&w.prog);
    let evil_ran = w.root.join("evil-ran");
    let evil = format!("#!/bin/sh\ntouch {}\n", evil_ran.display());
    let cas_file = |cache: &Path| cache.join("cas/sha256").join(&hex[..2]).join(&hex);
    let mut n = 0;
    let mut fresh = || {
        n += 1;
        let base = dir(&w.root.join(format!("plant{n}")), 0o755);
        (
            dir(&base.join("cache"), 0o755),
            dir(&base.join("state"), 0o755),
        )
    };
    // Another user's file at the logged program's hash, and one anybody in
    // its group could have rewritten: never exec'd.
    for (uid, m, fix) in [
        (nobody, 0o555, "owned by uid"),
        (0, 0o575, "chmod go-w "),
        (0, 0o557, "chmod go-w "),
    ] {
        let (cache, state) = fresh();
        let planted = cas_file(&cache);
        fs::create_dir_all(planted.parent().unwrap()).unwrap();
        fs::write(&planted, &evil).unwrap();
        mode(&planted, m);
        chown(
            &planted,
            Some(uid),
            Some(if uid == 0 { 0 } else { nogroup }),
        )
        .unwrap();
        refused_in(&w, &cache, &state, &planted, fix);
        assert!(!evil_ran.exists());
    }
    // A directory of the CAS made by another user.
    let (cache, state) = fresh();
    let shard = dir(&cache.join("cas/sha256").join(&hex[..2]), 0o755);
    chown(&shard, Some(nobody), Some(nogroup)).unwrap();
    refused_in(&w, &cache, &state, &shard, "owned by uid");
    // The temp directory copies are renamed from, writable by everyone
    // (a file there could be swapped before it joins the CAS).
    let (cache, state) = fresh();
    let tmp = dir(&cache.join("cas/tmp"), 0o777);
    refused_in(&w, &cache, &state, &tmp, "chmod go-w ");
    // Files of a good cache and state, one at a time given to another user
    // or made group-writable: the CAS copy, the hash cache entry, the saved
    // checkpoint (each read on the next run).
    let (cache, state) = fresh();
    runs_in(&w, &cache, &state);
    let mut read_back = files(&state.join("hashes"));
    read_back.extend(files(&state.join("checkpoints")));
    read_back.push(cas_file(&cache));
    assert_eq!(read_back.len(), 3, "{read_back:?}");
    for f in read_back {
        chown(&f, Some(OTHER), Some(OTHER)).unwrap();
        refused_in(&w, &cache, &state, &f, "owned by uid");
        chown(&f, Some(0), Some(0)).unwrap();
        let m = fs::metadata(&f).unwrap().permissions().mode();
        mode(&f, m | 0o020);
        refused_in(&w, &cache, &state, &f, "chmod go-w ");
        mode(&f, m);
        runs_in(&w, &cache, &state);
    }
}

/// Positive control: no BT_EXEC_* directories, a fresh `$HOME` (a tempdir,
/// mode 0700, under the root-owned sticky /tmp) and the XDG variables.
#[test]
fn the_default_layout_under_home_and_xdg_works() {
    let w = World::ready(1);
    let home = dir(&w.root.join("home"), 0o700);
    let run = |extra: &[(&str, PathBuf)]| {
        let _ = fs::remove_file(&w.canary);
        let mut c = Command::new(BT_EXEC);
        c.arg(&w.prog)
            .env_remove("BT_EXEC_CACHE_DIR")
            .env_remove("BT_EXEC_STATE_DIR")
            .env_remove("XDG_CACHE_HOME")
            .env_remove("XDG_STATE_HOME")
            .env("BT_EXEC_POLICY", w.root.join("policy.toml"))
            .env("HOME", &home)
            .stdin(Stdio::null());
        for (k, v) in extra {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(w.canary.exists());
    };
    run(&[]);
    run(&[]);
    assert!(home.join(".cache/bt-exec/cas/sha256").is_dir());
    assert!(home.join(".local/state/bt-exec/checkpoints").is_dir());
    let xdg = w.root.join("xdg");
    let vars = [
        ("XDG_CACHE_HOME", xdg.join("cache")),
        ("XDG_STATE_HOME", xdg.join("state")),
    ];
    run(&vars);
    run(&vars);
    assert!(xdg.join("cache/bt-exec/cas/sha256").is_dir());
    assert!(xdg.join("state/bt-exec/checkpoints").is_dir());
}

/// bt-exec keeps its own files private whatever the umask, and hands the
/// caller's umask to the program it runs.
#[test]
fn the_program_gets_the_callers_umask() {
    let w = World::new(1);
    let prog = w.root.join("bin/umask");
    fs::write(&prog, "#!/bin/sh\numask\n").unwrap();
    chmod_x(&prog);
    w.publish(0, &prog, "pub.key");
    w.cosign(0, &[Some(now()), Some(now())]);
    w.policy("logs = 1");
    for (umask, shown) in [("000", "0000"), ("027", "0027")] {
        let out = w
            .env(Command::new("sh").args(["-c", &format!("umask {umask}; exec \"$0\" \"$1\"")]))
            .arg(BT_EXEC)
            .arg(&prog)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            shown,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// As an unprivileged user (setpriv): its own cache and state work; another
/// user's file planted in its cache, a group-writable state directory and a
/// directory above owned by another user are refused.
#[test]
fn as_an_unprivileged_user() {
    let test = "as_an_unprivileged_user";
    if !root(test) {
        return;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIP {test}: setpriv (util-linux) is not installed");
        return;
    }
    let w = World::ready(1);
    let (nobody, nogroup) = nobody();
    // bt-exec itself where nobody may run it; the world nobody's.
    let bt_exec = w.root.join("bt-exec");
    fs::copy(BT_EXEC, &bt_exec).unwrap();
    let full = Path::new(BT_EXEC).with_file_name("bt-exec-full");
    fs::copy(full, w.root.join("bt-exec-full")).unwrap();
    let (cache, state) = (w.root.join("cache"), w.root.join("state"));
    fs::create_dir_all(&cache).unwrap();
    fs::create_dir_all(&state).unwrap();
    chown_r(&w.root, nobody, nogroup);
    let as_nobody = |cache: &Path, state: &Path| {
        let _ = fs::remove_file(&w.canary);
        let mut c = Command::new("setpriv");
        c.arg(format!("--reuid={nobody}"))
            .arg(format!("--regid={nogroup}"))
            .arg("--clear-groups");
        w.env(&mut c)
            .arg(&bt_exec)
            .arg(&w.prog)
            .env("BT_EXEC_CACHE_DIR", cache)
            .env("BT_EXEC_STATE_DIR", state)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let ok = as_nobody(&cache, &state);
    assert_eq!(ok.status.code(), Some(3), "{ok:?}");
    let owner = fs::metadata(cache.join("cas/sha256")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&owner), nobody);
    let refused = |cache: &Path, state: &Path, culprit: &Path| {
        let out = as_nobody(cache, state);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{}: {err}", culprit.display());
        assert!(err.contains(&culprit.display().to_string()), "{err}");
        assert!(!w.canary.exists());
    };
    // The CAS copy replaced by another user's file.
    let hex = sha256_hex(&w.prog);
    let copy = cache.join("cas/sha256").join(&hex[..2]).join(&hex);
    chown(&copy, Some(OTHER), Some(OTHER)).unwrap();
    refused(&cache, &state, &copy);
    chown(&copy, Some(nobody), Some(nogroup)).unwrap();
    // Its state directory writable by its group.
    mode(&state, 0o770);
    refused(&cache, &state, &state);
    mode(&state, 0o755);
    // A directory above the cache owned by another user.
    let above = dir(&w.root.join("theirs"), 0o755);
    let their_cache = dir(&above.join("cache"), 0o755);
    chown(&their_cache, Some(nobody), Some(nogroup)).unwrap();
    chown(&above, Some(OTHER), Some(OTHER)).unwrap();
    refused(&their_cache, &state, &above);
    let ok = as_nobody(&cache, &state);
    assert_eq!(ok.status.code(), Some(3), "{ok:?}");
}

/// The state the release-history rules and warm verdicts read — the
/// cached proof, the view's size, index and witnesses' cosignatures, the
/// run record, the warm verdict itself — given to another user or made
/// group-writable, one at a time: refused (125) naming it, never trusted.
#[test]
fn history_state_and_warm_verdicts_planted_by_others_are_refused() {
    if !root("history_state_and_warm_verdicts_planted_by_others_are_refused") {
        return;
    }
    let w = World::ready(1);
    w.cosign(0, &[Some(now() - 100), Some(now() - 100)]);
    w.policy("max_age = \"1h\"\nlatest = true\nno_downgrade = true\nmin_release_age = \"10s\"\nrefresh = \"1h\"");
    let base = dir(&w.root.join("hist"), 0o755);
    let (cache, state) = (
        dir(&base.join("cache"), 0o755),
        dir(&base.join("state"), 0o755),
    );
    runs_in(&w, &cache, &state);
    runs_in(&w, &cache, &state);
    let mut read_back = files(&state.join("proofs"));
    read_back.extend(files(&state.join("runs")));
    read_back.extend(files(&state.join("memos")));
    for f in files(&state.join("views")) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        if ["size", "witnessed", "leaves", "offsets"].contains(&name.as_str())
            || f.parent().unwrap().ends_with("hashes") && name != "complete"
        {
            read_back.push(f);
        }
    }
    assert!(read_back.len() >= 8, "{read_back:?}");
    let memos = state.join("memos");
    for f in read_back {
        // A warm verdict reads none of the others: each is checked on the
        // run that reads it.
        if !f.starts_with(&memos) {
            let _ = fs::remove_dir_all(&memos);
        }
        chown(&f, Some(OTHER), Some(OTHER)).unwrap();
        refused_in(&w, &cache, &state, &f, "owned by uid");
        chown(&f, Some(0), Some(0)).unwrap();
        let m = fs::metadata(&f).unwrap().permissions().mode();
        mode(&f, m | 0o020);
        refused_in(&w, &cache, &state, &f, "chmod go-w ");
        mode(&f, m);
        runs_in(&w, &cache, &state);
    }
}
