//! The log side of `bt-log`: a C2SP tiled log in a directory, written by
//! `init` and `add`, with its private state under `.bt-log/`.
//!
//! Layout of a log directory (everything but `.bt-log/` is served as is):
//! - `checkpoint`: the latest signed, cosigned checkpoint (published last);
//! - `tile/<L>/<N>[.p/<W>]`, `tile/entries/<N>[.p/<W>]` (C2SP tlog-tiles);
//! - `bt/index/<hh>`: lookup shards (see [`crate::index`]);
//! - `bt/proof/<N>.tlog-proof`: a C2SP tlog-proof per release;
//! - `cas/sha256/<hex>`: content-addressed copies, when `--cas-url` is used;
//! - `.bt-log/config.toml`, `.bt-log/lock`, `.bt-log/pending`,
//!   `.bt-log/witness-rates.json` (what is left of each witness's rate),
//!   `.bt-log/queue/` (the submission [`queue`] of `serve --accept`).
//!
//! Its files stand in a line, each using only those below it: [`Held`]
//! (the log held by `serve --accept`), `add`, `cosign`, then the writer
//! (which integrates the [`queue`] first, checked against the leaves
//! [`seen`]), the witness rates, and the configuration under them all.

mod add;
mod config;
mod cosign;
mod held;
pub mod queue;
mod rates;
pub mod seen;
#[cfg(test)]
mod tests;
mod writer;

pub use add::{add, append, AddOptions, NewRelease, MAX_RELEASE_BYTES};
pub use config::{
    apply_witness_qpd, config_path, init, keygen, load_secret_key, parse_witness_arg,
    read_checkpoint, LogConfig, LogError, STATE_DIR,
};
pub use cosign::{cosign, CosignReport};
pub use held::{inclusion_proof, proof, Held};
pub(crate) use writer::now_secs;
pub use writer::{proof_path, AddReport};

pub use crate::tlog::sign_checkpoint;
pub use crate::witness::client::WitnessConfig;
