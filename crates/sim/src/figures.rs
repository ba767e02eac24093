//! What a run measured, as text for people and JSON for scripts.

use std::collections::BTreeMap;
use std::fmt;

/// Traffic of one kind of node ("relay", "mailserver", "light-topic", "light-bloom",
/// "hostile").
#[derive(Clone, Debug, PartialEq)]
pub struct KindFigures {
    /// The kind.
    pub kind: String,
    /// How many nodes of it.
    pub nodes: usize,
    /// Packet payload bytes received by all of them.
    pub bytes_in: u64,
    /// Packet payload bytes sent by all of them.
    pub bytes_out: u64,
    /// Bytes in per node per simulated day (the run's bytes scaled to 24 h).
    pub in_per_node_day: f64,
    /// Bytes out per node per simulated day.
    pub out_per_node_day: f64,
    /// Encoded bytes of the distinct envelopes a node took from its peers, per node per
    /// simulated day (no duplicates, no own posts, no packet overhead: the model's "receiving
    /// bandwidth").
    pub new_envelope_bytes_per_node_day: f64,
}

/// Mailserver traffic.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MailFigures {
    /// P2P Requests sent by clients (first pages and cursor follow-ups).
    pub client_requests: u64,
    /// Bytes of those requests.
    pub request_bytes: u64,
    /// P2P Requests mailservers received.
    pub requests: u64,
    /// Requests refused.
    pub rejected: u64,
    /// Envelopes served.
    pub served_envelopes: u64,
    /// Bytes of the replies (P2P Messages and completions).
    pub reply_bytes: u64,
    /// The largest reply.
    pub largest_reply_bytes: u64,
    /// Envelopes that reached clients in P2P Messages.
    pub delivered_to_clients: u64,
    /// Of those, wanted envelopes the client did not have yet.
    pub fetched: u64,
    /// History requests that ran to the end.
    pub completed: u64,
    /// History requests that failed.
    pub failed: u64,
}

/// 1:1 conversations (MVDS endpoints talking through the simulated network).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConvFigures {
    /// Conversations (pairs of endpoints).
    pub conversations: u64,
    /// Messages sent, both directions.
    pub messages: u64,
    /// Messages their peer received (at least once).
    pub delivered: u64,
    /// Messages their sender saw acknowledged.
    pub acked: u64,
    /// `delivered / messages`.
    pub delivered_ratio: f64,
    /// Payloads carrying a message beyond its first, per message.
    pub retransmissions_per_message: f64,
    /// Time from send to first receipt, p50 and p95, virtual ms.
    pub delivery_ms: (u64, u64),
    /// Envelopes the endpoints posted (messages and acks).
    pub envelopes: u64,
    /// Records MVDS gave up on.
    pub gave_up: u64,
    /// Whether the exactly-once check ran.
    pub checked: bool,
}

/// Messengers (`wisp_messenger::Messenger`s on sim nodes): public chats and 1:1 chats.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MsgFigures {
    /// Accounts (one messenger each, on distinct nodes).
    pub accounts: u64,
    /// Of them, on light clients.
    pub light_accounts: u64,
    /// Public chats joined.
    pub public_chats: u64,
    /// Public messages sent.
    pub public_messages: u64,
    /// (member, message) receipts due: every other member of the message's chat.
    pub public_expected: u64,
    /// Of those, received.
    pub public_received: u64,
    /// Public messages sent while the network was undisturbed, whose reach was checked.
    pub public_checked: u64,
    /// Time from send to receipt of public messages, p50 and p95, virtual ms.
    pub public_ms: (u64, u64),
    /// 1:1 messages sent.
    pub direct_messages: u64,
    /// Of those, received by their recipient.
    pub direct_received: u64,
    /// Of those, `Delivered` at their sender (the MVDS ack came back).
    pub direct_delivered: u64,
    /// Of those, `Expired` at their sender (MVDS gave up).
    pub direct_expired: u64,
    /// Time from send to receipt of 1:1 messages, p50 and p95, virtual ms.
    pub direct_ms: (u64, u64),
    /// Time from send to `Delivered`, p50 and p95, virtual ms.
    pub delivered_ms: (u64, u64),
    /// Envelopes the messengers posted (messages, acks, bundle advertisements).
    pub envelopes: u64,
    /// Their encoded bytes.
    pub envelope_bytes: u64,
    /// Chat messages the messengers accepted.
    pub messages_accepted: u64,
    /// Acks that marked a message delivered.
    pub acks: u64,
    /// Input the messengers dropped, by reason (duplicates include own echoes).
    pub drops: BTreeMap<String, u64>,
    /// Sends skipped because the sender's node was down.
    pub sends_skipped: u64,
    /// PoW nonces tried sealing the messengers' envelopes.
    pub pow_attempts: u64,
    /// Whether the check ran.
    pub checked: bool,
}

