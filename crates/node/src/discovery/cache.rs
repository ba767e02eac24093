//! The peer cache, `<data-dir>/peers.sqlite`: peers that the PeerPool connected to, with the
//! topic they were found under, the time of their last success and their failure counts.
//! After a restart they are offered to the pool first (most recent success, fewest failures
//! first), so a node gets back to its peer limits without waiting for discovery.

use std::{net::IpAddr, path::Path};

use rusqlite::{Connection, params};
use wisp_crypto::NodeId;
use wisp_rlpx::NodeRecord;

/// The cache file in the data directory.
pub const PEER_CACHE_FILE: &str = "peers.sqlite";
/// Peers offered from the cache at start, at most.
pub const CACHE_LOAD_LIMIT: usize = 64;
/// A peer that failed this many dials in a row since its last success is forgotten.
pub const MAX_FAILURES: i64 = 5;

/// Why the peer cache could not be used (the node runs on without it).
#[derive(Debug, thiserror::Error)]
#[error("peer cache {path}: {source}")]
pub struct PeerCacheError {
    /// The cache file.
    pub path: String,
    /// The SQLite error.
    #[source]
    pub source: rusqlite::Error,
}

/// One cached peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CachedPeer {
    /// The node to dial.
    pub node: NodeRecord,
    /// The topic it was found under (`whisper`, `whispermail`).
    pub topic: String,
    /// Unix time (ms) of its last successful connection.
    pub last_success_ms: u64,
    /// Failed dials since its last success.
    pub failures: i64,
}

/// The SQLite peer cache.
pub struct PeerCache {
    conn: Connection,
    path: String,
}

impl std::fmt::Debug for PeerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerCache").field("path", &self.path).finish_non_exhaustive()
    }
}

impl PeerCache {
    /// Opens (or creates) the cache in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self, PeerCacheError> {
        let path = data_dir.join(PEER_CACHE_FILE);
        let shown = path.display().to_string();
        let err = |source| PeerCacheError { path: shown.clone(), source };
        let conn = Connection::open(&path).map_err(err)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS peers (
                id BLOB PRIMARY KEY NOT NULL,
                ip TEXT NOT NULL,
                tcp INTEGER NOT NULL,
                udp INTEGER NOT NULL,
                topic TEXT NOT NULL,
                last_success_ms INTEGER NOT NULL,
                successes INTEGER NOT NULL DEFAULT 0,
                failures INTEGER NOT NULL DEFAULT 0
            );",
        )
        .map_err(err)?;
        Ok(Self { conn, path: shown })
    }

    fn err(&self, source: rusqlite::Error) -> PeerCacheError {
        PeerCacheError { path: self.path.clone(), source }
    }

    /// Records a successful connection to `node`, found under `topic`, at `now_ms`.
    pub fn record_success(
        &self,
        node: &NodeRecord,
        topic: &str,
        now_ms: u64,
    ) -> Result<(), PeerCacheError> {
        self.conn
            .execute(
                "INSERT INTO peers (id, ip, tcp, udp, topic, last_success_ms, successes, failures)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 0)
                 ON CONFLICT(id) DO UPDATE SET ip = ?2, tcp = ?3, udp = ?4, topic = ?5,
                   last_success_ms = ?6, successes = successes + 1, failures = 0",
                params![
                    node.id.as_bytes().as_slice(),
                    node.address.to_string(),
                    node.tcp_port,
                    node.udp_port,
                    topic,
                    now_ms as i64
                ],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// Records a failed dial of a cached peer; forgets it after [`MAX_FAILURES`] in a row.
    pub fn record_failure(&self, id: &NodeId) -> Result<(), PeerCacheError> {
        let id = id.as_bytes().as_slice();
        self.conn
            .execute("UPDATE peers SET failures = failures + 1 WHERE id = ?1", params![id])
            .map_err(|e| self.err(e))?;
        self.conn
            .execute(
                "DELETE FROM peers WHERE id = ?1 AND failures >= ?2",
                params![id, MAX_FAILURES],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    /// The cached peers, best first: most recent success, then fewest failures; at most
    /// `limit`. Rows that do not parse (edited by hand) are skipped.
    pub fn load(&self, limit: usize) -> Result<Vec<CachedPeer>, PeerCacheError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, ip, tcp, udp, topic, last_success_ms, failures FROM peers
                 ORDER BY last_success_ms DESC, failures ASC LIMIT ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![limit as i64], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, u16>(2)?,
                    r.get::<_, u16>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, i64>(6)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, ip, tcp, udp, topic, last, failures) = row.map_err(|e| self.err(e))?;
            let Ok(id) = <[u8; 64]>::try_from(id.as_slice()) else { continue };
            let Ok(address) = ip.parse::<IpAddr>() else { continue };
            out.push(CachedPeer {
                node: NodeRecord { id: NodeId(id), address, tcp_port: tcp, udp_port: udp },
                topic,
                last_success_ms: u64::try_from(last).unwrap_or(0),
                failures,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(i: u8) -> NodeRecord {
        NodeRecord {
            id: NodeId([i; 64]),
            address: "127.0.0.1".parse().unwrap(),
            tcp_port: 30000 + u16::from(i),
            udp_port: 30100 + u16::from(i),
        }
    }

    #[test]
    fn best_first_and_failures_forget() {
        let dir = std::env::temp_dir().join(format!("wisp-peer-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        {
            let c = PeerCache::open(&dir).unwrap();
            c.record_success(&node(1), "whisper", 1000).unwrap();
            c.record_success(&node(2), "whispermail", 2000).unwrap();
            c.record_success(&node(3), "whisper", 1500).unwrap();
            c.record_failure(&node(3).id).unwrap();
        }
        // Reopened: the rows survive, newest success first.
        let c = PeerCache::open(&dir).unwrap();
        let peers = c.load(10).unwrap();
        let ids: Vec<u8> = peers.iter().map(|p| p.node.id.0[0]).collect();
        assert_eq!(ids, vec![2, 3, 1]);
        assert_eq!(peers[0].topic, "whispermail");
        assert_eq!(peers[0].node, node(2));
        assert_eq!(peers[1].failures, 1);
        for _ in 1..MAX_FAILURES {
            c.record_failure(&node(3).id).unwrap();
        }
        let ids: Vec<u8> = c.load(10).unwrap().iter().map(|p| p.node.id.0[0]).collect();
        assert_eq!(ids, vec![2, 1]);
        // A success resets the failures.
        c.record_failure(&node(1).id).unwrap();
        c.record_success(&node(1), "whisper", 3000).unwrap();
        assert_eq!(c.load(1).unwrap()[0].failures, 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
