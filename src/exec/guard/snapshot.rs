//! `bt-exec guard snapshot`: the guard's allow-list of the operating
//! system's own executables, taken from the installed Debian packages.
//!
//! dpkg keeps an MD5 of every file a package installed
//! (`/var/lib/dpkg/info/<package>.md5sums`), never a SHA-256. So each
//! executable it lists is read from disk once, MD5 and SHA-256 together,
//! and its SHA-256 is allow-listed only if its MD5 is one dpkg recorded.
//!
//! The attack the MD5 check stops: a program changed after its package
//! installed it (a trojaned `/usr/bin/sudo` left behind by whoever once
//! held root, or write access to it) would otherwise be allow-listed as
//! the system's own by the next snapshot, and run past the guard for ever.
//! Both digests come from one read, so the SHA-256 listed is that of the
//! very bytes whose MD5 matched: a file swapped between two reads cannot
//! pair the packaged file's MD5 with another file's SHA-256.
//!
//! What it does not stop: MD5 is broken for collisions, so a file made by
//! a package's author to collide with the file they shipped would pass. A
//! snapshot trusts the packages as far as dpkg does, and is as good as the
//! system it is taken on. dpkg's records are root's: a hostile md5sums
//! file is the operating system's own, so a malformed line stops the
//! snapshot, naming its file and line, rather than being guessed at.
//!
//! A file moved aside by `dpkg-divert` is listed under its original name
//! with the MD5 of what now lives elsewhere: it shows as mismatched
//! (unless the diverting package lists the new one), and the copy moved
//! aside is not listed at all.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use md5::{Digest, Md5};
use rayon::prelude::*;
use sha2::Sha256;

/// The first line of an allow-list file.
pub const HEADER: &str = "bt-exec guard allow-list v1";

/// The largest allow-list file [`load`] reads.
pub const ALLOW_LIST_CAP: usize = 64 << 20;

/// The largest file hashed (2 GiB): a larger one is unreadable, so that a
/// file that never ends (one growing as it is read) cannot stall the
/// snapshot.
const FILE_CAP: u64 = 2 << 30;

/// The largest md5sums file read (the largest on a Debian system, of the
/// TeX Live packages, hold a few MiB).
const MD5SUMS_CAP: usize = 64 << 20;

/// Where dpkg keeps its records, under the root.
const INFO_DIR: &str = "var/lib/dpkg/info";

/// The read buffer of each hashing thread.
const BUF_LEN: usize = 1 << 20;

/// What a snapshot found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Every allow-listed file: SHA-256 → the path (absolute, as on the
    /// running system, i.e. "/" + dpkg's relative path), sorted by path.
    pub entries: Vec<([u8; 32], PathBuf)>,
    /// Files whose bytes on disk do not match dpkg's MD5 (not added).
    pub mismatched: Vec<PathBuf>,
    /// Files dpkg lists that are missing or could not be read (not added),
    /// with why; also those whose name an allow-list line cannot hold.
    pub unreadable: Vec<(PathBuf, String)>,
    /// How many md5sums lines were skipped as not executables (no execute
    /// bit, not a regular file, a symlink).
    pub skipped: usize,
}

/// Why a snapshot was not taken or an allow-list not read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// dpkg's info directory could not be listed.
    #[error("{}: cannot list dpkg's package records: {err}", path.display())]
    InfoDir { path: PathBuf, err: String },
    /// An md5sums file could not be read (or is larger than 64 MiB).
    #[error("{}: {err}", path.display())]
    Md5sums { path: PathBuf, err: String },
    /// A line of an md5sums file is not `<32 hex>  <relative path>`.
    #[error("{}, line {line}: {why}", path.display())]
    Md5sumsLine {
        path: PathBuf,
        line: usize,
        why: String,
    },
    /// The allow-list could not be read (missing, not a regular file…).
    #[error("{}: cannot read the allow-list: {err}", path.display())]
    AllowListRead { path: PathBuf, err: String },
    /// The allow-list is larger than [`ALLOW_LIST_CAP`].
    #[error("{}: the allow-list is larger than {cap} bytes", path.display())]
    AllowListTooLarge { path: PathBuf, cap: usize },
    /// A line of the allow-list is not what [`render`] writes.
    #[error("{}, line {line}: {why}", path.display())]
    AllowListLine {
        path: PathBuf,
        line: usize,
        why: String,
    },
    /// Writing the allow-list failed.
    #[error("{}: cannot write the allow-list: {err}", path.display())]
    Write { path: PathBuf, err: String },
}

