//! `wisp post` and `wisp watch`: send and print Waku messages through a running node's JSON-RPC
//! (9/WAKU-RPC), with a topic and a symmetric key, as Status public chats use them.

use std::time::Duration;

use clap::Args;
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    error::Error,
    print_line,
    rpc_client::{DEFAULT_RPC_URL, RpcClient, RpcError, RpcUrl},
};

/// How long an RPC call may take (proof of work comes on top for `waku_post`).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a Waku topic (7/WAKU-DATA).
const TOPIC_LEN: usize = 4;
/// Bytes of a symmetric key (AES-256-GCM).
const SYM_KEY_LEN: usize = 32;

/// A 4-byte Waku topic.
pub(crate) type Topic = [u8; TOPIC_LEN];

/// Where the messages are: the node, the topic and the symmetric key.
#[derive(Debug, Args)]
pub(crate) struct ChannelArgs {
    /// JSON-RPC URL of a running node (`wisp node`, or `wisp devnet` prints one per node)
    #[arg(long, value_name = "URL", default_value = DEFAULT_RPC_URL)]
    pub(crate) rpc: RpcUrl,

    /// Topic: 4 bytes as 8 hex digits, e.g. 0x12345678
    #[arg(
        long,
        value_name = "0xHEX",
        value_parser = parse_topic,
        required_unless_present = "chat",
        conflicts_with = "chat"
    )]
    pub(crate) topic: Option<Topic>,

    /// A Status public chat: topic = first 4 bytes of keccak256(NAME), key from the password NAME
    #[arg(long, value_name = "NAME", conflicts_with_all = ["password", "sym_key"])]
    pub(crate) chat: Option<String>,

    /// Password to derive the symmetric key from (on the node, as waku_generateSymKeyFromPassword)
    #[arg(
        long,
        value_name = "PASSWORD",
        conflicts_with = "sym_key",
        required_unless_present_any = ["chat", "sym_key"]
    )]
    pub(crate) password: Option<String>,

    /// Symmetric key: 32 bytes as 64 hex digits, 0x optional
    #[arg(long, value_name = "0xHEX", value_parser = parse_sym_key)]
    pub(crate) sym_key: Option<SymKey>,
}

/// `wisp post`
#[derive(Debug, Args)]
pub(crate) struct PostArgs {
    /// The node, topic and key.
    #[command(flatten)]
    pub(crate) channel: ChannelArgs,

    /// Seconds the envelope lives in the network
    #[arg(long, value_name = "SECS", default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) ttl: u32,

    /// Proof of work to reach (the network drops envelopes below its minimum)
    #[arg(long, value_name = "POW", default_value_t = 0.002, value_parser = parse_pow)]
    pub(crate) pow: f64,

    /// Most seconds the node may spend on the proof of work
    #[arg(long, value_name = "SECS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub(crate) pow_time: u32,

    /// The message: sent as its UTF-8 bytes
    #[arg(value_name = "MESSAGE")]
    pub(crate) message: String,
}

/// `wisp watch`
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// The node, topic and key.
    #[command(flatten)]
    pub(crate) channel: ChannelArgs,

    /// Milliseconds between polls of the node
    #[arg(long, value_name = "MS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub(crate) interval_ms: u64,

    /// Stop after N messages [default: run until Ctrl-C or SIGTERM]
    #[arg(long, short = 'c', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) count: Option<u64>,
}

/// A symmetric key from the command line.
#[derive(Clone)]
pub(crate) struct SymKey([u8; SYM_KEY_LEN]);

impl std::fmt::Debug for SymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SymKey(..)")
    }
}

/// Parses `0x12345678` (the 0x is optional).
pub(crate) fn parse_topic(s: &str) -> Result<Topic, String> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    let bytes = hex::decode(digits)
        .map_err(|_| format!("{s:?} is not hex; a topic is 4 bytes, e.g. 0x12345678"))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        format!("a topic is 4 bytes (8 hex digits, e.g. 0x12345678), {s:?} has {}", b.len())
    })
}

