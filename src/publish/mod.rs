//! `bt-log publish`: one release into several independent logs, with a
//! witnessed proof from each written beside the file.
//!
//! The entry is signed here (the publisher's key never leaves the machine)
//! and kept beside the file as `FILE.bt-entry`, so a re-run sends the same
//! bytes (each log answers with the index it gave them) instead of a new
//! `published` time — a second entry per log for one release. Before
//! anything is sent, every `--cas-url` must serve exactly the file's
//! bytes. Each log is then asked concurrently ([`logs`]); a proof is
//! written only once it verifies against the log's key and the witness
//! requirement (every `--witness`, or a policy's quorum).
//!
//! Layout beside `FILE` (docs/FORMATS.md): `FILE.tlog-proofs/<id>.tlog-proof`,
//! one C2SP tlog-proof per log, `<id>` the 32 hex digits of the log's key
//! hash ([`crate::log_id::LogId::key_hash`]): what bt-exec looks for for
//! each log its policy trusts.

mod failure;
pub mod logs;

pub use failure::Failure;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::entry::{Entry, Release, Source as BuildSource};
use crate::fsutil::{self, Durability};
use crate::log_id::LogId;
use crate::note::{SecretKey, VerifierKey};
use crate::policy::{Quorum, TrustPolicy, WitnessSpec};

/// Why a publish could not even start.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{0}")]
    Cas(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PublishError + '_ {
    move |err| PublishError::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// A log to publish to: its submission/read URL and key.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub key: VerifierKey,
    pub id: LogId,
}

impl Target {
    /// `URL=VKEY` (split at the first `=`: vkeys end in `=`).
    pub fn parse(arg: &str) -> Result<Target, PublishError> {
        let bad = |why: String| PublishError::Usage(format!("--log {arg:?}: {why}"));
        let (url, vkey) = arg
            .split_once('=')
            .ok_or_else(|| bad("takes URL=VKEY".into()))?;
        let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(bad("the URL must be http or https".into()));
        }
        let key = VerifierKey::parse_log(vkey).map_err(|e| bad(e.to_string()))?;
        Ok(Target {
            url: url.trim_end_matches('/').to_string(),
            id: LogId::new(&key.name, &key),
            key,
        })
    }

    /// How messages name it.
    pub fn label(&self) -> String {
        format!("{} ({})", self.key.name, self.url)
    }
}

/// The file, beside `file`, holding its proof from log `id`.
pub fn proof_path(file: &Path, id: &LogId) -> PathBuf {
    fsutil::beside(file, ".tlog-proofs").join(format!("{}.tlog-proof", id.key_hash()))
}

/// The file beside `file` holding the exact entry signed for it.
pub fn entry_path(file: &Path) -> PathBuf {
    fsutil::beside(file, ".bt-entry")
}

/// The witness requirement when witnesses are given as vkeys: every one
/// of them (use a policy for a quorum).
pub fn every_witness(vkeys: &[String]) -> Result<TrustPolicy, PublishError> {
    let mut witnesses = Vec::new();
    for v in vkeys {
        let key = VerifierKey::parse_witness(v)
            .map_err(|e| PublishError::Usage(format!("--witness {v:?}: {e}")))?;
        witnesses.push(WitnessSpec {
            name: key.name.clone(),
            key: key.to_cosignature_key(),
            url: None,
        });
    }
    let quorum = match witnesses.len() {
        0 => Quorum::None,
        n => Quorum::Group {
            name: "every --witness".into(),
            k: n,
            members: (0..n).map(Quorum::Witness).collect(),
        },
    };
    Ok(TrustPolicy {
        logs: vec![],
        witnesses,
        quorum,
    })
}