/// dpkg's listings: each path, relative to the root, with every MD5 a
/// package recorded for it (two packages may ship one path: the halves of
/// a `Multi-Arch: same` pair, or the two sides of a diversion). Sorted by
/// path, which sorts the snapshot.
pub(crate) type Listings = BTreeMap<PathBuf, Vec<[u8; 16]>>;

/// A file's MD5 and SHA-256, from one read.
type Digests = ([u8; 16], [u8; 32]);

/// What became of one listed path.
enum Outcome {
    Listed([u8; 32]),
    Mismatched,
    Unreadable(String),
    Skipped,
}

/// Reads every `<root>/var/lib/dpkg/info/*.md5sums`, and re-hashes each
/// listed file under `root` that is a regular file (never following a
/// symlink) with any execute bit set, MD5 and SHA-256 in one read pass, in
/// parallel. `root` is "/" on a real system; tests give a temporary
/// directory.
///
/// The file itself is never a symlink followed; links among the
/// directories on the way are followed, since a merged-/usr system reaches
/// `usr/bin` through `/bin` and dpkg lists many files as `bin/…`. Under a
/// `root` other than "/", an absolute link on the way leads out of it.
pub fn take(root: &Path) -> Result<Snapshot, SnapshotError> {
    let listings = read_listings(root)?;
    let listed: Vec<(&PathBuf, &Vec<[u8; 16]>)> = listings.iter().collect();
    let outcomes: Vec<Outcome> = listed
        .par_iter()
        .map_init(
            || vec![0u8; BUF_LEN],
            |buf, (rel, md5s)| examine(&root.join(rel), md5s, buf),
        )
        .collect();
    let mut s = Snapshot::default();
    for ((rel, md5s), outcome) in listed.iter().zip(outcomes) {
        let shown = Path::new("/").join(rel);
        match outcome {
            Outcome::Listed(sha) => match line_path(&shown) {
                Ok(_) => s.entries.push((sha, shown)),
                Err(why) => s.unreadable.push((shown, why.to_string())),
            },
            Outcome::Mismatched => s.mismatched.push(shown),
            Outcome::Unreadable(why) => s.unreadable.push((shown, why)),
            Outcome::Skipped => s.skipped += md5s.len(),
        }
    }
    Ok(s)
}

/// Every md5sums file of dpkg's info directory under `root`, read in the
/// order of their names.
fn read_listings(root: &Path) -> Result<Listings, SnapshotError> {
    let dir = root.join(INFO_DIR);
    let info_err = |e: io::Error| SnapshotError::InfoDir {
        path: dir.clone(),
        err: e.to_string(),
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(&dir).map_err(info_err)? {
        let name = entry.map_err(info_err)?.file_name();
        if name.as_bytes().ends_with(b".md5sums") {
            files.push(dir.join(name));
        }
    }
    files.sort();
    let mut listings = Listings::new();
    for file in &files {
        // Only a regular file is opened (a FIFO there would hang the
        // snapshot), and at most 64 MiB of it is read.
        let text =
            crate::fsutil::read_capped(file, MD5SUMS_CAP).map_err(|e| SnapshotError::Md5sums {
                path: file.clone(),
                err: e.to_string(),
            })?;
        parse_md5sums(file, &text, &mut listings)?;
    }
    Ok(listings)
}

/// The lines of one md5sums file, added to `into`.
pub(crate) fn parse_md5sums(
    file: &Path,
    text: &[u8],
    into: &mut Listings,
) -> Result<(), SnapshotError> {
    if text.is_empty() {
        return Ok(());
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        let (md5, rel) = parse_md5sums_line(line).map_err(|why| SnapshotError::Md5sumsLine {
            path: file.to_path_buf(),
            line: i + 1,
            why,
        })?;
        into.entry(rel).or_default().push(md5);
    }
    Ok(())
}

/// One md5sums line: `<32 hex>  <path relative to />`, as `md5sum` writes
/// it, the path taken to the end of the line (it may hold spaces). A line
/// starting with `\` is `md5sum`'s escaped form, for a name holding a
/// backslash or a newline.
///
/// An absolute path, or one with `..` (or `.`) in it, is refused: dpkg
/// never writes one, and one would have the snapshot hash a file outside
/// the root it was given.
fn parse_md5sums_line(line: &[u8]) -> Result<([u8; 16], PathBuf), String> {
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (hex_part, rest) = line
        .split_at_checked(32)
        .ok_or("shorter than an MD5 and a path")?;
    let mut md5 = [0u8; 16];
    hex::decode_to_slice(hex_part, &mut md5).map_err(|_| "not an MD5 in hexadecimal")?;
    let name = rest
        .strip_prefix(b"  ")
        .ok_or("not two spaces between the MD5 and the path")?;
    let name = if escaped {
        unescape(name)?
    } else {
        name.to_vec()
    };
    let rel = PathBuf::from(OsString::from_vec(name));
    let plain = rel.components().all(|c| matches!(c, Component::Normal(_)));
    if rel.as_os_str().is_empty() || !plain {
        return Err(format!("{rel:?} is not a plain path relative to /"));
    }
    Ok((md5, rel))
}

/// A name as `md5sum` escapes it: `\\` for a backslash, `\n` for a
/// newline, `\r` for a carriage return.
fn unescape(name: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        out.push(match bytes.next() {
            Some(b'\\') => b'\\',
            Some(b'n') => b'\n',
            Some(b'r') => b'\r',
            _ => return Err("an escaped name with an unknown escape".into()),
        });
    }
    Ok(out)
}

