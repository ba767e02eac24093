//! The history client: one [`HistoryRequest`] per (mailserver, topics, range), a pure state
//! machine that sends a request, collects the P2P Messages that follow, follows the cursor of
//! each completion to the end, and reports completion, failure or timeout.
//!
//! The caller (`wisp-node`) owns the clock and the sockets:
//!
//! 1. mark the mailserver peer trusted (`wisp_waku::Router::mark_trusted`): only a trusted
//!    peer's P2P Messages reach the filters, and only they may carry expired envelopes
//!    (8/WAKU-MAIL §Receiving Historic Envelopes);
//! 2. [`HistoryRequest::start`], send [`OutgoingRequest::to_payload`] as P2P Request (126);
//! 3. feed the envelopes of that peer's P2P Messages to
//!    [`HistoryRequest::on_p2p_messages`] (the router has already handed them to the
//!    filters), each P2P Request Complete to [`HistoryRequest::on_complete`], and call
//!    [`HistoryRequest::on_timeout`] at [`HistoryRequest::deadline_ms`];
//! 4. send every [`Next::Request`] returned, until [`Next::Done`] or [`Next::Failed`].
//!
//! A direct request ([`RequestForm::Direct`]) carries an id like status-go's messenger's: the
//! ASCII hex of 16 random bytes.
//!
//! P2P Messages carry no request id, so envelopes are credited to the request outstanding to
//! that mailserver: keep one request in flight per mailserver (status-go's messenger does).
//!
//! The range is covered ("no gap") only once the mailserver says there is nothing more:
//! [`HistoryRequest::gap`] is the whole range until then, since cursors are opaque and a
//! mailserver may page in any order (ours oldest first, status-go's newest first).

use wisp_crypto::fill_random;
use wisp_waku::{Bloom, Envelope, P2PRequestComplete, Topic, packets::waku_codes};

use crate::{
    request::{
        DirectRequest, MAX_REQUEST_TOPICS, MessagesRequest, P2PRequest, REQUEST_ID_LEN,
        RequestError, RequestSealing, build_request,
    },
    store::MAX_LIMIT,
};

/// Default time to wait for a page's completion (status-go `defaultRequestTimeout` is 10 s
/// for one request of its RPC; a page of 1000 envelopes on a slow link needs more).
pub const DEFAULT_PAGE_TIMEOUT_MS: u64 = 30_000;
/// Default most pages one history request follows (1 000 000 envelopes at the maximum limit).
pub const DEFAULT_MAX_PAGES: u32 = 1000;
/// Default most envelopes kept for [`HistoryRequest::take_envelopes`] before the request
/// fails; take them as they come to stream more.
pub const DEFAULT_MAX_ENVELOPES: usize = 200_000;

/// How the request is put on the wire.
#[derive(Clone, Debug)]
pub enum RequestForm {
    /// 8/WAKU-MAIL: an envelope sealed as [`RequestSealing`] says (e.g. with the mailserver
    /// password's key). Accepted by every status-go mailserver.
    Envelope(Box<RequestSealing>),
    /// status-go v0.79.11's messenger: the request unencrypted, with a random 32-byte id
    /// ([`DirectRequest`]). Accepted by status-go v0.79.11 mailservers and ours.
    Direct,
}

impl RequestForm {
    /// The envelope form, sealed as `sealing` says.
    pub fn envelope(sealing: RequestSealing) -> Self {
        Self::Envelope(Box::new(sealing))
    }
}

/// The client's settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// How requests are sent.
    pub form: RequestForm,
    /// How long to wait for each page's completion. Default: [`DEFAULT_PAGE_TIMEOUT_MS`].
    pub page_timeout_ms: u64,
    /// How many times a page is requested again after a timeout. Default: 1.
    pub retries: u32,
    /// Most pages followed. Default: [`DEFAULT_MAX_PAGES`].
    pub max_pages: u32,
    /// Most envelopes held untaken. Default: [`DEFAULT_MAX_ENVELOPES`].
    pub max_envelopes: usize,
}

