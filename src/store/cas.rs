//! The content-addressed cache: programs and releases hashed while they are
//! copied in, and the hash cache that spares rereading an unchanged file.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{io, IngestError, Ingested, Store, StoreError};
use crate::fsutil::{self, Durability};
use crate::strict;
use crate::tempfiles::Temp;

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

impl Store {
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
            vec![crate::fetch::FetchError::unreachable(
                self.cache.display().to_string(),
                e.to_string(),
            )]
        };
        if strict::existing(&cas_path)
            .map_err(refused)?
            .is_some_and(|m| m.len() == release.size)
        {
            return Ok(cas_path);
        }
        let dir = self.temp_dir().map_err(refused)?;
        let mut errors = vec![];
        let local = |e: std::io::Error| {
            crate::fetch::FetchError::unreachable(dir.display().to_string(), e.to_string())
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
