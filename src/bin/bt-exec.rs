//! bt-exec's front: the one check that runs in front of every program —
//! does a warm verdict (src/memo.rs) hold for these bytes under this policy
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
use std::path::PathBuf;

use bt_exec::cli::ExecCli;
use bt_exec::verify::exit;
use bt_exec::{app, exec, memo, named};

/// The full bt-exec's file name, in the directory of this binary.
const FULL: &str = "bt-exec-full";

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
    if cli.cmd.is_some() || !memo::may_serve(common) || named::spec(program).is_some() {
        return;
    }
    let Ok(path) = exec::resolve(program) else {
        return;
    };
    let Ok(store) = app::store() else {
        return;
    };
    // Execs when the verdict holds and the strict modes refused nothing.
    let _ = memo::run_warm(common.policy.as_deref(), &store, &path, program, args);
}

/// `bt-exec-full` beside this binary: the real file, symbolic links to it
/// followed (/proc/self/exe; where /proc is not mounted, as in some
/// sandboxes, `argv0` when it is a path, as a shell leaves it).
fn full_path(argv0: &OsStr) -> Result<PathBuf, String> {
    let me = std::env::current_exe()
        .or_else(|e| {
            use std::os::unix::ffi::OsStrExt;
            if argv0.as_bytes().contains(&b'/') {
                std::fs::canonicalize(argv0)
            } else {
                Err(e)
            }
        })
        .map_err(|e| format!("cannot find bt-exec's own file, so not {FULL} beside it: {e}"))?;
    let dir = me
        .parent()
        .ok_or_else(|| format!("{}: no directory", me.display()))?;
    Ok(dir.join(FULL))
}

fn front() -> c_int {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let (argv0, args) = match argv.split_first() {
        Some((a, rest)) => (a.clone(), rest),
        None => (OsString::from("bt-exec"), &[][..]),
    };
    if exec::ensure_stdio().is_ok() {
        run_warm(args);
    }
    let why = match full_path(&argv0) {
        Ok(full) => {
            bt_exec::strict::restore_umask();
            let err = exec::execve(&full, OsStr::new(&argv0), args);
            format!("{err} ({FULL} is installed beside bt-exec: install.sh installs both)")
        }
        Err(e) => e,
    };
    eprintln!("bt-exec: {why}");
    c_int::from(exit::CONFIG)
}

/// The process's entry point, called by the C library's start-up; see
/// src/bin/bt-exec-full.rs for why bt-exec defines `main` itself (the signal
/// dispositions it was started with pass to the program untouched).
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    std::panic::catch_unwind(front).unwrap_or(101)
}