impl ClientConfig {
    /// Defaults, sending requests in `form`.
    pub fn new(form: RequestForm) -> Self {
        Self {
            form,
            page_timeout_ms: DEFAULT_PAGE_TIMEOUT_MS,
            retries: 1,
            max_pages: DEFAULT_MAX_PAGES,
            max_envelopes: DEFAULT_MAX_ENVELOPES,
        }
    }
}

/// What to ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The topics; empty for a bloom-only request.
    pub topics: Vec<Topic>,
    /// Sent with the topics for older mailservers (status-go sends the topics' bloom), or
    /// alone when `topics` is empty.
    pub bloom: Bloom,
    /// Oldest sent time, Unix seconds, inclusive.
    pub from: u32,
    /// Newest sent time, inclusive.
    pub to: u32,
    /// Envelopes per page, 1 to [`MAX_LIMIT`] (0 or more is sent as [`MAX_LIMIT`]).
    pub limit: u32,
}

impl HistoryQuery {
    /// Envelopes on `topics` sent in `[from, to]`, [`MAX_LIMIT`] per page.
    pub fn topics(topics: Vec<Topic>, from: u32, to: u32) -> Self {
        let bloom = Bloom::from_topics(&topics);
        Self { topics, bloom, from, to, limit: MAX_LIMIT }
    }

    /// Envelopes matching `bloom` sent in `[from, to]`. Mailservers cap such ranges (24 h on
    /// ours).
    pub fn bloom(bloom: Bloom, from: u32, to: u32) -> Self {
        Self { topics: Vec::new(), bloom, from, to, limit: MAX_LIMIT }
    }

    /// Whether an envelope is one this query asked for.
    pub fn wants(&self, envelope: &Envelope) -> bool {
        let sent = envelope.sent();
        let topic_ok = if self.topics.is_empty() {
            self.bloom.matches(&envelope.topic)
        } else {
            self.topics.contains(&envelope.topic)
        };
        topic_ok && (self.from..=self.to).contains(&sent)
    }
}

/// Why a history request could not start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// `from > to`.
    #[error("query range is invalid: from > to ({from} > {to})")]
    ReversedRange {
        /// The lower bound.
        from: u32,
        /// The upper bound.
        to: u32,
    },
    /// More topics than a request may carry.
    #[error("{count} topics exceed the maximum of {max} per request")]
    TooManyTopics {
        /// How many.
        count: usize,
        /// [`MAX_REQUEST_TOPICS`].
        max: usize,
    },
    /// The request envelope could not be built.
    #[error(transparent)]
    Request(#[from] RequestError),
}

/// A P2P Request to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingRequest {
    /// The id its completion will carry.
    pub request_id: [u8; REQUEST_ID_LEN],
    /// The request.
    pub packet: P2PRequest,
}

impl OutgoingRequest {
    /// The packet code: P2P Request (126, in `waku/1` and `shh/6`).
    pub const CODE: u64 = waku_codes::P2P_REQUEST;

    /// The packet payload.
    pub fn to_payload(&self) -> Vec<u8> {
        self.packet.to_payload()
    }
}

/// Why a history request failed.
#[derive(Clone, Debug, PartialEq)]
pub enum FailReason {
    /// No completion within the page timeout, after every retry.
    Timeout,
    /// The mailserver reported a failure (its message).
    Mailserver(String),
    /// The mailserver returned the cursor it was sent: it would loop.
    NoProgress,
    /// More than [`ClientConfig::max_pages`] pages.
    TooManyPages,
    /// More than [`ClientConfig::max_envelopes`] envelopes held.
    TooManyEnvelopes,
    /// The next page's request could not be built.
    Request(RequestError),
}

/// A finished history request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The envelopes not yet taken, in arrival order.
    pub envelopes: Vec<Envelope>,
    /// Envelopes received in all.
    pub received: u64,
    /// Of those, envelopes outside the query's topics or range.
    pub unexpected: u64,
    /// Completions received (pages).
    pub pages: u32,
    /// The last non-zero `LastEnvelopeHash` reported.
    pub last_envelope_hash: [u8; 32],
}

