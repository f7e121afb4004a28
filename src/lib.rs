//! bt-exec: Binary Transparency for the programs you run.
//!
//! The crate's map, in layers, lowest first: a file imports only from its
//! own layer or a lower one, and no two files import each other
//! (`tests/layers.rs` reads `src/` and holds the map to this).
//!
//! The file system's primitives, which every layer reads and writes
//! through:
//! - [`fsutil`]: atomic writes, locks, reads of regular files only, capped;
//!   the files bt-exec takes its trust from, read under the strict modes.
//! - [`strict`]: strict modes: the cache and state, and all above them,
//!   writable by this user (or root) alone.
//! - [`tempfiles`]: the cache's temporary files, held while written, swept
//!   once their writer is gone.
//!
//! The core, pure but for reading the policy's own files:
//! - [`note`]: signed notes, vkeys, Ed25519 and cosignature/v1 signatures.
//! - [`tlog`]: RFC 6962 hashing, checkpoints, C2SP tiles and bundles, proofs,
//!   `tlog-proof` files; consistency proven from authenticated tiles.
//! - [`entry`]: the release entry (DESIGN §3), CBOR, publisher signatures.
//! - [`index`]: the `bt/index/<hh>` lookup shards.
//! - [`policy`]: C2SP `tlog-policy` text and quorum evaluation; the bt-exec
//!   policy file.
//! - [`log_id`]: a log's identity (origin and key), what its saved state
//!   is keyed by.
//! - [`sigsum_interop`]: Sigsum proofs and policies through the `sigsum`
//!   crate.
//!
//! I/O at the edges:
//! - [`fetch`]: capped, deadline-bound reads over http(s) and `file://`.
//! - [`source`]: where a log's files come from (the one trait every read
//!   of a log goes through; in memory for tests).
//! - [`store`]: the files of the CAS and the state directory, run records
//!   included.
//!
//! The decision, over the [`source::Source`] and [`state::State`] traits:
//! - [`verify`]: is this file proven to policy (each log, the checkpoint in
//!   force, pending pairs, the release history's rules, the verdict and its
//!   exit code).
//! - [`history`]: the verified view of each log's releases, and the walk
//!   that proves a log grew.
//! - [`state`]: the saved state as the decision reads and writes it (the
//!   store's files, or memory).
//!
//! bt-log's roles, and bt-exec's command side, each over the layers below
//! (the roles use one another only as `tests/layers.rs` lists):
//! - [`log`]: the log writer behind `bt-log init` / `add` / `cosign`, its
//!   submission queue.
//! - [`accept`]: a log that accepts releases over HTTP (`serve --accept`).
//! - [`publish`]: one release into several logs, witnessed proofs beside it.
//! - [`witness`]: the C2SP tlog-witness server and client.
//! - [`monitor`]: `bt-log monitor`, following a log.
//! - [`serve`]: static HTTP for a log directory, and the HTTP server loop
//!   every role serves through ([`serve::httpd`]: header deadline,
//!   connection cap, graceful stop).
//! - [`exec`]: bt-exec's command side: one program's verdict, warm
//!   verdicts, what a run saves, gossip, `NAME@VERSION`, status, audit,
//!   the JSON report, finding and exec'ing the program; the guard
//!   (`exec::guard`), a fanotify daemon answering every exec from its own
//!   state.
//!
//! The command lines, over everything: [`cli`] holds both binaries' clap
//! definitions; `src/bin/` parses, prints and execs.
//!
//! [`fuzz_targets`]: one fuzz target per parser of outside data, and the
//! decision's, run by cargo-fuzz from `fuzz/`.

/// `eprintln!` that never panics: bt-exec's exit code must say why it
/// refused even when standard error cannot be written (closed, /dev/full,
/// a pipe whose reader left); `eprintln!` would panic, and the panic's 101
/// would replace a 123 or a 126.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod accept;
pub mod cli;
pub mod entry;
pub mod exec;
pub mod fetch;
pub mod fsutil;
#[doc(hidden)]
pub mod fuzz_targets;
pub mod history;
pub mod index;
pub mod log;
pub mod log_id;
pub mod monitor;
pub mod note;
pub mod policy;
pub mod publish;
pub mod serve;
pub mod sigstore;
pub mod sigsum_interop;
pub mod source;
pub mod state;
pub mod store;
pub mod strict;
pub mod tempfiles;
pub mod tlog;
pub mod verify;
pub mod witness;
