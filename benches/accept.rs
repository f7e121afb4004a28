//! `bt-log serve --accept` over loopback, whole processes:
//!
//! 1. throughput: CLIENTS clients (default 50), each on its own keep-alive
//!    connection, submit distinct pre-signed entries without waiting for
//!    proofs (`wait=0`) for SECONDS seconds; reports acknowledged
//!    submissions per second and the acknowledgement latency;
//! 2. latency to a cosigned proof: LATENCY_CLIENTS clients (default 10)
//!    submit one entry at a time, each after a pseudo-random pause of up
//!    to 1 s (so arrivals are not in step with the checkpoints), with
//!    `wait=30` to a log with a 1 s
//!    checkpoint interval and one local witness (`bt-log witness serve`);
//!    reports p50/p90/p99 from submission to the 200.
//!
//! ```sh
//! cargo build --release --bin bt-log && cargo bench --bench accept
//! ```
//! `BENCH_DIR` (default /tmp) is where the logs are written; `BT_LOG`
//! (default target/release/bt-log) the binary measured.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bt_exec::entry::{Entry, Release};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One keep-alive HTTP/1.1 connection (a minimal client, so that the
/// load generator costs little of the machine it shares with the server).
struct Conn {
    host: String,
    r: Option<BufReader<TcpStream>>,
}