/// What is published, and how.
pub struct Options {
    pub file: PathBuf,
    pub name: String,
    pub version: String,
    pub platform: String,
    pub publisher: SecretKey,
    pub cas_urls: Vec<String>,
    pub source: Option<BuildSource>,
    pub logs: Vec<Target>,
    pub trust: TrustPolicy,
    pub min_logs: usize,
    /// How long every log together may take.
    pub wait: Duration,
    /// Unix seconds recorded as `published` when a new entry is signed.
    pub now: u64,
}

/// The entry to send: the one kept beside the file when it is this very
/// release, else a new one, signed and kept there.
pub fn entry_for(o: &Options, sha256: [u8; 32], size: u64) -> Result<Vec<u8>, PublishError> {
    let hexh = hex::encode(sha256);
    let cas: Vec<String> = o
        .cas_urls
        .iter()
        .map(|b| format!("{}/sha256/{hexh}", b.trim_end_matches('/')))
        .collect();
    let path = entry_path(&o.file);
    let kept = fsutil::read_optional(&path, crate::entry::MAX_LEAF_BYTES + 1).map_err(io(&path))?;
    // Without the kept entry (a CI job re-run from a fresh checkout), the
    // entry a proof beside the file carries, if it is this very release
    // signed by this key: signing a new one would put a second entry for
    // one release in every log.
    let kept = kept.or_else(|| {
        let leaf = from_proofs(o, sha256, size, &cas)?;
        fsutil::write_atomic(&path, &leaf, 0o644, Durability::Sync).ok()?;
        Some(leaf)
    });
    if let Some(leaf) = kept {
        let e = Entry::decode_verified(&leaf)
            .map_err(|e| PublishError::Usage(format!("{}: {e}", path.display())))?;
        let r = &e.release;
        if !is_this_release(o, &e, sha256, size, &cas) {
            return Err(PublishError::Usage(format!(
                "{} was signed for another release ({} {} {}, sha256 {}): remove it to publish this one as a new entry",
                path.display(),
                r.name,
                r.version,
                r.platform,
                hex::encode(r.sha256)
            )));
        }
        return Ok(leaf);
    }
    let release = Release {
        name: o.name.clone(),
        version: o.version.clone(),
        platform: o.platform.clone(),
        sha256,
        size,
        published: o.now,
        cas,
        source: o.source.clone(),
    };
    let leaf = Entry::sign(release, &o.publisher.key)
        .map_err(|e| PublishError::Usage(e.to_string()))?
        .encode();
    fsutil::write_atomic(&path, &leaf, 0o644, Durability::Sync).map_err(io(&path))?;
    Ok(leaf)
}

/// Whether `e` is exactly the release `o` describes (these bytes, name,
/// version, platform, CAS URLs and source), signed by `o`'s key.
fn is_this_release(o: &Options, e: &Entry, sha256: [u8; 32], size: u64, cas: &[String]) -> bool {
    let r = &e.release;
    r.sha256 == sha256
        && r.size == size
        && r.name == o.name
        && r.version == o.version
        && r.platform == o.platform
        && r.cas == cas
        && r.source == o.source
        && e.publisher.as_bytes() == o.publisher.key.verifying_key().as_bytes()
}

/// The entry a proof beside the file carries for one of `o.logs`, when it
/// is exactly the release `o` describes, signed by `o`'s key.
fn from_proofs(o: &Options, sha256: [u8; 32], size: u64, cas: &[String]) -> Option<Vec<u8>> {
    o.logs.iter().find_map(|t| {
        let bytes =
            fsutil::read_optional(&proof_path(&o.file, &t.id), crate::tlog::MAX_PROOF_BYTES)
                .ok()??;
        let leaf = crate::tlog::TlogProof::parse(&bytes).ok()?.extra?;
        let e = Entry::decode_verified(&leaf).ok()?;
        is_this_release(o, &e, sha256, size, cas).then_some(leaf)
    })
}

/// The file's SHA-256 and size, streamed (a regular file only).
pub fn hash_file(path: &Path) -> Result<([u8; 32], u64), PublishError> {
    let f = fsutil::open_regular(path).map_err(io(path))?;
    fsutil::sha256_reader(f, crate::log::MAX_RELEASE_BYTES).map_err(io(path))
}

