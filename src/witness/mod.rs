//! C2SP `tlog-witness`: the server behind `bt-log witness serve` (its
//! decision, the logs it cosigns and their rates, the public witness
//! network's log lists), and the client the log uses to collect
//! cosignatures.

pub mod client;
pub mod decide;
pub mod lists;
pub mod loglist;
pub mod rate;
pub mod server;
pub mod service;
