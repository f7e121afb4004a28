//! bt-exec's command side, over the decision and the I/O below it: what
//! each command of `bt-exec` does, with the binaries (`src/bin/`) left to
//! parse arguments and print.
//!
//! - [`app`]: a command's failure (message and exit code), the clock, the
//!   store, the policy loaded and checked.
//! - [`verdict`]: one program's verification: sidecar, Sigsum proof or the
//!   policy's logs.
//! - [`report`]: the `--json` report of a verification.
//! - [`saving`]: what a verification learnt, and the run record of a proven
//!   release, into the state directory.
//! - [`named`]: `NAME@VERSION`: resolved from the logs, fetched into the
//!   CAS.
//! - [`memo`]: warm verdicts: when one may serve, running from one,
//!   recording one.
//! - [`gossip`]: `gossip export` and `import`: checkpoints shared and
//!   checked.
//! - [`status`]: the reports of `status` and `policy check`, as lines; the
//!   online contact that proves pending pairs.
//! - [`refresh`]: `bt-exec refresh`: every log's checkpoint fetched,
//!   proven and saved, split views made alarms.
//! - [`background`]: when a run starts a detached refresher, and starting
//!   one (at most one at a time).
//! - [`audit`]: audit mode's records.
//! - [`program`]: finding the program and `execve` of the verified copy.

pub mod app;
pub mod audit;
pub mod background;
pub mod bundle;
pub mod gossip;
pub mod guard;
pub mod memo;
pub mod named;
pub mod program;
pub mod refresh;
pub mod report;
pub mod saving;
pub mod status;
pub mod verdict;
