//! bt-log: publish releases into a C2SP tiled transparency log, serve it,
//! and witness other logs. Argument parsing and printing only; the work is
//! in the `bt_exec` library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Parser;

use bt_exec::cli::{
    AddArgs, Cli, Cmd, MonitorArgs, PublishArgs, ServeArgs, WitnessCmd, WitnessServeArgs,
};

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
        proofs: a.proofs,
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

/// Exit status of a monitor pass that verified but found alerts.
const EXIT_ALERTS: u8 = 4;

fn monitor(m: MonitorArgs) -> Result<ExitCode> {
    let opts = monitor_options(&m)?;
    if m.rekor {
        let watch = rekor_watch(&m)?;
        return report_pass(&m.url, &|list| {
            bt_exec::monitor::rekor::run(&opts, &watch, &mut |s| {
                for a in &s.alerts {
                    eprintln!("bt-log monitor: ALERT at index {}: {a}", s.index);
                }
                if s.listed() {
                    list(if m.json {
                        s.json().to_string()
                    } else {
                        s.line()
                    });
                }
            })
        });
    }
    report_pass(&m.url, &|list| {
        bt_exec::monitor::run(&opts, &mut |s| {
            for a in &s.alerts {
                eprintln!("bt-log monitor: ALERT at index {}: {a}", s.index);
            }
            if m.name.as_ref().is_some_and(|n| n != &s.entry.release.name) {
                return;
            }
            list(if m.json {
                s.json().to_string()
            } else {
                s.line()
            });
        })
    })
}

/// A monitoring pass, given the function that lists one line.
type Pass<'a> = dyn Fn(&mut dyn FnMut(String)) -> PassOutcome + 'a;
type PassOutcome = Result<bt_exec::monitor::Outcome, bt_exec::monitor::Fault>;

/// Runs `pass` and reports it: the listed lines are printed only once the
/// whole pass has verified (spooled to a temporary file meanwhile, so
/// memory stays bounded), then a summary; the exit status.
fn report_pass(url: &str, pass: &Pass) -> Result<ExitCode> {
    use std::io::Write;
    let mut spool = std::io::BufWriter::new(tempfile::tempfile().context("temporary file")?);
    let mut write_err = None;
    let mut listed = 0u64;
    let outcome = pass(&mut |line| {
        listed += 1;
        if let Err(e) = writeln!(spool, "{line}") {
            write_err.get_or_insert(e);
        }
    });
    let outcome = match outcome {
        Ok(o) => o,
        Err(fault) => {
            eprintln!("bt-log monitor: FAULT in {url}: {fault}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if let Some(e) = write_err {
        return Err(e).context("spooling the list");
    }
    let mut file = spool.into_inner().map_err(|e| e.into_error())?;
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))?;
    std::io::copy(&mut file, &mut std::io::stdout().lock())?;
    eprintln!(
        "bt-log monitor: {url} verified at size {} ({} new entries, {listed} listed; read {} tiles, {} bundles, {} bytes); {} alert(s)",
        outcome.size,
        outcome.size - outcome.previous,
        outcome.tiles_read,
        outcome.bundles_read,
        outcome.bytes_read,
        outcome.alerts
    );
    Ok(if outcome.alerts > 0 {
        ExitCode::from(EXIT_ALERTS)
    } else {
        ExitCode::SUCCESS
    })
}

