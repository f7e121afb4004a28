//! Finding the program the way `execvp` does, and replacing this process
//! with the verified CAS copy.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Resolves PROGRAM: a name with a `/` is a path; otherwise the first
/// executable regular file of that name on `$PATH`.
pub fn resolve(program: &OsStr) -> Result<PathBuf, String> {
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.as_bytes().contains(&b'/') {
        let p = PathBuf::from(program);
        return match std::fs::metadata(&p) {
            Err(e) => Err(format!("{}: {e}", p.display())),
            Ok(m) if !m.is_file() => Err(format!("{}: not a regular file", p.display())),
            Ok(m) if m.permissions().mode() & 0o111 == 0 => {
                Err(format!("{}: not executable (chmod +x it)", p.display()))
            }
            Ok(_) => Ok(p),
        };
    }
    if program.is_empty() {
        return Err("no program given".into());
    }
    let path =
        std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    for dir in std::env::split_paths(&path) {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        let cand = dir.join(program);
        if executable(&cand) {
            return Ok(cand);
        }
    }
    Err(format!(
        "{}: command not found on PATH",
        program.to_string_lossy()
    ))
}

/// Set in the environment of the `bt-exec-full` that bt-exec's front execs
/// (src/bin/bt-exec.rs), and removed by `bt-exec-full` before anything else,
/// so no program it runs ever sees it. A front that finds it set was exec'd
/// by a front: what is installed as `bt-exec-full` is a copy or a link of
/// the front, and handing over again would exec for ever.
pub const FROM_FRONT: &str = "BT_EXEC_FROM_FRONT";

/// Why the verified copy was not exec'd.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A file below the cache or state directory failed the strict modes
    /// during this run (src/strict.rs): nothing runs.
    #[error(transparent)]
    Strict(crate::strict::StrictError),
    #[error("cannot execute the verified copy: {0}")]
    Failed(String),
}

fn cstring(s: &OsStr) -> Result<CString, String> {
    CString::new(s.as_bytes()).map_err(|_| format!("{:?} contains a NUL byte", s))
}

/// Replaces this process with `cas_path`, argv[0] as the user typed it, the
/// environment and the caller's umask unchanged. Returns only on failure;
/// never runs anything once a file of the cache or state directory was
/// refused by the strict modes.
pub fn exec(cas_path: &Path, argv0: &OsStr, args: &[OsString]) -> ExecError {
    if let Some(e) = crate::strict::refused() {
        return ExecError::Strict(e.clone());
    }
    crate::strict::restore_umask();
    let err = execve(cas_path, argv0, args);
    crate::strict::restrict_umask();
    ExecError::Failed(err)
}

/// `execve(path, [argv0, args…], this process's environment)` with the
/// caller's umask and signal dispositions untouched (std's `Command` would
/// reset them). Returns only on failure, with why.
pub fn execve(path: &Path, argv0: &OsStr, args: &[OsString]) -> String {
    let prog = match cstring(path.as_os_str()) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut argv = Vec::with_capacity(args.len() + 1);
    for a in std::iter::once(argv0).chain(args.iter().map(OsString::as_os_str)) {
        match cstring(a) {
            Ok(c) => argv.push(c),
            Err(e) => return e,
        }
    }
    let mut env = Vec::new();
    for (k, v) in std::env::vars_os() {
        let mut kv = k.as_bytes().to_vec();
        kv.push(b'=');
        kv.extend_from_slice(v.as_bytes());
        if let Ok(c) = CString::new(kv) {
            env.push(c);
        }
    }
    match nix::unistd::execve(&prog, &argv, &env) {
        Err(e) => format!("execve {}: {e}", path.display()),
        Ok(never) => match never {},
    }
}

/// Makes sure descriptors 0, 1 and 2 are open, opening `/dev/null` (without
/// close-on-exec) on any that is closed, so that no file bt-exec opens later
/// takes their place and receives output meant for the terminal, and the
/// program run finds them open as Rust's own start-up would leave them.
/// bt-exec's entry point calls this because it does not run that start-up
/// (src/bin/bt-exec.rs says why).
pub fn ensure_stdio() -> Result<(), String> {
    use nix::errno::Errno;
    use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
    for fd in 0..3 {
        if fcntl(fd, FcntlArg::F_GETFD) != Err(Errno::EBADF) {
            continue;
        }
        match open("/dev/null", OFlag::O_RDWR, nix::sys::stat::Mode::empty()) {
            // The lowest free descriptor is the one that was closed.
            Ok(got) if got == fd => {}
            Ok(got) => {
                let _ = nix::unistd::close(got);
                return Err(format!(
                    "descriptor {fd} is closed and could not be reopened"
                ));
            }
            Err(e) => {
                return Err(format!(
                    "descriptor {fd} is closed and /dev/null cannot be opened: {e}"
                ))
            }
        }
    }
    Ok(())
}
