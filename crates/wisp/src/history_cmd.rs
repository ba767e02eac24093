//! `wisp history`: ask a mailserver for a chat's history through a running node's JSON-RPC and
//! print the messages as `wisp watch` does.
//!
//! The node does the work: it connects to the mailserver (`admin_addPeer`), trusts it for P2P
//! messages (`waku_markTrustedPeer`), delivers what it sends to a filter that allows P2P
//! (`waku_newMessageFilter`), and runs the paged request (`wakuext_requestMessages`, which
//! returns when every page has arrived). Meanwhile this command polls the filter and prints.

use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};
use wisp_rlpx::NodeRecord;

use crate::{
    error::Error,
    post_watch::{
        Channel, ChannelArgs, chat_topic, delete_filter, filter_messages, hex0x, message_line,
        new_filter, rfc3339,
    },
    print_line,
    rpc_client::{RpcClient, RpcError},
};

/// How long an ordinary RPC call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the mailserver has to become a peer of the node.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Between polls of the filter (and of `admin_peers` while connecting).
const POLL: Duration = Duration::from_millis(300);
/// Most envelopes per page (8/WAKU-MAIL).
const MAX_LIMIT: u32 = 1000;

/// Shown after `wisp history --help`.
const EXAMPLES: &str = "\
Examples:
  The last day of the public chat \"status\" from a mailserver, through the local node:
    wisp history --mailserver enode://<128 hex node id>@203.0.113.7:30303 --chat status
  The last 2 hours of a topic with a password-derived key, through another node:
    wisp history --rpc http://127.0.0.1:8546 --mailserver enode://... \\
      --topic 0x12345678 --password secret --since 2h

Messages go to stdout, one per line as `wisp watch` prints them; progress and the summary
(`history: N messages from <mailserver> (pages P)`) go to stderr. Exit 1 if the node's RPC or the
mailserver cannot be reached, or the request fails (the message says which time range is missing).";

/// `wisp history`
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub(crate) struct HistoryArgs {
    /// The node, topic and key.
    #[command(flatten)]
    pub(crate) channel: ChannelArgs,

    /// The mailserver: enode://<128 hex node id>@<ip>:<port>
    #[arg(long, value_name = "ENODE", value_parser = parse_enode)]
    pub(crate) mailserver: NodeRecord,

    /// The mailserver's password (its key seals the request) [default: status-offline-inbox]
    #[arg(long, value_name = "PASSWORD")]
    pub(crate) mailserver_password: Option<String>,

    /// How far back: seconds, or a number with s, m, h or d (30m, 2h, 7d)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_since)]
    pub(crate) since: Duration,

    /// Envelopes per page, 1 to 1000; every page is fetched [default: 1000]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_LIMIT)))]
    pub(crate) limit: Option<u32>,

    /// Seconds to wait for each page from the mailserver
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=600))]
    pub(crate) timeout: u32,
}

fn parse_enode(s: &str) -> Result<NodeRecord, String> {
    s.parse().map_err(|e: wisp_rlpx::EnodeError| e.to_string())
}

/// `90`, `90s`, `30m`, `2h`, `7d`: a positive duration.
pub(crate) fn parse_since(s: &str) -> Result<Duration, String> {
    let form = "a duration such as 90s, 30m, 2h or 7d";
    let (digits, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c),
        _ => (s, 's'),
    };
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("unknown unit {unit:?}: expected {form}")),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{s:?} is not {form}"))?;
    match n.checked_mul(scale) {
        Some(0) => Err(format!("must be more than 0; expected {form}")),
        Some(secs) if secs <= u64::from(u32::MAX) => Ok(Duration::from_secs(secs)),
        _ => Err(format!("{s} is too long")),
    }
}

/// The first 8 hex digits of the node id, as logs show it.
fn short(node: &NodeRecord) -> String {
    let id = node.id.to_string();
    format!("{}…", &id[..id.len().min(8)])
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `wisp history`.
pub(crate) fn run(args: HistoryArgs) -> Result<(), Error> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Error::Runtime)?;
    runtime.block_on(history(args))
}

async fn history(args: HistoryArgs) -> Result<(), Error> {
    let rpc = RpcClient::new(args.channel.rpc.clone(), CALL_TIMEOUT);
    let c = &args.channel;
    let (topic, password) = match (&c.chat, &c.topic) {
        (Some(name), _) => (chat_topic(name), Some(name.as_str())),
        (None, Some(topic)) => (*topic, c.password.as_deref()),
        (None, None) => unreachable!("clap requires --topic or --chat"),
    };
    let channel = Channel::open_with(&rpc, topic, password, c.sym_key.as_ref()).await?;
    let mut cleanup = Cleanup { channel: Some(channel), filter: None, key: None };
    let result = fetch(&rpc, &args, &mut cleanup).await;
    cleanup.run(&rpc).await;
    result
}

/// What to remove from the node at the end, whatever happened.
struct Cleanup {
    channel: Option<Channel>,
    filter: Option<String>,
    key: Option<String>,
}

