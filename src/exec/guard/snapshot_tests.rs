//! The tests of `snapshot.rs`: fake roots with dpkg records and files.

use super::*;
use std::ffi::OsStr;
use std::os::unix::fs::symlink;

/// A fake root with dpkg's info directory.
struct Fake {
    dir: tempfile::TempDir,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(INFO_DIR)).unwrap();
        Fake { dir }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A file under the root with these bytes and permission bits.
    fn file(&self, rel: impl AsRef<Path>, bytes: &[u8], mode: u32) {
        let p = self.root().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, bytes).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// `<package>.md5sums`, one line per (bytes dpkg saw, relative path).
    fn md5sums(&self, package: &str, lines: &[(&[u8], &str)]) {
        let text: String = lines
            .iter()
            .map(|(bytes, rel)| format!("{}  {rel}\n", md5_hex(bytes)))
            .collect();
        self.md5sums_raw(package, text.as_bytes());
    }

    fn md5sums_raw(&self, package: &str, text: &[u8]) {
        let p = self
            .root()
            .join(INFO_DIR)
            .join(format!("{package}.md5sums"));
        fs::write(p, text).unwrap();
    }
}

fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

const TOOL: &[u8] = b"#!/bin/sh\necho tool\n";
const SPACED: &[u8] = b"\x7fELF not really\n";
const SH: &[u8] = b"#!/bin/false\n";

/// One of each: two executables that match (one with spaces in its name),
/// one reached through a merged-/usr link on the way (`bin` → `usr/bin`),
/// a document, a symlink to an executable, a FIFO, a file dpkg lists that
/// is gone, and an executable changed after installation.
fn fixture() -> (Fake, Snapshot) {
    let f = Fake::new();
    f.file("usr/bin/tool", TOOL, 0o755);
    f.file("usr/bin/with space", SPACED, 0o750);
    f.file("usr/share/doc/readme", b"read me", 0o644);
    symlink("tool", f.root().join("usr/bin/link")).unwrap();
    let fifo = f.root().join("usr/bin/fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o755)).unwrap();
    fs::set_permissions(&fifo, fs::Permissions::from_mode(0o755)).unwrap();
    f.file("usr/bin/changed", b"trojan", 0o755);
    f.md5sums(
        "tools",
        &[
            (TOOL, "usr/bin/tool"),
            (SPACED, "usr/bin/with space"),
            (b"read me", "usr/share/doc/readme"),
            (TOOL, "usr/bin/link"),
            (b"", "usr/bin/fifo"),
            (b"gone", "usr/bin/gone"),
            (b"original", "usr/bin/changed"),
        ],
    );
    f.file("usr/bin/sh", SH, 0o755);
    symlink("usr/bin", f.root().join("bin")).unwrap();
    f.md5sums("dash", &[(SH, "bin/sh")]);
    let s = take(f.root()).unwrap();
    (f, s)
}

#[test]
fn matching_executables_are_listed_with_their_sha256_sorted_by_path() {
    let (_f, s) = fixture();
    let want = vec![
        (sha256(SH), PathBuf::from("/bin/sh")),
        (sha256(TOOL), PathBuf::from("/usr/bin/tool")),
        (sha256(SPACED), PathBuf::from("/usr/bin/with space")),
    ];
    assert_eq!(s.entries, want);
}

/// The digest agrees with another implementation than the one hashed with.
#[test]
fn a_digest_agrees_with_python() {
    let (f, s) = fixture();
    let script =
        "import hashlib,sys;print(hashlib.sha256(open(sys.argv[1],'rb').read()).hexdigest())";
    let file = f.root().join("usr/bin/tool");
    let Ok(out) = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&file)
        .output()
    else {
        eprintln!("no python3: the cross-check is not made");
        return;
    };
    assert!(out.status.success(), "{out:?}");
    let python = String::from_utf8(out.stdout).unwrap();
    let ours = s
        .entries
        .iter()
        .find(|(_, p)| p == Path::new("/usr/bin/tool"));
    assert_eq!(hex::encode(ours.unwrap().0), python.trim());
}

