//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod accepting;
pub mod signing_log;
pub mod sigsum_log;
pub mod world;

use std::path::PathBuf;

/// Copies the directory `from` to `to`, recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// `../shared/vectors` beside the checkout, or `None` (and a clear SKIP
/// line). Under `CI=true` a missing folder fails the test, naming it: a
/// vector test must never pass without its vectors there.
pub fn vectors(test: &str) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/vectors");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{test}: {} is missing, and under CI=true the vector suite must run",
        dir.display()
    );
    eprintln!("SKIP {test}: ../shared/vectors not found; the vector suite did not run");
    None
}

pub fn json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn b64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .unwrap_or_default()
}

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub const BT_LOG: &str = env!("CARGO_BIN_EXE_bt-log");

/// A child process killed (SIGKILL) when dropped.
pub struct Proc {
    pub child: Child,
    pub addr: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a bt-log server (`serve` or `witness serve`) on a free loopback
/// port and waits until it says where it listens.
pub fn spawn_server(args: &[&str]) -> Proc {
    let mut child = Command::new(BT_LOG)
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn bt-log");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .expect("read");
        if let Some(at) = line.find("http://") {
            break line[at..].trim().to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    Proc { child, addr }
}

/// Runs bt-log and returns (status, stdout, stderr).
pub fn bt_log(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BT_LOG)
        .args(args)
        .output()
        .expect("run bt-log");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn keygen(dir: &Path, name: &str, file: &str) -> String {
    let out = dir.join(file);
    let (code, stdout, stderr) = bt_log(&["keygen", name, "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    stdout.trim().to_string()
}

/// bt-exec ARGS with its cache, state, policy (`policy.toml`) and HOME
/// under `home`: (exit code, stdout, stderr); never a panic.
pub fn bt_exec_at(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(world::BT_EXEC)
        .args(args)
        .env("BT_EXEC_CACHE_DIR", home.join("cache"))
        .env("BT_EXEC_STATE_DIR", home.join("state"))
        .env("BT_EXEC_POLICY", home.join("policy.toml"))
        .env("HOME", home)
        .output()
        .expect("run bt-exec");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        err,
    )
}

/// Runs the tests' independent Sigstore instance
/// (tests/interop/sigstore_make.py) with `args`; its stdout. A failure
/// fails the test, with what it said.
pub fn sigstore_make(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/sigstore_make.py");
    let out = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "sigstore_make.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the independent Python implementation can run here. Under CI it
/// must (`.ci/run` installs it); elsewhere a missing module is a loud skip.
pub fn python_interop(test: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import cryptography, cbor2"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must have python3 with cryptography and cbor2"
        );
        eprintln!("SKIP {test}: python3 with cryptography and cbor2 not found (pip install -r tests/requirements.txt)");
    }
    ok
}

/// Runs the independent reader over a log directory; returns its JSON.
pub fn independent_read(dir: &Path, log_vkey: &str, witnesses: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/verify_log.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(dir)
        .arg(log_vkey)
        .args(witnesses)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "independent reader: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// A minimal HTTP/1.1 request over a raw socket (so tests can also send
/// malformed, huge or stalled requests). Returns (status, headers, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    try_http(addr, method, path, headers, body).expect("HTTP exchange")
}

/// Like [`http`], but `None` when the server went away mid-exchange.
pub fn try_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<(u16, String, Vec<u8>)> {
    use std::io::{Read, Write};
    let hostport = addr.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(hostport).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .ok()?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..at]).into_owned();
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok())?;
    Some((status, head, raw[at + 4..].to_vec()))
}