impl Cleanup {
    async fn run(self, rpc: &RpcClient) {
        if let Some(filter) = &self.filter {
            delete_filter(rpc, filter).await;
        }
        if let Some(key) = self.key {
            let _ = rpc.call("waku_deleteSymKey", json!([key])).await;
        }
        if let Some(channel) = self.channel {
            channel.close(rpc).await;
        }
    }
}

async fn fetch(rpc: &RpcClient, args: &HistoryArgs, cleanup: &mut Cleanup) -> Result<(), Error> {
    let mailserver = &args.mailserver;
    let enode = mailserver.to_string();
    let who = short(mailserver);
    let channel = cleanup.channel.as_ref().expect("opened");

    connect(rpc, mailserver).await?;
    rpc.call("waku_markTrustedPeer", json!([enode])).await?;
    let filter = new_filter(rpc, channel).await?;
    cleanup.filter = Some(filter.clone());
    if let Some(password) = &args.mailserver_password {
        let id = rpc.call("waku_generateSymKeyFromPassword", json!([password])).await?;
        cleanup.key = id.as_str().map(str::to_owned);
    }

    let now = now_secs();
    let mut request = json!({
        "mailServerPeer": enode,
        "from": now.saturating_sub(args.since.as_secs()),
        "to": now,
        "topics": [hex0x(&channel.topic)],
        "timeout": args.timeout,
    });
    if let Some(limit) = args.limit {
        request["limit"] = json!(limit);
    }
    if let Some(key) = &cleanup.key {
        request["symKeyID"] = json!(key);
    }
    eprintln!(
        "asking {who} for topic {} since {} through {}",
        hex0x(&channel.topic),
        rfc3339(now.saturating_sub(args.since.as_secs())),
        rpc.url()
    );
    // The node answers when the last page is in; each page has `timeout` seconds.
    let limit = Duration::from_secs(3600);
    let call = {
        let rpc = rpc.clone();
        tokio::spawn(async move {
            rpc.call_within("wakuext_requestMessages", json!([request]), limit).await
        })
    };
    tokio::pin!(call);

    let mut printed = 0u64;
    let mut interval = tokio::time::interval(POLL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let answer = loop {
        tokio::select! {
            joined = &mut call => break joined,
            _ = interval.tick() => {
                printed += print_messages(rpc, &filter).await?;
                eprintln!("received {printed} messages...");
            }
        }
    };
    let answer = answer.map_err(|e| Error::History(format!("the request task failed: {e}")))?;
    // What arrived with the last page.
    tokio::time::sleep(POLL).await;
    printed += print_messages(rpc, &filter).await?;
    let answer = answer?;

    let pages = answer.get("pages").and_then(Value::as_u64).unwrap_or(0);
    if let Some(problem) = answer.get("error").and_then(Value::as_str) {
        let envelopes = answer.get("envelopes").and_then(Value::as_u64).unwrap_or(0);
        let gap = match (
            answer.pointer("/gap/from").and_then(Value::as_u64),
            answer.pointer("/gap/to").and_then(Value::as_u64),
        ) {
            (Some(from), Some(to)) => {
                format!("; not covered: {} to {}", rfc3339(from), rfc3339(to))
            }
            _ => String::new(),
        };
        return Err(Error::History(format!(
            "history from {who} incomplete: {problem} after {envelopes} envelopes \
             ({printed} messages printed){gap}"
        )));
    }
    eprintln!("history: {printed} messages from {who} (pages {pages})");
    Ok(())
}

/// Prints what the filter holds; returns how many.
async fn print_messages(rpc: &RpcClient, filter: &str) -> Result<u64, Error> {
    let messages = filter_messages(rpc, filter).await?;
    for m in &messages {
        print_line(&message_line(m))?;
    }
    Ok(messages.len() as u64)
}

/// `admin_addPeer`, then waits (bounded) until `admin_peers` lists the mailserver.
async fn connect(rpc: &RpcClient, mailserver: &NodeRecord) -> Result<(), Error> {
    rpc.call("admin_addPeer", json!([mailserver.to_string()])).await?;
    let deadline = tokio::time::Instant::now() + CONNECT_TIMEOUT;
    loop {
        if is_peer(rpc, mailserver).await? {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::History(format!(
                "mailserver {} did not become a peer of the node at {} within {} s: is it \
                 running, and reachable from the node at {}?",
                short(mailserver),
                rpc.url(),
                CONNECT_TIMEOUT.as_secs(),
                mailserver.tcp_addr()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn is_peer(rpc: &RpcClient, mailserver: &NodeRecord) -> Result<bool, RpcError> {
    let peers = rpc.call("admin_peers", json!([])).await?;
    Ok(peers.as_array().into_iter().flatten().any(|p| {
        p.get("enode")
            .and_then(Value::as_str)
            .and_then(|e| e.parse::<NodeRecord>().ok())
            .is_some_and(|n| n.id == mailserver.id)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_since("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_since("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_since("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_since("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_since("7d").unwrap(), Duration::from_secs(7 * 86_400));
        for bad in ["", "h", "0", "0h", "-1h", "1w", "1.5h", "99999999999d"] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }
}
