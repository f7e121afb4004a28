//! `bt-log serve`: static HTTP for a log directory — content types, caching,
//! HEAD and Range, no path traversal, no private state, a deadline for slow
//! clients and a clean exit on SIGTERM.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::{http, spawn_server};

fn log_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let log = d.path().join("log");
    fs::create_dir_all(log.join("tile/0/001.p")).unwrap();
    fs::create_dir_all(log.join(".bt-log")).unwrap();
    fs::create_dir_all(log.join("cas/sha256")).unwrap();
    fs::write(
        log.join("checkpoint"),
        "example.org/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n",
    )
    .unwrap();
    fs::write(log.join("tile/0/000"), vec![7u8; 8192]).unwrap();
    fs::write(log.join("tile/0/001.p/5"), vec![9u8; 160]).unwrap();
    fs::write(log.join("cas/sha256/abcd"), b"bytes").unwrap();
    fs::write(log.join(".bt-log/config.toml"), "key = \"/secret\"\n").unwrap();
    fs::write(d.path().join("outside"), "SECRET OUTSIDE").unwrap();
    d
}

fn serve(d: &tempfile::TempDir) -> common::Proc {
    spawn_server(&["serve", d.path().join("log").to_str().unwrap()])
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn headers_head_and_range() {
    let d = log_dir();
    let p = serve(&d);
    let (s, head, body) = http(&p.addr, "GET", "/checkpoint", &[], b"");
    assert_eq!(s, 200);
    assert!(body.starts_with(b"example.org/log\n"));
    assert_eq!(
        header(&head, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(header(&head, "cache-control")
        .unwrap()
        .contains("max-age=5"));

    let (s, head, body) = http(&p.addr, "GET", "/tile/0/000", &[], b"");
    assert_eq!((s, body.len()), (200, 8192));
    assert_eq!(
        header(&head, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    let (_, head, _) = http(&p.addr, "GET", "/tile/0/001.p/5", &[], b"");
    assert_eq!(header(&head, "cache-control"), Some("public, max-age=60"));
    let (_, head, _) = http(&p.addr, "GET", "/cas/sha256/abcd", &[], b"");
    assert!(header(&head, "cache-control")
        .unwrap()
        .contains("immutable"));

    let (s, head, body) = http(&p.addr, "HEAD", "/tile/0/000", &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&head, "content-length"), Some("8192"));
    assert!(body.is_empty());

    let (s, head, body) = http(
        &p.addr,
        "GET",
        "/tile/0/000",
        &[("Range", "bytes=32-63")],
        b"",
    );
    assert_eq!((s, body.len()), (206, 32));
    assert_eq!(header(&head, "content-range"), Some("bytes 32-63/8192"));
    assert_eq!(http(&p.addr, "GET", "/tile/0/002", &[], b"").0, 404);
}

#[test]
fn no_traversal_and_no_private_state() {
    let d = log_dir();
    let p = serve(&d);
    for path in [
        "/../outside",
        "/tile/../../outside",
        "/%2e%2e/outside",
        "/tile/%2e%2e/%2e%2e/outside",
        "/..%2foutside",
        "/tile/..%5c..%5coutside",
        "/.bt-log/config.toml",
        "/%2ebt-log/config.toml",
        "//etc/passwd",
        "/etc/passwd",
    ] {
        let (s, _, body) = http(&p.addr, "GET", path, &[], b"");
        assert!(s == 404 || s == 400, "{path}: {s}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("SECRET") && !text.contains("/secret") && !text.contains("root:"),
            "{path}"
        );
    }
}

#[test]
fn slow_client_is_cut_off() {
    use std::io::{Read, Write};
    let d = log_dir();
    let p = serve(&d);
    let mut s = std::net::TcpStream::connect(p.addr.trim_start_matches("http://")).unwrap();
    s.write_all(b"GET /checkpoint HTTP/1.1\r\nHost: x\r\n")
        .unwrap(); // and never finish
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_secs(20),
        "connection held for {waited:?}"
    );
}

#[test]
fn sigterm_stops_it() {
    let d = log_dir();
    let mut p = serve(&d);
    let pid = nix::unistd::Pid::from_raw(p.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let start = Instant::now();
    loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
