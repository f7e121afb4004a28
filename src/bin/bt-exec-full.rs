//! bt-exec: run a program only after proving its bytes are logged.
//! Argument parsing, printing and the process's own parts (`main`, the
//! exec) only: the commands are in the library (`bt_exec::app`, `verdict`,
//! `memo`, `release`, `saving`, `gossip`, `status`, `report`), the decision
//! in `bt_exec::verify`.
#![no_main]

use std::ffi::{c_char, c_int, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Parser;

use bt_exec::cli::{AlarmCmd, CommonArgs, ExecCli, ExecCmd, GossipCmd, PolicyCmd};
use bt_exec::exec::app::{
    check_expiry, context, load_policy, load_policy_digest, now, store, Fail,
};
use bt_exec::exec::bundle as bundle_cmd;
use bt_exec::exec::verdict::Judgement;
use bt_exec::exec::verdict::SigsumFlags;
use bt_exec::exec::{gossip, memo, named, report, saving, status, verdict};
use bt_exec::policy::Policy;
use bt_exec::store::{Ingested, Store};
use bt_exec::verify::{exit, Verdict};

type Res<T> = Result<T, Fail>;

/// `bt-exec guard …` and `bt-exec verify --guard`.
mod guard_cmd {
    use super::{print_lines, Res};
    use bt_exec::cli::GuardCmd;
    use bt_exec::exec::app::Fail;
    use bt_exec::exec::guard::{config::GuardConfig, run as daemon, snapshot, socket};
    use bt_exec::verify::exit;
    use std::path::Path;

    fn config(path: &Path) -> Res<GuardConfig> {
        GuardConfig::load(path).map_err(|e| Fail::new(exit::CONFIG, e.to_string()))
    }

    pub fn run(cmd: GuardCmd) -> Res<u8> {
        match cmd {
            GuardCmd::Run { config: c } => daemon::run(config(&c)?),
            GuardCmd::Status { config: c } => ask(&config(&c)?.socket, socket::Request::Status {}),
            GuardCmd::Refresh { config: c } => {
                ask(&config(&c)?.socket, socket::Request::Refresh {})
            }
            GuardCmd::Snapshot {
                config: c,
                out,
                root,
            } => snapshot_cmd(&c, out.as_deref(), &root),
        }
    }

    /// The guard's reply, what a log said in it escaped for the terminal.
    fn safe(mut reply: socket::Reply) -> socket::Reply {
        let s = bt_exec::fsutil::terminal_safe;
        reply.reason = s(&reply.reason);
        reply.lines = reply.lines.iter().map(|l| s(l)).collect();
        reply
    }

    /// A request without a file: its reply's lines, and its code (124 when
    /// no guard answers).
    fn ask(sock: &Path, req: socket::Request) -> Res<u8> {
        let reply = socket::ask(sock, &req, None)
            .map(safe)
            .map_err(|e| Fail::new(exit::UNREACHABLE, e.to_string()))?;
        print_lines(&reply.lines);
        if reply.code != 0 {
            bt_exec::say!("bt-exec: guard: {}", reply.reason);
        }
        Ok(reply.code)
    }

    /// `bt-exec verify --guard PROGRAM`: the file opened as the user, its
    /// descriptor passed to the guard, the guard's verdict reported.
    pub fn verify(sock: &Path, program: &std::ffi::OsStr, json: bool) -> Res<u8> {
        let path = Path::new(program);
        let f = bt_exec::fsutil::open_regular(path)
            .map_err(|e| Fail::new(exit::NOT_FOUND, format!("{}: {e}", path.display())))?;
        let req = socket::Request::Prove {
            path: path.display().to_string(),
        };
        let reply = socket::ask(sock, &req, Some(std::os::fd::AsFd::as_fd(&f)))
            .map_err(|e| Fail::new(exit::CONFIG, e.to_string()))?;
        if json {
            println!("{}", serde_json::to_string(&reply).unwrap_or_default());
        }
        let reply = safe(reply);
        if !json {
            print_lines(&reply.lines);
        }
        let sha = reply.sha256.as_deref().unwrap_or("-");
        if reply.code == 0 {
            bt_exec::say!(
                "bt-exec: the guard proved {} ({sha}): it may run on this machine",
                path.display()
            );
            Ok(0)
        } else {
            Err(Fail::new(
                reply.code,
                format!(
                    "the guard refused {} ({sha}): {}",
                    path.display(),
                    reply.reason
                ),
            ))
        }
    }

    fn snapshot_cmd(config_path: &Path, out: Option<&Path>, root: &Path) -> Res<u8> {
        let out = match out {
            Some(o) => o.to_path_buf(),
            None => config(config_path)?.allow_list.ok_or_else(|| {
                Fail::new(
                    exit::CONFIG,
                    format!(
                        "{} names no allow_list: give --out FILE",
                        config_path.display()
                    ),
                )
            })?,
        };
        let s = snapshot::take(root).map_err(|e| Fail::new(exit::CONFIG, e.to_string()))?;
        for p in &s.mismatched {
            bt_exec::say!(
                "bt-exec: {} differs from what dpkg installed: left out",
                p.display()
            );
        }
        for (p, why) in s.unreadable.iter().take(20) {
            bt_exec::say!("bt-exec: {}: {why}: left out", p.display());
        }
        bt_exec::fsutil::write_atomic(
            &out,
            &snapshot::render(&s),
            0o644,
            bt_exec::fsutil::Durability::Sync,
        )
        .map_err(|e| Fail::new(exit::CONFIG, format!("{}: {e}", out.display())))?;
        bt_exec::say!(
            "bt-exec: {} executables allow-listed in {} ({} differ from dpkg's record, {} unreadable, {} not executables)",
            s.entries.len(),
            out.display(),
            s.mismatched.len(),
            s.unreadable.len(),
            s.skipped
        );
        Ok(0)
    }
}

/// `bt-exec policy check FILE`: what the policy trusts, in plain words.
fn policy_check(file: &Path) -> Res<u8> {
    let p = Policy::load(file).map_err(|e| Fail::new(exit::CONFIG, e.to_string()))?;
    print_lines(&status::policy(file, &p));
    check_expiry(&p)?;
    Ok(0)
}

/// `bt-exec refresh` (src/exec/refresh.rs): by hand or a timer, in the
/// foreground; `--detach`, the intermediate a run starts; `--background`,
/// the detached refresher it starts in turn.
fn refresh(policy: Option<&Path>, detach: Option<i32>, background: bool) -> Res<u8> {
    use bt_exec::exec::{background as bg, refresh};
    let store = store()?;
    if let Some(lock_fd) = detach {
        // The lock the run took is inherited, and passes on to the child.
        let me = std::env::current_exe().map_err(|e| Fail::new(exit::CONFIG, e.to_string()))?;
        let policy = policy.ok_or_else(|| Fail::new(exit::CONFIG, "--detach needs --policy"))?;
        bg::detach(&store.state, &me, policy, lock_fd)
            .map_err(|e| Fail::new(exit::CONFIG, e.to_string()))?;
        return Ok(0);
    }
    let started = now();
    let _lock =
        if background {
            // Its own session: no terminal's signals (a ^C to the program the
            // run execs) reach it. It holds the lock it inherited.
            let _ = nix::unistd::setsid();
            std::thread::spawn(|| {
                std::thread::sleep(std::time::Duration::from_secs(bg::REFRESHER_MAX_SECS));
                std::process::exit(i32::from(exit::UNREACHABLE));
            });
            None
        } else {
            Some(bg::hold(&store.state, started).map_err(|e| {
                Fail::new(exit::CONFIG, format!("cannot take the refresh lock: {e}"))
            })?)
        };
    let out = match load_policy(policy, &store) {
        Ok(p) => {
            let out = refresh::refresh(&context(&p, &store, false));
            refresh::record(&store, started, now(), &out);
            out
        }
        Err(f) => {
            let out = refresh::Outcome {
                code: f.code,
                lines: vec![f.message],
            };
            refresh::record(&store, started, now(), &out);
            return Err(Fail::new(out.code, out.lines.concat()));
        }
    };
    if !background {
        print_lines(&out.lines);
    }
    Ok(out.code)
}

/// Prints a report built by the library, a line at a time.
fn print_lines(lines: &[String]) {
    for l in lines {
        println!("{l}");
    }
}

/// The program found and what it is verified under.
struct Located {
    path: PathBuf,
    policy: Policy,
    /// The policy text's digest, when it keys a warm verdict.
    digest: Option<[u8; 32]>,
    store: Store,
    /// The program in the CAS, when the warm-verdict check already put it there.
    ingested: Option<Ingested>,
}

/// Finds PROGRAM (a path, a name on PATH, or NAME@VERSION fetched into the
/// CAS) and its policy. A run that a warm verdict covers execs here.
fn locate(
    common: &CommonArgs,
    sigsum: &SigsumFlags,
    program: &OsString,
    args: Option<&[OsString]>,
) -> Res<Located> {
    if let Some((name, version)) = named::spec(program) {
        let store = store()?;
        let policy = load_policy(common.policy.as_deref(), &store)?;
        let path = fetch_release(common, &policy, &store, &name, version.as_deref())?;
        return Ok(Located {
            path,
            policy,
            digest: None,
            store,
            ingested: None,
        });
    }
    let path =
        bt_exec::exec::program::resolve(program).map_err(|m| Fail::new(exit::NOT_FOUND, m))?;
    let standalone = verdict::standalone(common.policy.as_deref(), sigsum);
    let store = store()?;
    let ingested = args.filter(|_| common.may_serve_warm()).and_then(|args| {
        let full = || std::env::current_exe().ok();
        // An --offline run makes no request, nor starts what would.
        let full: Option<&dyn Fn() -> Option<PathBuf>> = (!common.offline).then_some(&full);
        memo::run_warm(
            common.policy.as_deref(),
            &store,
            (&path, program, args),
            full,
        )
    });
    let (policy, digest) = if standalone {
        (verdict::standalone_policy(), None)
    } else {
        load_policy_digest(common.policy.as_deref(), &store)?
    };
    Ok(Located {
        path,
        policy,
        digest,
        store,
        ingested,
    })
}

/// Verifies PROGRAM; runs it when `args` is given and it is proven.
fn verify_and_maybe_run(
    common: &CommonArgs,
    (sigsum, sigstore_bundle): (&SigsumFlags, Option<&Path>),
    program: &OsString,
    args: Option<&[OsString]>,
) -> Res<u8> {
    let Located {
        path,
        policy,
        digest,
        store,
        ingested,
    } = locate(
        common,
        sigsum,
        program,
        // A bundle named on the command line is checked: no warm verdict
        // stands in for it.
        args.filter(|_| sigstore_bundle.is_none()),
    )?;
    let file = match ingested {
        Some(file) => file,
        None => store.ingest(&path)?,
    };
    if common.verbose {
        bt_exec::say!(
            "bt-exec: {} is sha256 {} ({} bytes{})",
            path.display(),
            hex::encode(file.sha256),
            file.size,
            if file.cached { ", hash cached" } else { "" }
        );
    }
    let release = named::spec(program).map(|(name, _)| name);
    let request = verdict::Request {
        policy: &policy,
        policy_digest: digest,
        store: &store,
        path: &path,
        offline: common.offline,
        verbose: common.verbose,
        may_memo: args.is_some() && common.may_serve_warm(),
        sigsum,
        sigstore_bundle,
        release: release.as_deref(),
    };
    let ((verdict, pending), unsaved) = saving::decide_and_save(
        &store,
        now(),
        || verdict::verify(&request, file.clone()),
        |(v, _)| (&v.logs, v.file.sha256),
    )?;
    for line in report::notes(&verdict.logs, &unsaved, common.verbose) {
        bt_exec::say!("bt-exec: {line}");
    }
    if common.json {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", report::json(&path, &verdict));
    }
    judge(
        common,
        &policy,
        &store,
        program,
        args.is_some(),
        &path,
        &verdict,
    )?;
    if !common.offline {
        start_refresher(&store, &policy)?;
    }
    match args {
        None => Ok(0),
        Some(args) => {
            if verdict.proven() {
                saving::record_run(&store, &verdict)?;
                if let Some(pending) = pending {
                    memo::record(&store, &policy, &verdict, pending);
                }
            }
            Err(bt_exec::exec::program::exec(&verdict.file.cas_path, program, args).into())
        }
    }
}

/// `bt-exec verify --sigstore-bundle FILE --sha256 HEX`: the bundle checked
/// under the policy's `[sigstore]` section for bytes not at hand.
fn verify_digest(common: &CommonArgs, bundle: &Path, hex: &str) -> Res<u8> {
    let sha256 = bundle_cmd::digest_hex(hex)?;
    let store = store()?;
    let policy = load_policy(common.policy.as_deref(), &store)?;
    let file = Ingested {
        sha256,
        size: 0,
        cas_path: PathBuf::new(),
        cached: false,
    };
    // What a Rekor log of the policy learnt (its checkpoint) is saved as a
    // run's would be.
    let (verdict, unsaved) = saving::decide_and_save(
        &store,
        now(),
        || match verdict::standing_alarm(&store, &policy) {
            Some((spec, evidence)) => Ok(verdict::alarm_verdict(file.clone(), spec, evidence)),
            None => {
                let ctx = bt_exec::exec::app::context(&policy, &store, common.offline);
                verdict::sigstore(&ctx, None, file.clone(), bundle, Default::default())
            }
        },
        |v| (&v.logs, v.file.sha256),
    )?;
    for line in report::notes(&verdict.logs, &unsaved, common.verbose) {
        bt_exec::say!("bt-exec: {line}");
    }
    let label = PathBuf::from(format!("sha256:{hex}"));
    if common.json {
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}",
            report::json(&label, &verdict)
        );
    }
    judge(
        common,
        &policy,
        &store,
        &label.clone().into_os_string(),
        false,
        &label,
        &verdict,
    )?;
    Ok(0)
}

