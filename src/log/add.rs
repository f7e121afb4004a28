//! `bt-log add`: releases hashed (and copied to the CAS when asked),
//! signed by their publisher and integrated under one new checkpoint; and
//! [`append`], for entries their publishers signed. Both take the log's
//! lock and integrate the submission queue first, then write through
//! [`super::writer`].

use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::config::{io, load_secret_key, lock, LogConfig, LogError};
use super::writer::{append_locked, integrate_queue, now_secs, AddReport, Integrate};
use crate::entry::{Entry, Release, Source};
use crate::fsutil::{self, Durability};
use crate::note::SecretKey;

/// One release to add.
#[derive(Debug, Clone)]
pub struct NewRelease {
    pub file: PathBuf,
    pub name: String,
    pub version: String,
    pub platform: String,
    pub cas_url: Option<String>,
    pub source: Option<Source>,
}

#[derive(Debug, Clone, Default)]
pub struct AddOptions {
    /// Unix seconds to record as `published` (defaults to now).
    pub now: Option<u64>,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Also write a tlog-proof per release under `bt/proof/` (each file
    /// costs a file creation; `bt-log proof` makes one on demand instead).
    pub proofs: bool,
}

/// The largest file `add` will hash and copy.
pub const MAX_RELEASE_BYTES: u64 = 1 << 40;

/// Files up to this size are read whole (and kept for the CAS copy);
/// larger ones are streamed.
const READ_WHOLE_BYTES: u64 = 8 << 20;

/// A hashed input file, with its bytes when it was small enough to keep.
struct Hashed {
    sha256: [u8; 32],
    size: u64,
    data: Option<Vec<u8>>,
}

/// Hashes a file; returns its bytes too when it is small.
fn hash_file(path: &Path) -> Result<Hashed, LogError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let len = f.metadata().map_err(io(path))?.len();
    if len <= READ_WHOLE_BYTES {
        let mut data = Vec::with_capacity(len as usize + 1);
        (&mut f)
            .take(READ_WHOLE_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(io(path))?;
        if data.len() as u64 <= READ_WHOLE_BYTES {
            return Ok(Hashed {
                sha256: Sha256::digest(&data).into(),
                size: data.len() as u64,
                data: Some(data),
            });
        }
    }
    let f = std::fs::File::open(path).map_err(io(path))?;
    let (sha256, size) = fsutil::sha256_reader(f, MAX_RELEASE_BYTES).map_err(io(path))?;
    Ok(Hashed {
        sha256,
        size,
        data: None,
    })
}

/// Where a CAS copy goes: a `file://` base gets it at `<base>/sha256/<hex>`;
/// any other base is taken to be served from this log's `cas/` directory.
fn cas_target(dir: &Path, base: &str, hex: &str) -> PathBuf {
    match url::Url::parse(base)
        .ok()
        .filter(|u| u.scheme() == "file")
        .and_then(|u| u.to_file_path().ok())
    {
        Some(p) => p.join("sha256").join(hex),
        None => dir.join("cas/sha256").join(hex),
    }
}

fn make_entry(
    dir: &Path,
    r: &NewRelease,
    published: u64,
    key: &ed25519_dalek::SigningKey,
) -> Result<Entry, LogError> {
    let Hashed { sha256, size, data } = hash_file(&r.file)?;
    let hexh = hex::encode(sha256);
    let mut cas = Vec::new();
    if let Some(base) = &r.cas_url {
        let base = base.trim_end_matches('/');
        let target = cas_target(dir, base, &hexh);
        if !target.exists() {
            let tmp_src = match data {
                Some(d) => d,
                None => std::fs::read(&r.file).map_err(io(&r.file))?,
            };
            if Sha256::digest(&tmp_src).as_slice() != sha256 {
                return Err(LogError::Usage(format!(
                    "{} changed while it was being added",
                    r.file.display()
                )));
            }
            fsutil::write_atomic(&target, &tmp_src, 0o444, Durability::Batch)
                .map_err(io(&target))?;
        }
        cas.push(format!("{base}/sha256/{hexh}"));
    }
    let release = Release {
        name: r.name.clone(),
        version: r.version.clone(),
        platform: r.platform.clone(),
        sha256,
        size,
        published,
        cas,
        source: r.source.clone(),
    };
    Entry::sign(release, key).map_err(|e| LogError::Usage(format!("{}: {e}", r.file.display())))
}

/// Integrates `releases` under one new checkpoint.
pub fn add(
    dir: &Path,
    releases: &[NewRelease],
    publisher: &SecretKey,
    opts: &AddOptions,
) -> Result<AddReport, LogError> {
    if releases.is_empty() {
        return Err(LogError::Usage("nothing to add".into()));
    }
    let cfg = LogConfig::load(dir)?;
    let _lock = lock(dir)?;
    // The log's key before hashing: a wrong path fails at once.
    let key = load_secret_key(&cfg.key)?;
    integrate_queue(dir, &cfg, &key)?;
    let bar = progress(opts.progress, releases.len() as u64, "hashing and signing");
    let published = opts.now.unwrap_or_else(now_secs);
    let entries: Vec<Entry> = releases
        .par_iter()
        .map(|r| {
            let e = make_entry(dir, r, published, &publisher.key);
            bar.inc(1);
            e
        })
        .collect::<Result<_, _>>()?;
    bar.finish_and_clear();
    let how = Integrate {
        first: None,
        proofs: opts.proofs,
    };
    append_locked(dir, &cfg, &key, entries, how)
}

/// Integrates entries their publishers signed (as a log that accepts
/// submissions receives them) under one new checkpoint, taking the log's
/// lock as `add` does: one writer at a time, whichever command it is.
/// Each entry's signature is checked again here.
pub fn append(dir: &Path, entries: Vec<Entry>) -> Result<AddReport, LogError> {
    if entries.is_empty() {
        return Err(LogError::Usage("nothing to add".into()));
    }
    for e in &entries {
        e.verify_signature()?;
    }
    let cfg = LogConfig::load(dir)?;
    let _lock = lock(dir)?;
    let key = load_secret_key(&cfg.key)?;
    integrate_queue(dir, &cfg, &key)?;
    append_locked(dir, &cfg, &key, entries, Integrate::default())
}

fn progress(show: bool, len: u64, what: &'static str) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message(what);
    bar
}