/// Figures of one run. Equal seeds give equal figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// Virtual time simulated, ms.
    pub elapsed_ms: u64,
    /// Honest envelopes posted.
    pub posted: u64,
    /// Posts skipped because the poster was down.
    pub posts_skipped: u64,
    /// (node, envelope) arrivals expected: nodes up at the post and interested in its topic.
    pub expected: u64,
    /// Expected arrivals that happened (relayed; history fetches are in `mail`).
    pub delivered: u64,
    /// `delivered / expected`.
    pub delivery_ratio: f64,
    /// Relay latency percentiles p50, p95, p99, virtual ms.
    pub latency_ms: (u64, u64, u64),
    /// Envelope copies full nodes received in Messages packets.
    pub copies_in_full: u64,
    /// New envelopes full nodes took from peers.
    pub new_in_full: u64,
    /// Duplicate copies a full node receives per new envelope.
    pub duplicates_per_new: f64,
    /// Traffic per kind of node.
    pub kinds: Vec<KindFigures>,
    /// Envelopes light clients with a bloom took that were not on their topics.
    pub false_positives: u64,
    /// Their encoded bytes.
    pub false_positive_bytes: u64,
    /// Packets lost (loss, cuts, closed links).
    pub packets_lost: u64,
    /// Peers dropped, by reason.
    pub disconnects: BTreeMap<String, u64>,
    /// Envelopes refused, by reason.
    pub envelope_drops: BTreeMap<String, u64>,
    /// Honest posts the poster's own router refused.
    pub post_refused: u64,
    /// The largest pool seen on any node, bytes (sampled every simulated minute).
    pub peak_pool_bytes: u64,
    /// Mailserver traffic.
    pub mail: MailFigures,
    /// Invariant violations.
    pub violations: u64,
    /// The first few violations.
    pub violation_texts: Vec<String>,
    /// Hash of every (envelope, node, time) acceptance, independent of their order within a
    /// millisecond.
    pub trace: u64,
    /// 1:1 conversations.
    pub conversations: ConvFigures,
    /// Messengers.
    pub messengers: MsgFigures,
}

impl Figures {
    /// The traffic of one kind, if the run had such nodes.
    pub fn kind(&self, kind: &str) -> Option<&KindFigures> {
        self.kinds.iter().find(|k| k.kind == kind)
    }