/// One listed file, hashed if it is an executable and checked against
/// every MD5 dpkg recorded for it.
fn examine(path: &Path, md5s: &[[u8; 16]], buf: &mut [u8]) -> Outcome {
    match hash_executable(path, buf) {
        Ok(None) => Outcome::Skipped,
        Ok(Some((md5, sha))) if md5s.contains(&md5) => Outcome::Listed(sha),
        Ok(Some(_)) => Outcome::Mismatched,
        Err(why) => Outcome::Unreadable(why),
    }
}

/// A regular file with any execute bit set.
fn is_executable(meta: &fs::Metadata) -> bool {
    meta.file_type().is_file() && meta.permissions().mode() & 0o111 != 0
}

/// The MD5 and SHA-256 of `path` if it is an executable regular file;
/// `None` (skipped) for anything else.
///
/// The path is lstat'ed first, and anything but an executable regular
/// file is never opened: a symlink is not followed (it could point at any
/// file of the system, which would be allow-listed under a package's
/// name), and a FIFO or a device is not opened (opening a FIFO blocks for
/// ever, opening some devices has effects of its own). The file is then
/// opened with `O_NOFOLLOW` and `O_NONBLOCK` (swapped for a link or a FIFO
/// in between, the open fails or returns at once), and what is hashed is
/// decided by the fstat of that descriptor, which is what is read.
fn hash_executable(path: &Path, buf: &mut [u8]) -> Result<Option<Digests>, String> {
    match fs::symlink_metadata(path) {
        Ok(m) if is_executable(&m) => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err("missing".into()),
        Err(e) => return Err(format!("cannot stat: {e}")),
    }
    use nix::fcntl::OFlag;
    let flags = OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
        .map_err(|e| format!("cannot open: {e}"))?;
    let meta = file.metadata().map_err(|e| format!("cannot fstat: {e}"))?;
    if !meta.file_type().is_file() {
        return Err("replaced while the snapshot ran: no longer a regular file".into());
    }
    if !is_executable(&meta) {
        return Ok(None);
    }
    if meta.len() > FILE_CAP {
        return Err(format!("larger than {FILE_CAP} bytes"));
    }
    digests(file, buf).map(Some)
}

/// The MD5 and SHA-256 of everything `file` holds, in one pass; an error
/// past [`FILE_CAP`] bytes (it grew as it was read).
fn digests(mut file: File, buf: &mut [u8]) -> Result<Digests, String> {
    let mut md5 = Md5::new();
    let mut sha = Sha256::new();
    let mut size = 0u64;
    loop {
        let n = match file.read(buf) {
            Ok(0) => return Ok((md5.finalize().into(), sha.finalize().into())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read: {e}")),
        };
        size += n as u64;
        if size > FILE_CAP {
            return Err(format!("larger than {FILE_CAP} bytes"));
        }
        let chunk = buf.get(..n).unwrap_or_default();
        md5.update(chunk);
        sha.update(chunk);
    }
}

/// The path as an allow-list line holds it: absolute, UTF-8, with no
/// newline (which would end the line and start another, whose "digest"
/// the file's name would choose).
fn line_path(path: &Path) -> Result<&str, &'static str> {
    let Some(p) = path.to_str() else {
        return Err("the name is not UTF-8: an allow-list line cannot hold it");
    };
    if p.contains('\n') {
        return Err("the name holds a newline: an allow-list line cannot hold it");
    }
    if !p.starts_with('/') {
        return Err("not an absolute path");
    }
    Ok(p)
}

