//! `bt-log add` under stress: concurrent adds, `kill -9` at any moment,
//! an unreachable witness, and bad input that must leave the log unchanged.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{bt_log, keygen, spawn_server, verify_log_dir, BT_LOG};

struct LogDir {
    tmp: tempfile::TempDir,
    log: PathBuf,
    log_vkey: String,
}

/// Keys for a log and a publisher, no log yet.
fn keys() -> LogDir {
    let tmp = tempfile::tempdir().unwrap();
    let log_vkey = keygen(tmp.path(), "example.org/robust", "log.key");
    keygen(tmp.path(), "example.org", "pub.key");
    let log = tmp.path().join("log");
    LogDir { tmp, log, log_vkey }
}

fn init(l: &LogDir, witness_args: &[String]) {
    let key = l.tmp.path().join("log.key");
    let mut args = vec![
        "init".to_string(),
        l.log.to_str().unwrap().into(),
        "--origin".into(),
        "example.org/robust".into(),
        "--key".into(),
        key.to_str().unwrap().into(),
    ];
    for w in witness_args {
        args.push("--witness".into());
        args.push(w.clone());
    }
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = bt_log(&a);
    assert_eq!(code, 0, "{err}");
}

fn new_log(witness_args: &[String]) -> LogDir {
    let l = keys();
    init(&l, witness_args);
    l
}

fn manifest(dir: &Path, tag: &str, count: usize) -> PathBuf {
    let files = dir.join(format!("files-{tag}"));
    fs::create_dir_all(&files).unwrap();
    let mut m = String::new();
    for i in 0..count {
        fs::write(files.join(format!("{i}")), format!("{tag} {i}\n")).unwrap();
        m.push_str(&format!(
            "{{\"file\":\"files-{tag}/{i}\",\"name\":\"example.org/{tag}\",\"version\":\"{i}\"}}\n"
        ));
    }
    let p = dir.join(format!("{tag}.jsonl"));
    fs::write(&p, m).unwrap();
    p
}

fn add_cmd(l: &LogDir, m: &Path) -> Command {
    let mut c = Command::new(BT_LOG);
    c.args([
        "add",
        l.log.to_str().unwrap(),
        "--manifest",
        m.to_str().unwrap(),
        "--publisher-key",
    ])
    .arg(l.tmp.path().join("pub.key"))
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    c
}

#[test]
fn concurrent_adds_are_serialised() {
    let l = new_log(&[]);
    let ms: Vec<PathBuf> = (0..4)
        .map(|i| manifest(l.tmp.path(), &format!("c{i}"), 300))
        .collect();
    let children: Vec<_> = ms.iter().map(|m| add_cmd(&l, m).spawn().unwrap()).collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (sc, entries) = verify_log_dir(&l.log, &l.log_vkey, &[]);
    assert_eq!(sc.checkpoint.size, 1200);
    for i in 0..4 {
        assert_eq!(
            entries
                .iter()
                .filter(|e| e.release.name == format!("example.org/c{i}"))
                .count(),
            300
        );
    }
}

#[test]
fn kill_9_at_any_moment_then_next_add_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let wv = keygen(tmp.path(), "w.example", "w.key");
    // The witness must accept every checkpoint the log ever publishes:
    // a crashed add must never lead the log to sign two trees of one size.
    let l = keys();
    let witness = spawn_server(&[
        "witness",
        "serve",
        "--key",
        tmp.path().join("w.key").to_str().unwrap(),
        "--state",
        tmp.path().join("wstate").to_str().unwrap(),
        "--log",
        &l.log_vkey,
    ]);
    init(&l, &[format!("{}={wv}", witness.addr)]);
    let mut published = vec![];
    for round in 0..6u64 {
        let m = manifest(l.tmp.path(), &format!("k{round}"), 3000);
        let mut child = add_cmd(&l, &m).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(40 + 60 * round));
        let _ = child.kill();
        let _ = child.wait();
        let (sc, _) = verify_log_dir(&l.log, &l.log_vkey, &[]);
        published.push(sc.checkpoint.clone());
    }
    let m = manifest(l.tmp.path(), "final", 10);
    let out = add_cmd(&l, &m).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (sc, entries) = verify_log_dir(&l.log, &l.log_vkey, &[&wv]);
    assert_eq!(
        sc.cosignatures.len(),
        1,
        "the witness cosigned the final checkpoint"
    );
    assert_eq!(entries.last().unwrap().release.name, "example.org/final");
    // Every checkpoint ever published is a prefix of the final tree.
    let store = bt_exec::tlog::store::TileHashes::new();
    for (level, n, data) in all_tiles(&l.log, sc.checkpoint.size) {
        store.insert_tile(level, n, data).unwrap();
    }
    for cp in published {
        assert_eq!(
            store.tree_hash(cp.size).unwrap(),
            cp.root,
            "size {}",
            cp.size
        );
    }
    assert!(!l.log.join(".bt-log/pending").exists());
}

