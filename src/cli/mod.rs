//! Command-line definitions of `bt-log`, in the library so the man page
//! check (tests/cli_docs.rs) sees exactly what `--help` shows.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bt-log",
    version,
    about = "Publish releases into a transparency log, serve it, witness logs",
    long_about = "bt-log writes C2SP tiled transparency logs of binary releases (bt-exec's release \
entries), collects cosignatures from C2SP tlog-witness witnesses, serves a log directory over \
HTTP, and runs a witness.\n\nExit status: 0 success; 1 error; 2 usage; 3 releases were \
integrated and published but at least one configured witness did not cosign; 4 monitor found \
alerts; 5 publish got fewer verified proofs than --min-logs."
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Generate an Ed25519 key: PATH (secret, mode 0600) and PATH.pub (the vkey).
    Keygen {
        /// Key name; for a log key, the log's origin.
        name: String,
        /// Where to write the secret key; the verifier key goes to PATH.pub.
        #[arg(long, value_name = "PATH")]
        out: PathBuf,
    },
    /// Create a log directory with an empty signed checkpoint.
    Init {
        /// Directory to create the log in.
        dir: PathBuf,
        /// The log's origin line, e.g. example.org/log.
        #[arg(long)]
        origin: String,
        /// The log's secret key (its name must be the origin).
        #[arg(long)]
        key: PathBuf,
        /// A witness to ask for cosignatures: URL=VKEY (repeatable).
        #[arg(long = "witness", value_name = "URL=VKEY")]
        witnesses: Vec<String>,
        /// The add-checkpoint requests a day a --witness grants this log (its log
        /// list's qpd): URL=N (repeatable). The log asks it no more often; a
        /// checkpoint in between is published without its cosignature.
        #[arg(long = "witness-qpd", value_name = "URL=N")]
        witness_qpd: Vec<String>,
    },
    /// Add one release, or a JSONL manifest of many, under one new checkpoint.
    Add(AddArgs),
    /// Ask the configured witnesses the published checkpoint lacks (those
    /// whose rate allows) to cosign it, and publish it again with their
    /// cosignatures: the same tree. Exit status 3 while one is still missing.
    Cosign {
        /// The log directory.
        dir: PathBuf,
        /// Also ask again the witnesses whose cosignature is at least this old
        /// (a log that takes nothing stays fresh for its users' max_age).
        #[arg(long, value_name = "DURATION", default_value = "1h")]
        older_than: String,
    },
    /// Serve a log directory over HTTP until SIGTERM (nothing outside it:
    /// a symbolic link that leaves the directory is 404). With --accept, also
    /// take releases from publishers: POST /bt/add-entry.
    Serve(ServeArgs),
    /// Put a release into several logs that accept submissions, and write a
    /// witnessed proof from each beside the file (FILE.tlog-proofs/).
    ///
    /// The entry is signed here and kept as FILE.bt-entry, so a re-run sends
    /// the same bytes; logs whose proof already verifies are skipped. A log
    /// that refuses the connection is given up on after a few attempts
    /// (under 2 s); each log without a proof is named with what happened:
    /// connection refused, timed out, or not cosigned by the witnesses
    /// within --wait. Exit status 5 when fewer than --min-logs logs gave a
    /// verified proof.
    Publish(PublishArgs),
    /// Print the C2SP tlog-proof of leaf INDEX against the log's published
    /// checkpoint (with its cosignatures), made from the log's tiles.
    ///
    /// Run where the log directory is (it reads the log's configuration and
    /// key file). A proof is as fresh as that checkpoint's cosignatures:
    /// print it again once the log has grown to refresh a proof shipped
    /// beside a release (docs/PUBLISHING.md).
    Proof {
        /// The log directory.
        dir: PathBuf,
        /// The leaf index (as `add` printed it, or a 202's `index N`).
        index: u64,
    },
    /// Witness commands.
    #[command(subcommand)]
    Witness(WitnessCmd),
    /// Print the completion script of bt-log for SHELL on stdout (install.sh
    /// installs them where each shell looks).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Follow a log: verify everything new since the last run, list the new releases.
    ///
    /// One pass, then exit (run it from cron or a systemd timer). Exit status:
    /// 0 verified; 4 verified, with alerts (a name published by a new key, or
    /// one name/version/platform logged with two hashes); 1 a fault: the log
    /// misbehaved (split view, rollback, data that contradicts its checkpoint)
    /// or could not be read.
    Monitor(MonitorArgs),
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// The log directory (made by bt-log init).
    pub dir: PathBuf,
    /// The file to add (or use --manifest).
    pub file: Option<PathBuf>,
    /// Release name, namespaced: example.org/hello.
    #[arg(long)]
    pub name: Option<String>,
    /// Release version, e.g. 1.4.2.
    #[arg(long)]
    pub version: Option<String>,
    /// Platform the file runs on: linux-x86_64, linux-aarch64, … or any.
    #[arg(long, default_value = "any")]
    pub platform: String,
    /// The publisher's secret key (as bt-log keygen writes it).
    #[arg(long)]
    pub publisher_key: PathBuf,
    /// Base URL of a content-addressed store; the entry records BASE/sha256/<hex>.
    #[arg(long)]
    pub cas_url: Option<String>,
    /// Repository the release was built from (for rebuilders).
    #[arg(long, requires = "source_rev")]
    pub source_repo: Option<String>,
    /// Revision of --source-repo the release was built from.
    #[arg(long, requires = "source_repo")]
    pub source_rev: Option<String>,
    /// JSON lines: "file", "name", "version", optional "platform", "cas_url", "source_repo", "source_rev".
    #[arg(long, conflicts_with_all = ["file", "name", "version"])]
    pub manifest: Option<PathBuf>,
    /// Also write a tlog-proof per release under bt/proof/ (one file each;
    /// `bt-log proof` prints one on demand instead).
    #[arg(long)]
    pub proofs: bool,
}

