//! The command line of `bt-log`.

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
    /// one name/version/platform logged with two hashes; with --rekor, a
    /// watched identity signing through another OIDC issuer); 1 a fault: the
    /// log misbehaved (split view, rollback, data that contradicts its
    /// checkpoint) or could not be read. With --rekor the log is a Rekor v2
    /// log, its entries listed by digest and signer.
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
    #[arg(long = "rebuilder", value_name = "NAME=KEY", conflicts_with = "rekor")]
    pub rebuilders: Vec<String>,
    /// Where the monitor keeps its checkpoint and view of the log
    /// [default: $BT_EXEC_STATE_DIR, else ~/.local/state/bt-exec].
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// List only releases of this name.
    #[arg(long, conflicts_with = "rekor")]
    pub name: Option<String>,
    /// One JSON object per release (per entry, with --rekor) on stdout.
    #[arg(long)]
    pub json: bool,
    /// The log is a Rekor v2 log (Sigstore's tiled log): list its
    /// hashedrekord and dsse entries by digest and signer.
    #[arg(long)]
    pub rekor: bool,
    /// With --rekor: list entries signed by this certificate SAN (an email
    /// or URI; one trailing * matches any suffix); repeatable.
    #[arg(long = "identity", value_name = "SAN", requires = "rekor")]
    pub identities: Vec<String>,
    /// With --identity: the OIDC issuer its certificates must come from
    /// (repeatable); a certificate for it from another is an alert.
    #[arg(long = "issuer", value_name = "URL", requires = "identities")]
    pub issuers: Vec<String>,
    /// With --rekor: list entries signed with this public key (a PEM
    /// file); repeatable.
    #[arg(long = "signer-key", value_name = "FILE", requires = "rekor")]
    pub signer_keys: Vec<PathBuf>,
    /// With --rekor: list entries whose logged digest is this SHA-256
    /// (hex); repeatable.
    #[arg(long = "sha256", value_name = "HEX", requires = "rekor")]
    pub sha256: Vec<String>,
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