fn all_tiles(dir: &Path, size: u64) -> Vec<(u8, u64, Vec<u8>)> {
    use bt_exec::tlog::tiles::{hash_tile_path, tile_width};
    let mut out = vec![];
    for level in 0..8u8 {
        let mut n = 0;
        while tile_width(level, n, size) > 0 {
            out.push((
                level,
                n,
                fs::read(dir.join(hash_tile_path(level, n, tile_width(level, n, size)))).unwrap(),
            ));
            n += 1;
        }
    }
    out
}

#[test]
fn unreachable_witness_still_integrates_with_status_3() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let tmp = tempfile::tempdir().unwrap();
    let wv = keygen(tmp.path(), "w.example", "w.key");
    let l = new_log(&[format!("http://127.0.0.1:{port}={wv}")]);
    let m = manifest(l.tmp.path(), "nq", 5);
    let out = add_cmd(&l, &m).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("did not cosign"), "{err}");
    let (sc, _) = verify_log_dir(&l.log, &l.log_vkey, &[]);
    assert_eq!((sc.checkpoint.size, sc.cosignatures.len()), (5, 0));
}

#[test]
fn bad_input_leaves_the_log_unchanged() {
    let l = new_log(&[]);
    let m = manifest(l.tmp.path(), "ok", 3);
    assert!(add_cmd(&l, &m).output().unwrap().status.success());
    let before = fs::read(l.log.join("checkpoint")).unwrap();
    let dir = l.tmp.path();
    let cases: Vec<(&str, String)> = vec![
        ("missing file", "{\"file\":\"nope\",\"name\":\"example.org/x\",\"version\":\"1\"}\n".into()),
        ("unknown field", "{\"file\":\"files-ok/0\",\"name\":\"example.org/x\",\"version\":\"1\",\"colour\":\"red\"}\n".into()),
        ("name without namespace", "{\"file\":\"files-ok/0\",\"name\":\"x\",\"version\":\"1\"}\n".into()),
        ("version with a space", "{\"file\":\"files-ok/0\",\"name\":\"example.org/x\",\"version\":\"1 2\"}\n".into()),
        ("not JSON", "file=x\n".into()),
        ("empty", String::new()),
    ];
    for (what, text) in cases {
        let p = dir.join("bad.jsonl");
        fs::write(&p, text).unwrap();
        let out = add_cmd(&l, &p).output().unwrap();
        assert!(!out.status.success(), "{what} was accepted");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{what}"
        );
        assert_eq!(
            fs::read(l.log.join("checkpoint")).unwrap(),
            before,
            "{what}"
        );
    }
    // A publisher key that is not a key, and a log directory that is not a log.
    fs::write(dir.join("junk.key"), "hello").unwrap();
    let (code, _, err) = bt_log(&[
        "add",
        l.log.to_str().unwrap(),
        "--manifest",
        m.to_str().unwrap(),
        "--publisher-key",
        dir.join("junk.key").to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("secret key"), "{err}");
    let (code, _, err) = bt_log(&[
        "add",
        dir.to_str().unwrap(),
        "--manifest",
        m.to_str().unwrap(),
        "--publisher-key",
        dir.join("pub.key").to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("bt-log init"), "{err}");
}

/// A witness on a loopback port answering every add-checkpoint with a
/// valid cosignature by `key` dated `ahead` seconds past now (read at each
/// request).
fn dating_witness(
    key: bt_exec::note::SecretKey,
    ahead: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let t = ahead.load(std::sync::atomic::Ordering::SeqCst);
            let _ = cosign_answer(s, &key, t);
        }
    });
    port
}

