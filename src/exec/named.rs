//! `bt-exec NAME@VERSION` (or `NAME@latest`): a release named instead of a
//! file. It is resolved from the logs' verified release histories
//! ([`resolve`]) and its bytes are put in the CAS from the entry's `cas`
//! URLs ([`fetch`]); the CAS copy is then verified as any program is
//! (docs/HISTORY.md).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::entry::Release;
use crate::exec::app::Fail;
use crate::fetch::FetchError;
use crate::history::Seen;
use crate::store::Store;
use crate::verify::{self, exit, Context};

/// `NAME@VERSION` or `NAME@latest`: a release name (it has a `/`, as
/// release names are namespaced) that is not an existing file. Returns the
/// name and the version (`None` for `latest`).
pub fn spec(program: &OsStr) -> Option<(String, Option<String>)> {
    let s = program.to_str()?;
    // Cheap tests first: this runs in front of every program.
    let (name, version) = s.rsplit_once('@')?;
    if s.starts_with(['/', '.']) || Path::new(s).exists() {
        return None;
    }
    if !name.contains('/') || version.is_empty() || s.chars().any(char::is_whitespace) {
        return None;
    }
    Some((
        name.to_string(),
        (version != "latest").then(|| version.to_string()),
    ))
}

/// The release `name` at `version` (`None`: the newest) the policy's logs
/// agree on, with its leaf; what the logs taught is saved either way.
/// `notes` receives the lines to print beside it ([`crate::exec::report::notes`]).
pub fn resolve(
    ctx: &Context,
    name: &str,
    version: Option<&str>,
    verbose: bool,
    notes: &mut Vec<String>,
) -> Result<Seen, Fail> {
    let ((reports, found), unsaved) = crate::exec::saving::decide_and_save(
        ctx.state,
        ctx.now,
        || Ok(verify::resolve_release(ctx, name, version)),
        |(reports, found)| {
            let sha256 = found
                .as_ref()
                .map(|s| s.entry.release.sha256)
                .unwrap_or_default();
            (reports, sha256)
        },
    )?;
    notes.extend(crate::exec::report::notes(&reports, &unsaved, verbose));
    found.map_err(|(c, m)| Fail::new(c, m))
}

/// Puts the bytes of `r` in the CAS from its `cas` URLs by `deadline`,
/// reporting the bytes received so far to `progress`; returns the CAS path.
pub fn fetch(
    store: &Store,
    r: &Release,
    deadline: std::time::Instant,
    progress: &mut dyn FnMut(u64),
) -> Result<PathBuf, Fail> {
    if r.cas.is_empty() {
        return Err(Fail::new(
            exit::REFUSED,
            format!(
                "{} {}: the entry names no cas URL to fetch its bytes from",
                r.name, r.version
            ),
        ));
    }
    store.fetch_release(r, deadline, progress).map_err(|errs| {
        // A server that answered with the wrong thing refuses; one that
        // could not be reached may answer later.
        let refused = errs.iter().any(|e| match e {
            FetchError::TooLarge { .. }
            | FetchError::Status { .. }
            | FetchError::OtherBytes { .. } => true,
            FetchError::Unreachable { .. } => false,
        });
        let why: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        Fail::new(
            if refused {
                exit::REFUSED
            } else {
                exit::UNREACHABLE
            },
            format!(
                "{} {}: its bytes could not be fetched: {}",
                r.name,
                r.version,
                why.join("; ")
            ),
        )
    })
}