/// Checks every CAS URL of the entry serves exactly the file's bytes, so
/// that `NAME@VERSION` and `prior_revisions` work for users — before any
/// log is asked.
pub fn check_cas(leaf: &[u8], deadline: std::time::Instant) -> Result<(), PublishError> {
    use sha2::{Digest, Sha256};
    let e = Entry::decode(leaf).map_err(|e| PublishError::Usage(e.to_string()))?;
    for url in &e.release.cas {
        struct Hashing(Sha256);
        impl std::io::Write for Hashing {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.update(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut h = Hashing(Sha256::new());
        crate::fetch::download(url, e.release.size, deadline, &mut h, &mut |_| {})
            .map_err(|err| PublishError::Cas(format!("--cas-url: {err}")))?;
        let got: [u8; 32] = h.0.finalize().into();
        if got != e.release.sha256 {
            return Err(PublishError::Cas(format!(
                "--cas-url: {url} serves other bytes (sha256 {}, the file's is {})",
                hex::encode(got),
                hex::encode(e.release.sha256)
            )));
        }
    }
    Ok(())
}

/// What came of one log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A proof beside the file verified already; nothing was sent.
    Kept { index: u64 },
    /// A proof was made and written.
    Proven { index: u64, size: u64 },
    /// No verified proof, and why.
    Failed(Failure),
}

/// The result of a publish.
pub struct Report {
    pub entry: PathBuf,
    pub outcomes: Vec<(Target, Outcome)>,
    pub min_logs: usize,
}

impl Report {
    pub fn verified(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| !matches!(o, Outcome::Failed(_)))
            .count()
    }

    pub fn enough(&self) -> bool {
        self.verified() >= self.min_logs
    }
}

/// Publishes `o.file` to every log. `say` is told progress, one line at a
/// time.
pub fn publish(o: &Options, say: &(dyn Fn(&str) + Sync)) -> Result<Report, PublishError> {
    if o.logs.is_empty() {
        return Err(PublishError::Usage(
            "name at least one --log URL=VKEY".into(),
        ));
    }
    if o.min_logs == 0 || o.min_logs > o.logs.len() {
        return Err(PublishError::Usage(format!(
            "--min-logs must be between 1 and the {} logs named",
            o.logs.len()
        )));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(t) = o.logs.iter().find(|t| !seen.insert(t.id.key_hash())) {
        return Err(PublishError::Usage(format!(
            "--log names {} twice: one log proves a release once",
            t.key.name
        )));
    }
    let deadline = std::time::Instant::now()
        .checked_add(o.wait)
        .ok_or_else(|| PublishError::Usage("--wait is too long".into()))?;
    let (sha256, size) = hash_file(&o.file)?;
    let leaf = entry_for(o, sha256, size)?;
    check_cas(&leaf, deadline)?;
    let dir = fsutil::beside(&o.file, ".tlog-proofs");
    // Proofs go into a directory beside the file, never through a link
    // (bt-exec refuses one there too).
    if std::fs::symlink_metadata(&dir).is_ok_and(|m| !m.is_dir()) {
        return Err(PublishError::Usage(format!(
            "{} exists and is not a directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let outcomes = std::thread::scope(|s| {
        let handles: Vec<_> = o
            .logs
            .iter()
            .map(|t| {
                let leaf = &leaf;
                s.spawn(move || logs::one(o, t, leaf, deadline, say))
            })
            .collect();
        handles
            .into_iter()
            .zip(&o.logs)
            .map(|(h, t)| {
                let out = h
                    .join()
                    .unwrap_or_else(|_| Outcome::Failed(Failure::Other("internal error".into())));
                (t.clone(), out)
            })
            .collect()
    });
    Ok(Report {
        entry: entry_path(&o.file),
        outcomes,
        min_logs: o.min_logs,
    })
}
