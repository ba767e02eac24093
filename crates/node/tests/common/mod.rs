//! Helpers shared by the node's integration tests (each test file is its own crate and uses
//! what it needs).

#![allow(dead_code)]

pub(crate) mod chat;
pub(crate) mod discovery;

// Dependencies of the library that these tests do not name.
use {rusqlite as _, wisp_discovery as _};

use std::{
    path::PathBuf,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

/// The longest any wait may take.
pub(crate) const WAIT: Duration = Duration::from_secs(20);

/// A fresh, empty directory under the test target dir, unique per process and call.
pub(crate) fn temp_dir(prefix: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Unix time in seconds.
pub(crate) fn now_secs() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as u32
}

/// Polls `f` every 50 ms until it holds; fails the test after [`WAIT`].
pub(crate) async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
