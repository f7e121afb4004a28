//! Quotas over a rolling 24 hours: entries per publisher key and per
//! client address, counted by the minute (at most 1 440 counters for a
//! key or an address however many it submits). Pure: the caller passes
//! the time, in seconds. The address table is bounded: when it is full,
//! the address seen least recently is forgotten first (an attacker with
//! many addresses cannot make the log's memory grow, only forget).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The window: a day.
pub const WINDOW_SECS: u64 = 86_400;
/// Addresses tracked at most.
pub const MAX_ADDRESSES: usize = 100_000;

/// One key's or address's counts, by minute, oldest first.
#[derive(Debug, Default, Clone)]
pub struct Window {
    minutes: VecDeque<(u64, u64)>,
    total: u64,
    last_seen: u64,
}

impl Window {
    fn trim(&mut self, now: u64) {
        let oldest = (now / 60).saturating_sub(WINDOW_SECS / 60 - 1);
        while let Some(&(m, n)) = self.minutes.front() {
            if m >= oldest {
                break;
            }
            self.minutes.pop_front();
            self.total -= n;
        }
    }

    /// Entries counted in the 24 hours up to `now`.
    pub fn count(&mut self, now: u64) -> u64 {
        self.trim(now);
        self.total
    }

    /// Seconds until the oldest counted minute leaves the window.
    pub fn retry_after(&self, now: u64) -> u64 {
        self.minutes.front().map_or(1, |&(m, _)| {
            ((m + WINDOW_SECS / 60) * 60).saturating_sub(now).max(1)
        })
    }

    fn add(&mut self, now: u64, n: u64) {
        let m = now / 60;
        match self.minutes.back_mut() {
            Some((last, c)) if *last >= m => *c += n,
            _ => self.minutes.push_back((m, n)),
        }
        self.total += n;
        self.last_seen = now;
    }
}

/// Counts per key `K` within a quota each.
#[derive(Debug)]
pub struct Table<K> {
    windows: HashMap<K, Window>,
    cap: usize,
}

impl<K: Hash + Eq + Clone> Table<K> {
    pub fn new(cap: usize) -> Self {
        Table {
            windows: HashMap::new(),
            cap,
        }
    }

    /// `Err(seconds)` when `k` has `quota` entries in the window already.
    pub fn check(&mut self, k: &K, quota: u64, now: u64) -> Result<(), u64> {
        if quota == 0 {
            return Err(WINDOW_SECS);
        }
        let Some(w) = self.windows.get_mut(k) else {
            return Ok(());
        };
        if w.count(now) >= quota {
            return Err(w.retry_after(now));
        }
        Ok(())
    }

    /// Counts one entry of `k` at `now`.
    pub fn record(&mut self, k: &K, now: u64) {
        if !self.windows.contains_key(k) && self.windows.len() >= self.cap {
            let stale = self
                .windows
                .iter()
                .min_by_key(|(_, w)| w.last_seen)
                .map(|(k, _)| k.clone());
            if let Some(s) = stale {
                self.windows.remove(&s);
            }
        }
        self.windows.entry(k.clone()).or_default().add(now, 1);
    }

    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rolling_day() {
        let mut t: Table<&str> = Table::new(10);
        let day = WINDOW_SECS;
        for i in 0..3 {
            assert_eq!(t.check(&"k", 3, 1000 + i), Ok(()));
            t.record(&"k", 1000 + i);
        }
        // Full: until the minute of the first leaves the window.
        let wait = t.check(&"k", 3, 5000).unwrap_err();
        assert_eq!(wait, (1000 / 60 * 60 + day) - 5000);
        assert!(t.check(&"k", 3, 5000 + wait - 1).is_err());
        assert_eq!(t.check(&"k", 3, 5000 + wait), Ok(()));
        // Other keys are not affected; a quota of 0 admits nothing.
        assert_eq!(t.check(&"other", 3, 5000), Ok(()));
        assert_eq!(t.check(&"other", 0, 5000), Err(day));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_stalest() {
        let mut t: Table<u32> = Table::new(3);
        for (k, at) in [(1, 10), (2, 20), (3, 30)] {
            t.record(&k, at);
        }
        t.record(&1, 40);
        t.record(&4, 50);
        assert_eq!(t.len(), 3);
        assert!(t.windows.contains_key(&1) && !t.windows.contains_key(&2));
        // A million entries of one key: still one counter per minute.
        for s in 0..1_000_000u64 {
            t.record(&1, 100 + s / 1000);
        }
        assert!(t.windows[&1].minutes.len() <= 1440);
    }
}