/// `bt-log publish`.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("witnessing").required(true).args(["witnesses", "policy"])))]
pub struct PublishArgs {
    /// The released file.
    pub file: PathBuf,
    /// Release name, namespaced: example.org/hello.
    #[arg(long)]
    pub name: String,
    /// Release version, e.g. 1.4.2.
    #[arg(long)]
    pub version: String,
    /// Platform the file runs on: linux-x86_64, … or any.
    #[arg(long, default_value = "any")]
    pub platform: String,
    /// The publisher's secret key (as bt-log keygen writes it); it never leaves this machine.
    #[arg(long)]
    pub publisher_key: PathBuf,
    /// A log: its URL (where it serves its files and POST /bt/add-entry) and vkey.
    #[arg(long = "log", value_name = "URL=VKEY", required = true)]
    pub logs: Vec<String>,
    /// A witness every log's checkpoint must be cosigned by (repeatable: all
    /// of them). This or --policy is required: a proof no witness cosigned
    /// is one the log key alone could make.
    #[arg(long = "witness", value_name = "VKEY", conflicts_with = "policy")]
    pub witnesses: Vec<String>,
    /// A bt-exec policy whose witnesses and quorum every log's checkpoint must meet.
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<PathBuf>,
    /// Logs that must give a verified proof [default: every --log].
    #[arg(long)]
    pub min_logs: Option<usize>,
    /// Base URL of a content-addressed store serving the file at BASE/sha256/<hex>
    /// (checked before anything is submitted; repeatable).
    #[arg(long = "cas-url", value_name = "BASE")]
    pub cas_urls: Vec<String>,
    /// Repository the release was built from.
    #[arg(long, requires = "source_rev")]
    pub source_repo: Option<String>,
    /// Revision of --source-repo the release was built from.
    #[arg(long, requires = "source_repo")]
    pub source_rev: Option<String>,
    /// How long all the logs together may take (e.g. 2m, 30s): a log that
    /// is slow, or whose witnesses have not cosigned, is waited for until
    /// then; one that refuses the connection is not.
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub wait: String,
    /// Print the result as JSON on stdout: each log's status, and a proof
    /// path only for the logs that gave one.
    #[arg(long)]
    pub json: bool,
}

/// `bt-log serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Take submissions (POST /bt/add-entry) from the publishers this
    /// admission file admits (TOML: [[publisher]], [open], [limits]; see
    /// docs/PUBLISHING.md). The server then holds the log's lock until it
    /// stops: `bt-log add` waits.
    #[arg(long, value_name = "FILE")]
    pub accept: Option<PathBuf>,
    /// With --accept: at most one checkpoint per interval (e.g. 1s, 500ms).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1s",
        requires = "accept"
    )]
    pub checkpoint_interval: String,
    /// With --accept: ask the witnesses to cosign the published checkpoint
    /// again once their cosignatures are this old, so that a log that takes
    /// nothing stays fresh for its users' max_age.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "1h",
        requires = "accept"
    )]
    pub recosign_after: String,
    /// With --accept: a reverse proxy (nginx, a CDN) at this address, whose
    /// last X-Forwarded-For address is the client's for the address quota.
    #[arg(long, value_name = "IP", requires = "accept")]
    pub trusted_proxy: Vec<std::net::IpAddr>,
}

