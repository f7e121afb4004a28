//! The guard's socket: how `bt-exec verify --guard` asks the guard to
//! prove a program, and how `bt-exec guard status` / `refresh` reach it.
//!
//! One request a connection: a JSON object (at most [`MAX_REQUEST`]
//! bytes) sent in one message, with the program's open descriptor passed
//! along (`SCM_RIGHTS`); one JSON object back. The guard reads the file
//! through that descriptor: it proves only bytes the asking user could
//! read, and never opens a path a user names. Attack stopped: a user
//! making the root daemon read (and so reveal whether it proved) a file
//! they cannot read, or hang on a FIFO they name.

use std::io::{IoSlice, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

/// A request's largest size.
pub const MAX_REQUEST: usize = 4096;
/// A reply's largest size.
const MAX_REPLY: u64 = 1 << 20;

/// What a client asks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    /// Prove the file whose descriptor comes with the request (`path`
    /// is what the user called it, for the records only).
    Prove { path: String },
    /// The guard's summary.
    Status {},
    /// Refresh every log's checkpoint now (root only).
    Refresh {},
}

/// What the guard answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Reply {
    /// An exit code of [`crate::verify::exit`] (0: proven, or done).
    pub code: u8,
    /// One line: the verdict's reason, or what went wrong.
    pub reason: String,
    #[serde(default)]
    pub sha256: Option<String>,
    /// More lines to show (each log's outcome, the status report).
    #[serde(default)]
    pub lines: Vec<String>,
}

impl Reply {
    pub fn fail(code: u8, reason: impl Into<String>) -> Reply {
        Reply {
            code,
            reason: reason.into(),
            sha256: None,
            lines: vec![],
        }
    }
}

/// Reads one request, and the descriptor passed with it, from `stream`.
pub fn receive(stream: &UnixStream) -> std::io::Result<(Request, Option<OwnedFd>)> {
    let mut buf = vec![0u8; MAX_REQUEST + 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = rustix::net::recvmsg(
        stream,
        &mut [IoSliceMut::new(&mut buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fd = None;
    for m in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = m {
            // Only the first is kept; any others are closed as dropped.
            for f in fds {
                fd.get_or_insert(f);
            }
        }
    }
    if got.flags.contains(rustix::net::ReturnFlags::CTRUNC) || got.bytes > MAX_REQUEST {
        return Err(std::io::Error::other("request too large"));
    }
    let req =
        parse_request(buf.get(..got.bytes).unwrap_or_default()).map_err(std::io::Error::other)?;
    Ok((req, fd))
}

/// A request's bytes as the guard reads them: one JSON object of a known
/// operation and fields, at most [`MAX_REQUEST`] bytes.
pub fn parse_request(bytes: &[u8]) -> Result<Request, String> {
    if bytes.len() > MAX_REQUEST {
        return Err("request too large".into());
    }
    serde_json::from_slice(bytes).map_err(|e| format!("malformed request: {e}"))
}

/// Writes `reply` and ends the connection. Sent with `MSG_NOSIGNAL`: a
/// client that left must not end the guard with `SIGPIPE`.
pub fn answer(stream: &UnixStream, reply: &Reply) {
    if let Ok(mut b) = serde_json::to_vec(reply) {
        b.push(b'\n');
        let mut rest = b.as_slice();
        while !rest.is_empty() {
            match rustix::net::send(stream, rest, SendFlags::NOSIGNAL) {
                Ok(0) | Err(_) => break,
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Why a client could not have the guard's answer.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("no guard listens at {0}: is bt-exec-guard running? ({1})")]
    Connect(String, String),
    #[error("{0} is not the guard's: {1}")]
    NotTheGuard(String, String),
    #[error("the guard at {0} did not answer: {1}")]
    Answer(String, String),
}

/// Asks the guard at `socket`, passing `fd` along. The socket must be a
/// socket owned by root in a directory root alone can write, and the
/// process listening on it must be root's. Attack stopped: another local
/// user putting their own listener where the guard's socket should be
/// (before it starts, or while it is stopped) and telling the user that
/// an unproven program is proven.
pub fn ask(socket: &Path, req: &Request, fd: Option<BorrowedFd>) -> Result<Reply, AskError> {
    let shown = socket.display().to_string();
    let not_guard = |why: String| AskError::NotTheGuard(shown.clone(), why);
    let m = std::fs::symlink_metadata(socket)
        .map_err(|e| AskError::Connect(shown.clone(), e.to_string()))?;
    if !m.file_type().is_socket() || m.uid() != 0 {
        return Err(not_guard(format!(
            "not a socket owned by root (uid {})",
            m.uid()
        )));
    }
    if let Some(dir) = socket.parent() {
        super::config::exempt_dir(dir).map_err(not_guard)?;
    }
    let stream =
        UnixStream::connect(socket).map_err(|e| AskError::Connect(shown.clone(), e.to_string()))?;
    let peer =
        rustix::net::sockopt::socket_peercred(&stream).map_err(|e| not_guard(e.to_string()))?;
    if !peer.uid.is_root() {
        return Err(not_guard(format!(
            "its listener runs as uid {}",
            peer.uid.as_raw()
        )));
    }
    let answer_err = |e: String| AskError::Answer(shown.clone(), e);
    // Proving reaches the logs (20 s at most) after hashing the file.
    let _ = stream.set_read_timeout(Some(Duration::from_secs(120)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    send(&stream, req, fd).map_err(|e| answer_err(e.to_string()))?;
    let mut b = vec![];
    (&stream)
        .take(MAX_REPLY)
        .read_to_end(&mut b)
        .map_err(|e| answer_err(e.to_string()))?;
    serde_json::from_slice(&b).map_err(|e| answer_err(format!("malformed reply: {e}")))
}

fn send(stream: &UnixStream, req: &Request, fd: Option<BorrowedFd>) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    if bytes.len() > MAX_REQUEST {
        return Err(std::io::Error::other("request too large"));
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    let fds;
    if let Some(fd) = fd {
        fds = [fd];
        control.push(SendAncillaryMessage::ScmRights(&fds));
    }
    let sent = rustix::net::sendmsg(
        stream.as_fd(),
        &[IoSlice::new(&bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if sent != bytes.len() {
        return Err(std::io::Error::other("request cut short"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A request and its descriptor cross the socket; garbage, an
    /// unknown operation or an unknown field is refused.
    #[test]
    fn a_request_and_its_descriptor_cross_and_garbage_does_not() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = tempfile::tempfile().unwrap();
        let req = Request::Prove {
            path: "./prog".into(),
        };
        send(&a, &req, Some(f.as_fd())).unwrap();
        let (got, fd) = receive(&b).unwrap();
        assert_eq!(got, req);
        let fd = fd.expect("the descriptor came along");
        let (m1, m2) = (
            std::fs::File::from(fd).metadata().unwrap(),
            f.metadata().unwrap(),
        );
        assert_eq!((m1.dev(), m1.ino()), (m2.dev(), m2.ino()));
        for bad in [
            &b"not json"[..],
            br#"{"op":"format-disk"}"#,
            br#"{"op":"status","x":1}"#,
        ] {
            let (a, b) = UnixStream::pair().unwrap();
            (&a).write_all(bad).unwrap();
            assert!(receive(&b).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let (a, b) = UnixStream::pair().unwrap();
        (&a).write_all(&vec![b' '; MAX_REQUEST + 1]).unwrap();
        assert!(receive(&b).is_err());
    }
}
