//! `bt-log witness serve` as a process: the logs of the command line and
//! of the log lists, read again every `--log-list-interval` and on SIGHUP
//! while requests are served, and the HTTP server. What happens is said
//! through `say` (the binary prints it).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::note::{SecretKey, VerifierKey};

use super::lists::{merge, update, LogSet, Source};
use super::loglist::LogList;
use super::server::Witness;

/// What `witness serve` was told.
pub struct Config {
    pub key: SecretKey,
    pub state: PathBuf,
    /// `--log VKEY`: always cosigned, at `default_qpd`.
    pub logs: Vec<VerifierKey>,
    pub default_qpd: f64,
    pub sources: Vec<Source>,
    pub interval: Duration,
}

/// The lists in force, one per source (`None`: never read), and the
/// command line's logs.
struct Lists {
    sources: Vec<Source>,
    current: Vec<Option<LogList>>,
    cli: Vec<VerifierKey>,
    default_qpd: f64,
}

impl Lists {
    /// Reads every source again; one that fails keeps its list. Returns
    /// how many failed; `Err` on the first failure when `strict` (at
    /// start, with nothing to keep).
    async fn reload(
        &mut self,
        client: &reqwest::Client,
        strict: bool,
        say: &(dyn Fn(&str) + Sync),
    ) -> Result<usize, String> {
        let mut failed = 0;
        for (source, current) in self.sources.iter().zip(self.current.iter_mut()) {
            let read = source.read(client).await;
            match update(read) {
                Ok(list) => {
                    for w in &list.warnings {
                        say(&format!("log list {}: {w}", source.describe()));
                    }
                    *current = Some(list);
                }
                Err(e) if strict => return Err(format!("log list {}: {e}", source.describe())),
                Err(e) => {
                    failed += 1;
                    say(&format!(
                        "log list {}: {e}; the list read before stays in force",
                        source.describe()
                    ))
                }
            }
        }
        Ok(failed)
    }

    fn merged(&self, say: &(dyn Fn(&str) + Sync)) -> LogSet {
        let lists: Vec<(String, &LogList)> = self
            .sources
            .iter()
            .zip(&self.current)
            .filter_map(|(s, l)| Some((s.describe(), l.as_ref()?)))
            .collect();
        let (set, warnings) = merge(&self.cli, self.default_qpd, &lists);
        for w in warnings {
            say(&w);
        }
        set
    }
}

/// Reads the lists, opens the witness, then serves on `listener` until
/// `stop`, reloading the lists meanwhile. `listening` is called once the
/// signal handlers are in place (so a SIGHUP sent after it is never lost).
pub async fn run(
    cfg: Config,
    listener: tokio::net::TcpListener,
    stop: crate::serve::httpd::StopSignal,
    say: Arc<dyn Fn(&str) + Send + Sync>,
) -> Result<(), String> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let client = crate::fetch::client().map_err(|e| e.to_string())?;
    let Config {
        key,
        state,
        logs,
        default_qpd,
        sources,
        interval,
    } = cfg;
    let mut lists = Lists {
        current: vec![None; sources.len()],
        sources,
        cli: logs,
        default_qpd,
    };
    lists.reload(&client, true, &*say).await?;
    let set = lists.merged(&*say);
    if set.is_empty() {
        return Err("no log to witness: name one with --log VKEY or --log-list".into());
    }
    let count = set.len();
    let w = Arc::new(Witness::open(key, &state, set).map_err(|e| e.to_string())?);
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    say(&format!(
        "witness of {count} logs listening on http://{addr}"
    ));
    let reloader = {
        let w = Arc::clone(&w);
        let say = Arc::clone(&say);
        tokio::spawn(async move {
            if lists.sources.is_empty() {
                return;
            }
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {},
                    _ = hup.recv() => {},
                }
                let failed = lists.reload(&client, false, &*say).await.unwrap_or(0);
                let set = lists.merged(&*say);
                say(&changes(&w.logs(), &set, failed, lists.sources.len()));
                w.set_logs(set);
            }
        })
    };
    let served = super::server::serve(w, listener, stop).await;
    reloader.abort();
    served.map_err(|e| e.to_string())
}

/// What a reload changed, in one line; each log whose key a list replaced
/// is named (the log is still held to the size it had under the old one).
fn changes(before: &LogSet, after: &LogSet, failed: usize, sources: usize) -> String {
    let added = after.keys().filter(|o| !before.contains_key(*o)).count();
    let removed = before.keys().filter(|o| !after.contains_key(*o)).count();
    let mut line = format!(
        "log lists read again: {} logs ({added} added, {removed} no longer listed)",
        after.len()
    );
    for (origin, k) in after {
        if let Some(old) = before.get(origin).filter(|o| o.key != k.key) {
            line.push_str(&format!(
                "; {origin}: key {} replaced by {}",
                old.key, k.key
            ));
        }
    }
    if failed > 0 {
        line.push_str(&format!(
            "; {failed} of {sources} lists could not be read, the lists read before kept"
        ));
    }
    line
}

/// What `witness info` prints, one `keyword value` per line: the witness's
/// cosignature/v1 (0x04) verifier key, what log operators configure and
/// policies name; with the witness's public base URL, its add-checkpoint
/// URL and its monitoring prefix.
pub fn info(key: &SecretKey, url: Option<&str>) -> Result<Vec<String>, String> {
    let mut out = vec![format!("vkey {}", key.verifier().to_cosignature_key())];
    if let Some(u) = url.map(|u| u.trim_end_matches('/')) {
        let parsed = url::Url::parse(u).map_err(|e| format!("--url {u:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") || u.contains(char::is_whitespace) {
            return Err(format!("--url {u:?}: not an http(s) URL"));
        }
        out.push(format!("add-checkpoint {u}/add-checkpoint"));
        out.push(format!("monitoring {u}/monitor"));
    }
    Ok(out)
}