impl Conn {
    fn post(&mut self, path: &str, body: &[u8]) -> std::io::Result<(u16, Vec<u8>)> {
        if self.r.is_none() {
            let s = TcpStream::connect(&self.host)?;
            s.set_nodelay(true)?;
            self.r = Some(BufReader::new(s));
        }
        let r = self.r.as_mut().ok_or(std::io::ErrorKind::NotConnected)?;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        let mut req = head.into_bytes();
        req.extend_from_slice(body);
        r.get_mut().write_all(&req)?;
        let (mut status, mut len) = (0u16, 0usize);
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                self.r = None;
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
                status = rest.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            } else if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body)?;
        Ok((status, body))
    }
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `bt-log ARGS --listen 127.0.0.1:0`; returns it and its host:port.
fn start(bt_log: &Path, args: &[&str]) -> (Server, String) {
    let mut child = Command::new(bt_log)
        .args(args)
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("bt-log");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let host = loop {
        let line = lines
            .next()
            .expect("the server said where it listens")
            .expect("read");
        if let Some(at) = line.find("http://") {
            let rest = &line[at + 7..];
            break rest.split([',', ' ']).next().unwrap_or(rest).to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Server(child), host)
}

fn sh(bt_log: &Path, args: &[&str]) -> String {
    let out = Command::new(bt_log).args(args).output().expect("bt-log");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A log in `root/name` (its key `root/name.key`, made if missing) with
/// these witnesses, and an admission file
/// admitting `pub.key` for example.org/* without practical quotas.
fn log(bt_log: &Path, root: &Path, name: &str, witnesses: &[String]) -> (PathBuf, PathBuf) {
    let origin = format!("example.org/{name}");
    let key = root.join(format!("{name}.key"));
    if !key.exists() {
        sh(bt_log, &["keygen", &origin, "--out", key.to_str().unwrap()]);
    }
    let dir = root.join(name);
    let mut args = vec!["init", dir.to_str().unwrap(), "--origin", &origin];
    args.extend(["--key", key.to_str().unwrap()]);
    for w in witnesses {
        args.extend(["--witness", w.as_str()]);
    }
    sh(bt_log, &args);
    let vkey = std::fs::read_to_string(root.join("pub.key.pub")).unwrap();
    let adm = root.join(format!("{name}.toml"));
    std::fs::write(
        &adm,
        format!(
            "[[publisher]]\nkey = \"{}\"\nnames = [\"example.org/*\"]\nquota = 100000000\n\n[limits]\naddress_quota = 100000000\npending = 1000000\n",
            vkey.trim()
        ),
    )
    .unwrap();
    (dir, adm)
}

/// `n` distinct entries, signed on every core.
fn entries(key: &ed25519_dalek::SigningKey, tag: &str, n: usize) -> Vec<Vec<u8>> {
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .map(|i| {
            let release = Release {
                name: "example.org/tool".into(),
                version: format!("{tag}.{i}"),
                platform: "any".into(),
                sha256: bt_exec::tlog::leaf_hash(format!("{tag}{i}").as_bytes()).0,
                size: i as u64,
                published: 1_700_000_000,
                cas: vec![],
                source: None,
            };
            Entry::sign(release, key).unwrap().encode()
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Each client submits its entries in turn until `secs` are up.
fn drive(
    host: &str,
    query: &str,
    work: Vec<Vec<Vec<u8>>>,
    secs: u64,
    want: u16,
    think_ms: u64,
) -> (usize, Duration, Vec<Duration>) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = work
        .into_iter()
        .enumerate()
        .map(|(ci, mine)| {
            let (host, stop, path) = (
                host.to_string(),
                stop.clone(),
                format!("/bt/add-entry{query}"),
            );
            std::thread::spawn(move || {
                let mut c = Conn { host, r: None };
                let mut lat = Vec::new();
                let mut seed = (ci as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                for e in mine {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if think_ms > 0 {
                        // Arrivals spread over the interval, not in step with it.
                        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        std::thread::sleep(Duration::from_millis((seed >> 33) % think_ms));
                    }
                    let t = Instant::now();
                    match c.post(&path, &e) {
                        Ok((s, _)) if s == want => lat.push(t.elapsed()),
                        Ok((s, b)) => panic!("{s}: {}", String::from_utf8_lossy(&b)),
                        Err(e) => panic!("{e}"),
                    }
                }
                lat
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    (all.len(), elapsed, all)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bt_log =
        PathBuf::from(std::env::var("BT_LOG").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/bt-log").into()
        }));
    let base = std::env::var("BENCH_DIR").unwrap_or_else(|_| "/tmp".into());
    let tmp = tempfile::tempdir_in(base).unwrap();
    let root = tmp.path();
    let clients: usize = env_or("CLIENTS", 50);
    let secs: u64 = env_or("SECONDS", 10);
    sh(
        &bt_log,
        &[
            "keygen",
            "example.org",
            "--out",
            root.join("pub.key").to_str().unwrap(),
        ],
    );
    let key = bt_exec::log::load_secret_key(&root.join("pub.key"))
        .unwrap()
        .key;

    // 1. Throughput, no proofs awaited.
    let (dir, adm) = log(&bt_log, root, "load", &[]);
    let (_srv, host) = start(
        &bt_log,
        &[
            "serve",
            dir.to_str().unwrap(),
            "--accept",
            adm.to_str().unwrap(),
        ],
    );
    let per = 20_000 * secs as usize / clients + 1;
    let all = entries(&key, "load", per * clients);
    let work: Vec<Vec<Vec<u8>>> = all.chunks(per).map(<[Vec<u8>]>::to_vec).collect();
    let (n, elapsed, lat) = drive(&host, "", work, secs, 202, 0);
    println!(
        "throughput: {n} acknowledged in {:.2} s = {:.0}/s from {clients} clients; ack latency p50 {:?} p99 {:?}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    // 2. Latency to a cosigned proof, one local witness, 1 s interval.
    let wkey = root.join("w.key");
    let wvkey = sh(
        &bt_log,
        &["keygen", "w.example", "--out", wkey.to_str().unwrap()],
    );
    let lkey = root.join("lat.key");
    sh(
        &bt_log,
        &["keygen", "example.org/lat", "--out", lkey.to_str().unwrap()],
    );
    let lvkey = std::fs::read_to_string(root.join("lat.key.pub")).unwrap();
    let (_w, whost) = start(
        &bt_log,
        &[
            "witness",
            "serve",
            "--key",
            wkey.to_str().unwrap(),
            "--state",
            root.join("wstate").to_str().unwrap(),
            "--log",
            lvkey.trim(),
        ],
    );
    let lat_secs: u64 = env_or("LATENCY_SECONDS", 30);
    let lclients: usize = env_or("LATENCY_CLIENTS", 10);
    let (dir, adm) = log(&bt_log, root, "lat", &[format!("http://{whost}={wvkey}")]);
    let (_srv, host) = start(
        &bt_log,
        &[
            "serve",
            dir.to_str().unwrap(),
            "--accept",
            adm.to_str().unwrap(),
        ],
    );
    let all = entries(&key, "lat", lclients * (lat_secs as usize + 5));
    let work: Vec<Vec<Vec<u8>>> = all
        .chunks(lat_secs as usize + 5)
        .map(<[Vec<u8>]>::to_vec)
        .collect();
    let (n, _, lat) = drive(&host, "?wait=30", work, lat_secs, 200, 1000);
    println!(
        "latency to a cosigned 200 ({n} submissions from {lclients} clients, 1 s interval, one witness): p50 {:?} p90 {:?} p99 {:?} max {:?}",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default()
    );
}
