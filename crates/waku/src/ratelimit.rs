//! Token-bucket rate limits, packets/s and bytes/s, per peer and per IP (6/WAKU1 §"Rate
//! Limits Field"). Pure: the caller passes the time in.

use std::{collections::HashMap, hash::Hash};

/// One limit: a rate per second and a burst tolerance.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit {
    /// Sustained units (packets or bytes) per second. 0 disables the limit.
    pub per_second: u64,
    /// How many seconds' worth of units may arrive at once before the limit bites.
    /// Default: 2.0.
    pub tolerance: f64,
}

impl Limit {
    /// A limit of `per_second` with the default tolerance of 2 s.
    pub fn new(per_second: u64) -> Self {
        Self { per_second, tolerance: 2.0 }
    }

    /// No limit.
    pub const OFF: Self = Self { per_second: 0, tolerance: 2.0 };

    fn capacity(&self) -> f64 {
        self.per_second as f64 * self.tolerance.max(1.0)
    }
}

/// A token bucket.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    last_ms: u64,
}

impl Bucket {
    /// A full bucket at time `now_ms`.
    pub fn new(limit: &Limit, now_ms: u64) -> Self {
        Self { tokens: limit.capacity(), last_ms: now_ms }
    }

    /// Takes `units` at `now_ms`; `false` if that exceeds the limit (nothing is taken then).
    pub fn take(&mut self, limit: &Limit, units: u64, now_ms: u64) -> bool {
        if limit.per_second == 0 {
            return true;
        }
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64 / 1000.0;
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed * limit.per_second as f64).min(limit.capacity());
        let units = units as f64;
        if units > self.tokens {
            return false;
        }
        self.tokens -= units;
        true
    }
}

/// Limits on one kind of key (a peer, an IP): packets/s and bytes/s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimitConfig {
    /// Packets per second.
    pub packets: Limit,
    /// Bytes per second.
    pub bytes: Limit,
}

impl RateLimitConfig {
    /// No limits.
    pub const OFF: Self = Self { packets: Limit::OFF, bytes: Limit::OFF };
}

/// Buckets for many keys of one kind.
#[derive(Debug)]
pub struct RateLimiter<K> {
    config: RateLimitConfig,
    buckets: HashMap<K, (Bucket, Bucket)>,
}

/// Which limit was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// Too many packets per second.
    Packets,
    /// Too many bytes per second.
    Bytes,
}

impl<K: Eq + Hash + Clone> RateLimiter<K> {
    /// A limiter applying `config` to each key.
    pub fn new(config: RateLimitConfig) -> Self {
        Self { config, buckets: HashMap::new() }
    }

    /// The limits applied.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// Accounts one packet of `bytes` for `key` at `now_ms`.
    pub fn check(&mut self, key: &K, bytes: u64, now_ms: u64) -> Result<(), Exceeded> {
        let c = self.config;
        let (packets, size) = self
            .buckets
            .entry(key.clone())
            .or_insert_with(|| (Bucket::new(&c.packets, now_ms), Bucket::new(&c.bytes, now_ms)));
        if !packets.take(&c.packets, 1, now_ms) {
            return Err(Exceeded::Packets);
        }
        if !size.take(&c.bytes, bytes, now_ms) {
            return Err(Exceeded::Bytes);
        }
        Ok(())
    }

    /// Forgets a key (its peer left).
    pub fn remove(&mut self, key: &K) {
        self.buckets.remove(key);
        // Give back the table of a burst of keys once most have left.
        if self.buckets.capacity() > 64 && self.buckets.len() * 4 < self.buckets.capacity() {
            self.buckets.shrink_to(self.buckets.len() * 2);
        }
    }

    /// Keys with a bucket.
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Whether no key has a bucket.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills() {
        let l = Limit { per_second: 10, tolerance: 2.0 };
        let mut b = Bucket::new(&l, 0);
        for _ in 0..20 {
            assert!(b.take(&l, 1, 0));
        }
        assert!(!b.take(&l, 1, 0));
        // 500 ms later, 5 more.
        for _ in 0..5 {
            assert!(b.take(&l, 1, 500));
        }
        assert!(!b.take(&l, 1, 500));
        // Off means off.
        assert!(Bucket::new(&Limit::OFF, 0).take(&Limit::OFF, u64::MAX, 0));
    }

    #[test]
    fn limiter_separates_keys_and_kinds() {
        let mut r = RateLimiter::new(RateLimitConfig {
            packets: Limit { per_second: 2, tolerance: 1.0 },
            bytes: Limit { per_second: 100, tolerance: 1.0 },
        });
        assert_eq!(r.check(&1, 10, 0), Ok(()));
        assert_eq!(r.check(&1, 10, 0), Ok(()));
        assert_eq!(r.check(&1, 10, 0), Err(Exceeded::Packets));
        assert_eq!(r.check(&2, 101, 0), Err(Exceeded::Bytes));
        assert_eq!(r.check(&2, 100, 0), Ok(()));
    }
}
