//! A log that accepts submissions, for tests: keys, the log, an admission
//! file, a server on a chosen port, and entries signed by a publisher.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bt_exec::entry::{Entry, Release};
use bt_exec::log::load_secret_key;
use bt_exec::note::SecretKey;

use super::{bt_log, keygen, try_http, Proc, BT_LOG};

pub struct Acc {
    pub _tmp: tempfile::TempDir,
    pub root: PathBuf,
    pub log: PathBuf,
    pub origin: String,
    pub log_vkey: String,
    pub publisher: SecretKey,
    pub publisher_vkey: String,
}

impl Acc {
    /// A log with these witnesses (`URL=VKEY`), and a publisher key.
    pub fn new(origin: &str, witnesses: &[String]) -> Acc {
        let acc = Acc::keys(origin);
        acc.init(witnesses);
        acc
    }

    /// The keys alone (the log's vkey is known before `init`, so that a
    /// witness can be started for it first).
    pub fn keys(origin: &str) -> Acc {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let log_vkey = keygen(&root, origin, "log.key");
        let publisher_vkey = keygen(&root, "example.org", "pub.key");
        Acc {
            publisher: load_secret_key(&root.join("pub.key")).unwrap(),
            log: root.join("log"),
            _tmp: tmp,
            root,
            origin: origin.into(),
            log_vkey,
            publisher_vkey,
        }
    }

    /// `bt-log init` with these witnesses (`URL=VKEY`).
    pub fn init(&self, witnesses: &[String]) {
        self.init_with(witnesses, &[]);
    }

    /// `bt-log init` with these witnesses and more arguments.
    pub fn init_with(&self, witnesses: &[String], extra: &[&str]) {
        let key = self.root.join("log.key");
        let mut args = vec![
            "init".to_string(),
            self.log.display().to_string(),
            "--origin".into(),
            self.origin.clone(),
            "--key".into(),
            key.display().to_string(),
        ];
        for w in witnesses {
            args.extend(["--witness".to_string(), w.clone()]);
        }
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (c, _, e) = bt_log(&args);
        assert_eq!(c, 0, "{e}");
    }

    /// Writes an admission file; `{pub}` in `text` is the publisher's vkey.
    pub fn admission(&self, name: &str, text: &str) -> PathBuf {
        let p = self.root.join(name);
        fs::write(&p, text.replace("{pub}", &self.publisher_vkey)).unwrap();
        p
    }

    /// `bt-log serve --accept FILE` on `listen` (`127.0.0.1:0` for any
    /// port), once it answers.
    pub fn serve(&self, admission: &Path, listen: &str, extra: &[&str]) -> Proc {
        serve(&self.log, admission, listen, extra)
    }

    /// An entry for `name` `version`, signed by the publisher.
    pub fn entry(&self, name: &str, version: &str) -> Vec<u8> {
        entry(&self.publisher, name, version)
    }
}

/// An entry signed by `key`.
pub fn entry(key: &SecretKey, name: &str, version: &str) -> Vec<u8> {
    let release = Release {
        name: name.into(),
        version: version.into(),
        platform: "any".into(),
        sha256: bt_exec::tlog::leaf_hash(version.as_bytes()).0,
        size: 1,
        published: 1_700_000_000,
        cas: vec![],
        source: None,
    };
    Entry::sign(release, &key.key).unwrap().encode()
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts `bt-log serve LOG --accept ADMISSION --listen LISTEN` and waits
/// until it says where it listens; stderr is drained (kept in `log.txt`
/// beside the log when the test wants to read it: see [`stderr_of`]).
pub fn serve(log: &Path, admission: &Path, listen: &str, extra: &[&str]) -> Proc {
    use std::io::{BufRead, BufReader, Write};
    let mut child = Command::new(BT_LOG)
        .arg("serve")
        .arg(log)
        .arg("--accept")
        .arg(admission)
        .args(["--listen", listen])
        .args(extra)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn bt-log");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut said = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_path(log))
        .unwrap();
    let addr = loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.wait();
            panic!("the server exited before listening: {}", stderr_of(log));
        };
        let _ = writeln!(said, "{line}");
        if let Some(at) = line.find("http://") {
            let end = line[at..].find(',').map_or(line.len(), |e| at + e);
            break line[at..end].trim().to_string();
        }
    };
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            let _ = writeln!(said, "{l}");
        }
    });
    Proc { child, addr }
}

fn stderr_path(log: &Path) -> PathBuf {
    log.with_extension("stderr.txt")
}

/// What the servers of `log` said on stderr so far.
pub fn stderr_of(log: &Path) -> String {
    fs::read_to_string(stderr_path(log)).unwrap_or_default()
}

/// POSTs `body` to `/bt/add-entry?query`: (status, head, body as text).
pub fn submit(addr: &str, query: &str, body: &[u8]) -> (u16, String, String) {
    let (s, h, b) = try_http(addr, "POST", &format!("/bt/add-entry{query}"), &[], body)
        .expect("the server answers");
    (s, h, String::from_utf8_lossy(&b).into_owned())
}

/// The index a 200 (tlog-proof) or 202 (`index N`) answer gives.
pub fn index_of(status: u16, body: &str) -> u64 {
    match status {
        202 => body.trim().strip_prefix("index ").unwrap().parse().unwrap(),
        200 => {
            bt_exec::tlog::TlogProof::parse(body.as_bytes())
                .unwrap()
                .index
        }
        _ => panic!("{status} {body}"),
    }
}

/// A header's value in a raw response head.
pub fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// Waits until `f` holds, polling, for at most `secs`.
pub fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The size of the log's published checkpoint.
pub fn published_size(log: &Path) -> u64 {
    let note = fs::read(log.join("checkpoint")).unwrap();
    bt_exec::tlog::Checkpoint::of_note(&note).unwrap().size
}

/// A `bt-log witness serve` process for the log with `log_vkey`, its key
/// written under `root`: (process, `URL=VKEY`, vkey).
pub fn witness(root: &Path, log_vkey: &str) -> (super::Proc, String, String) {
    let vkey = keygen(root, "w.example", "w.key");
    let p = super::spawn_server(&[
        "witness",
        "serve",
        "--key",
        root.join("w.key").to_str().unwrap(),
        "--state",
        root.join("wstate").to_str().unwrap(),
        "--log",
        log_vkey,
    ]);
    let arg = format!("{}={vkey}", p.addr);
    (p, arg, vkey)
}
