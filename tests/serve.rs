//! `bt-log serve`: static HTTP for a log directory — content types, caching,
//! HEAD and Range, no path traversal, no symbolic link out of the directory,
//! no private state, a deadline for slow clients and a clean exit on SIGTERM.

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

/// Links in the log directory, each with where it points.
fn plant_links(d: &tempfile::TempDir) {
    use std::os::unix::fs::symlink;
    let (root, log) = (d.path(), d.path().join("log"));
    let links: [(&str, std::path::PathBuf); 15] = [
        // Out of the log: to a file, to a directory, absolute and relative.
        ("out-abs-file", root.join("outside")),
        ("out-rel-file", "../outside".into()),
        ("out-abs-dir", root.to_path_buf()),
        ("out-rel-dir", "..".into()),
        ("etc", "/etc".into()),
        ("tile/up", "../..".into()),
        ("cas/sha256/key", "../../../log.key".into()),
        // An inside link to an outside one, and into the private state.
        ("hop", "out-rel-file".into()),
        ("private", ".bt-log/config.toml".into()),
        ("dangling", "no-such-file".into()),
        // Inside the log: to a file, to a directory, absolute and relative.
        ("in-rel-file", "checkpoint".into()),
        ("in-abs-file", log.join("checkpoint")),
        ("in-rel-dir", "tile".into()),
        ("in-abs-dir", log.join("tile")),
        ("cas/sha256/alias", "abcd".into()),
    ];
    fs::write(root.join("log.key"), "SECRET KEY").unwrap();
    for (at, to) in links {
        symlink(to, log.join(at)).unwrap();
    }
    nix::unistd::mkfifo(
        &log.join("tile/0/fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
}

#[test]
fn symlinks_out_of_the_log_are_404_and_inside_it_are_served() {
    let d = log_dir();
    plant_links(&d);
    let p = serve(&d);
    for path in [
        "/out-abs-file",
        "/out-rel-file",
        "/out-abs-dir/outside",
        "/out-abs-dir/log.key",
        "/out-abs-dir/log/.bt-log/config.toml",
        "/out-rel-dir/outside",
        "/out-rel-dir/log.key",
        "/etc/passwd",
        "/tile/up/outside",
        "/tile/up/log.key",
        "/cas/sha256/key",
        "/hop",
        "/private",
        "/dangling",
        "/tile/0/fifo",
        "/in-rel-dir",
    ] {
        let (s, _, body) = http(&p.addr, "GET", path, &[], b"");
        assert_eq!(s, 404, "{path}");
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("SECRET") && !text.contains("/secret") && !text.contains("root:"),
            "{path}: {text}"
        );
        assert_eq!(http(&p.addr, "HEAD", path, &[], b"").0, 404, "HEAD {path}");
    }
    // Links that stay inside the log work, with HEAD and Range.
    for (path, len) in [
        ("/in-rel-file", 64),
        ("/in-abs-file", 64),
        ("/in-rel-dir/0/000", 8192),
        ("/in-abs-dir/0/001.p/5", 160),
        ("/cas/sha256/alias", 5),
    ] {
        let (s, _, body) = http(&p.addr, "GET", path, &[], b"");
        assert_eq!((s, body.len()), (200, len), "{path}");
    }
    let (s, head, _) = http(&p.addr, "HEAD", "/in-rel-dir/0/000", &[], b"");
    assert_eq!(s, 200);
    assert_eq!(header(&head, "content-length"), Some("8192"));
    // Headers follow the path asked for: the alias is not a tile path.
    assert_eq!(header(&head, "cache-control"), Some("public, max-age=60"));
    let range = [("Range", "bytes=0-3")];
    let (s, _, body) = http(&p.addr, "GET", "/cas/sha256/alias", &range, b"");
    assert_eq!((s, body.as_slice()), (206, b"byte".as_slice()));
}

/// The directory named on the command line may itself be a link.
#[test]
fn a_log_directory_given_through_a_link_is_served() {
    let d = log_dir();
    let link = d.path().join("log-link");
    std::os::unix::fs::symlink(d.path().join("log"), &link).unwrap();
    let p = spawn_server(&["serve", link.to_str().unwrap()]);
    let (s, _, body) = http(&p.addr, "GET", "/checkpoint", &[], b"");
    assert_eq!(s, 200);
    assert!(body.starts_with(b"example.org/log\n"));
    assert_eq!(http(&p.addr, "GET", "/../outside", &[], b"").0, 404);
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

/// A connection that sends nothing, and one kept alive and then left idle,
/// are closed by the server (before the client's own 30 s deadline): 1024
/// silent connections would otherwise hold every slot for ever.
#[test]
fn silent_and_idle_connections_are_closed() {
    use std::io::{Read, Write};
    let d = log_dir();
    let p = serve(&d);
    let host = p.addr.trim_start_matches("http://").to_string();
    let silent = std::thread::spawn({
        let host = host.clone();
        move || {
            let mut s = std::net::TcpStream::connect(&host).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).map(|_| buf.len())
        }
    });
    let mut s = std::net::TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"HEAD /checkpoint HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    // The answer, then the connection closed while idle.
    let closed = s.read_to_end(&mut buf);
    assert!(closed.is_ok(), "the idle connection was held: {closed:?}");
    assert!(buf.starts_with(b"HTTP/1.1 200"));
    let silent = silent.join().unwrap();
    assert_eq!(silent.ok(), Some(0), "the silent connection was held");
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