/// The allow-list file's text: the header line [`HEADER`], then one line
/// per entry `<64 lowercase hex sha256> <path>`. An entry whose path a
/// line cannot hold (a newline or a name that is not UTF-8; [`take`]
/// counts those as unreadable) is left out.
pub fn render(s: &Snapshot) -> Vec<u8> {
    let mut out = format!("{HEADER}\n");
    for (sha, path) in &s.entries {
        if let Ok(p) = line_path(path) {
            out.push_str(&hex::encode(sha));
            out.push(' ');
            out.push_str(p);
            out.push('\n');
        }
    }
    out.into_bytes()
}

/// Reads an allow-list file: the set of digests it lists.
///
/// Only a regular file is read (a FIFO put there would hang the guard at
/// start), and at most [`ALLOW_LIST_CAP`] bytes of it (a file of
/// gigabytes would exhaust the daemon's memory). It is read strictly, as
/// [`render`] writes it: the header first, then only
/// `<64 lowercase hex> <absolute path>` lines, each ending with a newline;
/// anything else is an error naming the line. A file cut short, or not an
/// allow-list at all, is refused rather than half used. Who may write the
/// file is for the caller to check.
pub fn load(path: &Path) -> Result<HashSet<[u8; 32]>, SnapshotError> {
    let bytes = crate::fsutil::read_capped(path, ALLOW_LIST_CAP).map_err(|e| {
        // read_capped's only InvalidData is the cap's.
        if e.kind() == io::ErrorKind::InvalidData {
            SnapshotError::AllowListTooLarge {
                path: path.to_path_buf(),
                cap: ALLOW_LIST_CAP,
            }
        } else {
            SnapshotError::AllowListRead {
                path: path.to_path_buf(),
                err: e.to_string(),
            }
        }
    })?;
    parse_allow_list(&bytes).map_err(|(line, why)| SnapshotError::AllowListLine {
        path: path.to_path_buf(),
        line,
        why,
    })
}

/// The digests of an allow-list's text; an error is the line's number
/// (from 1) and what is wrong with it.
pub(crate) fn parse_allow_list(bytes: &[u8]) -> Result<HashSet<[u8; 32]>, (usize, String)> {
    let Some(rest) = bytes
        .strip_prefix(HEADER.as_bytes())
        .and_then(|r| r.strip_prefix(b"\n"))
    else {
        return Err((1, format!("not the header {HEADER:?}")));
    };
    let Some(body) = rest.strip_suffix(b"\n") else {
        if rest.is_empty() {
            return Ok(HashSet::new());
        }
        let last = rest.split(|&b| b == b'\n').count() + 1;
        return Err((
            last,
            "no newline at the end: the file was cut short?".into(),
        ));
    };
    let mut set = HashSet::new();
    for (i, line) in body.split(|&b| b == b'\n').enumerate() {
        set.insert(parse_allow_line(line).map_err(|why| (i + 2, why.to_string()))?);
    }
    Ok(set)
}

/// One allow-list line after the header: `<64 lowercase hex> <path>`.
/// Lowercase only, as [`render`] writes it.
fn parse_allow_line(line: &[u8]) -> Result<[u8; 32], &'static str> {
    let (hex_part, rest) = line
        .split_at_checked(64)
        .ok_or("shorter than a SHA-256 and a path")?;
    let lower_hex = |b: &u8| b.is_ascii_digit() || (b'a'..=b'f').contains(b);
    if !hex_part.iter().all(lower_hex) {
        return Err("not a SHA-256 in lowercase hexadecimal");
    }
    let mut sha = [0u8; 32];
    hex::decode_to_slice(hex_part, &mut sha).map_err(|_| "not a SHA-256 in hexadecimal")?;
    let path = rest
        .strip_prefix(b" ")
        .ok_or("no space between the SHA-256 and the path")?;
    let path = std::str::from_utf8(path).map_err(|_| "the path is not UTF-8")?;
    line_path(Path::new(path))?;
    Ok(sha)
}

#[cfg(test)]
#[path = "snapshot_tests.rs"]
mod tests;