fn cosign_answer(
    mut s: std::net::TcpStream,
    key: &bt_exec::note::SecretKey,
    ahead: u64,
) -> std::io::Result<()> {
    use std::io::{BufRead, Read, Write};
    let mut r = std::io::BufReader::new(s.try_clone()?);
    let mut len = 0;
    loop {
        let mut h = String::new();
        if r.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body)?;
    // "old N", the proof lines, a blank line, then the note.
    let body = String::from_utf8_lossy(&body).into_owned();
    let note = body.split_once("\n\n").map_or("", |(_, n)| n);
    let text = &note[..note.find("\n\n").map_or(0, |i| i + 1)];
    let at = common::world::now().saturating_add(ahead);
    let line = bt_exec::note::sign_cosignature_line(key, at, text.as_bytes());
    write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{line}\n",
        line.len() + 1
    )
}

/// The log's published checkpoint note, and the timestamps of its
/// cosignatures by each of `witnesses`.
fn published(l: &LogDir, witnesses: &[&str]) -> (String, Vec<(String, u64)>) {
    let note = fs::read_to_string(l.log.join("checkpoint")).unwrap();
    let (sc, _) = verify_log_dir(&l.log, &l.log_vkey, witnesses);
    let cos = sc
        .cosignatures
        .iter()
        .map(|c| (c.witness.name.clone(), c.timestamp))
        .collect();
    (note, cos)
}

/// One witness of two answering with a valid cosignature dated a year
/// ahead: `add` publishes the checkpoint without that line (it would make
/// every client refuse the log) and names the witness; `cosign` does not
/// add it either. A line dated ahead already in the published note (an
/// earlier version's) is dropped by `cosign`. The control: the same
/// witness dating its line now is published.
#[test]
fn a_witness_dating_its_cosignature_ahead_is_not_published() {
    use std::sync::{atomic::AtomicU64, atomic::Ordering::SeqCst, Arc};
    let tmp = tempfile::tempdir().unwrap();
    let honest_v = keygen(tmp.path(), "honest.example", "honest.key");
    let ahead_v = keygen(tmp.path(), "ahead.example", "ahead.key");
    let key = |f: &str| bt_exec::log::load_secret_key(&tmp.path().join(f)).unwrap();
    let year = 365 * 86400;
    let ahead = Arc::new(AtomicU64::new(year));
    let p1 = dating_witness(key("honest.key"), Arc::new(AtomicU64::new(0)));
    let p2 = dating_witness(key("ahead.key"), ahead.clone());
    let l = new_log(&[
        format!("http://127.0.0.1:{p1}={honest_v}"),
        format!("http://127.0.0.1:{p2}={ahead_v}"),
    ]);
    let both = [honest_v.as_str(), ahead_v.as_str()];
    let m = manifest(l.tmp.path(), "ahead", 2);
    let out = add_cmd(&l, &m).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ahead.example") && err.contains("in the future"),
        "{err}"
    );
    let (note, cos) = published(&l, &both);
    assert!(!note.contains("— ahead.example "), "{note}");
    assert_eq!(cos.len(), 1, "{note}");
    assert_eq!(cos[0].0, "honest.example");
    let dir = l.log.to_str().unwrap();
    let (_, _, err) = bt_log(&["cosign", dir]);
    assert!(err.contains("in the future"), "{err}");
    assert!(!published(&l, &both).0.contains("— ahead.example "));
    // An earlier version's note with the line dated ahead: cosign drops it
    // and asks that witness again (now dating its line now: the control).
    let (sc, _) = verify_log_dir(&l.log, &l.log_vkey, &[]);
    let text = sc.checkpoint.encode();
    let honest_line = note
        .lines()
        .find(|n| n.starts_with("— honest.example "))
        .unwrap()
        .to_string();
    let far = bt_exec::note::sign_cosignature_line(&key("ahead.key"), now_plus(year), &text);
    fs::write(
        l.log.join("checkpoint"),
        bt_exec::log::sign_checkpoint(
            &bt_exec::log::load_secret_key(&l.tmp.path().join("log.key")).unwrap(),
            &sc.checkpoint,
            &[honest_line, far],
        ),
    )
    .unwrap();
    assert_eq!(published(&l, &both).1.len(), 2);
    ahead.store(0, SeqCst);
    let (code, _, err) = bt_log(&["cosign", dir]);
    assert_eq!(code, 0, "{err}");
    let (_, cos) = published(&l, &both);
    let limit = now_plus(600);
    assert_eq!(cos.len(), 2, "{cos:?}");
    assert!(cos.iter().all(|(_, t)| *t <= limit), "{cos:?}");
}

