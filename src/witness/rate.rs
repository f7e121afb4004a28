//! Each log's add-checkpoint rate: the `qpd` (queries per day) a log list
//! grants it, or the default for `--log` logs. A token bucket per log,
//! holding up to a minute of its rate (at least one request), refilled
//! continuously. Only requests whose checkpoint the log's key signed are
//! counted (src/witness/server.rs): anyone can send a request naming a
//! log's origin, and counting those would let them use up that log's rate
//! and keep it from being cosigned. Pure: the caller passes the time.

/// Requests of a log at `qpd` that may come at once: a minute's worth,
/// at least one, at most 100; none at `qpd 0`.
pub fn burst(qpd: f64) -> f64 {
    if qpd > 0.0 {
        (qpd / 1440.0).clamp(1.0, 100.0)
    } else {
        0.0
    }
}

/// One log's bucket.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Bucket {
    tokens: f64,
    /// Milliseconds on the caller's monotonic clock.
    at_ms: u64,
}

impl Bucket {
    /// A full bucket at `now_ms`.
    pub fn new(qpd: f64, now_ms: u64) -> Self {
        Bucket {
            tokens: burst(qpd),
            at_ms: now_ms,
        }
    }

    /// Takes one request at `now_ms` under `qpd` (which may have changed
    /// since the last one): `Err(seconds)` until the next one is allowed.
    pub fn take(&mut self, qpd: f64, now_ms: u64) -> Result<(), u64> {
        let per_ms = qpd / 86_400_000.0;
        let elapsed = now_ms.saturating_sub(self.at_ms) as f64;
        self.tokens = (self.tokens + elapsed * per_ms).min(burst(qpd));
        // A clock set back (or a saved time in the future) refills nothing
        // now and counts from here, so the bucket never stops refilling.
        self.at_ms = now_ms;
        if !self.tokens.is_finite() || self.tokens < 0.0 {
            self.tokens = 0.0;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        if per_ms <= 0.0 {
            return Err(86_400);
        }
        let wait_ms = (1.0 - self.tokens) / per_ms;
        Err(((wait_ms / 1000.0).ceil() as u64).clamp(1, 86_400))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_gets_its_rate_and_no_more() {
        // 8640 a day: one every 10 s, six at once.
        let mut b = Bucket::new(8640.0, 0);
        for _ in 0..6 {
            assert_eq!(b.take(8640.0, 0), Ok(()));
        }
        assert_eq!(b.take(8640.0, 0), Err(10));
        assert_eq!(b.take(8640.0, 9_000), Err(1));
        assert_eq!(b.take(8640.0, 10_000), Ok(()));
        // Idle for a day: still only a burst's worth.
        let n = (0..20)
            .filter(|_| b.take(8640.0, 86_400_000).is_ok())
            .count();
        assert_eq!(n, 6);
    }

    #[test]
    fn one_a_day_zero_and_a_clock_going_back() {
        let mut b = Bucket::new(1.0, 5_000);
        assert_eq!(b.take(1.0, 5_000), Ok(()));
        assert_eq!(b.take(1.0, 5_000), Err(86_400));
        assert_eq!(
            b.take(1.0, 0),
            Err(86_400),
            "an earlier time refills nothing"
        );
        // ... and refills from there: a day after it, one more.
        assert_eq!(b.take(1.0, 86_400_000), Ok(()));
        let mut z = Bucket::new(0.0, 0);
        assert_eq!(z.take(0.0, 0), Err(86_400), "qpd 0: none");
        assert_eq!(z.take(0.0, u64::MAX), Err(86_400));
        // A rate raised by a reload applies at once.
        assert_eq!(z.take(86_400.0, u64::MAX), Err(1));
    }
}