/// `bt-exec verify-bundle`: the conformance protocol's verification.
fn verify_bundle(
    bundle: &Path,
    expected: bundle_cmd::Expected,
    trusted_root: Option<PathBuf>,
    policy: Option<&Path>,
    json: bool,
    artifact: &str,
) -> Res<u8> {
    let trusted_root = match trusted_root {
        Some(t) => t,
        None => {
            let p = load_policy(policy, &store()?)?;
            p.sigstore.map(|s| s.root_path).ok_or_else(|| {
                Fail::new(
                    exit::CONFIG,
                    "no trusted root: give --trusted-root FILE, or a policy with [sigstore] trusted_root (bt-exec fetches none)",
                )
            })?
        }
    };
    let req = bundle_cmd::Request {
        bundle,
        expected,
        trusted_root: &trusted_root,
        artifact,
    };
    let out = bundle_cmd::verify_bundle(&req);
    if json {
        let doc = match &out {
            Ok(p) => {
                serde_json::json!({"verified": true, "exit_code": 0, "bundle": bundle_cmd::proven_json(p, false)})
            }
            Err((f, cause)) => serde_json::json!({
                "verified": false,
                "exit_code": f.code,
                "cause": cause.map(|c| c.name()),
                "reason": f.message,
            }),
        };
        let _ = writeln!(std::io::stdout().lock(), "{doc}");
    }
    match out {
        Ok(p) => {
            if !json {
                bt_exec::say!(
                    "bt-exec: verified {}: signed by {}",
                    bundle.display(),
                    p.signer()
                );
            }
            Ok(0)
        }
        Err((f, _)) => Err(f),
    }
}

