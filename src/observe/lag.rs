//! Schedule lag: how late each run started against its due time, kept in
//! a lock-free log-linear histogram (four buckets per power of two, so a
//! reported percentile is within 25% of the true value).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Buckets 0-3 hold 0-3 µs; then four per octave up to 2^64 µs.
const BUCKETS: usize = 4 + 62 * 4;

/// Upper bounds of the buckets exported to Prometheus, in µs, so that a
/// percentile over any window can be read from two scrapes (`rate()`),
/// which the cumulative percentiles of [`LagSummary`] cannot give.
pub const EXPORTED_BOUNDS_US: [u64; 14] = [
    500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000, 2_000_000, 5_000_000,
    10_000_000,
];

#[derive(Debug)]
pub(super) struct LagHistogram {
    buckets: [AtomicU64; BUCKETS],
    count: AtomicU64,
    sum_us: AtomicU64,
    max_us: AtomicU64,
    /// Runs by [`EXPORTED_BOUNDS_US`] bucket (not cumulative); the last
    /// holds those above every bound.
    exported: [AtomicU64; EXPORTED_BOUNDS_US.len() + 1],
}

/// Lag over every run so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LagSummary {
    pub runs: u64,
    pub mean: Duration,
    /// Upper bounds of the buckets holding the 50th and 99th percentiles.
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Runs by [`EXPORTED_BOUNDS_US`] bucket, not cumulative; the last
    /// holds those above every bound.
    pub buckets: [u64; EXPORTED_BOUNDS_US.len() + 1],
    /// The sum of every lag, for the histogram's `_sum`.
    pub sum: Duration,
}

impl LagHistogram {
    pub fn new() -> LagHistogram {
        LagHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            max_us: AtomicU64::new(0),
            exported: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    pub fn record(&self, lag: Duration) {
        let us = u64::try_from(lag.as_micros()).unwrap_or(u64::MAX);
        self.buckets[bucket(us)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        let e = EXPORTED_BOUNDS_US.partition_point(|&b| b < us);
        self.exported[e].fetch_add(1, Ordering::Relaxed);
    }

    pub fn summary(&self) -> LagSummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let runs: u64 = counts.iter().sum();
        if runs == 0 {
            return LagSummary::default();
        }
        let max = self.max_us.load(Ordering::Relaxed);
        let percentile = |p: u64| {
            let rank = (runs * p).div_ceil(100).max(1);
            let mut seen = 0;
            let i = counts
                .iter()
                .position(|&c| {
                    seen += c;
                    seen >= rank
                })
                .unwrap_or(BUCKETS - 1);
            Duration::from_micros(upper_bound(i).min(max))
        };
        let sum = self.sum_us.load(Ordering::Relaxed);
        LagSummary {
            runs,
            buckets: std::array::from_fn(|i| self.exported[i].load(Ordering::Relaxed)),
            sum: Duration::from_micros(sum),
            mean: Duration::from_micros(sum / runs),
            p50: percentile(50),
            p99: percentile(99),
            max: Duration::from_micros(max),
        }
    }
}

impl Default for LagHistogram {
    fn default() -> LagHistogram {
        LagHistogram::new()
    }
}

fn bucket(us: u64) -> usize {
    if us < 4 {
        return us as usize;
    }
    let octave = 63 - us.leading_zeros() as usize; // >= 2
    let sub = ((us >> (octave - 2)) & 3) as usize;
    4 + (octave - 2) * 4 + sub
}

/// The largest value that falls in bucket `i`.
fn upper_bound(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    let octave = (i - 4) / 4 + 2;
    let sub = ((i - 4) % 4) as u64;
    let lower = (4 + sub) << (octave - 2);
    lower.saturating_add((1u64 << (octave - 2)) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for us in [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 1000, 1 << 40, u64::MAX] {
            let b = bucket(us);
            assert!(b >= last && b < BUCKETS, "{us} -> {b}");
            assert!(upper_bound(b) >= us, "{us} above bucket {b}");
            if b > 0 {
                assert!(upper_bound(b - 1) < us, "{us} belongs lower than {b}");
            }
            last = b;
        }
    }

    #[test]
    fn percentiles_are_within_a_quarter() {
        let h = LagHistogram::new();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.runs, 100);
        assert_eq!(s.max, Duration::from_millis(100));
        assert!(s.p50 >= Duration::from_millis(50) && s.p50 <= Duration::from_micros(62_500));
        assert!(s.p99 >= Duration::from_millis(99) && s.p99 <= Duration::from_millis(100));
        assert_eq!(s.mean, Duration::from_micros(50_500));
        // ≤ 1 ms: 1; ≤ 2 ms: 1; ≤ 5 ms: 3; ≤ 10 ms: 5; ≤ 20: 10; ≤ 50: 30; ≤ 100: 50.
        assert_eq!(&s.buckets[..8], &[0, 1, 1, 3, 5, 10, 30, 50]);
        assert_eq!(s.buckets.iter().sum::<u64>(), 100);
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(LagHistogram::new().summary(), LagSummary::default());
    }
}
