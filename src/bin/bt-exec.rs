//! bt-exec's front: the one check that runs in front of every program —
//! does a warm verdict (src/exec/memo.rs) hold for these bytes under this policy
//! text? — and nothing else. When one holds, the verified copy is exec'd
//! from here; otherwise, whatever the command line says (a cold run, a
//! subcommand, --help, an error to report), this process becomes
//! `bt-exec-full`, the whole of bt-exec, installed beside it.
//!
//! Why two files: a warm run's cost is mostly the kernel's — mapping,
//! faulting in and tearing down the binary (docs/BENCHMARKS.md). The whole
//! bt-exec is a 10 MB position-independent binary whose start-up relocation
//! writes into ~45 pages of pointers (HTTP, TLS, CBOR, the policy parser),
//! each one a copy-on-write fault on every run; this binary links only the
//! warm-verdict check, so a warm run pays for a small one.
//!
//! This front decides nothing alone: it reports no error, prints nothing
//! and reads no flag it does not understand exactly
//! (`ExecCli::parse_run_form`); anything it cannot settle goes to
//! `bt-exec-full` with the command line untouched, which checks again from
//! scratch and says why when it refuses. The only decision made here is
//! `memo::run_warm`, the same function the full bt-exec calls.
#![no_main]

use std::ffi::{c_char, c_int, OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use bt_exec::cli::ExecCli;
use bt_exec::exec::{app, background, memo, named, program};
use bt_exec::verify::exit;

/// Runs PROGRAM at once when the command line is the run form and a warm
/// verdict holds; returns otherwise.
fn run_warm(args: &[OsString]) {
    let Some(cli) = ExecCli::parse_run_form(args) else {
        return;
    };
    let common = &cli.run.common;
    let Some((program, args)) = cli.run.program.split_first() else {
        return;
    };
    if cli.cmd.is_some() || !common.may_serve_warm() || named::spec(program).is_some() {
        return;
    }
    let Ok(path) = program::resolve(program) else {
        return;
    };
    let Ok(store) = app::store() else {
        return;
    };
    // Execs when the verdict holds and the strict modes refused nothing.
    let full = || own_file().ok().map(|me| background::full_beside(&me));
    // An --offline run makes no request, nor starts what would.
    let full: Option<&dyn Fn() -> Option<PathBuf>> = (!common.offline).then_some(&full);
    let _ = memo::run_warm(
        common.policy.as_deref(),
        &store,
        (&path, program, args),
        full,
    );
}

/// This binary's own file: /proc/self/exe, else (where /proc is not
/// mounted, as in some sandboxes) the path the kernel executed
/// (`AT_EXECFN`), resolved. Never `argv[0]`, which the caller chooses.
fn own_file() -> Result<PathBuf, String> {
    if let Ok(p) = std::env::current_exe() {
        return Ok(p);
    }
    let execfn = Path::new(OsStr::from_bytes(rustix::param::linux_execfn().to_bytes()));
    std::fs::canonicalize(execfn).map_err(|e| {
        format!(
            "cannot find bt-exec's own file, and so bt-exec-full beside it \
             (/proc is not mounted; {}: {e})",
            execfn.display()
        )
    })
}

/// Becomes `bt-exec-full`; returns why not.
fn hand_over(argv0: &OsStr, args: &[OsString]) -> String {
    if std::env::var_os(program::FROM_FRONT).is_some() {
        return "the bt-exec-full installed beside bt-exec is another copy of bt-exec's front, \
                not the full bt-exec: install both again (install.sh)"
            .into();
    }
    let full = match own_file() {
        Ok(me) => background::full_beside(&me),
        Err(e) => return e,
    };
    if std::fs::symlink_metadata(&full).is_err() {
        return format!(
            "{} is missing: bt-exec runs it for everything but a warm run \
             (install.sh installs both)",
            full.display()
        );
    }
    bt_exec::strict::restore_umask();
    std::env::set_var(program::FROM_FRONT, "1");
    program::execve(&full, argv0, args)
}

fn front() -> c_int {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let (argv0, args) = match argv.split_first() {
        Some((a, rest)) => (a.clone(), rest),
        None => (OsString::from("bt-exec"), &[][..]),
    };
    if std::env::var_os(program::FROM_FRONT).is_none() && program::ensure_stdio().is_ok() {
        run_warm(args);
    }
    let why = hand_over(&argv0, args);
    bt_exec::say!("bt-exec: {why}");
    c_int::from(exit::CONFIG)
}

/// The process's entry point, called by the C library's start-up; see
/// src/bin/bt-exec-full.rs for why bt-exec defines `main` itself (the signal
/// dispositions it was started with pass to the program untouched).
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    std::panic::catch_unwind(front).unwrap_or(101)
}