/// What `bt-log monitor --rekor` lists, from its flags.
fn rekor_watch(m: &MonitorArgs) -> Result<bt_exec::monitor::rekor::Watch> {
    use bt_exec::sigstore::{Key, SanPattern};
    let identities = m
        .identities
        .iter()
        .map(|i| SanPattern::parse(i).map_err(|e| anyhow::anyhow!("--identity: {e}")))
        .collect::<Result<Vec<_>>>()?;
    let keys = m
        .signer_keys
        .iter()
        .map(|p| {
            let pem = std::fs::read_to_string(p)
                .with_context(|| format!("--signer-key {}", p.display()))?;
            let k = Key::from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("--signer-key {}: {e}", p.display()))?;
            let mut fp = [0u8; 32];
            hex::decode_to_slice(&k.fingerprint, &mut fp)?;
            Ok(fp)
        })
        .collect::<Result<Vec<_>>>()?;
    let sha256 = m
        .sha256
        .iter()
        .map(|h| {
            let mut d = [0u8; 32];
            hex::decode_to_slice(h.trim(), &mut d)
                .map_err(|_| anyhow::anyhow!("--sha256 {h:?}: not 64 hex digits"))?;
            Ok(d)
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(bt_exec::monitor::rekor::Watch {
        identities,
        issuers: m.issuers.clone(),
        keys,
        sha256,
    })
}

/// What `bt-log monitor` is to check, from its flags.
fn monitor_options(m: &MonitorArgs) -> Result<bt_exec::monitor::MonitorOptions> {
    let key = VerifierKey::parse_log(&m.key)?;
    let witnesses = m
        .witnesses
        .iter()
        .map(|w| VerifierKey::parse_witness(w))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = match &m.policy {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            Some(
                bt_exec::policy::TrustPolicy::parse(&text)
                    .with_context(|| p.display().to_string())?,
            )
        }
        None => None,
    };
    let rebuilders = m
        .rebuilders
        .iter()
        .map(|r| {
            let (name, key) = r
                .split_once('=')
                .with_context(|| format!("--rebuilder {r:?}: NAME=KEY"))?;
            Ok((name.to_string(), bt_exec::note::parse_public_key(key)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let state_root = match m.state.clone() {
        Some(s) => s,
        None => bt_exec::monitor::default_state_root()
            .context("no state directory: give --state DIR")?,
    };
    Ok(bt_exec::monitor::MonitorOptions {
        url: m.url.clone(),
        key,
        witnesses,
        policy,
        state_root,
        rebuilders,
        progress: std::io::stderr().is_terminal(),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    })
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Exit status when fewer logs than --min-logs gave a verified proof.
const EXIT_TOO_FEW_LOGS: u8 = 5;

fn publish(a: PublishArgs) -> Result<ExitCode> {
    use bt_exec::publish::{self, Outcome};
    let trust = match &a.policy {
        Some(p) => bt_exec::policy::Policy::load(p)?.trust,
        None => publish::every_witness(&a.witnesses)?,
    };
    let logs = a
        .logs
        .iter()
        .map(|l| publish::Target::parse(l))
        .collect::<Result<Vec<_>, _>>()?;
    let wait = bt_exec::policy::parse_duration(&a.wait)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--wait: not a duration like 30s or 2m"))?;
    let o = publish::Options {
        publisher: log::load_secret_key(&a.publisher_key)?,
        file: a.file,
        name: a.name,
        version: a.version,
        platform: a.platform,
        cas_urls: a.cas_urls,
        source: source(a.source_repo, a.source_rev)?,
        min_logs: a.min_logs.unwrap_or(logs.len()),
        logs,
        trust,
        wait,
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    };
    // Progress, a line per step, on stderr (not with --json).
    let quiet = a.json;
    let say = move |m: &str| {
        if !quiet {
            eprintln!("bt-log: {m}");
        }
    };
    let report = publish::publish(&o, &say)?;
    if a.json {
        println!("{}", publish_json(&o.file, &report));
    }
    for (t, out) in &report.outcomes {
        if let Outcome::Failed(why) = out {
            eprintln!("bt-log: {}: no verified proof: {why}", t.label());
        }
    }
    if !report.enough() {
        eprintln!(
            "bt-log: error: {} of {} logs gave a verified proof; --min-logs is {}",
            report.verified(),
            report.outcomes.len(),
            report.min_logs
        );
        return Ok(ExitCode::from(EXIT_TOO_FEW_LOGS));
    }
    if !a.json {
        eprintln!(
            "bt-log: {} of {} logs proven; proofs in {}",
            report.verified(),
            report.outcomes.len(),
            bt_exec::fsutil::beside(&o.file, ".tlog-proofs").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `bt-log publish --json`: each log's outcome; a proof's path only for
/// the logs that gave one, and for the others what failed, by kind.
fn publish_json(file: &std::path::Path, report: &bt_exec::publish::Report) -> serde_json::Value {
    use bt_exec::publish::{self, Outcome};
    let logs: Vec<serde_json::Value> = report
        .outcomes
        .iter()
        .map(|(t, out)| {
            let mut v = serde_json::json!({"url": t.url, "origin": t.key.name});
            match out {
                Outcome::Kept { index } => {
                    v["status"] = "kept".into();
                    v["index"] = (*index).into();
                    v["proof"] = publish::proof_path(file, &t.id)
                        .display()
                        .to_string()
                        .into();
                }
                Outcome::Proven { index, size } => {
                    v["status"] = "proven".into();
                    v["index"] = (*index).into();
                    v["checkpoint_size"] = (*size).into();
                    v["proof"] = publish::proof_path(file, &t.id)
                        .display()
                        .to_string()
                        .into();
                }
                Outcome::Failed(f) => {
                    v["status"] = "failed".into();
                    v["failure"] = f.kind().into();
                    v["error"] = f.to_string().into();
                    if let Some(i) = f.index() {
                        v["index"] = i.into();
                    }
                }
            }
            v
        })
        .collect();
    serde_json::json!({"entry": report.entry, "verified": report.verified(),
        "min_logs": report.min_logs, "logs": logs})
}

fn serve(a: ServeArgs) -> Result<()> {
    use bt_exec::accept::{self, http, service};
    let dir = a.dir;
    if !dir.join("checkpoint").is_file() {
        bail!("{} has no checkpoint: not a log directory", dir.display());
    }
    let mut running = None;
    if let Some(file) = &a.accept {
        // Sub-second intervals are written in milliseconds (500ms).
        let interval = match a.checkpoint_interval.strip_suffix("ms") {
            Some(ms) => ms.parse().ok().map(std::time::Duration::from_millis),
            None => bt_exec::policy::parse_duration(&a.checkpoint_interval),
        }
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--checkpoint-interval: not a duration like 1s or 500ms"))?;
        let recosign_after = bt_exec::policy::parse_duration(&a.recosign_after)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| anyhow::anyhow!("--recosign-after: not a duration like 1h or 30m"))?;
        let admission = accept::Admission::load(file)?;
        running = Some(service::start(
            &dir,
            service::Config {
                admission,
                interval,
                recosign_after,
            },
        )?);
    }
    let writes = running.as_ref().map(|r| r.service.clone());
    let proxies = http::Proxies(Arc::new(a.trusted_proxy));
    let served = runtime()?.block_on(async {
        let mut router = bt_exec::serve::router(&dir)?;
        if let Some(svc) = writes {
            router = router.merge(http::router(svc, proxies));
        }
        let l = bt_exec::serve::httpd::bind(&a.listen).await?;
        let stop = bt_exec::serve::httpd::StopSignal::install()?;
        eprintln!(
            "bt-log: serving {} on http://{}{}",
            dir.display(),
            l.local_addr()?,
            if a.accept.is_some() {
                ", accepting entries"
            } else {
                ""
            }
        );
        bt_exec::serve::httpd::serve(l, router, stop).await
    });
    // Whatever was given an index is written and integrated before exit.
    if let Some(r) = running {
        r.stop();
    }
    Ok(served?)
}

fn witness_serve(a: WitnessServeArgs) -> Result<()> {
    use bt_exec::witness::{lists, service};
    let logs = a
        .logs
        .iter()
        .map(|v| VerifierKey::parse_log(v))
        .collect::<Result<Vec<_>, _>>()?;
    if logs.is_empty() && a.log_lists.is_empty() {
        bail!("name the logs to witness: --log VKEY or --log-list FILE_OR_URL");
    }
    if !(a.default_qpd.is_finite() && a.default_qpd >= 0.0) {
        bail!("--default-qpd must be a non-negative number");
    }
    let interval = bt_exec::policy::parse_duration(&a.log_list_interval)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("--log-list-interval: not a duration like 10m or 1h"))?;
    let cfg = service::Config {
        key: log::load_secret_key(&a.key)?,
        state: a.state,
        logs,
        default_qpd: a.default_qpd,
        sources: a
            .log_lists
            .iter()
            .map(|s| lists::Source::parse(s))
            .collect(),
        interval,
    };
    let say: Arc<dyn Fn(&str) + Send + Sync> = Arc::new(|m: &str| eprintln!("bt-log: {m}"));
    runtime()?.block_on(async {
        let l = bt_exec::serve::httpd::bind(&a.listen).await?;
        let stop = bt_exec::serve::httpd::StopSignal::install()?;
        service::run(cfg, l, stop, say)
            .await
            .map_err(anyhow::Error::msg)
    })
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
            witness_qpd,
        } => {
            let mut w = witnesses
                .iter()
                .map(|s| log::parse_witness_arg(s))
                .collect::<Result<Vec<_>, _>>()?;
            log::apply_witness_qpd(&mut w, &witness_qpd)?;
            let v = log::init(&dir, &origin, &key, w)?;
            println!("{v}");
        }
        Cmd::Add(a) => return add(a),
        Cmd::Cosign { dir, older_than } => {
            let older_than = bt_exec::policy::parse_duration(&older_than)
                .ok_or_else(|| anyhow::anyhow!("--older-than: not a duration like 1h or 30m"))?;
            let r = log::cosign(&dir, Some(older_than))?;
            eprintln!(
                "bt-log: checkpoint of size {}: {} witness(es) had cosigned, {} cosigned now",
                r.size,
                r.had,
                r.cosigned.len()
            );
            if !r.failures.is_empty() {
                for (url, why) in &r.failures {
                    eprintln!("bt-log: warning: witness {url} did not cosign: {why}");
                }
                return Ok(ExitCode::from(EXIT_NO_QUORUM));
            }
        }
        Cmd::Monitor(m) => return monitor(m),
        Cmd::Serve(a) => serve(a)?,
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            let script = bt_exec::cli::completions(shell, Cli::command(), "bt-log");
            std::io::Write::write_all(&mut std::io::stdout().lock(), &script)?;
        }
        Cmd::Publish(a) => return publish(a),
        Cmd::Proof { dir, index } => {
            print!("{}", log::proof(&dir, index)?);
        }
        Cmd::Witness(WitnessCmd::Serve(a)) => witness_serve(a)?,
        Cmd::Witness(WitnessCmd::Info { key, url }) => {
            let key = log::load_secret_key(&key)?;
            for line in
                bt_exec::witness::service::info(&key, url.as_deref()).map_err(anyhow::Error::msg)?
            {
                println!("{line}");
            }
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
