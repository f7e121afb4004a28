//! bt-exec's local state (DESIGN §7): the content-addressed cache of
//! verified bytes, the hash cache, the latest verified checkpoint of each
//! origin, cached inclusion proofs, evidence of split views and alarms.
//! Every write is atomic; writers take a lock.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil::{self, Durability, Lock};
use crate::strict;
use crate::tempfiles::Temp;
use crate::tlog::{Hash, MAX_CHECKPOINT_BYTES};

pub struct Store {
    pub cache: PathBuf,
    pub state: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("{path}: {err}")]
pub struct StoreError {
    pub path: PathBuf,
    pub err: std::io::Error,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |err| StoreError {
        path: path.to_path_buf(),
        err,
    }
}

/// Why a program could not be put into the CAS.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The program could not be read, or is not a regular file.
    #[error("cannot read the program: {0}")]
    Program(StoreError),
    /// The cache could not be written.
    #[error("cannot write the cache: {0}")]
    Cache(StoreError),
    /// A file of the cache or state fails the strict modes.
    #[error(transparent)]
    Strict(#[from] crate::strict::StrictError),
}

/// A file whose bytes are now in the CAS.
#[derive(Debug, Clone)]
pub struct Ingested {
    pub sha256: [u8; 32],
    pub size: u64,
    /// The read-only CAS copy: what is executed.
    pub cas_path: PathBuf,
    /// Whether the hash came from the hash cache (the file was not read).
    pub cached: bool,
}

/// A cached inclusion proof of one binary in one log, against a root this
/// machine verified (and that every later checkpoint was proven to extend).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedProof {
    pub index: u64,
    pub leaf: String,
    pub size: u64,
    pub root: String,
    pub proof: Vec<String>,
}

impl CachedProof {
    pub fn new(index: u64, leaf: &[u8], size: u64, root: Hash, proof: &[Hash]) -> Self {
        CachedProof {
            index,
            leaf: B64.encode(leaf),
            size,
            root: B64.encode(root.0),
            proof: proof.iter().map(|h| B64.encode(h.0)).collect(),
        }
    }
    pub fn decode(&self) -> Option<(Vec<u8>, Hash, Vec<Hash>)> {
        let leaf = B64.decode(&self.leaf).ok()?;
        let root = Hash(B64.decode(&self.root).ok()?.try_into().ok()?);
        let proof = self
            .proof
            .iter()
            .map(|p| B64.decode(p).ok().and_then(|b| b.try_into().ok()).map(Hash))
            .collect::<Option<Vec<_>>>()?;
        Some((leaf, root, proof))
    }
}

/// Chunks in flight between the reading, hashing and writing threads.
const COPY_BUFFERS: usize = 6;
const COPY_CHUNK: usize = 1 << 20;

/// Copies `src` to `dst` and hashes the bytes copied, in three stages over
/// one set of buffers: a thread reads each chunk, this thread hashes it, a
/// third writes it. The bytes written are the very bytes hashed (the same
/// buffer), and the hashing thread does nothing else, so hashing runs at
/// the speed of SHA-256 itself while the copies overlap it. The error says
/// whether reading (`true`) or writing failed.
fn copy_and_hash(
    src: &mut File,
    dst: &mut File,
) -> Result<([u8; 32], u64), (bool, std::io::Error)> {
    use std::sync::mpsc::{channel, sync_channel};
    let (to_hasher, read_chunks) = sync_channel::<(Vec<u8>, usize)>(COPY_BUFFERS);
    let (to_writer, hashed_chunks) = sync_channel::<(Vec<u8>, usize)>(COPY_BUFFERS);
    let (to_reader, free) = channel::<Vec<u8>>();
    for _ in 0..COPY_BUFFERS {
        let _ = to_reader.send(vec![0u8; COPY_CHUNK]);
    }
    std::thread::scope(|s| {
        // Ends when the file ends, on a read error, or when the writer has
        // stopped (it holds the only sender of free buffers).
        let reader = s.spawn(move || -> std::io::Result<()> {
            while let Ok(mut buf) = free.recv() {
                let n = src.read(&mut buf)?;
                if n == 0 || to_hasher.send((buf, n)).is_err() {
                    break;
                }
            }
            Ok(())
        });
        let writer = s.spawn(move || -> std::io::Result<()> {
            for (buf, n) in hashed_chunks {
                dst.write_all(buf.get(..n).unwrap_or_default())?;
                let _ = to_reader.send(buf);
            }
            Ok(())
        });
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        for (buf, n) in read_chunks {
            hasher.update(buf.get(..n).unwrap_or_default());
            size += n as u64;
            if to_writer.send((buf, n)).is_err() {
                break; // the writer failed; its error is reported below
            }
        }
        drop(to_writer);
        let panicked = |what: &str| Err(std::io::Error::other(format!("{what} thread panicked")));
        let written = writer.join().unwrap_or_else(|_| panicked("writer"));
        let read = reader.join().unwrap_or_else(|_| panicked("reader"));
        read.map_err(|e| (true, e))?;
        written.map_err(|e| (false, e))?;
        Ok((hasher.finalize().into(), size))
    })
}

