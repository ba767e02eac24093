//! enode URLs: `enode://<128 hex node id>@<ip>:<tcp port>[?discport=<udp port>]`.
//!
//! Spec: `devp2p/wiki/enode-url-format.md`. The host must be an IP address (v4, or v6 in
//! brackets); DNS names are not resolved here. The UDP (discovery) port defaults to the TCP
//! port and is printed as `?discport=` only when it differs.

use std::{
    fmt,
    net::{IpAddr, SocketAddr},
    str::FromStr,
};

use wisp_crypto::{NodeId, PublicKey};

/// The URL scheme of a node record.
pub const ENODE_SCHEME: &str = "enode://";

/// A peer's identity and address, as written in an enode URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeRecord {
    /// The node's 64-byte public key.
    pub id: NodeId,
    /// The node's IP address.
    pub address: IpAddr,
    /// The RLPx (TCP) port.
    pub tcp_port: u16,
    /// The discovery (UDP) port.
    pub udp_port: u16,
}

impl NodeRecord {
    /// A record whose UDP port equals its TCP port.
    pub fn new(id: NodeId, addr: SocketAddr) -> Self {
        Self { id, address: addr.ip(), tcp_port: addr.port(), udp_port: addr.port() }
    }

    /// The TCP socket address to dial.
    pub fn tcp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.address, self.tcp_port)
    }

    /// The node's public key (fails only if the id is not a point on the curve).
    pub fn public_key(&self) -> Result<PublicKey, EnodeError> {
        self.id.public_key().map_err(|_| EnodeError::NotOnCurve)
    }
}

/// What is wrong with an enode URL. Each variant names the part that is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnodeError {
    /// The URL does not start with `enode://`.
    #[error("enode URL must start with \"enode://\" (got {0:?})")]
    Scheme(String),
    /// There is no `@` between the node id and the address.
    #[error("enode URL has no '@' between the node id and the address")]
    MissingAt,
    /// The node id is not 128 hex characters.
    #[error("enode node id must be 128 hex characters (64 bytes), got {0:?}")]
    NodeId(String),
    /// The node id is hex of the right length but not a secp256k1 public key.
    #[error("enode node id is not a valid secp256k1 public key")]
    NotOnCurve,
    /// The host is not an IP address.
    #[error("enode host must be an IPv4 address or an IPv6 address in brackets, got {0:?}")]
    Host(String),
    /// The port is missing.
    #[error("enode URL has no TCP port (expected ...@<ip>:<port>)")]
    MissingPort,
    /// The TCP port is not a number in 0..=65535.
    #[error("enode TCP port must be a number from 0 to 65535, got {0:?}")]
    Port(String),
    /// The query string holds something other than `discport=<port>`.
    #[error("enode query must be \"discport=<udp port>\", got {0:?}")]
    Query(String),
    /// The discport is not a number in 0..=65535.
    #[error("enode discport must be a number from 0 to 65535, got {0:?}")]
    DiscPort(String),
}

impl FromStr for NodeRecord {
    type Err = EnodeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let rest = s.strip_prefix(ENODE_SCHEME).ok_or_else(|| EnodeError::Scheme(truncate(s)))?;
        let (id_hex, rest) = rest.split_once('@').ok_or(EnodeError::MissingAt)?;
        let id: NodeId = id_hex.parse().map_err(|_| EnodeError::NodeId(truncate(id_hex)))?;
        id.public_key().map_err(|_| EnodeError::NotOnCurve)?;

        let (hostport, query) = match rest.split_once('?') {
            Some((hp, q)) => (hp, Some(q)),
            None => (rest, None),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) =
                v6.split_once(']').ok_or_else(|| EnodeError::Host(truncate(hostport)))?;
            let port = after.strip_prefix(':').ok_or(EnodeError::MissingPort)?;
            (host, port)
        } else {
            hostport.rsplit_once(':').ok_or(EnodeError::MissingPort)?
        };
        let address: IpAddr = host.parse().map_err(|_| EnodeError::Host(truncate(host)))?;
        if port.is_empty() {
            return Err(EnodeError::MissingPort);
        }
        let tcp_port: u16 = port.parse().map_err(|_| EnodeError::Port(truncate(port)))?;
        let udp_port = match query {
            None => tcp_port,
            Some(q) => {
                let v =
                    q.strip_prefix("discport=").ok_or_else(|| EnodeError::Query(truncate(q)))?;
                v.parse().map_err(|_| EnodeError::DiscPort(truncate(v)))?
            }
        };
        Ok(Self { id, address, tcp_port, udp_port })
    }
}

impl fmt::Display for NodeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{ENODE_SCHEME}{}@", self.id)?;
        match self.address {
            IpAddr::V4(ip) => write!(f, "{ip}")?,
            IpAddr::V6(ip) => write!(f, "[{ip}]")?,
        }
        write!(f, ":{}", self.tcp_port)?;
        if self.udp_port != self.tcp_port {
            write!(f, "?discport={}", self.udp_port)?;
        }
        Ok(())
    }
}

fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid_id() -> String {
        // node key aa..aa (the captured sessions' node A).
        wisp_crypto::SecretKey::from_bytes(&[0xaa; 32]).unwrap().public_key().node_id().to_string()
    }

    #[test]
    fn parse_and_format_v4() {
        let id = valid_id();
        let url = format!("enode://{id}@127.0.0.1:30303");
        let rec: NodeRecord = url.parse().unwrap();
        assert_eq!(rec.tcp_port, 30303);
        assert_eq!(rec.udp_port, 30303);
        assert_eq!(rec.address, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(rec.to_string(), url);
    }

    #[test]
    fn parse_discport_and_v6() {
        let id = valid_id();
        let url = format!("enode://{id}@[::1]:30303?discport=30301");
        let rec: NodeRecord = url.parse().unwrap();
        assert_eq!(rec.tcp_port, 30303);
        assert_eq!(rec.udp_port, 30301);
        assert!(rec.address.is_ipv6());
        assert_eq!(rec.to_string(), url);
    }

    #[test]
    fn errors_name_the_part() {
        let id = valid_id();
        type Check = fn(&EnodeError) -> bool;
        let cases: Vec<(String, Check)> = vec![
            (format!("enr://{id}@1.2.3.4:1"), |e| matches!(e, EnodeError::Scheme(_))),
            (format!("enode://{id}1.2.3.4:1"), |e| matches!(e, EnodeError::MissingAt)),
            ("enode://abcd@1.2.3.4:1".into(), |e| matches!(e, EnodeError::NodeId(_))),
            (format!("enode://{}@1.2.3.4:1", "00".repeat(64)), |e| {
                matches!(e, EnodeError::NotOnCurve)
            }),
            (format!("enode://{id}@example.org:1"), |e| matches!(e, EnodeError::Host(_))),
            (format!("enode://{id}@1.2.3.4"), |e| matches!(e, EnodeError::MissingPort)),
            (format!("enode://{id}@1.2.3.4:"), |e| matches!(e, EnodeError::MissingPort)),
            (format!("enode://{id}@1.2.3.4:70000"), |e| matches!(e, EnodeError::Port(_))),
            (format!("enode://{id}@1.2.3.4:1?foo=2"), |e| matches!(e, EnodeError::Query(_))),
            (format!("enode://{id}@1.2.3.4:1?discport=x"), |e| {
                matches!(e, EnodeError::DiscPort(_))
            }),
        ];
        for (url, check) in cases {
            let err = url.parse::<NodeRecord>().unwrap_err();
            assert!(check(&err), "{url}: unexpected error {err}");
        }
    }
}