/// Starts the background refresher when a log's saved checkpoint is older
/// than `require.refresh` (the state met the policy; the next run finds it
/// fetched again). A lock another user could hold refuses the run (125);
/// a refresher that cannot be started is said, and the run goes on.
fn start_refresher(store: &Store, policy: &Policy) -> Res<()> {
    use bt_exec::exec::background::{after_run, Started};
    match after_run(store, policy, &std::env::current_exe, now()) {
        Some(Started::Refused(e)) => Err(e.into()),
        Some(Started::Failed(why)) => {
            let why = bt_exec::fsutil::terminal_safe(&why);
            bt_exec::say!("bt-exec: warning: no background refresh started: {why}");
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Records the verdict in audit mode, and refuses what is not proven (in
/// audit mode, a run goes on with a warning — never past a split view).
fn judge(
    common: &CommonArgs,
    policy: &Policy,
    store: &Store,
    program: &OsString,
    runs: bool,
    path: &Path,
    verdict: &Verdict,
) -> Res<()> {
    let audit = common.audit || policy.mode == bt_exec::policy::Mode::Audit;
    if audit && runs {
        let rec = bt_exec::exec::audit::Record::new(&program.to_string_lossy(), verdict, now());
        if let Err(e) = bt_exec::exec::audit::record(store, &rec) {
            bt_exec::say!("bt-exec: audit: cannot record the verdict: {e}");
        }
    }
    match verdict::judge(audit, runs, verdict) {
        Judgement::Run => {}
        Judgement::Refuse => {
            return Err(Fail::new(
                verdict.code,
                format!("refused {}: {}", path.display(), verdict.reason),
            ))
        }
        Judgement::AuditRun { cause } => bt_exec::say!(
            "bt-exec: AUDIT: would refuse {} ({cause}): {} — running it anyway (audit mode)",
            path.display(),
            verdict.reason
        ),
    }
    if common.verbose || (!runs && !common.json) {
        bt_exec::say!("bt-exec: {}", verdict.reason);
    }
    Ok(())
}

/// Resolves a release from the logs' histories and puts its bytes in the
/// CAS (with a progress bar on a terminal); the path returned is then
/// verified as usual.
fn fetch_release(
    common: &CommonArgs,
    policy: &Policy,
    store: &Store,
    name: &str,
    version: Option<&str>,
) -> Res<PathBuf> {
    let ctx = context(policy, store, common.offline);
    let mut notes = vec![];
    let seen = named::resolve(&ctx, name, version, common.verbose, &mut notes);
    for line in notes {
        bt_exec::say!("bt-exec: {line}");
    }
    let seen = seen?;
    let r = &seen.entry.release;
    if common.verbose {
        bt_exec::say!(
            "bt-exec: {name}@{} is {} {} (leaf {}), sha256 {}, {} bytes",
            version.unwrap_or("latest"),
            r.name,
            r.version,
            seen.index,
            hex::encode(r.sha256),
            r.size
        );
    }
    let bar = progress_bar(r.size);
    let path = named::fetch(store, r, ctx.deadline, &mut |n| bar.set_position(n));
    bar.finish_and_clear();
    path
}

/// A bar for a download of `size` bytes: shown on a terminal, from 8 MiB.
fn progress_bar(size: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() || size < 8 << 20 {
        return indicatif::ProgressBar::hidden();
    }
    let b = indicatif::ProgressBar::new(size);
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "fetching {bar:40} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    b
}

fn run(cli: ExecCli) -> Res<u8> {
    match cli.cmd {
        None => {
            let Some((program, args)) = cli.run.program.split_first() else {
                return Err(Fail::new(
                    exit::CONFIG,
                    "usage: bt-exec [--policy FILE] [--offline] [--json] [-v] [--] PROGRAM [ARGS…]",
                ));
            };
            verify_and_maybe_run(
                &cli.run.common,
                (
                    &SigsumFlags::default(),
                    cli.run.sigstore.sigstore_bundle.as_deref(),
                ),
                program,
                Some(args),
            )
        }
        Some(ExecCmd::Verify {
            common,
            sigsum,
            sigstore,
            sha256,
            guard: Some(socket),
            program: Some(program),
        }) => {
            let _ = (sigsum, sigstore, sha256);
            guard_cmd::verify(&socket, &program, common.json)
        }
        Some(ExecCmd::Verify {
            common,
            sigsum,
            sigstore,
            sha256,
            guard: _,
            program,
        }) => match (sha256, program, sigstore.sigstore_bundle.as_deref()) {
            (Some(hex), _, Some(bundle)) => verify_digest(&common, bundle, &hex),
            (None, Some(program), bundle) => {
                verify_and_maybe_run(&common, (&sigsum.flags(), bundle), &program, None)
            }
            _ => Err(Fail::new(
                exit::CONFIG,
                "usage: bt-exec verify PROGRAM, or bt-exec verify --sigstore-bundle FILE --sha256 HEX",
            )),
        },
        Some(ExecCmd::VerifyBundle {
            staging: _,
            bundle,
            certificate_identity,
            certificate_oidc_issuer,
            key,
            trusted_root,
            policy,
            json,
            artifact,
        }) => {
            let expected = match (key, certificate_identity, certificate_oidc_issuer) {
                (Some(k), _, _) => bundle_cmd::Expected::Key(k),
                (None, Some(san), Some(issuer)) => bundle_cmd::Expected::Identity { san, issuer },
                _ => {
                    return Err(Fail::new(
                        exit::CONFIG,
                        "verify-bundle needs --certificate-identity and --certificate-oidc-issuer, or --key",
                    ))
                }
            };
            verify_bundle(&bundle, expected, trusted_root, policy.as_deref(), json, &artifact)
        }
        Some(ExecCmd::Policy(PolicyCmd::Check { file })) => policy_check(&file),
        Some(ExecCmd::Refresh {
            policy,
            detach,
            lock_fd,
            background,
        }) => refresh(policy.as_deref(), lock_fd.filter(|_| detach), background),
        Some(ExecCmd::Completions { shell }) => {
            use clap::CommandFactory;
            let script = bt_exec::cli::completions(shell, ExecCli::command(), "bt-exec");
            let _ = std::io::stdout().lock().write_all(&script);
            Ok(0)
        }
        Some(ExecCmd::Gossip(GossipCmd::Export)) => {
            let out = gossip::export(&store()?);
            let _ = std::io::stdout().lock().write_all(&out);
            Ok(0)
        }
        Some(ExecCmd::Gossip(GossipCmd::Import {
            policy,
            offline,
            files,
        })) => {
            let store = store()?;
            let policy = load_policy(policy.as_deref(), &store)?;
            gossip::import(&store, &policy, offline, &files, &mut |m| {
                bt_exec::say!("bt-exec: {m}")
            })?;
            Ok(0)
        }
        Some(ExecCmd::Status { policy, offline }) => {
            let store = store()?;
            let policy = load_policy(policy.as_deref(), &store)?;
            // An online contact first: pending pairs are proven (123 when
            // one is a split view), then the state is shown as it is now.
            let code = status::prove_pending(&store, &policy, offline, &mut |m| {
                bt_exec::say!("bt-exec: {m}")
            });
            print_lines(&status::report(&store, &policy, now()));
            Ok(status::exit_code(&store, &policy, code))
        }
        Some(ExecCmd::Guard(cmd)) => guard_cmd::run(cmd),
        Some(ExecCmd::Alarm(AlarmCmd::Clear { origin })) => {
            let store = store()?;
            match store.clear_alarms(&origin) {
                Ok(0) => Err(Fail::new(exit::CONFIG, format!("no alarm for {origin}"))),
                Ok(n) => {
                    let what = if n == 1 {
                        "alarm"
                    } else {
                        "alarms (one per key)"
                    };
                    bt_exec::say!(
                        "bt-exec: {what} for {origin} cleared; the evidence files stay in {}",
                        store.state.join("evidence").display()
                    );
                    Ok(0)
                }
                Err(e) => Err(Fail::new(exit::CONFIG, e.to_string())),
            }
        }
    }
}

fn real_main() -> u8 {
    // Only the front's hand-over sets it; the program must not inherit it.
    std::env::remove_var(bt_exec::exec::program::FROM_FRONT);
    if let Err(e) = bt_exec::exec::program::ensure_stdio() {
        bt_exec::say!("bt-exec: {e}");
        return exit::CONFIG;
    }
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let parsed = match ExecCli::parse_run_form(&args) {
        Some(c) => Ok(c),
        None => ExecCli::try_parse_from(std::env::args_os()),
    };
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::CONFIG } else { 0 };
        }
    };
    match bt_exec::exec::app::settle(run(cli)) {
        Ok(c) => c,
        Err(Fail { code, message }) => {
            bt_exec::say!("bt-exec: {message}");
            code
        }
    }
}

/// The process's entry point, called by the C library's start-up.
///
/// bt-exec defines `main` itself (`#![no_main]`) rather than letting Rust's
/// runtime wrap an ordinary one, because that runtime changes what the
/// program bt-exec runs inherits: it sets SIGPIPE to "ignore", and an ignored
/// signal stays ignored across `execve`, so a program would never be ended by
/// SIGPIPE (`bt-exec yes | head` would not stop `yes`). The signal
/// dispositions bt-exec was started with pass to the program untouched. The
/// runtime's other start-up work (reading /proc/self/maps for the stack
/// guard, an alternate signal stack) is also skipped: it is start-up time
/// spent in front of every program. What bt-exec needs of it is done here:
/// closed standard descriptors are opened on /dev/null, standard output is
/// flushed at the end, and a panic still ends the process with status 101.
/// A stack overflow is a plain SIGSEGV, without Rust's message.
#[no_mangle]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    // Arguments come from std::env::args_os, which glibc's start-up fills.
    let code = std::panic::catch_unwind(real_main).unwrap_or(101);
    let _ = std::io::stdout().flush();
    c_int::from(code)
}