/// A failed history request.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Why.
    pub reason: FailReason,
    /// What had arrived and was not yet taken, as in [`Summary`].
    pub summary: Summary,
    /// The range not known to be covered: the whole query range.
    pub gap: (u32, u32),
}

/// What the caller does next.
#[derive(Clone, Debug, PartialEq)]
pub enum Next {
    /// Nothing: the input was not for this request (another request id, or after the end).
    Ignored,
    /// Keep waiting.
    Pending,
    /// Send this P2P Request: the next page, or a retry after a timeout.
    Request(OutgoingRequest),
    /// Every page was received: the range is covered.
    Done(Summary),
    /// The request failed.
    Failed(Failure),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Waiting { id: [u8; REQUEST_ID_LEN], deadline_ms: u64 },
    Done,
    Failed,
}

/// One history request, from its first page to its last.
#[derive(Debug)]
pub struct HistoryRequest {
    query: HistoryQuery,
    config: ClientConfig,
    state: State,
    /// The cursor of the page in flight (empty for the first).
    cursor: Vec<u8>,
    attempts: u32,
    pages: u32,
    received: u64,
    unexpected: u64,
    envelopes: Vec<Envelope>,
    last_envelope_hash: [u8; 32],
}

impl HistoryRequest {
    /// Starts a request for `query`; returns it and the first P2P Request to send.
    pub fn start(
        mut query: HistoryQuery,
        config: ClientConfig,
        now_ms: u64,
    ) -> Result<(Self, OutgoingRequest), ClientError> {
        if query.from > query.to {
            return Err(ClientError::ReversedRange { from: query.from, to: query.to });
        }
        if query.topics.len() > MAX_REQUEST_TOPICS {
            return Err(ClientError::TooManyTopics {
                count: query.topics.len(),
                max: MAX_REQUEST_TOPICS,
            });
        }
        if query.limit == 0 || query.limit > MAX_LIMIT {
            query.limit = MAX_LIMIT;
        }
        let mut this = Self {
            query,
            config,
            state: State::Done,
            cursor: Vec::new(),
            attempts: 0,
            pages: 0,
            received: 0,
            unexpected: 0,
            envelopes: Vec::new(),
            last_envelope_hash: [0; 32],
        };
        let out = this.send(now_ms)?;
        Ok((this, out))
    }

    /// The query.
    pub fn query(&self) -> &HistoryQuery {
        &self.query
    }

    /// The id of the request in flight, if any.
    pub fn request_id(&self) -> Option<[u8; REQUEST_ID_LEN]> {
        match self.state {
            State::Waiting { id, .. } => Some(id),
            _ => None,
        }
    }

    /// When [`on_timeout`](Self::on_timeout) should be called, if a page is in flight.
    pub fn deadline_ms(&self) -> Option<u64> {
        match self.state {
            State::Waiting { deadline_ms, .. } => Some(deadline_ms),
            _ => None,
        }
    }

    /// Completions received so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Whether the request is over (done or failed).
    pub fn is_finished(&self) -> bool {
        !matches!(self.state, State::Waiting { .. })
    }

    /// The range not known to be covered: `None` once done, the whole range before.
    pub fn gap(&self) -> Option<(u32, u32)> {
        (self.state != State::Done).then_some((self.query.from, self.query.to))
    }

    /// Takes the envelopes received so far (to hand them on while later pages arrive).
    pub fn take_envelopes(&mut self) -> Vec<Envelope> {
        std::mem::take(&mut self.envelopes)
    }

    /// Envelopes from the mailserver's P2P Message packet. Returns [`Next::Pending`], or
    /// [`Next::Ignored`] if no page is in flight, or [`Next::Failed`] when more than
    /// [`ClientConfig::max_envelopes`] are held.
    pub fn on_p2p_messages(&mut self, envelopes: &[Envelope]) -> Next {
        if self.is_finished() {
            return Next::Ignored;
        }
        for e in envelopes {
            self.received += 1;
            if !self.query.wants(e) {
                self.unexpected += 1;
            }
        }
        if self.envelopes.len() + envelopes.len() > self.config.max_envelopes {
            return self.fail(FailReason::TooManyEnvelopes);
        }
        self.envelopes.extend_from_slice(envelopes);
        Next::Pending
    }