#[derive(Subcommand)]
pub enum WitnessCmd {
    /// Run a C2SP tlog-witness until SIGTERM: POST /add-checkpoint, and
    /// GET /monitor/<sha256 of the origin, hex>/checkpoint (the latest
    /// checkpoint cosigned for that log). SIGHUP reads the log lists again.
    Serve(WitnessServeArgs),
    /// Print what log operators need to use this witness: its cosignature/v1
    /// verifier key, and with --url its add-checkpoint and monitoring URLs.
    Info {
        /// The witness's secret key.
        #[arg(long)]
        key: PathBuf,
        /// The witness's public base URL, e.g. https://witness.example.org.
        #[arg(long)]
        url: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct MonitorArgs {
    /// The log: http(s)://… or file:///… (a trailing slash is optional).
    pub url: String,
    /// The log's verifier key; its name is the origin.
    #[arg(long, value_name = "VKEY")]
    pub key: String,
    /// A witness whose cosignature the checkpoint must carry (repeatable).
    #[arg(long = "witness", value_name = "VKEY")]
    pub witnesses: Vec<String>,
    /// A C2SP tlog-policy file whose witness quorum the checkpoint must meet.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// A rebuilder, NAME=KEY (a vkey or base64 Ed25519 key); repeatable. Its
    /// entries are listed as attestations; one for other bytes is an alert.
    #[arg(long = "rebuilder", value_name = "NAME=KEY")]
    pub rebuilders: Vec<String>,
    /// Where the monitor keeps its checkpoint and view of the log
    /// [default: $BT_EXEC_STATE_DIR, else ~/.local/state/bt-exec].
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// List only releases of this name.
    #[arg(long)]
    pub name: Option<String>,
    /// One JSON object per release on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The command line of `bt-exec`.
#[derive(Parser)]
#[command(
    name = "bt-exec",
    version,
    args_conflicts_with_subcommands = true,
    about = "Run a program only after proving its exact bytes are in public, witnessed transparency logs",
    long_about = "bt-exec PROGRAM [ARGS…] resolves PROGRAM like execvp, hashes it into a local \
content-addressed cache, proves the hash is logged per the policy (log signatures, witness quorum, \
freshness, consistency with every checkpoint seen before, inclusion, publisher allowed for the \
name, and the policy's release-history rules), then execs the verified copy with your arguments \
and environment. PROGRAM may also be NAME@VERSION or NAME@latest (e.g. example.org/tool@1.2): the \
release is looked up in the logs, its bytes fetched from its cas URLs into the cache, then verified \
and run the same way.\n\n\
Exit status: the program's own once it runs; 123 a log misbehaved (split view or data contradicting \
its signed checkpoint: a security alert, evidence written); 124 a log could not be reached and the \
cache cannot meet the policy; 125 usage or configuration error (a cache or state directory, a \
directory above one, or a file in them, that another user could have written included: they must \
be yours or root's and not writable by group or others); 126 refused: not proven to policy \
(a PROGRAM.tlog-proof beside it that does not verify, or is not a regular file, included); 127 program \
not found, not executable or not a regular file.\n\n\
A program named like a subcommand (verify, gossip, status, alarm, policy, completions) runs with `bt-exec -- NAME`."
)]
pub struct ExecCli {
    #[command(subcommand)]
    pub cmd: Option<ExecCmd>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(clap::Args)]
pub struct CommonArgs {
    /// The policy file [default: $BT_EXEC_POLICY, else ~/.config/bt-exec/policy.toml].
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Make no network request: use cached checkpoints (while they meet max_age) and proofs.
    #[arg(long)]
    pub offline: bool,
    /// Print the verification report as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
    /// Narrate each step on stderr (always the whole verification, never a
    /// remembered warm verdict).
    #[arg(short, long)]
    pub verbose: bool,
    /// Audit mode: verify and record the verdict, warn, and run the program
    /// even when it would be refused (a split view still exits 123).
    #[arg(long)]
    pub audit: bool,
}

/// Verifying against a Sigsum proof instead of bt-log logs.
impl CommonArgs {
    /// Whether these flags let a warm verdict stand in for the verification:
    /// not when the user asked to see it (-v, --json) or to audit it.
    pub fn may_serve_warm(&self) -> bool {
        !self.verbose && !self.json && !self.audit
    }
}

impl SigsumArgs {
    /// The flags as the verdict reads them.
    pub fn flags(&self) -> crate::exec::verdict::SigsumFlags {
        crate::exec::verdict::SigsumFlags {
            sigsum_proof: self.sigsum_proof.clone(),
            sigsum_policy: self.sigsum_policy.clone(),
            sigsum_keys: self.sigsum_keys.clone(),
        }
    }
}

#[derive(clap::Args, Default)]
pub struct SigsumArgs {
    /// A Sigsum proof (as sigsum-submit writes it) of PROGRAM's bytes.
    #[arg(long, value_name = "FILE")]
    pub sigsum_proof: Option<PathBuf>,
    /// The Sigsum policy: a file, or a built-in name like sigsum-generic-2025-1
    /// [default: the bt-exec policy's [sigsum] policy].
    #[arg(long, value_name = "POLICY")]
    pub sigsum_policy: Option<String>,
    /// A submitter's public key (64 hex digits or an ssh-ed25519 line); repeatable
    /// [default: the [sigsum] submitters allowed for PROGRAM's file name].
    #[arg(long = "sigsum-key", value_name = "KEY")]
    pub sigsum_keys: Vec<String>,
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// The program (a path, a name on PATH, or NAME@VERSION / NAME@latest) and its
    /// arguments (use -- before a program whose name starts with -).
    #[arg(trailing_var_arg = true, value_name = "PROGRAM [ARGS]")]
    pub program: Vec<std::ffi::OsString>,
}

#[derive(Subcommand)]
pub enum ExecCmd {
    /// Verify PROGRAM and report; never run it.
    Verify {
        #[command(flatten)]
        common: CommonArgs,
        #[command(flatten)]
        sigsum: SigsumArgs,
        program: std::ffi::OsString,
    },
    /// Share the checkpoint cache with other machines.
    #[command(subcommand)]
    Gossip(GossipCmd),
    /// Prove pending checkpoint pairs (reaching their logs, unless --offline;
    /// 123 when one is a split view), then show each log's cached checkpoint,
    /// its age, alarms, pending pairs and the cache size (its content-addressed
    /// files; temporary files are not counted).
    Status {
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Do not reach the logs with pending checkpoint pairs to prove them.
        #[arg(long)]
        offline: bool,
    },
    /// Split-view alarms.
    #[command(subcommand)]
    Alarm(AlarmCmd),
    /// Policy files.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Print the completion script of bt-exec for SHELL on stdout (install.sh
    /// installs them where each shell looks).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
pub enum PolicyCmd {
    /// Validate a policy file and print what it trusts (exit 125 when it is
    /// malformed or past its expiry date).
    Check { file: PathBuf },
}

#[derive(Subcommand)]
pub enum GossipCmd {
    /// Write every cached checkpoint to stdout.
    Export,
    /// Check checkpoints from export files or plain notes against the local view,
    /// then prove the pending checkpoint pairs of the logs it can reach.
    Import {
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Make no network request (consistency that needs tiles is then unknown).
        #[arg(long)]
        offline: bool,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum AlarmCmd {
    /// After investigating the evidence, let bt-exec use this log again.
    Clear { origin: String },
}

/// Names that make the first word a subcommand rather than PROGRAM.
const EXEC_SUBCOMMANDS: [&str; 7] = [
    "verify",
    "gossip",
    "status",
    "alarm",
    "policy",
    "completions",
    "help",
];

impl ExecCli {
    /// Parses the command line the way clap does (`ExecCli::parse_from`) when
    /// it is the ordinary run form, `[--policy FILE] [--offline] [--json]
    /// [-v] [--audit] [--] PROGRAM [ARGS…]`, each flag at most once; `None`
    /// for anything else (a subcommand, --help, an unknown or repeated flag),
    /// which clap then parses and reports. bt-exec sits in front of every
    /// program it runs, and building clap's parser for every subcommand is
    /// a measurable part of its start-up; a unit test checks that this
    /// agrees with clap on every form it accepts.
    pub fn parse_run_form(args: &[std::ffi::OsString]) -> Option<ExecCli> {
        use std::os::unix::ffi::OsStrExt;
        let mut common = CommonArgs {
            policy: None,
            offline: false,
            json: false,
            verbose: false,
            audit: false,
        };
        let mut i = 0;
        let set = |flag: &mut bool| (!std::mem::replace(flag, true)).then_some(());
        while let Some(arg) = args.get(i) {
            let bytes = arg.as_bytes();
            match bytes {
                b"--" => {
                    i += 1;
                    break;
                }
                b"--offline" => set(&mut common.offline)?,
                b"--json" => set(&mut common.json)?,
                b"--audit" => set(&mut common.audit)?,
                b"-v" | b"--verbose" => set(&mut common.verbose)?,
                b"--policy" => {
                    let value = args.get(i + 1)?;
                    if common.policy.is_some() || value.as_bytes().first() == Some(&b'-') {
                        return None;
                    }
                    common.policy = Some(PathBuf::from(value));
                    i += 1;
                }
                _ if bytes.starts_with(b"--policy=") => {
                    let value = bytes.get(b"--policy=".len()..)?;
                    if common.policy.is_some() || value.is_empty() {
                        return None;
                    }
                    common.policy = Some(PathBuf::from(std::ffi::OsStr::from_bytes(value)));
                }
                _ if bytes.first() == Some(&b'-') => return None,
                _ if EXEC_SUBCOMMANDS.iter().any(|s| s.as_bytes() == bytes) => return None,
                _ => break,
            }
            i += 1;
        }
        let program = args.get(i..)?.to_vec();
        if program.is_empty() {
            return None;
        }
        Some(ExecCli {
            cmd: None,
            run: RunArgs { common, program },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// Every command line the fast parser accepts, clap parses to the same
    /// thing; everything else is left to clap.
    #[test]
    fn the_run_form_parser_agrees_with_clap() {
        let accepted: &[&[&str]] = &[
            &["prog"],
            &["./prog", "a", "--json", "-v", "--", "x"],
            &["--policy", "p.toml", "./prog"],
            &["--policy=p.toml", "--offline", "prog", "--policy", "q"],
            &["--offline", "--json", "-v", "--audit", "prog"],
            &["--verbose", "--", "--weird-name", "-x"],
            &["--", "verify", "x"],
            &["--policy", "verify", "prog"],
            &["example.org/hello@latest", "arg"],
            &["prog", "verify"],
            &["--", "prog"],
        ];
        for args in accepted {
            let argv = os(args);
            let fast = ExecCli::parse_run_form(&argv)
                .unwrap_or_else(|| panic!("{args:?} should take the fast path"));
            let clap =
                ExecCli::try_parse_from(std::iter::once(OsString::from("bt-exec")).chain(argv))
                    .unwrap_or_else(|e| panic!("{args:?}: {e}"));
            assert!(clap.cmd.is_none(), "{args:?}");
            let (f, c) = (&fast.run, &clap.run);
            assert_eq!(f.program, c.program, "{args:?}");
            assert_eq!(f.common.policy, c.common.policy, "{args:?}");
            assert_eq!(
                (
                    f.common.offline,
                    f.common.json,
                    f.common.verbose,
                    f.common.audit
                ),
                (
                    c.common.offline,
                    c.common.json,
                    c.common.verbose,
                    c.common.audit
                ),
                "{args:?}"
            );
        }
        let left_to_clap: &[&[&str]] = &[
            &[],
            &["--"],
            &["--help"],
            &["-h"],
            &["--version"],
            &["-vv", "prog"],
            &["-v", "-v", "prog"],
            &["--offline", "--offline", "prog"],
            &["--policy", "a", "--policy", "b", "prog"],
            &["--policy"],
            &["--policy", "--offline", "prog"],
            &["--policy=", "prog"],
            &["--no-such-flag", "prog"],
            &["verify", "prog"],
            &["--json", "status"],
            &["gossip", "export"],
            &["help"],
            &["policy", "check", "f"],
            &["alarm", "clear", "o"],
            &["--offline"],
        ];
        for args in left_to_clap {
            assert!(ExecCli::parse_run_form(&os(args)).is_none(), "{args:?}");
        }
    }
}

/// `bt-log witness serve`.
#[derive(clap::Args)]
pub struct WitnessServeArgs {
    /// The witness's secret key.
    #[arg(long)]
    pub key: PathBuf,
    /// Directory for the witness's durable state.
    #[arg(long)]
    pub state: PathBuf,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: String,
    /// A log to witness: its vkey, whose name is its origin (repeatable).
    #[arg(long = "log", value_name = "VKEY")]
    pub logs: Vec<String>,
    /// Add-checkpoint requests a day each --log log may make (over it: 429).
    #[arg(long, value_name = "N", default_value_t = 86400.0)]
    pub default_qpd: f64,
    /// A logs/v0 log list to witness the logs of, each at its qpd: a file or
    /// an http(s) URL (repeatable). Read at start (an error stops the
    /// witness), then every --log-list-interval and on SIGHUP (an error
    /// keeps the list read before).
    #[arg(long = "log-list", value_name = "FILE_OR_URL")]
    pub log_lists: Vec<String>,
    /// How often the log lists are read again (e.g. 10m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub log_list_interval: String,
}

/// Writes the completion script of `cmd` (the binary `name`) for `shell`.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    out
}