/// Checks a log directory as a reader would: the checkpoint verifies, every
/// hash tile and entry bundle of its size is present and hashes to its root,
/// and every entry decodes with a valid publisher signature. Returns the
/// checkpoint and the entries.
pub fn verify_log_dir(
    dir: &Path,
    log_vkey: &str,
    witnesses: &[&str],
) -> (bt_exec::tlog::SignedCheckpoint, Vec<bt_exec::entry::Entry>) {
    use bt_exec::note::VerifierKey;
    use bt_exec::tlog::store::TileHashes;
    use bt_exec::tlog::tiles::{
        bundle_path, decode_bundle, hash_tile_path, tile_width, TILE_WIDTH,
    };
    let key = VerifierKey::parse_log(log_vkey).unwrap();
    let wk: Vec<VerifierKey> = witnesses
        .iter()
        .map(|w| VerifierKey::parse_witness(w).unwrap())
        .collect();
    let note = std::fs::read(dir.join("checkpoint")).unwrap();
    let sc = bt_exec::tlog::SignedCheckpoint::verify(&note, &key.name, &key, &wk).unwrap();
    let size = sc.checkpoint.size;
    let store = TileHashes::new();
    let mut entries = vec![];
    for level in 0..8u8 {
        let mut n = 0;
        while tile_width(level, n, size) > 0 {
            let w = tile_width(level, n, size);
            let data = std::fs::read(dir.join(hash_tile_path(level, n, w))).unwrap();
            assert_eq!(data.len() as u64, w * 32, "tile {level}/{n}");
            if level == 0 {
                let bundle = std::fs::read(dir.join(bundle_path(n, w))).unwrap();
                for (i, e) in decode_bundle(&bundle, w as usize)
                    .unwrap()
                    .into_iter()
                    .enumerate()
                {
                    assert_eq!(
                        bt_exec::tlog::leaf_hash(e).0,
                        data[i * 32..i * 32 + 32],
                        "entry {}",
                        n * TILE_WIDTH + i as u64
                    );
                    entries.push(bt_exec::entry::Entry::decode_verified(e).unwrap());
                }
            }
            store.insert_tile(level, n, data).unwrap();
            n += 1;
        }
    }
    assert_eq!(
        store.tree_hash(size).unwrap(),
        sc.checkpoint.root,
        "root of {}",
        dir.display()
    );
    (sc, entries)
}

/// Writes a log of `count` releases with the independent Python writer
/// (tests/interop/write_log.py) into `dir`, with its environment knobs
/// (`PROOF_AT`, `CORRUPT_SIG_AT`); returns the JSON it prints.
pub fn independent_log(dir: &Path, count: usize, env: &[(&str, &str)]) -> serde_json::Value {
    let _ = std::fs::remove_dir_all(dir);
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/write_log.py"
        ))
        .arg(dir)
        .arg(count.to_string())
        .envs(env.iter().copied())
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

/// Starts a Python helper that prints its port first (a line holding the
/// port alone, or `… port N …` as `python3 -m http.server` says it);
/// returns it and its URL.
pub fn helper_server(args: &[&str]) -> (Proc, String) {
    use std::io::BufRead;
    let mut child = Command::new("python3")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // Killed when dropped, also when the line below is not a port.
    let mut proc = Proc {
        child,
        addr: String::new(),
    };
    let words: Vec<&str> = line.split_whitespace().collect();
    let port = match words.as_slice() {
        [port] => *port,
        _ => words
            .windows(2)
            .find(|w| w[0] == "port")
            .map(|w| w[1])
            .unwrap_or_default(),
    };
    let port: u16 = port
        .parse()
        .unwrap_or_else(|_| panic!("python3 {args:?} did not say its port: {line:?}"));
    proc.addr = format!("http://127.0.0.1:{port}");
    let url = proc.addr.clone();
    (proc, url)
}

/// Python's own static file server (`python3 -m http.server`) serving
/// `dir` on a free loopback port, once it answers; killed when dropped.
pub fn python_http_server(dir: &Path) -> (Proc, String) {
    let (proc, url) = helper_server(&[
        "-u",
        "-m",
        "http.server",
        "0",
        "--bind",
        "127.0.0.1",
        "--directory",
        dir.to_str().unwrap(),
    ]);
    let start = std::time::Instant::now();
    while try_http(&url, "HEAD", "/", &[], b"").is_none() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "python3 -m http.server at {url} does not answer"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (proc, url)
}
