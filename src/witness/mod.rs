//! C2SP `tlog-witness`: the server behind `bt-log witness serve`, and the
//! client the log uses to collect cosignatures.

pub mod client;
pub mod server;