fn parse_sym_key(s: &str) -> Result<SymKey, String> {
    let digits = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")).unwrap_or(s);
    let bytes = hex::decode(digits).map_err(|_| "a symmetric key is 64 hex digits".to_owned())?;
    let len = bytes.len();
    let key = bytes
        .try_into()
        .map_err(|_| format!("a symmetric key is 32 bytes (64 hex digits), this one has {len}"))?;
    Ok(SymKey(key))
}

fn parse_pow(s: &str) -> Result<f64, String> {
    let pow: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if !pow.is_finite() || pow < 0.0 {
        return Err("must be a number of 0 or more".into());
    }
    Ok(pow)
}

/// The topic of a Status public chat: the first 4 bytes of keccak256(name).
pub(crate) fn chat_topic(name: &str) -> Topic {
    let hash = wisp_crypto::keccak256(name.as_bytes());
    [hash[0], hash[1], hash[2], hash[3]]
}

/// `0x`-prefixed lowercase hex.
pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// The topic and the symmetric key, stored on the node under `key_id`.
#[derive(Debug)]
pub(crate) struct Channel {
    /// The topic.
    pub(crate) topic: Topic,
    /// The node's id of the symmetric key.
    pub(crate) key_id: String,
}

impl Channel {
    /// Stores the key on the node (derived from the password there, or added as is).
    async fn open(rpc: &RpcClient, args: &ChannelArgs) -> Result<Self, RpcError> {
        let (topic, password) = match (&args.chat, &args.topic) {
            (Some(name), _) => (chat_topic(name), Some(name.as_str())),
            (None, Some(topic)) => (*topic, args.password.as_deref()),
            (None, None) => unreachable!("clap requires --topic or --chat"),
        };
        Self::open_with(rpc, topic, password, args.sym_key.as_ref()).await
    }

    /// Stores the key on the node: derived from `password`, else `sym_key` as is.
    pub(crate) async fn open_with(
        rpc: &RpcClient,
        topic: Topic,
        password: Option<&str>,
        sym_key: Option<&SymKey>,
    ) -> Result<Self, RpcError> {
        let result = match (password, sym_key) {
            (Some(password), _) => {
                rpc.call("waku_generateSymKeyFromPassword", json!([password])).await?
            }
            (None, Some(key)) => rpc.call("waku_addSymKey", json!([hex0x(&key.0)])).await?,
            (None, None) => unreachable!("clap requires --password, --sym-key or --chat"),
        };
        let key_id = as_string(rpc, "key id", result)?;
        Ok(Self { topic, key_id })
    }

    /// Forgets the key on the node (best effort: the node may be gone).
    pub(crate) async fn close(self, rpc: &RpcClient) {
        if let Err(e) = rpc.call("waku_deleteSymKey", json!([self.key_id])).await {
            tracing::debug!(error = %e, "could not delete the symmetric key on the node");
        }
    }
}

/// A string result, or a protocol error naming `what`.
fn as_string(rpc: &RpcClient, what: &str, result: Value) -> Result<String, RpcError> {
    match result {
        Value::String(s) => Ok(s),
        other => Err(RpcError::Protocol {
            url: rpc.url().clone(),
            method: what.into(),
            detail: format!("expected a string, got {other}"),
        }),
    }
}

/// A runtime for one command.
fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(Error::Runtime)
}

/// `wisp post`: derives or adds the key on the node, posts, prints the envelope hash.
pub(crate) fn post(args: PostArgs) -> Result<(), Error> {
    runtime()?.block_on(async {
        let rpc = RpcClient::new(args.channel.rpc.clone(), CALL_TIMEOUT);
        let channel = Channel::open(&rpc, &args.channel).await?;
        let posted = post_message(
            &rpc,
            &channel,
            args.message.as_bytes(),
            args.ttl,
            args.pow,
            args.pow_time,
        )
        .await;
        channel.close(&rpc).await;
        print_line(&posted?)
    })
}

