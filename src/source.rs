//! Where a log's files come from: every read of a log (checkpoint, tiles,
//! bundles, index shards) goes through [`Source`], so the verification
//! runs the same over HTTP, `file://` ([`crate::fetch::Fetcher`]) and
//! memory ([`MemorySource`], for tests: no sockets, no sleeps).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::fetch::{FetchError, Fetcher};
use crate::tlog::consistency::TileSource;
use crate::tlog::tiles::{hash_tile_path, MAX_TILE_BYTES};

/// One log's files, read by path under its prefix.
pub trait Source: Send + Sync {
    /// `path` up to `cap` bytes; `Ok(None)` when it does not exist (404,
    /// no such file). More than `cap` bytes is [`FetchError::TooLarge`].
    fn get(&self, path: &str, cap: usize) -> Result<Option<Vec<u8>>, FetchError>;
    /// A name for `path` in messages (its URL).
    fn describe(&self, path: &str) -> String;
}

impl Source for Fetcher {
    fn get(&self, path: &str, cap: usize) -> Result<Option<Vec<u8>>, FetchError> {
        Fetcher::get(self, path, cap)
    }
    fn describe(&self, path: &str) -> String {
        Fetcher::describe(self, path)
    }
}

/// The hash tiles a [`Source`] serves, for [`crate::tlog::consistency`].
pub struct SourceTiles<'a>(pub &'a dyn Source);

impl TileSource for SourceTiles<'_> {
    fn hash_tile(&self, level: u8, n: u64, width: u64) -> Result<Vec<u8>, String> {
        let path = hash_tile_path(level, n, width);
        match self.0.get(&path, MAX_TILE_BYTES) {
            Ok(Some(data)) => Ok(data),
            Ok(None) => Err(format!("{} is missing", self.0.describe(&path))),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// A log held in memory: files by path, a switch that makes it
/// unreachable, and a record of every path asked for.
#[derive(Default)]
pub struct MemorySource {
    files: Mutex<HashMap<String, Vec<u8>>>,
    down: AtomicBool,
    asked: Mutex<Vec<String>>,
}

impl MemorySource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves `data` at `path` (replacing what was there).
    pub fn put(&self, path: &str, data: Vec<u8>) {
        lock(&self.files).insert(path.to_string(), data);
    }

    /// Stops serving `path` (it becomes a 404).
    pub fn remove(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.files).remove(path)
    }

    /// What is served at `path`.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        lock(&self.files).get(path).cloned()
    }

    /// Every path served.
    pub fn paths(&self) -> Vec<String> {
        let mut p: Vec<String> = lock(&self.files).keys().cloned().collect();
        p.sort();
        p
    }

    /// With `true`, every read fails as a network failure would.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// The paths asked for so far, in order.
    pub fn asked(&self) -> Vec<String> {
        lock(&self.asked).clone()
    }
}

impl Source for MemorySource {
    fn get(&self, path: &str, cap: usize) -> Result<Option<Vec<u8>>, FetchError> {
        lock(&self.asked).push(path.to_string());
        let url = self.describe(path);
        if self.down.load(Ordering::SeqCst) {
            return Err(FetchError::Unreachable {
                url,
                msg: "connection refused".into(),
                cause: crate::fetch::Cause::ConnectionRefused,
            });
        }
        match lock(&self.files).get(path) {
            Some(d) if d.len() > cap => Err(FetchError::TooLarge { url, cap }),
            Some(d) => Ok(Some(d.clone())),
            None => Ok(None),
        }
    }
    fn describe(&self, path: &str) -> String {
        format!("mem:/{path}")
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