fn now_plus(s: u64) -> u64 {
    common::world::now() + s
}

/// `bt-log cosign` asks again a witness whose cosignature is at least
/// `--older-than` old (default 1h): a log that takes nothing stays fresh
/// from cron. Its new line replaces the old one; with `--older-than 3h`
/// a 2-hour-old line is left alone (the control); and a witness asked
/// again that does not answer keeps the line it had (exit 3, named).
#[test]
fn cosign_asks_again_the_witnesses_whose_cosignature_is_old() {
    let tmp = tempfile::tempdir().unwrap();
    let wv = keygen(tmp.path(), "w.example", "w.key");
    let wkey = bt_exec::log::load_secret_key(&tmp.path().join("w.key")).unwrap();
    let port = dating_witness(wkey, std::sync::Arc::new(0.into()));
    let l = new_log(&[format!("http://127.0.0.1:{port}={wv}")]);
    let m = manifest(l.tmp.path(), "quiet", 1);
    assert!(add_cmd(&l, &m).output().unwrap().status.success());
    fs::copy(tmp.path().join("w.key"), l.tmp.path().join("w.key")).unwrap();
    let old = plant_line(&l, "w.key", now_plus(0) - 7200);
    let dir = l.log.to_str().unwrap();
    let (code, _, err) = bt_log(&["cosign", dir, "--older-than", "3h"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        published(&l, &[&wv]).1,
        vec![("w.example".to_string(), old)]
    );
    let (code, _, err) = bt_log(&["cosign", dir]);
    assert_eq!(code, 0, "{err}");
    let cos = published(&l, &[&wv]).1;
    assert_eq!(cos.len(), 1, "one line per witness: {cos:?}");
    assert!(cos[0].1 + 60 >= now_plus(0), "{cos:?}");
    // A witness that is down: its old line stays, and the run says so.
    let down = new_log(&[format!("http://127.0.0.1:{}={wv}", closed_port())]);
    let m = manifest(down.tmp.path(), "down", 1);
    let _ = add_cmd(&down, &m).output().unwrap();
    fs::copy(tmp.path().join("w.key"), down.tmp.path().join("w.key")).unwrap();
    let old = plant_line(&down, "w.key", now_plus(0) - 7200);
    let (code, _, err) = bt_log(&["cosign", down.log.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("did not cosign"), "{err}");
    assert_eq!(
        published(&down, &[&wv]).1,
        vec![("w.example".to_string(), old)]
    );
}

/// Publishes `l`'s checkpoint again with one cosignature line, by the
/// witness key in `key` (beside the log's keys), dated `at`; returns `at`.
fn plant_line(l: &LogDir, key: &str, at: u64) -> u64 {
    let (sc, _) = verify_log_dir(&l.log, &l.log_vkey, &[]);
    let wkey = bt_exec::log::load_secret_key(&l.tmp.path().join(key)).unwrap();
    let line = bt_exec::note::sign_cosignature_line(&wkey, at, &sc.checkpoint.encode());
    let lkey = bt_exec::log::load_secret_key(&l.tmp.path().join("log.key")).unwrap();
    let note = bt_exec::log::sign_checkpoint(&lkey, &sc.checkpoint, &[line]);
    fs::write(l.log.join("checkpoint"), note).unwrap();
    at
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
