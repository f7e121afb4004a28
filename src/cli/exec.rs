//! The command line of `bt-exec`: clap's definitions, and the run form
//! (`bt-exec PROGRAM ARGS…`) read without clap on the warm path.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
A program whose proof is cached is proven from the saved state alone while the saved checkpoints \
meet the policy (max_age, the witness quorum); when one was fetched require.refresh ago or more \
(default 10m), the run still answers from the state and starts one background `bt-exec refresh` \
for the next run. Only a state that cannot meet the policy makes a run wait for the network.\n\n\
A program named like a subcommand (verify, verify-bundle, refresh, gossip, status, alarm, guard, policy, completions) runs with `bt-exec -- NAME`."
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

/// Verifying against a Sigstore bundle (docs/SIGSTORE.md).
#[derive(clap::Args, Default)]
pub struct SigstoreArgs {
    /// A Sigstore bundle of PROGRAM's bytes, checked against the policy's
    /// [sigstore] trusted root and identities [default: PROGRAM.sigstore.json
    /// beside it, when the policy has a [sigstore] section]. One bundle, or
    /// JSON lines as `gh attestation download` writes them.
    #[arg(long, value_name = "FILE")]
    pub sigstore_bundle: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub sigstore: SigstoreArgs,
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
        #[command(flatten)]
        sigstore: SigstoreArgs,
        /// With --sigstore-bundle: verify the bundle for the bytes whose
        /// SHA-256 this is (64 hex digits), with no PROGRAM at hand.
        #[arg(
            long,
            value_name = "HEX",
            requires = "sigstore_bundle",
            conflicts_with = "program"
        )]
        sha256: Option<String>,
        /// Ask the guard (`bt-exec guard`) to prove PROGRAM under its own
        /// policy and state, and allow it on this machine from then on; the
        /// guard's verdict is the answer (no policy of yours is read).
        /// SOCKET defaults to /run/bt-exec/guard.sock.
        #[arg(
            long,
            value_name = "SOCKET",
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = crate::exec::guard::config::DEFAULT_SOCKET,
            conflicts_with_all = ["sha256", "sigstore_bundle", "sigsum_proof", "sigsum_policy", "sigsum_keys", "policy", "offline", "audit"]
        )]
        guard: Option<PathBuf>,
        #[arg(required_unless_present = "sha256")]
        program: Option<std::ffi::OsString>,
    },
    /// Verify one Sigstore bundle as Sigstore's own verifiers do, with the
    /// Sigstore conformance suite's command line: the certificate chain to a
    /// Fulcio CA of the trusted root valid at signing time, the SCT, the
    /// Rekor entry, the inclusion proof against the bundle's checkpoint, the
    /// SET or an RFC 3161 timestamp. No bt-exec policy applies (no witnesses,
    /// freshness or consistency: docs/SIGSTORE.md). Exits 0 verified, 126
    /// refused, 125 a trusted root or key that cannot be read, 127 an
    /// artifact that cannot be read.
    VerifyBundle {
        /// Accepted for the conformance protocol; bt-exec fetches no trusted
        /// root, so --trusted-root must name the staging one.
        #[arg(long)]
        staging: bool,
        /// The bundle (one JSON document, or JSON lines: the first that
        /// verifies counts).
        #[arg(long, value_name = "FILE")]
        bundle: PathBuf,
        /// The SAN the signing certificate must carry, exactly.
        #[arg(
            long,
            value_name = "IDENTITY",
            requires = "certificate_oidc_issuer",
            required_unless_present = "key"
        )]
        certificate_identity: Option<String>,
        /// The OIDC issuer the signing certificate must name, exactly.
        #[arg(long, value_name = "URL", requires = "certificate_identity")]
        certificate_oidc_issuer: Option<String>,
        /// A PEM public key the bundle must be signed with (instead of an identity).
        #[arg(long, value_name = "FILE", conflicts_with = "certificate_identity")]
        key: Option<PathBuf>,
        /// The Sigstore trusted root (trusted_root.json)
        /// [default: the policy's [sigstore] trusted_root].
        #[arg(long, value_name = "FILE")]
        trusted_root: Option<PathBuf>,
        /// The policy whose [sigstore] trusted_root to use when --trusted-root is not given.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Print the verdict as one JSON document on stdout.
        #[arg(long)]
        json: bool,
        /// The artifact: a file, or sha256:HEX.
        #[arg(value_name = "FILE_OR_DIGEST")]
        artifact: String,
    },
    /// Fetch every policy log's checkpoint now: prove it consistent with the
    /// saved one, save it, prove pending checkpoint pairs, raise an alarm on a
    /// split view, and bring the release history up to date when the policy's
    /// rules read it. Runs start it in the background once the saved
    /// checkpoints are older than require.refresh; a timer may run it too.
    /// Exits 0 when every log was refreshed, 123 on a split view, 124 when a
    /// log could not be reached (its saved checkpoint stays in force while it
    /// meets the policy), 126 when a log's checkpoint no longer meets the
    /// policy, 125 when the state cannot be written.
    Refresh {
        /// The policy file.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Start a detached refresher and exit at once (what a run does).
        #[arg(long, hide = true, requires = "lock_fd")]
        detach: bool,
        /// With --detach: the descriptor on which the run took the refresh lock.
        #[arg(long, hide = true, value_name = "FD")]
        lock_fd: Option<i32>,
        /// Be the detached refresher: no terminal, the outcome recorded only.
        #[arg(long, hide = true, conflicts_with = "detach")]
        background: bool,
    },
    /// Share the checkpoint cache with other machines.
    #[command(subcommand)]
    Gossip(GossipCmd),
    /// Prove pending checkpoint pairs (reaching their logs, unless --offline),
    /// then show each log's cached checkpoint, its age, alarms, pending pairs
    /// and the cache size (its content-addressed files; temporary files are
    /// not counted). Exits 123 when a pair is a split view or while any log's
    /// alarm stands.
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
    /// The guard: a root daemon that answers every exec on the filesystems
    /// its configuration names from its own state (docs/GUARD.md).
    #[command(subcommand)]
    Guard(GuardCmd),
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
pub enum GuardCmd {
    /// Run the guard (as root; the systemd unit bt-exec-guard.service does):
    /// fanotify FAN_OPEN_EXEC_PERM on each filesystem the configuration
    /// names; an exec of a file there is allowed when its SHA-256 is proven
    /// from the guard's state under its policy (or it is exempt), else
    /// denied with EPERM (enforce) or allowed and recorded (audit). Runs
    /// until stopped; when it stops, the kernel lets every exec through.
    Run {
        /// The guard's configuration.
        #[arg(long, value_name = "FILE", default_value = crate::exec::guard::config::DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Show the running guard's mode, counters, logs and records (exits 124
    /// when no guard answers).
    Status {
        /// The guard's configuration (where its socket is).
        #[arg(long, value_name = "FILE", default_value = crate::exec::guard::config::DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Have the running guard refresh every log's checkpoint now (root only).
    Refresh {
        /// The guard's configuration (where its socket is).
        #[arg(long, value_name = "FILE", default_value = crate::exec::guard::config::DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Write the SHA-256 allow-list of the installed Debian packages'
    /// executables: each file dpkg lists is hashed again from disk, and
    /// listed only when its MD5 matches what dpkg recorded.
    Snapshot {
        /// The guard's configuration (its allow_list is written).
        #[arg(long, value_name = "FILE", default_value = crate::exec::guard::config::DEFAULT_CONFIG)]
        config: PathBuf,
        /// Write here instead of the configuration's allow_list.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// The system's root directory (dpkg's database is below it).
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
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
const EXEC_SUBCOMMANDS: [&str; 10] = [
    "verify",
    "verify-bundle",
    "refresh",
    "gossip",
    "status",
    "alarm",
    "guard",
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
            run: RunArgs {
                common,
                sigstore: SigstoreArgs::default(),
                program,
            },
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
            &["--", "refresh"],
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
            &["refresh"],
            &["refresh", "--policy", "p"],
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