pub fn origin_key(origin: &str) -> String {
    hex::encode(&Sha256::digest(origin.as_bytes())[..16])
}

impl Store {
    /// `$BT_EXEC_CACHE_DIR` / `$BT_EXEC_STATE_DIR`, else the XDG directories.
    pub fn open_default() -> Option<Store> {
        let dirs = || directories::ProjectDirs::from("", "", "bt-exec");
        let cache = std::env::var_os("BT_EXEC_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs().map(|d| d.cache_dir().to_path_buf()))?;
        let state = std::env::var_os("BT_EXEC_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                dirs().map(|d| {
                    d.state_dir()
                        .unwrap_or_else(|| d.data_local_dir())
                        .to_path_buf()
                })
            })?;
        Some(Store { cache, state })
    }

    /// A store in these two directories.
    pub fn at(cache: PathBuf, state: PathBuf) -> Store {
        Store { cache, state }
    }

    fn policy_mark(&self, digest: &[u8; 32]) -> PathBuf {
        self.state.join("policies").join(hex::encode(digest))
    }

    /// Whether a policy text with this digest (`Loaded::digest`) passed a
    /// full load before, every key checked to be a curve point.
    pub fn policy_validated(&self, digest: &[u8; 32]) -> bool {
        self.policy_mark(digest).exists()
    }

    /// Records that the policy text with this digest passed a full load: an
    /// empty file `policies/<hex digest>` in the state directory.
    pub fn mark_policy_validated(&self, digest: &[u8; 32]) -> Result<(), StoreError> {
        let p = self.policy_mark(digest);
        fsutil::write_atomic(&p, b"", 0o644, Durability::Batch).map_err(io(&p))
    }

    /// Takes the state lock (held until dropped), and removes the cache's
    /// temporary files that killed runs left behind (`tempfiles`).
    pub fn lock(&self) -> Result<Lock, StoreError> {
        let p = self.state.join("lock");
        let lock = Lock::exclusive(&p).map_err(io(&p))?;
        // Best effort: what is not removed now is by the next run.
        if let Ok(dir) = self.temp_dir() {
            let _ = crate::tempfiles::sweep(&dir);
        }
        Ok(lock)
    }

    /// Where programs and releases are written before they join the CAS,
    /// checked as all below the cache is (strict modes).
    fn temp_dir(&self) -> Result<PathBuf, strict::StrictError> {
        let dir = self.cache.join("cas/tmp");
        strict::existing_dir(&dir)?;
        Ok(dir)
    }

    pub fn cas_path(&self, sha256: &[u8; 32]) -> PathBuf {
        let h = hex::encode(sha256);
        self.cache.join("cas/sha256").join(&h[..2]).join(h)
    }

    fn hash_cache_path(&self, meta: &std::fs::Metadata) -> PathBuf {
        let key = format!(
            "{}:{}:{}:{}.{}:{}.{}",
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec()
        );
        let h = hex::encode(&Sha256::digest(key.as_bytes())[..20]);
        self.state.join("hashes").join(&h[..2]).join(h)
    }

    /// Hashes `path` (or takes the hash cache's word for an unchanged file)
    /// and makes sure its bytes are in the CAS: the bytes hashed are the
    /// bytes copied, so the CAS copy is exactly what was hashed.
    pub fn ingest(&self, path: &Path) -> Result<Ingested, IngestError> {
        let program = |e| IngestError::Program(io(path)(e));
        let cache = |p: &Path| {
            let p = p.to_path_buf();
            move |e| IngestError::Cache(StoreError { path: p, err: e })
        };
        let (mut f, meta) = fsutil::open_regular_with_metadata(path).map_err(program)?;
        let hc = self.hash_cache_path(&meta);
        if let Some(known) = self.hash_cached(&hc, meta.len())? {
            return Ok(known);
        }
        let dir = self.temp_dir()?;
        let mut tmp = Temp::new_in(&dir).map_err(cache(&dir))?;
        let (sha256, size) = copy_and_hash(&mut f, tmp.as_file_mut()).map_err(|(read, e)| {
            if read {
                program(e)
            } else {
                cache(&dir)(e)
            }
        })?;
        let cas_path = self.cas_path(&sha256);
        if strict::existing(&cas_path)?.is_none() {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o555))
                .map_err(cache(&dir))?;
            if let Some(parent) = cas_path.parent() {
                std::fs::create_dir_all(parent).map_err(cache(parent))?;
            }
            tmp.persist(&cas_path).map_err(cache(&cas_path))?;
        }
        // Remember the hash only if the file did not change while read.
        let after = std::fs::metadata(path).map_err(program)?;
        if after.len() == size && self.hash_cache_path(&after) == hc {
            let _ = fsutil::write_atomic(&hc, &sha256, 0o644, Durability::Batch);
        }
        Ok(Ingested {
            sha256,
            size,
            cas_path,
            cached: false,
        })
    }

    /// The file whose hash cache entry is `hc`, when the entry and its CAS
    /// copy (of `len` bytes) are there: neither is used unless it passes
    /// the strict modes (a planted entry or copy is refused, 125).
    fn hash_cached(&self, hc: &Path, len: u64) -> Result<Option<Ingested>, IngestError> {
        let h = match fsutil::read_optional(hc, 32) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(None),
            Err(e) => match strict::from_io(&e) {
                Some(s) => return Err(s.clone().into()),
                None => return Ok(None),
            },
        };
        let Ok(sha256) = <[u8; 32]>::try_from(h.as_slice()) else {
            return Ok(None);
        };
        let cas_path = self.cas_path(&sha256);
        match strict::existing(&cas_path)? {
            Some(m) if m.len() == len => Ok(Some(Ingested {
                sha256,
                size: len,
                cas_path,
                cached: true,
            })),
            _ => Ok(None),
        }
    }

    /// Puts the bytes of a logged release into the CAS from its `cas` URLs,
    /// trying each in turn: at most `size` bytes, hashed while they stream,
    /// by `deadline`; bytes that are not the release's are discarded. Returns
    /// the CAS path, or each URL's failure (already in the CAS: no request).
    pub fn fetch_release(
        &self,
        release: &crate::entry::Release,
        deadline: std::time::Instant,
        progress: &mut dyn FnMut(u64),
    ) -> Result<PathBuf, Vec<crate::fetch::FetchError>> {
        let cas_path = self.cas_path(&release.sha256);
        // A strict-mode refusal is also remembered: the command ends with
        // 125 and nothing runs.
        let refused = |e: strict::StrictError| {
            vec![crate::fetch::FetchError::Unreachable {
                url: self.cache.display().to_string(),
                msg: e.to_string(),
            }]
        };
        if strict::existing(&cas_path)
            .map_err(refused)?
            .is_some_and(|m| m.len() == release.size)
        {
            return Ok(cas_path);
        }
        let dir = self.temp_dir().map_err(refused)?;
        let mut errors = vec![];
        let local = |e: std::io::Error| crate::fetch::FetchError::Unreachable {
            url: dir.display().to_string(),
            msg: e.to_string(),
        };
        for url in &release.cas {
            let attempt = (|| {
                let tmp = Temp::new_in(&dir).map_err(local)?;
                struct Hashing<'a>(&'a File, Sha256);
                impl Write for Hashing<'_> {
                    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                        let n = self.0.write(b)?;
                        self.1.update(b.get(..n).unwrap_or_default());
                        Ok(n)
                    }
                    fn flush(&mut self) -> std::io::Result<()> {
                        self.0.flush()
                    }
                }
                let mut sink = Hashing(tmp.as_file(), Sha256::new());
                crate::fetch::download(url, release.size, deadline, &mut sink, progress)?;
                let got: [u8; 32] = sink.1.finalize().into();
                if got != release.sha256 {
                    return Err(crate::fetch::FetchError::OtherBytes {
                        url: url.clone(),
                        got: hex::encode(got),
                        want: hex::encode(release.sha256),
                    });
                }
                tmp.as_file()
                    .set_permissions(std::fs::Permissions::from_mode(0o555))
                    .map_err(local)?;
                if let Some(parent) = cas_path.parent() {
                    std::fs::create_dir_all(parent).map_err(local)?;
                }
                tmp.persist(&cas_path).map_err(local)?;
                Ok(())
            })();
            match attempt {
                Ok(()) => return Ok(cas_path),
                Err(e) => errors.push(e),
            }
        }
        Err(errors)
    }

    fn checkpoint_path(&self, origin: &str) -> PathBuf {
        self.state
            .join("checkpoints")
            .join(format!("{}.checkpoint", origin_key(origin)))
    }

    /// The latest verified checkpoint note of `origin`, unverified bytes.
    pub fn checkpoint(&self, origin: &str) -> Option<Vec<u8>> {
        fsutil::read_optional(&self.checkpoint_path(origin), MAX_CHECKPOINT_BYTES)
            .ok()
            .flatten()
    }

    /// When the checkpoint of `origin` was last fetched and saved (Unix
    /// seconds, the file's modification time).
    pub fn checkpoint_saved_at(&self, origin: &str) -> Option<u64> {
        let m = std::fs::metadata(self.checkpoint_path(origin))
            .ok()?
            .modified()
            .ok()?;
        m.duration_since(std::time::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    }

    /// Saves a verified checkpoint: atomic (a killed process leaves the old
    /// or the new file), not fsynced — after a power loss a lost or empty
    /// file only means "nothing cached", and everything read back is
    /// verified again. Evidence and alarms are fsynced.
    pub fn save_checkpoint(&self, origin: &str, note: &[u8]) -> Result<(), StoreError> {
        let p = self.checkpoint_path(origin);
        fsutil::write_atomic(&p, note, 0o644, Durability::Batch).map_err(io(&p))
    }

    /// Every saved checkpoint note (for `gossip export` and `status`).
    pub fn all_checkpoints(&self) -> Vec<Vec<u8>> {
        let Ok(rd) = std::fs::read_dir(self.state.join("checkpoints")) else {
            return vec![];
        };
        let mut out: Vec<_> = rd
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".checkpoint"))
            .filter_map(|e| fsutil::read_capped(&e.path(), MAX_CHECKPOINT_BYTES).ok())
            .collect();
        out.sort();
        out
    }

    fn proof_path(&self, origin: &str, sha256: &[u8; 32]) -> PathBuf {
        self.state
            .join("proofs")
            .join(origin_key(origin))
            .join(hex::encode(sha256))
    }

    pub fn proof(&self, origin: &str, sha256: &[u8; 32]) -> Option<CachedProof> {
        let b =
            fsutil::read_optional(&self.proof_path(origin, sha256), 64 * 1024 + 8192).ok()??;
        serde_json::from_slice(&b).ok()
    }

    fn attestation_dir(&self, origin: &str, sha256: &[u8; 32]) -> PathBuf {
        self.state
            .join("proofs")
            .join(origin_key(origin))
            .join(format!("{}.attest", hex::encode(sha256)))
    }

    /// Rebuilder attestations of this file cached by earlier runs.
    pub fn attestations(&self, origin: &str, sha256: &[u8; 32]) -> Vec<CachedProof> {
        let Ok(rd) = std::fs::read_dir(self.attestation_dir(origin, sha256)) else {
            return vec![];
        };
        rd.flatten()
            .take(256)
            .filter_map(|e| fsutil::read_capped(&e.path(), 64 * 1024 + 8192).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    /// Caches a verified attestation by the rebuilder with this key.
    pub fn save_attestation(
        &self,
        origin: &str,
        sha256: &[u8; 32],
        key: &[u8; 32],
        p: &CachedProof,
    ) -> Result<(), StoreError> {
        let path = self
            .attestation_dir(origin, sha256)
            .join(hex::encode(&key[..16]));
        let data = serde_json::to_vec(p).unwrap_or_default();
        fsutil::write_atomic(&path, &data, 0o644, Durability::Batch).map_err(io(&path))
    }

    pub fn save_proof(
        &self,
        origin: &str,
        sha256: &[u8; 32],
        p: &CachedProof,
    ) -> Result<(), StoreError> {
        let path = self.proof_path(origin, sha256);
        let data = serde_json::to_vec(p).unwrap_or_default();
        fsutil::write_atomic(&path, &data, 0o644, Durability::Batch).map_err(io(&path))
    }

    /// The alarm file of `origin`: present while a split view is unresolved.
    pub fn alarm_path(&self, origin: &str) -> PathBuf {
        self.state.join("alarms").join(origin_key(origin))
    }

    /// The evidence file of a split view recorded for `origin`, if any.
    ///
    /// An alarm file that exists but cannot be read counts as raised: a
    /// split view recorded once must not be forgotten because its record
    /// became unreadable (fail closed).
    pub fn alarm(&self, origin: &str) -> Option<String> {
        let p = self.alarm_path(origin);
        match fsutil::read_optional(&p, 4096) {
            Ok(b) => b.map(|b| String::from_utf8_lossy(&b).trim().to_string()),
            Err(e) => Some(format!("{} (unreadable: {e})", p.display())),
        }
    }

    /// Writes both notes, and the consistency proof that fails between
    /// them (base64 hashes, a line each; empty for equal sizes), as
    /// evidence, and raises the log's alarm. Either write failing is an
    /// error: the user must learn that the evidence was not kept.
    pub fn record_split_view(
        &self,
        origin: &str,
        a: &[u8],
        b: &[u8],
        proof: &str,
        now: u64,
    ) -> Result<PathBuf, StoreError> {
        // Named by both notes too: two split views recorded in one second
        // (by one gossip import, or two processes) each keep their own.
        let pair = Sha256::digest([a, b"\n", b].concat());
        let p = self.state.join("evidence").join(format!(
            "{now}-{}-{}.txt",
            origin_key(origin),
            hex::encode(&pair[..6])
        ));
        let mut text =
            format!("# split view of {origin}: two validly signed, inconsistent checkpoints\n")
                .into_bytes();
        text.extend_from_slice(a);
        text.extend_from_slice(b"# ---\n");
        text.extend_from_slice(b);
        if !proof.is_empty() {
            text.extend_from_slice(
                b"# --- consistency proof (RFC 6962, from the larger tree's tiles) ---\n",
            );
            text.extend_from_slice(proof.as_bytes());
        }
        // The alarm is raised even when the evidence cannot be written: it
        // is what keeps the log refused on the next run.
        let evidence = fsutil::write_atomic(&p, &text, 0o644, Durability::Sync).map_err(io(&p));
        let alarm = self.alarm_path(origin);
        let names = match &evidence {
            Ok(()) => p.display().to_string(),
            Err(e) => format!("evidence not saved: {e}"),
        };
        fsutil::write_atomic(&alarm, names.as_bytes(), 0o644, Durability::Sync)
            .map_err(io(&alarm))?;
        evidence.map(|()| p)
    }

    pub fn clear_alarm(&self, origin: &str) -> Result<bool, StoreError> {
        let p = self.alarm_path(origin);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError { path: p, err: e }),
        }
    }

    /// Bytes used by the CAS (its files, not temporary ones).
    pub fn cas_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|rd| {
                    rd.flatten()
                        .map(|e| match e.file_type() {
                            Ok(t) if t.is_dir() => walk(&e.path()),
                            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.cache.join("cas/sha256"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two split views of one log in one second keep two evidence files;
    /// when the evidence cannot be written the alarm is raised anyway; an
    /// alarm that cannot be read counts as raised.
    #[test]
    fn split_view_records_are_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().join("cache"), dir.path().join("state"));
        let a = store.record_split_view("o", b"a\n", b"b\n", "", 7).unwrap();
        let b = store.record_split_view("o", b"a\n", b"c\n", "", 7).unwrap();
        assert_ne!(a, b);
        assert!(a.exists() && b.exists());
        let other = Store::at(dir.path().join("c2"), dir.path().join("s2"));
        std::fs::create_dir_all(dir.path().join("s2")).unwrap();
        std::fs::write(dir.path().join("s2/evidence"), b"in the way").unwrap();
        assert!(other.record_split_view("o", b"a\n", b"b\n", "", 7).is_err());
        let alarm = other.alarm("o").expect("the alarm is raised");
        assert!(alarm.contains("evidence not saved"), "{alarm}");
        std::fs::remove_file(other.alarm_path("o")).unwrap();
        std::fs::create_dir_all(other.alarm_path("o")).unwrap();
        assert!(other.alarm("o").is_some(), "an unreadable alarm counts");
    }

    /// Many chunks, the last one partial: the copy is the file and the hash
    /// is its SHA-256; an empty file too.
    #[test]
    fn copy_and_hash_copies_exactly_what_it_hashes() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0, 1, COPY_CHUNK * COPY_BUFFERS * 2 + 12_345] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 4099) as u8).collect();
            let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
            std::fs::write(&src, &data).unwrap();
            let (sha, size) = copy_and_hash(
                &mut File::open(&src).unwrap(),
                &mut File::create(&dst).unwrap(),
            )
            .unwrap();
            assert_eq!(size, len as u64);
            assert_eq!(sha, <[u8; 32]>::from(Sha256::digest(&data)));
            assert_eq!(std::fs::read(&dst).unwrap(), data);
        }
    }
}
