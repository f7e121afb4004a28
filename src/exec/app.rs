//! What every bt-exec command starts from: the failure that ends one
//! ([`Fail`]: a message and an exit code of [`crate::verify::exit`]), the
//! clock, the default store, the policy (loaded, validated and checked for
//! expiry) and a verification [`Context`]. The binary prints a `Fail` as
//! `bt-exec: MESSAGE` and exits with its code.

use std::path::Path;

use crate::exec::program::ExecError;
use crate::policy::Policy;
use crate::store::{IngestError, Store};
use crate::strict::StrictError;
use crate::verify::{self, exit, Context};

/// A command's failure: the message the user reads and the exit code.
#[derive(Debug)]
pub struct Fail {
    pub code: u8,
    pub message: String,
}

impl Fail {
    pub fn new(code: u8, message: impl Into<String>) -> Fail {
        Fail {
            code,
            message: message.into(),
        }
    }
}

/// A program that could not be put into the CAS: 127 when the program
/// itself cannot be read (or is not a regular file: a FIFO there would
/// hang the read), 125 when the cache cannot be written or fails the
/// strict modes.
impl From<IngestError> for Fail {
    fn from(e: IngestError) -> Fail {
        let code = match e {
            IngestError::Program(_) => exit::NOT_FOUND,
            IngestError::Cache(_) | IngestError::Strict(_) => exit::CONFIG,
        };
        Fail::new(code, e.to_string())
    }
}

/// A file or directory of the cache or state that another user could have
/// written (src/strict.rs): 125, with the path and what to fix.
impl From<StrictError> for Fail {
    fn from(e: StrictError) -> Fail {
        Fail::new(exit::CONFIG, e.to_string())
    }
}

/// The verified copy not exec'd: 125 after a strict-mode refusal, else 126.
impl From<ExecError> for Fail {
    fn from(e: ExecError) -> Fail {
        match e {
            ExecError::Strict(s) => s.into(),
            ExecError::Failed(_) => Fail::new(exit::REFUSED, e.to_string()),
        }
    }
}

/// A command's result, unless a file below the cache or state directory
/// was refused by the strict modes on the way: then 125, whatever the
/// command found (a reader may have taken the refused file for an absent
/// one).
pub fn settle(r: Result<u8, Fail>) -> Result<u8, Fail> {
    match crate::strict::refused() {
        Some(e) => Err(e.clone().into()),
        None => r,
    }
}

/// Seconds since the Unix epoch (0 for a clock before it).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The cache and state directories (DESIGN §7), under the strict modes:
/// they and everything above them are checked now, what is read below them
/// as it is read (src/strict.rs).
pub fn store() -> Result<Store, Fail> {
    let store = Store::open_default().ok_or_else(|| {
        Fail::new(
            exit::CONFIG,
            "no cache or state directory: set BT_EXEC_CACHE_DIR and BT_EXEC_STATE_DIR",
        )
    })?;
    crate::strict::enforce(&[&store.cache, &store.state])?;
    Ok(store)
}

/// The policy of `--policy FILE` (`flag`), else the default one.
pub fn load_policy(flag: Option<&Path>, store: &Store) -> Result<Policy, Fail> {
    load_policy_digest(flag, store).map(|(p, _)| p)
}

/// Loads the policy; a text the state directory records as fully validated
/// before is loaded without decompressing its keys (`Policy::load_validated`).
/// With it, the policy text's digest when that text says everything the
/// policy says (no trust_file).
pub fn load_policy_digest(
    flag: Option<&Path>,
    store: &Store,
) -> Result<(Policy, Option<[u8; 32]>), Fail> {
    let path = Policy::locate(flag).ok_or_else(|| {
        Fail::new(
            exit::CONFIG,
            "no policy file: give --policy FILE or set BT_EXEC_POLICY",
        )
    })?;
    if !path.exists() {
        return Err(Fail::new(
            exit::CONFIG,
            format!(
                "no policy at {}: write one (man bt-exec, POLICY) or give --policy FILE",
                path.display()
            ),
        ));
    }
    let loaded = Policy::load_validated(&path, |d| store.policy_validated(d))
        .map_err(|e| Fail::new(exit::CONFIG, e.to_string()))?;
    if loaded.check == crate::note::PointCheck::Now {
        // Best effort: without the mark the next load checks the points again.
        let _ = store.mark_policy_validated(&loaded.digest);
    }
    let policy = loaded.policy;
    check_expiry(&policy)?;
    crate::store::migrate::migrate(store, &policy.trust.logs).map_err(|e| {
        Fail::new(
            exit::CONFIG,
            format!("cannot move the state an earlier version saved to its per-log names: {e}"),
        )
    })?;
    Ok((policy, (!loaded.trust_file).then_some(loaded.digest)))
}

/// Refuses a policy past its `expires` date (125).
pub fn check_expiry(policy: &Policy) -> Result<(), Fail> {
    policy
        .check_expiry(now())
        .map_err(|e| Fail::new(exit::CONFIG, e.to_string()))
}

/// A verification context for `policy` starting now, with the default
/// deadline.
pub fn context<'a>(policy: &'a Policy, store: &'a Store, offline: bool) -> Context<'a> {
    Context {
        policy,
        state: store,
        offline,
        now: now(),
        deadline: std::time::Instant::now() + verify::DEFAULT_DEADLINE,
        sources: None,
    }
}

/// Takes the state lock for a write (125 when it cannot be had).
pub fn lock(store: &Store) -> Result<crate::fsutil::Lock, Fail> {
    store
        .lock()
        .map_err(|e| Fail::new(exit::CONFIG, e.to_string()))
}
