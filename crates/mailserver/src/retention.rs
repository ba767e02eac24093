//! Retention: deletes archived envelopes sent more than N days ago (default 30).
//!
//! Deletion goes in small batches ([`Store::delete_before`], one short transaction each) with a
//! pause between them, so puts and queries interleave with a long prune instead of waiting for
//! it: on SQLite a put waits at most for one batch (a few milliseconds for 5 000 envelopes), on
//! PostgreSQL not at all (row locks).
//!
//! ```no_run
//! # async fn f(store: wisp_mailserver::store::AnyStore) {
//! use std::time::{SystemTime, UNIX_EPOCH};
//! use wisp_mailserver::retention::{self, RetentionConfig};
//!
//! let now = || SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
//! let task = tokio::spawn(retention::run(store, RetentionConfig::default(), now));
//! // ... on shutdown:
//! task.abort();
//! # }
//! ```

use std::time::Duration;

use crate::store::{Store, StoreError};

/// Days an envelope is kept by default.
pub const DEFAULT_RETENTION_DAYS: u32 = 30;

/// Seconds in a day.
const DAY: u64 = 86_400;

/// How retention runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetentionConfig {
    /// Envelopes sent more than this many days ago are deleted. Default: 30.
    pub days: u32,
    /// Time between two prunes. Default: 1 h.
    pub interval: Duration,
    /// Envelopes deleted per transaction. Default: 5 000.
    pub batch: u32,
    /// Pause between two batches of one prune, so other work gets the database. Default: 10 ms.
    pub pause: Duration,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            days: DEFAULT_RETENTION_DAYS,
            interval: Duration::from_secs(3600),
            batch: 5_000,
            pause: Duration::from_millis(10),
        }
    }
}

/// The oldest sent time kept at `now` (Unix seconds) when keeping `days` days.
pub fn cutoff(now: u64, days: u32) -> u32 {
    let before = now.saturating_sub(u64::from(days) * DAY);
    u32::try_from(before).unwrap_or(u32::MAX)
}

/// Deletes every envelope sent before `before`, `batch` at a time, pausing `pause` (or at least
/// yielding) between batches; returns how many were deleted.
pub async fn prune_once<S: Store>(
    store: &S,
    before: u32,
    batch: u32,
    pause: Duration,
) -> Result<u64, StoreError> {
    let batch = batch.max(1);
    let mut total = 0;
    loop {
        let n = store.delete_before(before, batch).await?;
        total += n;
        if n < u64::from(batch) {
            return Ok(total);
        }
        if pause.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(pause).await;
        }
    }
}

/// Prunes now and then every `config.interval`, forever; `now` gives Unix seconds. Failures are
/// logged and retried at the next interval. Never returns: spawn it and abort the task to stop.
pub async fn run<S: Store>(store: S, config: RetentionConfig, now: impl Fn() -> u64 + Send) {
    loop {
        let before = cutoff(now(), config.days);
        match prune_once(&store, before, config.batch, config.pause).await {
            Ok(0) => tracing::debug!(target: "mailserver", before, "retention: nothing to delete"),
            Ok(deleted) => tracing::info!(target: "mailserver", before, deleted, "retention"),
            Err(error) => tracing::warn!(target: "mailserver", %error, "retention failed"),
        }
        tokio::time::sleep(config.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_saturates() {
        assert_eq!(cutoff(100 * DAY, 30), (70 * DAY) as u32);
        assert_eq!(cutoff(10, 30), 0);
        assert_eq!(cutoff(u64::MAX, 0), u32::MAX);
    }
}