/// Calls `waku_post` and returns what to print: the envelope hash (or `posted` from a node
/// that answers `true`, as 9/WAKU-RPC has it).
pub(crate) async fn post_message(
    rpc: &RpcClient,
    channel: &Channel,
    payload: &[u8],
    ttl: u32,
    pow: f64,
    pow_time: u32,
) -> Result<String, RpcError> {
    let message = json!({
        "symKeyID": channel.key_id,
        "topic": hex0x(&channel.topic),
        "payload": hex0x(payload),
        "ttl": ttl,
        "powTarget": pow,
        "powTime": pow_time,
    });
    let limit = CALL_TIMEOUT + Duration::from_secs(pow_time.into());
    match rpc.call_within("waku_post", json!([message]), limit).await? {
        Value::String(hash) => Ok(hash),
        Value::Bool(true) => Ok("posted".into()),
        other => Err(RpcError::Protocol {
            url: rpc.url().clone(),
            method: "waku_post".into(),
            detail: format!("expected the envelope hash, got {other}"),
        }),
    }
}

/// Installs a message filter for `channel` and returns its id.
pub(crate) async fn new_filter(rpc: &RpcClient, channel: &Channel) -> Result<String, RpcError> {
    let filter = json!({
        "symKeyID": channel.key_id,
        "topics": [hex0x(&channel.topic)],
        "allowP2P": true,
    });
    let id = rpc.call("waku_newMessageFilter", json!([filter])).await?;
    as_string(rpc, "waku_newMessageFilter", id)
}

/// The messages a filter received since the last call, oldest first.
pub(crate) async fn filter_messages(rpc: &RpcClient, filter: &str) -> Result<Vec<Value>, RpcError> {
    match rpc.call("waku_getFilterMessages", json!([filter])).await? {
        Value::Array(mut messages) => {
            messages.sort_by_key(|m| m.get("timestamp").and_then(Value::as_u64).unwrap_or(0));
            Ok(messages)
        }
        Value::Null => Ok(Vec::new()),
        other => Err(RpcError::Protocol {
            url: rpc.url().clone(),
            method: "waku_getFilterMessages".into(),
            detail: format!("expected an array of messages, got {other}"),
        }),
    }
}

/// Removes a filter (best effort).
pub(crate) async fn delete_filter(rpc: &RpcClient, filter: &str) {
    if let Err(e) = rpc.call("waku_deleteMessageFilter", json!([filter])).await {
        tracing::debug!(error = %e, "could not delete the message filter on the node");
    }
}

/// The payload of a message object, decoded from hex.
pub(crate) fn payload_of(message: &Value) -> Option<Vec<u8>> {
    let text = message.get("payload")?.as_str()?;
    hex::decode(text.strip_prefix("0x").unwrap_or(text)).ok()
}

/// `wisp watch`: prints each message on the channel as one line until `--count` or a signal.
pub(crate) fn watch(args: WatchArgs) -> Result<(), Error> {
    runtime()?.block_on(async {
        let mut sigint = signal(SignalKind::interrupt())
            .map_err(|source| Error::Signal { signal: "SIGINT", source })?;
        let mut sigterm = signal(SignalKind::terminate())
            .map_err(|source| Error::Signal { signal: "SIGTERM", source })?;
        let rpc = RpcClient::new(args.channel.rpc.clone(), CALL_TIMEOUT);
        let channel = Channel::open(&rpc, &args.channel).await?;
        let filter = match new_filter(&rpc, &channel).await {
            Ok(filter) => filter,
            Err(e) => {
                channel.close(&rpc).await;
                return Err(e.into());
            }
        };
        let until = match args.count {
            Some(1) => " until 1 message".to_owned(),
            Some(n) => format!(" until {n} messages"),
            None => String::new(),
        };
        eprintln!(
            "watching topic {} at {}{until}; Ctrl-C to stop",
            hex0x(&channel.topic),
            rpc.url()
        );

        let mut interval = tokio::time::interval(Duration::from_millis(args.interval_ms));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen = 0u64;
        let result = 'poll: loop {
            tokio::select! {
                _ = interval.tick() => {}
                _ = sigint.recv() => break Ok(()),
                _ = sigterm.recv() => break Ok(()),
            }
            let messages = match filter_messages(&rpc, &filter).await {
                Ok(messages) => messages,
                Err(e) => break Err(e.into()),
            };
            for message in &messages {
                if let Err(e) = print_line(&message_line(message)) {
                    break 'poll Err(e);
                }
                seen += 1;
                if args.count.is_some_and(|n| seen >= n) {
                    break 'poll Ok(());
                }
            }
        };
        delete_filter(&rpc, &filter).await;
        channel.close(&rpc).await;
        result
    })
}

