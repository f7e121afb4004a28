//! One release into every log: the entry signed here or kept from a run
//! before, every `--cas-url` checked to serve the file's bytes, each log
//! asked concurrently ([`super::logs`]), the report.

use std::path::Path;

use super::failure::Failure;
use super::logs;
use super::{entry_path, io, proof_path, Options, Outcome, PublishError, Report};
use crate::entry::{Entry, Release};
use crate::fsutil::{self, Durability};

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
