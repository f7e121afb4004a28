//! The submission queue: a write-ahead log of the entries a log accepted
//! over the network and has not yet integrated, in `.bt-log/queue/`. Part
//! of the log, not of `accept`: every writer of the log (`add`, `cosign`,
//! `serve --accept`) integrates it first, once it holds the lock.
//!
//! An entry is acknowledged (its index given to the publisher) only once
//! its record is on disk here (`fdatasync`, one per group of submissions),
//! so `kill -9` at any moment loses no acknowledged entry: the next start
//! integrates every record at the index it was given, before accepting
//! anything new. The attack this stops is the log losing (or silently
//! renumbering) an entry a publisher holds an index for.
//!
//! Layout: segment files named by the decimal index of their first record,
//! each the 16-byte magic `bt-log queue v1\n` then records
//! `u32 BE length ‖ leaf ‖ SHA-256(leaf)`. Segments are contiguous (one's
//! first index is the previous one's end). A record cut short or whose
//! hash does not match can only be the last one written before a crash,
//! never acknowledged: it ends the queue. Anywhere else it is an error for
//! the operator, as is a gap between segments — both would mean an
//! acknowledged entry was lost.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::config::STATE_DIR;
use crate::entry::MAX_LEAF_BYTES;

const MAGIC: &[u8; 16] = b"bt-log queue v1\n";
/// A new segment is started once the current one is this large.
const SEGMENT_BYTES: u64 = 4 << 20;
/// A segment is read at most this large at recovery (rotation keeps them
/// near [`SEGMENT_BYTES`]; one group may overshoot it).
const MAX_SEGMENT_BYTES: usize = 1 << 30;

/// Why the queue cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: io::Error },
    #[error("{path}: {why}; acknowledged entries may be missing — the log needs an operator")]
    Damaged { path: PathBuf, why: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> QueueError + '_ {
    move |err| QueueError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// The queue directory of log directory `log`.
pub fn queue_dir(log: &Path) -> PathBuf {
    log.join(STATE_DIR).join("queue")
}

/// The records of one segment; `Err` with the offset where the last good
/// record ends when the rest is not a whole record.
pub(crate) fn parse_segment(data: &[u8]) -> (Vec<Vec<u8>>, Option<usize>) {
    let mut out = Vec::new();
    let mut at = MAGIC.len();
    while at < data.len() {
        let rec = data.get(at..at + 4).and_then(|b| {
            let len = u32::from_be_bytes(b.try_into().ok()?) as usize;
            if len > MAX_LEAF_BYTES {
                return None;
            }
            let leaf = data.get(at + 4..at + 4 + len)?;
            let sum = data.get(at + 4 + len..at + 36 + len)?;
            (Sha256::digest(leaf).as_slice() == sum).then(|| (leaf.to_vec(), 36 + len))
        });
        match rec {
            Some((leaf, n)) => {
                out.push(leaf);
                at += n;
            }
            None => return (out, Some(at)),
        }
    }
    (out, None)
}

/// A segment's bytes: a regular file reached without following a link,
/// its size checked before anything is read. Another user who can write
/// the log's private state could otherwise point a segment anywhere.
fn read_segment(path: &Path) -> Result<Vec<u8>, QueueError> {
    use std::io::Read;
    let damaged = |why: &str| QueueError::Damaged {
        path: path.to_path_buf(),
        why: why.into(),
    };
    let flags = nix::fcntl::OFlag::O_NOFOLLOW | nix::fcntl::OFlag::O_NONBLOCK;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits())
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(n) if n == nix::errno::Errno::ELOOP as i32 => {
                damaged("a symbolic link, not a queue segment")
            }
            _ => io_err(path)(e),
        })?;
    let meta = f.metadata().map_err(io_err(path))?;
    if !meta.is_file() {
        return Err(damaged("not a regular file"));
    }
    if meta.len() > MAX_SEGMENT_BYTES as u64 {
        return Err(damaged("larger than a queue segment can be"));
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_SEGMENT_BYTES as u64)
        .read_to_end(&mut data)
        .map_err(io_err(path))?;
    Ok(data)
}

/// The segments of the queue, sorted by first index.
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, QueueError> {
    let mut out = Vec::new();
    if fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
        return Err(QueueError::Damaged {
            path: dir.to_path_buf(),
            why: "not a directory".into(),
        });
    }
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for ent in rd {
        let ent = ent.map_err(io_err(dir))?;
        let path = ent.path();
        let base = ent.file_name().to_str().and_then(|n| n.parse::<u64>().ok());
        let Some(base) = base else {
            return Err(QueueError::Damaged {
                path,
                why: "not a queue segment (segments are named by a decimal index)".into(),
            });
        };
        out.push((base, path));
    }
    out.sort();
    Ok(out)
}

