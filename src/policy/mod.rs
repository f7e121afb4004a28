//! Trust policy: which logs and witnesses are trusted and the witness quorum,
//! in C2SP `tlog-policy` text (the format Sigsum's tools read too).

mod config;
mod parts;
mod sections;
mod trust;

pub use config::{ConfigError, Loaded, Policy};
pub use parts::{
    names_match, parse_duration, Mode, Publisher, Rebuilder, Require, SigstoreIdentity,
    SigstoreSection, SigsumSection, DEFAULT_REFRESH,
};

pub use trust::{LogSpec, PolicyError, Quorum, TrustPolicy, WitnessSpec};