/// One message as a line: `<time> <topic> <signer or "unsigned"> <payload>`.
pub(crate) fn message_line(message: &Value) -> String {
    let time = match message.get("timestamp").and_then(Value::as_u64) {
        Some(ts) => rfc3339(ts),
        None => "-".into(),
    };
    let topic = message.get("topic").and_then(Value::as_str).unwrap_or("-");
    let signer = match message.get("sig").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        // An uncompressed public key: 0x04 and 64 bytes; show the start of the key itself.
        Some(sig) => {
            let digits = sig.strip_prefix("0x").unwrap_or(sig);
            let digits = if digits.len() == 130 { &digits[2..] } else { digits };
            format!("0x{}…", &digits[..digits.len().min(8)])
        }
        None => "unsigned".into(),
    };
    let payload = match payload_of(message) {
        Some(bytes) => show_payload(&bytes),
        None => message.get("payload").map(Value::to_string).unwrap_or_default(),
    };
    format!("{time} {topic} {signer} {payload}")
}

/// A payload as UTF-8 text if it is (control characters escaped, to keep one line), else hex.
fn show_payload(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(char::is_control) => text.to_owned(),
        Ok(text) => text.chars().flat_map(char::escape_default).collect(),
        Err(_) => hex0x(bytes),
    }
}

/// A Unix time as RFC 3339 in UTC: `2025-01-31T12:00:00Z`.
pub(crate) fn rfc3339(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_topics_and_keys() {
        assert_eq!(parse_topic("0x12345678").unwrap(), [0x12, 0x34, 0x56, 0x78]);
        assert_eq!(parse_topic("deadbeef").unwrap(), [0xde, 0xad, 0xbe, 0xef]);
        assert!(parse_topic("0x123456").unwrap_err().contains("4 bytes"));
        assert!(parse_topic("0xzz345678").is_err());
        assert!(parse_topic("").is_err());
        assert_eq!(parse_sym_key(&format!("0x{}", "ab".repeat(32))).unwrap().0, [0xab; 32]);
        assert!(parse_sym_key("0xabcd").unwrap_err().contains("32 bytes"));
        assert!(parse_pow("-1").is_err());
        assert!(parse_pow("NaN").is_err());
        assert_eq!(parse_pow("0.002").unwrap(), 0.002);
    }

    #[test]
    fn chat_topic_is_keccak_prefix() {
        // status-go: ToTopic("status") = keccak256("status")[:4] = 0x2a3d2c97... checked
        // against keccak256 itself, the definition.
        let hash = wisp_crypto::keccak256(b"status");
        assert_eq!(chat_topic("status"), hash[..4]);
        assert_eq!(hex0x(&wisp_crypto::keccak256(b"")[..4]), "0xc5d24601");
        assert_eq!(chat_topic(""), [0xc5, 0xd2, 0x46, 0x01]);
    }

    #[test]
    fn formats_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_498_577_270), "2017-06-27T15:27:50Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn formats_messages_as_one_line() {
        let signed = json!({
            "sig": format!("0x04{}", "ab".repeat(64)),
            "timestamp": 1_498_577_270u64,
            "topic": "0xffaadd11",
            "payload": hex0x(b"hi there"),
        });
        assert_eq!(message_line(&signed), "2017-06-27T15:27:50Z 0xffaadd11 0xabababab… hi there");
        let unsigned = json!({
            "sig": null,
            "timestamp": 1_498_577_270u64,
            "topic": "0xffaadd11",
            "payload": "0xffff00",
        });
        assert_eq!(message_line(&unsigned), "2017-06-27T15:27:50Z 0xffaadd11 unsigned 0xffff00");
        let multiline = json!({ "timestamp": 0, "topic": "0x00000000", "payload": hex0x(b"a\nb") });
        assert_eq!(message_line(&multiline), "1970-01-01T00:00:00Z 0x00000000 unsigned a\\nb");
    }
}