    /// A P2P Request Complete from the mailserver: ignored unless it is for the page in
    /// flight; otherwise the request ends (done or failed) or the next page is requested.
    pub fn on_complete(&mut self, complete: &P2PRequestComplete, now_ms: u64) -> Next {
        match self.state {
            State::Waiting { id, .. } if id == complete.request_id => {}
            _ => return Next::Ignored,
        }
        self.pages += 1;
        if let Some(message) = &complete.error {
            return self.fail(FailReason::Mailserver(message.clone()));
        }
        if complete.last_envelope_hash != [0; 32] {
            self.last_envelope_hash = complete.last_envelope_hash;
        }
        if complete.cursor.is_empty() {
            self.state = State::Done;
            return Next::Done(self.summary());
        }
        if complete.cursor[..] == self.cursor[..] {
            return self.fail(FailReason::NoProgress);
        }
        if self.pages >= self.config.max_pages {
            return self.fail(FailReason::TooManyPages);
        }
        self.cursor = complete.cursor.to_vec();
        self.attempts = 0;
        match self.send(now_ms) {
            Ok(out) => Next::Request(out),
            Err(e) => self.fail(FailReason::Request(e)),
        }
    }

    /// The clock: past the deadline, the page is requested again (with a new id) while
    /// retries remain, then the request fails with [`FailReason::Timeout`].
    pub fn on_timeout(&mut self, now_ms: u64) -> Next {
        let State::Waiting { deadline_ms, .. } = self.state else { return Next::Ignored };
        if now_ms < deadline_ms {
            return Next::Pending;
        }
        if self.attempts >= self.config.retries {
            return self.fail(FailReason::Timeout);
        }
        self.attempts += 1;
        match self.send(now_ms) {
            Ok(out) => Next::Request(out),
            Err(e) => self.fail(FailReason::Request(e)),
        }
    }

    fn summary(&mut self) -> Summary {
        Summary {
            envelopes: std::mem::take(&mut self.envelopes),
            received: self.received,
            unexpected: self.unexpected,
            pages: self.pages,
            last_envelope_hash: self.last_envelope_hash,
        }
    }

    fn fail(&mut self, reason: FailReason) -> Next {
        self.state = State::Failed;
        let gap = (self.query.from, self.query.to);
        Next::Failed(Failure { reason, summary: self.summary(), gap })
    }

    /// Builds the request for the current cursor and waits for it.
    fn send(&mut self, now_ms: u64) -> Result<OutgoingRequest, RequestError> {
        let q = &self.query;
        let request = MessagesRequest {
            lower: q.from,
            upper: q.to,
            bloom: q.bloom,
            limit: q.limit,
            cursor: self.cursor.clone(),
            topics: q.topics.clone(),
        };
        let packet = match &self.config.form {
            RequestForm::Envelope(sealing) => {
                let now_secs = u32::try_from(now_ms / 1000).unwrap_or(u32::MAX);
                P2PRequest::Envelope(build_request(&request, sealing, now_secs)?)
            }
            RequestForm::Direct => {
                P2PRequest::Direct(DirectRequest { id: direct_request_id(), request })
            }
        };
        let request_id = packet.id();
        self.state = State::Waiting {
            id: request_id,
            deadline_ms: now_ms.saturating_add(self.config.page_timeout_ms),
        };
        Ok(OutgoingRequest { request_id, packet })
    }
}

/// A direct request's id as status-go's messenger makes it (`createMessagesRequest`): the 32
/// lowercase hex digits of 16 random bytes, as ASCII. Such an id never starts with `ERROR=`,
/// so its completion cannot be mistaken for a failure report.
fn direct_request_id() -> [u8; REQUEST_ID_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut raw = [0u8; REQUEST_ID_LEN / 2];
    fill_random(&mut raw);
    let mut id = [0u8; REQUEST_ID_LEN];
    for (pair, b) in id.chunks_exact_mut(2).zip(raw) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0x0f)];
    }
    id
}