    /// The figures as one JSON object.
    pub fn to_json(&self) -> String {
        let mut o = Obj::default();
        o.num("elapsed_ms", self.elapsed_ms);
        o.num("posted", self.posted);
        o.num("posts_skipped", self.posts_skipped);
        o.num("expected", self.expected);
        o.num("delivered", self.delivered);
        o.float("delivery_ratio", self.delivery_ratio);
        o.raw(
            "latency_ms",
            &format!(
                "{{\"p50\":{},\"p95\":{},\"p99\":{}}}",
                self.latency_ms.0, self.latency_ms.1, self.latency_ms.2
            ),
        );
        o.num("copies_in_full", self.copies_in_full);
        o.num("new_in_full", self.new_in_full);
        o.float("duplicates_per_new", self.duplicates_per_new);
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|k| {
                let mut o = Obj::default();
                o.str("kind", &k.kind);
                o.num("nodes", k.nodes as u64);
                o.num("bytes_in", k.bytes_in);
                o.num("bytes_out", k.bytes_out);
                o.float("in_per_node_day", k.in_per_node_day);
                o.float("out_per_node_day", k.out_per_node_day);
                o.float("new_envelope_bytes_per_node_day", k.new_envelope_bytes_per_node_day);
                o.end()
            })
            .collect();
        o.raw("kinds", &format!("[{}]", kinds.join(",")));
        o.num("false_positives", self.false_positives);
        o.num("false_positive_bytes", self.false_positive_bytes);
        o.num("packets_lost", self.packets_lost);
        o.raw("disconnects", &counts(&self.disconnects));
        o.raw("envelope_drops", &counts(&self.envelope_drops));
        o.num("post_refused", self.post_refused);
        o.num("peak_pool_bytes", self.peak_pool_bytes);
        let m = &self.mail;
        let mut mo = Obj::default();
        mo.num("client_requests", m.client_requests);
        mo.num("request_bytes", m.request_bytes);
        mo.num("requests", m.requests);
        mo.num("rejected", m.rejected);
        mo.num("served_envelopes", m.served_envelopes);
        mo.num("reply_bytes", m.reply_bytes);
        mo.num("largest_reply_bytes", m.largest_reply_bytes);
        mo.num("delivered_to_clients", m.delivered_to_clients);
        mo.num("fetched", m.fetched);
        mo.num("completed", m.completed);
        mo.num("failed", m.failed);
        o.raw("mailserver", &mo.end());
        o.num("violations", self.violations);
        let texts: Vec<String> = self.violation_texts.iter().map(|t| quote(t)).collect();
        o.raw("violation_texts", &format!("[{}]", texts.join(",")));
        o.str("trace", &format!("{:016x}", self.trace));
        let c = &self.conversations;
        if c.conversations > 0 {
            let mut co = Obj::default();
            co.num("conversations", c.conversations);
            co.num("messages", c.messages);
            co.num("delivered", c.delivered);
            co.num("acked", c.acked);
            co.float("delivered_ratio", c.delivered_ratio);
            co.float("retransmissions_per_message", c.retransmissions_per_message);
            co.raw(
                "delivery_ms",
                &format!("{{\"p50\":{},\"p95\":{}}}", c.delivery_ms.0, c.delivery_ms.1),
            );
            co.num("envelopes", c.envelopes);
            co.num("gave_up", c.gave_up);
            co.raw("checked", if c.checked { "true" } else { "false" });
            o.raw("conversations", &co.end());
        }
        let m = &self.messengers;
        if m.accounts > 0 {
            let pair = |p: (u64, u64)| format!("{{\"p50\":{},\"p95\":{}}}", p.0, p.1);
            let mut mo = Obj::default();
            mo.num("accounts", m.accounts);
            mo.num("light_accounts", m.light_accounts);
            mo.num("public_chats", m.public_chats);
            mo.num("public_messages", m.public_messages);
            mo.num("public_expected", m.public_expected);
            mo.num("public_received", m.public_received);
            mo.num("public_checked", m.public_checked);
            mo.raw("public_ms", &pair(m.public_ms));
            mo.num("direct_messages", m.direct_messages);
            mo.num("direct_received", m.direct_received);
            mo.num("direct_delivered", m.direct_delivered);
            mo.num("direct_expired", m.direct_expired);
            mo.raw("direct_ms", &pair(m.direct_ms));
            mo.raw("delivered_ms", &pair(m.delivered_ms));
            mo.num("envelopes", m.envelopes);
            mo.num("envelope_bytes", m.envelope_bytes);
            mo.num("messages_accepted", m.messages_accepted);
            mo.num("acks", m.acks);
            mo.raw("drops", &counts(&m.drops));
            mo.num("sends_skipped", m.sends_skipped);
            mo.num("pow_attempts", m.pow_attempts);
            mo.raw("checked", if m.checked { "true" } else { "false" });
            o.raw("messengers", &mo.end());
        }
        o.end()
    }
}

