//! `bt-exec guard`: every exec on the filesystems its configuration names,
//! answered from the guard's own state (docs/GUARD.md).
//!
//! - [`config`]: `/etc/bt-exec/guard.toml`, root's alone.
//! - [`decide`]: the answer to one exec, a pure function of the mode and
//!   what was found out about the file.
//! - [`hashing`]: a file's SHA-256 through the exec's descriptor, within
//!   a deadline, cached by device, inode, size, mtime and ctime.
//! - [`lease`]: whether anyone holds a file open for writing (the crate's
//!   one `unsafe` call).
//! - [`exec_event`]: what the guard finds out about one exec (its own
//!   executables, exemptions, the allow-list, the hash), and its records.
//! - [`proofs`]: proving brought-in bytes from the logs, and judging an
//!   exec's from the state alone.
//! - [`socket`]: the socket's requests and replies, and the client.
//! - [`requests`]: the socket served: `verify --guard`, `guard status`,
//!   `guard refresh`.
//! - [`snapshot`]: the SHA-256 allow-list of the installed packages.
//! - [`daemon`]: the guard's answer to each exec: the reader's fast path,
//!   the workers' part, the records.
//! - [`run`]: the process: fanotify set up, the threads started, the
//!   events read.
//! - [`notify`]: systemd's readiness and watchdog notifications.

pub mod config;
pub mod daemon;
pub mod decide;
pub mod exec_event;
pub mod hashing;
pub mod lease;
pub mod notify;
pub mod proofs;
pub mod requests;
pub mod run;
pub mod snapshot;
pub mod socket;