/// The attack: an executable changed after installation is not listed.
#[test]
fn an_executable_changed_after_installation_is_mismatched_not_listed() {
    let (_f, s) = fixture();
    assert_eq!(s.mismatched, vec![PathBuf::from("/usr/bin/changed")]);
    assert!(!s.entries.iter().any(|(sha, _)| *sha == sha256(b"trojan")));
}

/// A document, a symlink to an executable (never followed) and a FIFO
/// (never opened: the snapshot would hang) are skipped; a file gone is
/// unreadable.
#[test]
fn links_documents_and_fifos_are_skipped_and_a_missing_file_is_unreadable() {
    let (_f, s) = fixture();
    assert_eq!(s.skipped, 3);
    assert_eq!(
        s.unreadable,
        vec![(PathBuf::from("/usr/bin/gone"), "missing".to_string())]
    );
}

/// A path two packages list (a `Multi-Arch: same` pair, a diversion) is
/// listed if its bytes match either MD5; each line skipped is counted.
#[test]
fn a_path_listed_twice_matches_either_md5() {
    let f = Fake::new();
    f.file("usr/bin/both", TOOL, 0o755);
    f.file("usr/share/both", TOOL, 0o644);
    f.md5sums("a", &[(b"older", "usr/bin/both"), (TOOL, "usr/share/both")]);
    f.md5sums("b", &[(TOOL, "usr/bin/both"), (TOOL, "usr/share/both")]);
    let s = take(f.root()).unwrap();
    assert_eq!(
        s.entries,
        vec![(sha256(TOOL), PathBuf::from("/usr/bin/both"))]
    );
    assert_eq!((s.skipped, s.mismatched.len()), (2, 0));
}

/// md5sum's escaped form is read; a name an allow-list line cannot hold
/// (a newline, not UTF-8) is unreadable rather than listed.
#[test]
fn escaped_and_unwritable_names() {
    let f = Fake::new();
    f.file("usr/bin/back\\slash", TOOL, 0o755);
    f.file("usr/bin/new\nline", TOOL, 0o755);
    f.file(OsStr::from_bytes(b"usr/bin/latin\xe9"), TOOL, 0o755);
    let md5 = md5_hex(TOOL);
    let text = format!(
        "\\{md5}  usr/bin/back\\\\slash\n\\{md5}  usr/bin/new\\nline\n{md5}  usr/bin/latin"
    );
    let mut text = text.into_bytes();
    text.extend_from_slice(b"\xe9\n");
    f.md5sums_raw("odd", &text);
    let s = take(f.root()).unwrap();
    assert_eq!(
        s.entries,
        vec![(sha256(TOOL), PathBuf::from("/usr/bin/back\\slash"))]
    );
    let why: Vec<&str> = s.unreadable.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(why.len(), 2);
    assert!(why.iter().any(|w| w.contains("not UTF-8")), "{why:?}");
    assert!(why.iter().any(|w| w.contains("newline")), "{why:?}");
}

/// A malformed md5sums line stops the snapshot, naming file and line: an
/// absolute path or `..` would hash a file outside the root.
#[test]
fn a_malformed_md5sums_line_is_an_error_naming_file_and_line() {
    let md5 = md5_hex(TOOL);
    let bad = [
        format!("{md5}  /usr/bin/tool"),
        format!("{md5}  usr/../../etc/shadow"),
        format!("{md5}  ./usr/bin/tool"),
        format!("{md5}  "),
        format!("{md5} usr/bin/tool"),
        format!("{}  usr/bin/tool", "z".repeat(32)),
        "d41d8cd98f00b204".to_string(),
        String::new(),
        format!("\\{md5}  usr/bin/a\\tb"),
    ];
    for line in bad {
        let f = Fake::new();
        let text = format!("{md5}  usr/bin/tool\n{line}\n");
        f.md5sums_raw("bad", text.as_bytes());
        let e = take(f.root()).unwrap_err();
        assert!(
            matches!(e, SnapshotError::Md5sumsLine { line: 2, .. }),
            "{line:?}: {e}"
        );
        assert!(e.to_string().contains("bad.md5sums, line 2"), "{e}");
    }
}

