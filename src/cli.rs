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
integrated and published but at least one configured witness did not cosign."
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
    },
    /// Add one release, or a JSONL manifest of many, under one new checkpoint.
    Add(AddArgs),
    /// Serve a log directory over HTTP until SIGTERM.
    Serve {
        /// The log directory.
        dir: PathBuf,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Witness commands.
    #[command(subcommand)]
    Witness(WitnessCmd),
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
}

#[derive(Subcommand)]
pub enum WitnessCmd {
    /// Run a C2SP tlog-witness (POST /add-checkpoint) until SIGTERM.
    Serve {
        /// The witness's secret key.
        #[arg(long)]
        key: PathBuf,
        /// Directory for the witness's durable state.
        #[arg(long)]
        state: PathBuf,
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:8081")]
        listen: String,
        /// A log to witness: its vkey, whose name is its origin (repeatable).
        #[arg(long = "log", value_name = "VKEY")]
        logs: Vec<String>,
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