/// Every record in the queue of log `log`, with the index it was given,
/// from the first segment on. Records before the log's published size are
/// included: the caller checks they are the log's leaves at those indexes.
pub fn recover(log: &Path) -> Result<Vec<(u64, Vec<u8>)>, QueueError> {
    let dir = queue_dir(log);
    let segs = segments(&dir)?;
    let mut out = Vec::new();
    let mut next: Option<u64> = None;
    for (i, (base, path)) in segs.iter().enumerate() {
        let data = read_segment(path)?;
        let last = i + 1 == segs.len();
        if !data.starts_with(MAGIC) {
            // A segment created but not yet given its magic can only be
            // the newest, and holds nothing.
            if last && data.len() < MAGIC.len() && MAGIC.starts_with(&data) {
                continue;
            }
            return Err(QueueError::Damaged {
                path: path.clone(),
                why: "not a queue segment".into(),
            });
        }
        if next.is_some_and(|n| n != *base) {
            return Err(QueueError::Damaged {
                path: path.clone(),
                why: format!(
                    "starts at index {base} where the segment before ends at {}",
                    next.unwrap_or(0)
                ),
            });
        }
        let (records, torn) = parse_segment(&data);
        if let (Some(at), false) = (torn, last) {
            return Err(QueueError::Damaged {
                path: path.clone(),
                why: format!("a damaged record at byte {at}, before the newest segment"),
            });
        }
        let n = records.len() as u64;
        out.extend((*base..).zip(records));
        next = Some(base + n);
    }
    Ok(out)
}

/// Removes every segment (their records integrated).
pub fn clear(log: &Path) -> Result<(), QueueError> {
    let dir = queue_dir(log);
    for (_, path) in segments(&dir)? {
        fs::remove_file(&path).map_err(io_err(&path))?;
    }
    Ok(())
}

/// The queue being written: the newest segment, open for appending.
pub struct Queue {
    dir: PathBuf,
    file: File,
    /// First index of the open segment, and the index after its last record.
    base: u64,
    end: u64,
    bytes: u64,
}

impl Queue {
    /// Starts an empty queue whose first entry gets index `next` (every
    /// earlier record integrated): removes the old segments, then opens one.
    pub fn start(log: &Path, next: u64) -> Result<Queue, QueueError> {
        clear(log)?;
        let dir = queue_dir(log);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err(&dir))?;
        let (file, _) = Self::segment(&dir, next).map_err(|(p, e)| io_err(&p)(e))?;
        Ok(Queue {
            dir,
            file,
            base: next,
            end: next,
            bytes: MAGIC.len() as u64,
        })
    }

    /// Creates segment `base` with its magic, durably (file and directory).
    fn segment(dir: &Path, base: u64) -> Result<(File, PathBuf), (PathBuf, io::Error)> {
        let path = dir.join(base.to_string());
        let go = || -> io::Result<File> {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                .open(&path)?;
            f.write_all(MAGIC)?;
            f.sync_data()?;
            File::open(dir)?.sync_all()?;
            Ok(f)
        };
        go().map(|f| (f, path.clone())).map_err(|e| (path, e))
    }

    /// The index the next record gets.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Appends `leaves` (indexes `end()..`) and makes them durable. After
    /// an error the queue must not be written again: what reached the disk
    /// is unknown until the next start reads it back.
    pub fn append(&mut self, leaves: &[&[u8]]) -> io::Result<()> {
        if self.bytes >= SEGMENT_BYTES {
            let (file, _) = Self::segment(&self.dir, self.end).map_err(|(_, e)| e)?;
            self.file = file;
            self.base = self.end;
            self.bytes = MAGIC.len() as u64;
        }
        let mut buf = Vec::with_capacity(leaves.iter().map(|l| l.len() + 36).sum());
        for leaf in leaves {
            let len = u32::try_from(leaf.len())
                .ok()
                .filter(|&n| n as usize <= MAX_LEAF_BYTES)
                .ok_or_else(|| io::Error::other("a leaf larger than an entry may be"))?;
            buf.extend_from_slice(&len.to_be_bytes());
            buf.extend_from_slice(leaf);
            buf.extend_from_slice(&Sha256::digest(leaf));
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()?;
        self.bytes += buf.len() as u64;
        self.end += leaves.len() as u64;
        Ok(())
    }

    /// Removes the segments whose every record is below `integrated` (the
    /// size of a checkpoint already signed, whose tiles are on disk).
    pub fn retire(&self, integrated: u64) {
        let Ok(segs) = segments(&self.dir) else {
            return;
        };
        let ends: Vec<u64> = segs.iter().skip(1).map(|(b, _)| *b).collect();
        for ((base, path), end) in segs.iter().zip(ends) {
            if *base < self.base && end <= integrated {
                let _ = fs::remove_file(path);
            }
        }
    }
}

#[cfg(test)]
mod tests;