/// Bytes as B, KB, MB, GB (powers of 1024, as the Whisper model prints them).
pub fn human(bytes: f64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.1} {}", units[i])
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.elapsed_ms as f64 / 86_400_000.0;
        writeln!(f, "simulated        {:.0} s ({days:.4} days)", self.elapsed_ms as f64 / 1000.0)?;
        writeln!(
            f,
            "envelopes        {} posted, {} posts skipped (poster down), {} refused",
            self.posted, self.posts_skipped, self.post_refused
        )?;
        writeln!(
            f,
            "delivery         {}/{} = {:.4}",
            self.delivered, self.expected, self.delivery_ratio
        )?;
        let (p50, p95, p99) = self.latency_ms;
        writeln!(f, "latency          p50 {p50} ms, p95 {p95} ms, p99 {p99} ms")?;
        writeln!(
            f,
            "duplicates       {:.2} per new envelope at full nodes ({} copies, {} new)",
            self.duplicates_per_new, self.copies_in_full, self.new_in_full
        )?;
        writeln!(f, "traffic per node per simulated day (in / out / distinct envelopes taken):")?;
        for k in &self.kinds {
            writeln!(
                f,
                "  {:<12} x{:<5} {:>10} / {:>10} / {:>10}",
                k.kind,
                k.nodes,
                human(k.in_per_node_day),
                human(k.out_per_node_day),
                human(k.new_envelope_bytes_per_node_day)
            )?;
        }
        if self.false_positives > 0 {
            writeln!(
                f,
                "bloom            {} false positives, {}",
                self.false_positives,
                human(self.false_positive_bytes as f64)
            )?;
        }
        let m = &self.mail;
        if m.requests > 0 || m.client_requests > 0 {
            writeln!(
                f,
                "mailservers      {} requests ({} refused, {} bytes), {} envelopes served in {} (largest reply {}), {} new to clients, {} completed, {} failed",
                m.requests,
                m.rejected,
                m.request_bytes,
                m.served_envelopes,
                human(m.reply_bytes as f64),
                human(m.largest_reply_bytes as f64),
                m.fetched,
                m.completed,
                m.failed
            )?;
        }
        writeln!(
            f,
            "faults           {} packets lost; peers dropped {:?}; envelopes refused {:?}",
            self.packets_lost, self.disconnects, self.envelope_drops
        )?;
        writeln!(f, "memory           peak pool {}", human(self.peak_pool_bytes as f64))?;
        let c = &self.conversations;
        if c.conversations > 0 {
            writeln!(
                f,
                "1:1 (MVDS)       {} conversations, {} messages: {} delivered ({:.4}), {} acked; {:.2} retransmissions per message; time to delivery p50 {} ms, p95 {} ms; {} envelopes; {} given up; exactly-once {}",
                c.conversations,
                c.messages,
                c.delivered,
                c.delivered_ratio,
                c.acked,
                c.retransmissions_per_message,
                c.delivery_ms.0,
                c.delivery_ms.1,
                c.envelopes,
                c.gave_up,
                if c.checked { "checked" } else { "not checked" }
            )?;
        }
        let m = &self.messengers;
        if m.accounts > 0 {
            writeln!(
                f,
                "messengers       {} accounts ({} on light clients); {} envelopes ({}); {} messages accepted, {} acks; dropped {:?}; {} sends skipped (node down); {} PoW attempts; checked: {}",
                m.accounts,
                m.light_accounts,
                m.envelopes,
                human(m.envelope_bytes as f64),
                m.messages_accepted,
                m.acks,
                m.drops,
                m.sends_skipped,
                m.pow_attempts,
                if m.checked { "yes" } else { "no" }
            )?;
            writeln!(
                f,
                "  public chats   {} chats, {} messages: {}/{} member receipts, {} messages checked; p50 {} ms, p95 {} ms",
                m.public_chats,
                m.public_messages,
                m.public_received,
                m.public_expected,
                m.public_checked,
                m.public_ms.0,
                m.public_ms.1
            )?;
            writeln!(
                f,
                "  1:1 chats      {} messages: {} received, {} delivered (acked), {} expired; received p50 {} ms, p95 {} ms; delivered p50 {} ms, p95 {} ms",
                m.direct_messages,
                m.direct_received,
                m.direct_delivered,
                m.direct_expired,
                m.direct_ms.0,
                m.direct_ms.1,
                m.delivered_ms.0,
                m.delivered_ms.1
            )?;
        }
        writeln!(f, "invariants       {} violations", self.violations)?;
        for t in &self.violation_texts {
            writeln!(f, "  {t}")?;
        }
        write!(f, "trace            {:016x}", self.trace)
    }
}

#[derive(Default)]
struct Obj(Vec<String>);

impl Obj {
    fn num(&mut self, k: &str, v: u64) {
        self.0.push(format!("{}:{v}", quote(k)));
    }
    fn float(&mut self, k: &str, v: f64) {
        let v = if v.is_finite() { format!("{v}") } else { "null".into() };
        self.0.push(format!("{}:{v}", quote(k)));
    }
    fn str(&mut self, k: &str, v: &str) {
        self.0.push(format!("{}:{}", quote(k), quote(v)));
    }
    fn raw(&mut self, k: &str, v: &str) {
        self.0.push(format!("{}:{v}", quote(k)));
    }
    fn end(self) -> String {
        format!("{{{}}}", self.0.join(","))
    }
}

fn counts(m: &BTreeMap<String, u64>) -> String {
    let items: Vec<String> = m.iter().map(|(k, v)| format!("{}:{v}", quote(k))).collect();
    format!("{{{}}}", items.join(","))
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