#[test]
fn no_dpkg_info_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = take(dir.path()).unwrap_err();
    assert!(matches!(e, SnapshotError::InfoDir { .. }), "{e}");
}

#[test]
fn render_then_load_round_trips() {
    let (f, s) = fixture();
    let text = render(&s);
    let want = format!(
        "{HEADER}\n{} /bin/sh\n{} /usr/bin/tool\n{} /usr/bin/with space\n",
        hex::encode(sha256(SH)),
        hex::encode(sha256(TOOL)),
        hex::encode(sha256(SPACED)),
    );
    assert_eq!(String::from_utf8(text.clone()).unwrap(), want);
    let p = f.root().join("allow-list");
    fs::write(&p, &text).unwrap();
    let set: HashSet<[u8; 32]> = s.entries.iter().map(|(sha, _)| *sha).collect();
    assert_eq!(load(&p).unwrap(), set);
    fs::write(&p, render(&Snapshot::default())).unwrap();
    assert!(load(&p).unwrap().is_empty());
}

/// An entry a line cannot hold is left out of the file, not written as
/// two lines.
#[test]
fn render_leaves_out_what_a_line_cannot_hold() {
    let s = Snapshot {
        entries: vec![
            ([1; 32], PathBuf::from("/usr/bin/a\n0000 /b")),
            ([2; 32], PathBuf::from(OsStr::from_bytes(b"/usr/bin/\xff"))),
            ([3; 32], PathBuf::from("/usr/bin/c")),
        ],
        ..Snapshot::default()
    };
    let want = format!("{HEADER}\n{} /usr/bin/c\n", hex::encode([3u8; 32]));
    assert_eq!(render(&s), want.into_bytes());
}

/// Anything but what render writes is refused, naming the line.
#[test]
fn load_refuses_what_render_would_not_write() {
    let good = format!("{} /usr/bin/a", "ab".repeat(32));
    let cases: Vec<(String, usize)> = vec![
        (String::new(), 1),
        (format!("{good}\n"), 1),
        ("bt-exec guard allow-list v2\n".into(), 1),
        (HEADER.to_string(), 1),
        (format!("{HEADER}\n{good}\n{} /b\n", "g".repeat(64)), 3),
        (format!("{HEADER}\n{} /b\n", "AB".repeat(32)), 2),
        (format!("{HEADER}\nabc /b\n"), 2),
        (format!("{HEADER}\n{}/b\n", "ab".repeat(32)), 2),
        (format!("{HEADER}\n{}  /b\n", "ab".repeat(32)), 2),
        (format!("{HEADER}\n{} b\n", "ab".repeat(32)), 2),
        (format!("{HEADER}\n{} \n", "ab".repeat(32)), 2),
        (format!("{HEADER}\n{good}\n\n{good}\n"), 3),
        (format!("{HEADER}\n{good}\n{good}"), 3),
    ];
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("allow-list");
    for (text, line) in cases {
        fs::write(&p, &text).unwrap();
        match load(&p) {
            Err(SnapshotError::AllowListLine { line: l, .. }) if l == line => {}
            other => panic!("{text:?}: {other:?}, not line {line}"),
        }
    }
}

/// A FIFO is refused at once (reading it would wait for a writer for
/// ever), as is a file that is not there.
#[test]
fn load_refuses_a_fifo_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    for p in [fifo, dir.path().join("none")] {
        let e = load(&p).unwrap_err();
        assert!(matches!(e, SnapshotError::AllowListRead { .. }), "{e}");
    }
}
