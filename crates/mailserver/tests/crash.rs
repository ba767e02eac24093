//! Crash safety: an envelope reported as archived survives `kill -9` of the process.
//!
//! The test re-executes its own binary as the child (`child_ingests_until_killed`, selected by
//! an environment variable): the child puts batches into a SQLite archive and prints
//! "archived N" after each `put` returns; the parent reads until enough were reported, sends
//! SIGKILL at once (while the child is in the middle of its next `put`), reopens the file and
//! checks that every reported envelope is there. Three rounds on the same file.
//!
//! SQLite only: it is the backend whose durability is ours to get right (WAL with
//! `synchronous = NORMAL`, see `src/sqlite.rs`). A PostgreSQL `put` returns after COMMIT, which
//! the server has flushed before answering; killing our process cannot undo it.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use bytes::Bytes;
use wisp_mailserver::{ArchivedEnvelope, Query, SqliteStore, Store};
use wisp_waku::{Envelope, Topic};

use alloy_rlp as _;
use proptest as _;
use rusqlite as _;
use thiserror as _;
#[cfg(feature = "postgres")]
use tokio_postgres as _;
use tracing as _;
use wisp_crypto as _;
#[cfg(feature = "postgres")]
use {deadpool_postgres as _, rustls as _, tokio_rustls as _};

/// Set in the child: the archive's path.
const CHILD_DB: &str = "WISP_CRASH_CHILD_DB";
/// Set in the child: the index of the first envelope to put.
const CHILD_START: &str = "WISP_CRASH_CHILD_START";
/// Envelopes per put.
const BATCH: u64 = 50;

/// Envelope number `i`, the same in parent and child.
fn envelope(i: u64) -> ArchivedEnvelope {
    let e = Envelope {
        expiry: 1_700_000_000 + (i / 7) as u32,
        ttl: 60,
        topic: Topic((i as u32 % 17).to_be_bytes()),
        data: Bytes::from(i.to_le_bytes().repeat(25)),
        nonce: i,
    };
    ArchivedEnvelope::new(&e)
}

/// The child's role; passes at once when run as an ordinary test.
#[test]
fn child_ingests_until_killed() {
    let Ok(path) = std::env::var(CHILD_DB) else { return };
    let start: u64 = std::env::var(CHILD_START).unwrap().parse().unwrap();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(&path).unwrap();
        let mut next = start;
        loop {
            let batch: Vec<_> = (next..next + BATCH).map(envelope).collect();
            store.put(&batch).await.unwrap();
            next += BATCH;
            // Only now is it reported: everything below `next` is archived.
            println!("archived {next}");
        }
    });
}

#[test]
fn archived_envelopes_survive_kill_9() {
    let dir = std::env::temp_dir().join(format!("wisp-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("archive.sqlite");
    let exe = std::env::current_exe().unwrap();
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    let mut reported = 0u64;
    for round in 0..3 {
        let mut child = Command::new(&exe)
            .args(["--exact", "child_ingests_until_killed", "--nocapture", "--test-threads=1"])
            .env(CHILD_DB, &path)
            .env(CHILD_START, reported.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let want = reported + 3_000;
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut lines = BufReader::new(stdout).lines();
        while reported < want {
            assert!(Instant::now() < deadline, "the child archived too slowly");
            let line = lines.next().expect("the child exited early").unwrap();
            if let Some(n) = line.strip_prefix("archived ") {
                reported = n.trim().parse().unwrap();
            }
        }
        // SIGKILL, right after a report, while the next put is under way.
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "round {round}: the child was killed");

        let (count, missing) = rt.block_on(async {
            let store = SqliteStore::open(&path).unwrap();
            let count = store.count().await.unwrap();
            let mut found = std::collections::HashSet::new();
            let mut q = Query::new(0, u32::MAX);
            loop {
                let page = store.query(&q).await.unwrap();
                found.extend(page.envelopes);
                match page.next {
                    Some(c) => q.after = Some(c),
                    None => break,
                }
            }
            let missing = (0..reported).filter(|i| !found.contains(&envelope(*i).rlp)).count();
            (count, missing)
        });
        assert_eq!(missing, 0, "round {round}: {missing} of {reported} reported envelopes lost");
        assert!(count >= reported, "round {round}: {count} archived, {reported} reported");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
