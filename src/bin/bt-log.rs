//! bt-log: publish releases into a C2SP tiled transparency log, serve it,
//! and witness other logs. Argument parsing and printing only; the work is
//! in the `bt_exec` library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Parser;

use bt_exec::cli::{AddArgs, Cli, Cmd, WitnessCmd};

use bt_exec::entry::Source;
use bt_exec::log::{self, AddOptions, NewRelease};
use bt_exec::note::VerifierKey;

/// Exit status when releases were integrated but a witness did not cosign.
const EXIT_NO_QUORUM: u8 = 3;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestLine {
    file: PathBuf,
    name: String,
    version: String,
    platform: Option<String>,
    cas_url: Option<String>,
    source_repo: Option<String>,
    source_rev: Option<String>,
}

fn source(repo: Option<String>, rev: Option<String>) -> Result<Option<Source>> {
    match (repo, rev) {
        (Some(repo), Some(rev)) => Ok(Some(Source { repo, rev })),
        (None, None) => Ok(None),
        _ => bail!("source_repo and source_rev go together"),
    }
}

fn read_manifest(path: &Path) -> Result<Vec<NewRelease>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let m: ManifestLine =
            serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), i + 1))?;
        out.push(NewRelease {
            file: base.join(m.file),
            name: m.name,
            version: m.version,
            platform: m.platform.unwrap_or_else(|| "any".into()),
            cas_url: m.cas_url,
            source: source(m.source_repo, m.source_rev)
                .with_context(|| format!("{}:{}", path.display(), i + 1))?,
        });
    }
    Ok(out)
}

fn add(a: AddArgs) -> Result<ExitCode> {
    let releases = match &a.manifest {
        Some(m) => read_manifest(m)?,
        None => {
            let (Some(file), Some(name), Some(version)) = (a.file, a.name, a.version) else {
                bail!("give FILE --name N --version V, or --manifest FILE.jsonl");
            };
            vec![NewRelease {
                file,
                name,
                version,
                platform: a.platform,
                cas_url: a.cas_url,
                source: source(a.source_repo, a.source_rev)?,
            }]
        }
    };
    let publisher = log::load_secret_key(&a.publisher_key)?;
    let opts = AddOptions {
        now: None,
        progress: std::io::stderr().is_terminal() && releases.len() > 1000,
    };
    let report = log::add(&a.dir, &releases, &publisher, &opts)?;
    if a.manifest.is_some() {
        for (i, e) in report.indexes.iter().zip(&report.entries) {
            println!(
                "{i} {} {} {}",
                e.release.name,
                e.release.version,
                hex::encode(e.release.sha256)
            );
        }
    } else if let Some(i) = report.indexes.first() {
        println!("{i}");
    }
    eprintln!(
        "bt-log: integrated {} release(s); checkpoint size {}, {} cosignature(s)",
        report.indexes.len(),
        report.checkpoint.size,
        report.cosigned.len()
    );
    if !report.quorum_met() {
        for (url, why) in &report.witness_failures {
            eprintln!("bt-log: warning: witness {url} did not cosign: {why}");
        }
        eprintln!("bt-log: the checkpoint is published without those cosignatures; clients that require them will refuse it until the next add succeeds");
        return Ok(ExitCode::from(EXIT_NO_QUORUM));
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Keygen { name, out } => {
            let v = log::keygen(&name, &out)?;
            println!("{v}");
        }
        Cmd::Init {
            dir,
            origin,
            key,
            witnesses,
        } => {
            let w = witnesses
                .iter()
                .map(|s| log::parse_witness_arg(s))
                .collect::<Result<Vec<_>, _>>()?;
            let v = log::init(&dir, &origin, &key, w)?;
            println!("{v}");
        }
        Cmd::Add(a) => return add(a),
        Cmd::Serve { dir, listen } => {
            if !dir.join("checkpoint").is_file() {
                bail!("{} has no checkpoint: not a log directory", dir.display());
            }
            runtime()?.block_on(async {
                let l = bt_exec::httpd::bind(&listen).await?;
                let stop = bt_exec::httpd::StopSignal::install()?;
                eprintln!(
                    "bt-log: serving {} on http://{}",
                    dir.display(),
                    l.local_addr()?
                );
                bt_exec::serve::serve(&dir, l, stop).await
            })?;
        }
        Cmd::Witness(WitnessCmd::Serve {
            key,
            state,
            listen,
            logs,
        }) => {
            let key = log::load_secret_key(&key)?;
            let logs = logs
                .iter()
                .map(|v| VerifierKey::parse_log(v))
                .collect::<Result<Vec<_>, _>>()?;
            if logs.is_empty() {
                bail!("name at least one log to witness with --log VKEY");
            }
            let w = Arc::new(bt_exec::witness::server::Witness::open(key, &state, &logs)?);
            runtime()?.block_on(async {
                let l = bt_exec::httpd::bind(&listen).await?;
                let stop = bt_exec::httpd::StopSignal::install()?;
                eprintln!("bt-log: witness listening on http://{}", l.local_addr()?);
                bt_exec::witness::server::serve(w, l, stop).await
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bt-log: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
