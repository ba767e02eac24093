//! The secure transport of one installation: builds and opens `ProtocolMessage`s, keeps the
//! bundles, installations, sessions and shared secrets in a [`Store`] (status-go
//! `protocol/encryption`: `Protocol`, `encryptor`, `multidevice`, `sharedsecret`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::{debug, instrument};
use wisp_crypto::{GCM_NONCE_LEN, PublicKey, SecretKey};

use crate::bundle::{
    Bundle, CompressedKey, PROTOCOL_VERSION, SignedPreKey, compressed_key, public_key,
};
use crate::cipher::{dh_mode_key, dh_open, dh_seal};
use crate::entropy::{Entropy, KeyPurpose, OsEntropy};
use crate::error::{Error, Result};
use crate::proto;
use crate::ratchet::{Header, RatchetState};
use crate::store::{
    Installation, OwnPreKey, PeerPreKey, Role, SessionId, SessionRecord, SharedSecretRecord, Store,
    Write,
};
use crate::topic::{Destination, NegotiatedSecret, partitioned_topic};
use crate::x3dh;

/// The `direct_message` key of a DH-mode message, readable by any installation
/// (status-go `noInstallationID`).
pub const NO_INSTALLATION_ID: &str = "none";

/// Default [`Config::max_skip`] (status-go `encryptorConfig.MaxSkip`).
pub const DEFAULT_MAX_SKIP: u32 = 1000;
/// Default [`Config::max_keep`] (status-go `encryptorConfig.MaxKeep`).
pub const DEFAULT_MAX_KEEP: u64 = 3000;
/// Default [`Config::max_message_keys_per_session`] (status-go
/// `encryptorConfig.MaxMessageKeysPerSession`).
pub const DEFAULT_MAX_MESSAGE_KEYS_PER_SESSION: usize = 2000;
/// Default [`Config::max_installations`] (5/SECURE-TRANSPORT §pairing: "to a maximum of 3").
pub const DEFAULT_MAX_INSTALLATIONS: usize = 3;
/// Default [`Config::bundle_refresh_interval`] (DECISIONS 13).
pub const DEFAULT_BUNDLE_REFRESH_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);
/// How often the bundle is advertised on the contact-code topic (DECISIONS 13; status-go
/// publisher `publishInterval`).
pub const CONTACT_CODE_ADVERTISE_INTERVAL: Duration = Duration::from_secs(6 * 60 * 60);

/// Limits and timings of the secure transport.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// At most this many message keys are skipped for one incoming message. Default: 1000.
    pub max_skip: u32,
    /// A skipped key is dropped once this many newer keys have been derived for receiving in
    /// its session. Default: 3000.
    pub max_keep: u64,
    /// At most this many skipped keys are kept per session (oldest dropped first).
    /// Default: 2000.
    pub max_message_keys_per_session: usize,
    /// Messages go to at most this many installations of an identity (ours included for our
    /// own identity), the most recently active first. Default: 3.
    pub max_installations: usize,
    /// Our signed pre-key is replaced when it is older than this. Default: 24 h.
    pub bundle_refresh_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_skip: DEFAULT_MAX_SKIP,
            max_keep: DEFAULT_MAX_KEEP,
            max_message_keys_per_session: DEFAULT_MAX_MESSAGE_KEYS_PER_SESSION,
            max_installations: DEFAULT_MAX_INSTALLATIONS,
            bundle_refresh_interval: DEFAULT_BUNDLE_REFRESH_INTERVAL,
        }
    }
}

/// A message built for sending, with where it must go.
#[derive(Clone, Debug)]
pub struct OutgoingMessage {
    /// The protocol message; its encoding is the Waku payload.
    pub message: proto::ProtocolMessage,
    /// The installations it is encrypted for (empty in DH mode).
    pub installations: Vec<String>,
    /// Topic and Waku encryption to send it with.
    pub destination: Destination,
    /// The shared secret with the recipient: listen on its negotiated topic before sending.
    pub shared_secret: Option<NegotiatedSecret>,
}

impl OutgoingMessage {
    /// The encoded protocol message.
    pub fn encode(&self) -> Vec<u8> {
        proto::Message::encode_to_vec(&self.message)
    }
}

/// How a received message was protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// A public message (public chats, contact-code advertisements): not encrypted.
    Public,
    /// A Double Ratchet message; `x3dh` when it started a session with us.
    DoubleRatchet {
        /// It carried an X3DH header that created the session.
        x3dh: bool,
    },
    /// A DH-mode message (no forward secrecy).
    Dh,
    /// Our own message, echoed back, with nothing for this installation.
    OwnEcho,
}

/// A received and opened protocol message.
#[derive(Clone, Debug)]
pub struct Received {
    /// The plaintext; `None` for [`MessageKind::OwnEcho`].
    pub payload: Option<Vec<u8>>,
    /// How it was protected.
    pub kind: MessageKind,
    /// The sender's installation.
    pub installation_id: String,
    /// Installations first seen in the message's bundles.
    pub new_installations: Vec<Installation>,
    /// The shared secret with the sender, when the sender speaks protocol version 1: listen on
    /// its negotiated topic.
    pub shared_secret: Option<NegotiatedSecret>,
}

/// Unix nanoseconds of `time` (negative before 1970, saturating).
fn unix_nanos(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_nanos()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

fn duration_nanos(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}

/// The secure transport of one installation of one identity.
///
/// Sans-io: every operation takes the current time, draws randomness from an injectable
/// [`Entropy`], and reads and writes only its [`Store`]. Each operation applies all its
/// changes in one [`Store::apply`] before it returns a ciphertext or a plaintext.
pub struct SecureTransport<S> {
    identity: SecretKey,
    public: PublicKey,
    compressed: CompressedKey,
    installation_id: String,
    config: Config,
    store: S,
    entropy: Box<dyn Entropy>,
}

impl<S> fmt::Debug for SecureTransport<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecureTransport")
            .field("identity", &self.public)
            .field("installation_id", &self.installation_id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S: Store> SecureTransport<S> {
    /// The transport of installation `installation_id` of `identity`, on `store`, with default
    /// [`Config`] and the operating system's randomness.
    pub fn new(identity: SecretKey, installation_id: impl Into<String>, store: S) -> Self {
        let public = identity.public_key();
        Self {
            compressed: public.to_compressed(),
            public,
            identity,
            installation_id: installation_id.into(),
            config: Config::default(),
            store,
            entropy: Box::new(OsEntropy),
        }
    }

    /// Replaces the configuration.
    pub fn with_config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// Replaces the source of keys and nonces (tests, simulation).
    pub fn with_entropy(mut self, entropy: impl Entropy + 'static) -> Self {
        self.entropy = Box::new(entropy);
        self
    }

    /// Our identity key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Our installation id.
    pub fn installation_id(&self) -> &str {
        &self.installation_id
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, mutably (tests only should write to it directly).
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }

    /// Our current bundle, signed at `now`: our signed pre-key (created, or rotated when older
    /// than [`Config::bundle_refresh_interval`]) and those of our enabled paired installations.
    pub fn bundle(&mut self, now: SystemTime) -> Result<Bundle> {
        let mut writes = Vec::new();
        let bundle = self.current_bundle(unix_nanos(now), &mut writes)?;
        self.store.apply(writes)?;
        Ok(bundle)
    }

    /// A public message (public chats, contact-code advertisements): `payload` in clear with
    /// our installation id and bundle (DECISIONS 17). proto3 does not encode an empty
    /// `public_message`, so an empty payload arrives as [`Error::NoPayload`] (as in status-go).
    pub fn build_public_message(
        &mut self,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<proto::ProtocolMessage> {
        let mut writes = Vec::new();
        let bundle = self.current_bundle(unix_nanos(now), &mut writes)?;
        self.store.apply(writes)?;
        Ok(proto::ProtocolMessage {
            installation_id: self.installation_id.clone(),
            bundles: vec![bundle.to_proto()],
            direct_message: BTreeMap::new(),
            public_message: payload.to_vec(),
        })
    }

    /// A DH-mode message to `recipient` (pairing, bundle advertisement): AES-256-GCM under
    /// ECDH(recipient identity, fresh ephemeral key), readable by all their installations,
    /// sent on their partitioned topic.
    pub fn build_dh_message(
        &mut self,
        recipient: &PublicKey,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<OutgoingMessage> {
        let mut writes = Vec::new();
        let mut direct = BTreeMap::new();
        direct.insert(NO_INSTALLATION_ID.to_owned(), self.dh_encrypt(recipient, payload));
        let bundle = self.current_bundle(unix_nanos(now), &mut writes)?;
        self.store.apply(writes)?;
        Ok(OutgoingMessage {
            message: self.protocol_message(bundle, direct),
            installations: Vec::new(),
            destination: Destination::Partitioned {
                topic: partitioned_topic(recipient),
                recipient: *recipient,
            },
            shared_secret: None,
        })
    }

    /// A bundle advertisement for `recipient`: a DH-mode message with an empty payload
    /// (status-go `BuildBundleAdvertiseMessage`), the answer to [`Error::DeviceNotFound`].
    pub fn build_bundle_advertisement(
        &mut self,
        recipient: &PublicKey,
        now: SystemTime,
    ) -> Result<OutgoingMessage> {
        self.build_dh_message(recipient, &[], now)
    }

    /// A one-to-one message to `recipient` (status-go `BuildDirectMessage`): one
    /// `DirectMessageProtocol` per active installation of theirs (X3DH + Double Ratchet, the
    /// X3DH header attached until they answer), or a DH-mode message when no installation of
    /// theirs is known yet. Goes on the negotiated topic once every targeted installation has
    /// used the shared secret, else on their partitioned topic (DECISIONS 15).
    ///
    /// For our own identity, it targets our other enabled installations.
    #[instrument(target = "ratchet", skip_all, fields(recipient = %recipient))]
    pub fn build_direct_message(
        &mut self,
        recipient: &PublicKey,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<OutgoingMessage> {
        let now_ns = unix_nanos(now);
        let recipient_c = recipient.to_compressed();
        let mut writes = Vec::new();
        let installations =
            self.active_installations_of(&recipient_c, self.config.max_installations)?;
        let mut direct = BTreeMap::new();
        let mut targeted = Vec::new();
        if !installations.is_empty() {
            let own_keys = self.store.own_pre_keys()?;
            let peer_keys = self.store.peer_pre_keys(&recipient_c)?;
            for installation in installations {
                if installation.id == self.installation_id {
                    continue;
                }
                let Some(mut session) = self.session_for_sending(
                    recipient,
                    &installation.id,
                    &own_keys,
                    &peer_keys,
                    now_ns,
                )?
                else {
                    debug!(target: "ratchet", installation = %installation.id, "no session nor bundle");
                    continue;
                };
                let (header, ciphertext) = session.state.encrypt(payload);
                let x3dh_header = match session.role {
                    Role::Initiator { ephemeral, confirmed: false } => Some(proto::X3dhHeader {
                        key: ephemeral.to_vec(),
                        id: session.id.bundle_id.to_vec(),
                    }),
                    _ => None,
                };
                direct.insert(
                    installation.id.clone(),
                    proto::DirectMessageProtocol {
                        x3dh_header,
                        dr_header: Some(proto::DrHeader {
                            key: header.dh.to_vec(),
                            n: header.n,
                            pn: header.pn,
                            id: session.id.bundle_id.to_vec(),
                        }),
                        payload: ciphertext,
                        dh_header: None,
                    },
                );
                targeted.push(installation.id);
                writes.push(Write::PutSession(Box::new(session)));
            }
        }
        if direct.is_empty() {
            // No installation known (status-go `EncryptPayloadWithDH`), or none reachable
            // (status-go would send an empty map nobody can read; we fall back to DH mode).
            direct.insert(NO_INSTALLATION_ID.to_owned(), self.dh_encrypt(recipient, payload));
        }
        let bundle = self.current_bundle(now_ns, &mut writes)?;
        let (secret, agreed) = self.agreed(recipient, &targeted, &mut writes)?;
        self.store.apply(writes)?;
        let destination = if agreed {
            Destination::Negotiated { topic: secret.topic(), secret: secret.clone() }
        } else {
            Destination::Partitioned { topic: partitioned_topic(recipient), recipient: *recipient }
        };
        debug!(target: "ratchet", installations = ?targeted, topic = %destination.topic(), "built direct message");
        Ok(OutgoingMessage {
            message: self.protocol_message(bundle, direct),
            installations: targeted,
            destination,
            shared_secret: Some(secret),
        })
    }

    /// The messages for a one-to-one message: one to `recipient` and, when we have enabled
    /// paired installations and the recipient is not ourselves, one to our own identity so our
    /// other devices stay in sync (5/SECURE-TRANSPORT §sending messages to a paired group).
    pub fn build_direct_messages(
        &mut self,
        recipient: &PublicKey,
        payload: &[u8],
        now: SystemTime,
    ) -> Result<Vec<OutgoingMessage>> {
        let mut messages = vec![self.build_direct_message(recipient, payload, now)?];
        if *recipient != self.public && !self.paired_installations()?.is_empty() {
            let own = self.public;
            messages.push(self.build_direct_message(&own, payload, now)?);
        }
        Ok(messages)
    }

    /// Processes a verified bundle (from a message, a contact code or a QR code): stores its
    /// signed pre-keys and installations. Returns the installations seen for the first time.
    pub fn process_bundle(&mut self, bundle: &Bundle) -> Result<Vec<Installation>> {
        let mut writes = Vec::new();
        let new = self.bundle_writes(bundle, &mut writes)?;
        self.store.apply(writes)?;
        Ok(new)
    }

    /// Opens a protocol message from `sender` (the signer of the Waku envelope): processes its
    /// bundles, then returns the public payload or decrypts the message for this installation.
    ///
    /// A decrypted payload is returned only after the session's new state is stored. On any
    /// error the sessions are unchanged (bundles in the message may have been stored).
    #[instrument(target = "ratchet", skip_all, fields(sender = %sender, installation = %message.installation_id))]
    pub fn handle_message(
        &mut self,
        sender: &PublicKey,
        message: &proto::ProtocolMessage,
        now: SystemTime,
    ) -> Result<Received> {
        let now_ns = unix_nanos(now);
        let mut new_installations = Vec::new();
        for wire in &message.bundles {
            let bundle = Bundle::from_proto(wire)?;
            new_installations = self.process_bundle(&bundle)?;
        }
        let installation_id = message.installation_id.clone();
        if !message.public_message.is_empty() {
            return Ok(Received {
                payload: Some(message.public_message.clone()),
                kind: MessageKind::Public,
                installation_id,
                new_installations,
                shared_secret: None,
            });
        }
        if message.direct_message.is_empty() {
            return Err(Error::NoPayload);
        }
        let mut writes = Vec::new();
        let (payload, kind) = self.decrypt_direct(
            sender,
            &installation_id,
            &message.direct_message,
            now_ns,
            &mut writes,
        )?;
        let shared_secret = if protocol_version(&message.bundles, &installation_id) >= 1 {
            Some(self.record_agreement(sender, &installation_id, &mut writes)?)
        } else {
            None
        };
        self.store.apply(writes)?;
        debug!(target: "ratchet", ?kind, "opened message");
        Ok(Received { payload, kind, installation_id, new_installations, shared_secret })
    }

    /// Enables one of our paired installations: messages will be sent to it. Returns whether
    /// it is known.
    pub fn enable_installation(&mut self, installation_id: &str) -> Result<bool> {
        self.set_enabled(installation_id, true)
    }

    /// Disables one of our paired installations: messages will no longer be sent to it, nor
    /// its pre-key advertised. Returns whether it is known.
    pub fn disable_installation(&mut self, installation_id: &str) -> Result<bool> {
        self.set_enabled(installation_id, false)
    }

    /// All installations of our identity, this one included.
    pub fn our_installations(&self) -> Result<Vec<Installation>> {
        let mut installations = self.store.installations(&self.compressed)?;
        installations.retain(|i| i.id != self.installation_id);
        installations.push(Installation {
            identity: self.compressed,
            id: self.installation_id.clone(),
            version: PROTOCOL_VERSION,
            enabled: true,
            timestamp: 0,
        });
        Ok(installations)
    }

    /// The installations of `identity` that messages go to: enabled, most recently active
    /// first, at most [`Config::max_installations`].
    pub fn active_installations(&self, identity: &PublicKey) -> Result<Vec<Installation>> {
        self.active_installations_of(&identity.to_compressed(), self.config.max_installations)
    }

    /// All shared secrets, to listen on their negotiated topics.
    pub fn shared_secrets(&self) -> Result<Vec<NegotiatedSecret>> {
        Ok(self.store.shared_secrets()?.into_iter().map(|record| record.secret).collect())
    }

    /// Our other enabled installations (at most [`Config::max_installations`] - 1).
    fn paired_installations(&self) -> Result<Vec<Installation>> {
        let mut installations = self.active_installations_of(
            &self.compressed,
            self.config.max_installations.saturating_sub(1),
        )?;
        installations.retain(|i| i.id != self.installation_id);
        Ok(installations)
    }

    fn set_enabled(&mut self, installation_id: &str, enabled: bool) -> Result<bool> {
        let Some(mut installation) = self
            .store
            .installations(&self.compressed)?
            .into_iter()
            .find(|i| i.id == installation_id)
        else {
            return Ok(false);
        };
        installation.enabled = enabled;
        self.store.apply(vec![Write::PutInstallation(installation)])?;
        Ok(true)
    }

    fn active_installations_of(
        &self,
        identity: &CompressedKey,
        limit: usize,
    ) -> Result<Vec<Installation>> {
        let mut installations: Vec<Installation> =
            self.store.installations(identity)?.into_iter().filter(|i| i.enabled).collect();
        installations.sort_by(|a, b| b.timestamp.cmp(&a.timestamp).then_with(|| a.id.cmp(&b.id)));
        installations.truncate(limit);
        Ok(installations)
    }

    fn protocol_message(
        &self,
        bundle: Bundle,
        direct: BTreeMap<String, proto::DirectMessageProtocol>,
    ) -> proto::ProtocolMessage {
        proto::ProtocolMessage {
            installation_id: self.installation_id.clone(),
            bundles: vec![bundle.to_proto()],
            direct_message: direct,
            public_message: Vec::new(),
        }
    }

    fn dh_encrypt(
        &mut self,
        recipient: &PublicKey,
        payload: &[u8],
    ) -> proto::DirectMessageProtocol {
        let ephemeral = self.entropy.secret_key(KeyPurpose::DhEphemeral);
        let key = dh_mode_key(&ephemeral, recipient);
        let mut nonce = [0u8; GCM_NONCE_LEN];
        self.entropy.fill_bytes(&mut nonce);
        proto::DirectMessageProtocol {
            x3dh_header: None,
            dr_header: None,
            payload: dh_seal(&key, &nonce, payload),
            dh_header: Some(proto::DhHeader {
                key: ephemeral.public_key().to_compressed().to_vec(),
            }),
        }
    }

    /// Our bundle at `now_ns`, rotating our signed pre-key when due (writes queued).
    fn current_bundle(&mut self, now_ns: i64, writes: &mut Vec<Write>) -> Result<Bundle> {
        let own = self.store.own_pre_keys()?;
        let refresh = duration_nanos(self.config.bundle_refresh_interval);
        let current = own
            .iter()
            .filter(|k| k.installation_id == self.installation_id && !k.expired)
            .max_by_key(|k| k.version);
        let spk = match current {
            Some(key) if key.created_at >= now_ns.saturating_sub(refresh) => key.clone(),
            _ => {
                // status-go `MarkBundleExpired` then `NewBundleContainer`.
                for key in own.iter().filter(|k| !k.expired) {
                    writes.push(Write::PutOwnPreKey(OwnPreKey { expired: true, ..key.clone() }));
                }
                let version = own
                    .iter()
                    .filter(|k| k.installation_id == self.installation_id)
                    .map(|k| k.version)
                    .max()
                    .unwrap_or(0)
                    .saturating_add(1);
                let secret = self.entropy.secret_key(KeyPurpose::SignedPreKey);
                let key = OwnPreKey {
                    installation_id: self.installation_id.clone(),
                    public: secret.public_key().to_compressed(),
                    secret,
                    version,
                    created_at: now_ns,
                    expired: false,
                };
                debug!(target: "ratchet", version, "new signed pre-key");
                writes.push(Write::PutOwnPreKey(key.clone()));
                key
            }
        };
        let mut signed_pre_keys = BTreeMap::new();
        signed_pre_keys.insert(
            self.installation_id.clone(),
            SignedPreKey {
                key: spk.public,
                version: spk.version,
                protocol_version: PROTOCOL_VERSION,
            },
        );
        let paired = self.paired_installations()?;
        if !paired.is_empty() {
            let peer_keys = self.store.peer_pre_keys(&self.compressed)?;
            for installation in paired {
                if let Some(key) = newest_pre_key(&peer_keys, &installation.id) {
                    signed_pre_keys.insert(
                        installation.id.clone(),
                        SignedPreKey {
                            key: key.key,
                            version: key.version,
                            protocol_version: installation.version,
                        },
                    );
                }
            }
        }
        Ok(Bundle::sign(&self.identity, signed_pre_keys, now_ns))
    }

    /// The writes that store a verified bundle (status-go `AddPublicBundle`, `AddInstallations`).
    fn bundle_writes(&self, bundle: &Bundle, writes: &mut Vec<Write>) -> Result<Vec<Installation>> {
        let identity = bundle.identity().to_compressed();
        let ours = identity == self.compressed;
        let known_keys = self.store.peer_pre_keys(&identity)?;
        let known_installations = self.store.installations(&identity)?;
        let mut new_installations = Vec::new();
        for (installation_id, spk) in bundle.signed_pre_keys() {
            if ours && *installation_id == self.installation_id {
                continue;
            }
            let same_installation =
                || known_keys.iter().filter(move |k| k.installation_id == *installation_id);
            if !known_keys.iter().any(|k| k.key == spk.key) {
                writes.push(Write::PutPeerPreKey(PeerPreKey {
                    identity,
                    installation_id: installation_id.clone(),
                    key: spk.key,
                    version: spk.version,
                    protocol_version: spk.protocol_version,
                    timestamp: bundle.timestamp(),
                    expired: same_installation().any(|k| k.version > spk.version),
                }));
            }
            for old in same_installation().filter(|k| k.version < spk.version && !k.expired) {
                writes.push(Write::PutPeerPreKey(PeerPreKey { expired: true, ..old.clone() }));
            }
            match known_installations.iter().find(|i| i.id == *installation_id) {
                None => {
                    let installation = Installation {
                        identity,
                        id: installation_id.clone(),
                        version: spk.protocol_version,
                        // Others' devices are enabled; ours must be enabled by the user.
                        enabled: !ours,
                        timestamp: bundle.timestamp(),
                    };
                    writes.push(Write::PutInstallation(installation.clone()));
                    new_installations.push(installation);
                }
                Some(known) if known.timestamp < bundle.timestamp() => {
                    writes.push(Write::PutInstallation(Installation {
                        version: known.version.max(spk.protocol_version),
                        timestamp: bundle.timestamp(),
                        ..known.clone()
                    }));
                }
                Some(_) => {}
            }
        }
        Ok(new_installations)
    }

    /// The session to encrypt for an installation: the usable one with the smallest shared key,
    /// or a new one by X3DH with their newest signed pre-key.
    fn session_for_sending(
        &mut self,
        recipient: &PublicKey,
        installation_id: &str,
        own_keys: &[OwnPreKey],
        peer_keys: &[PeerPreKey],
        now_ns: i64,
    ) -> Result<Option<SessionRecord>> {
        let recipient_c = recipient.to_compressed();
        let usable = |bundle_id: &CompressedKey| {
            own_keys.iter().any(|k| k.public == *bundle_id && !k.expired)
                || peer_keys.iter().any(|k| k.key == *bundle_id && !k.expired)
        };
        let existing = self
            .store
            .sessions(&recipient_c, installation_id)?
            .into_iter()
            .filter(|s| usable(&s.id.bundle_id))
            .min_by(|a, b| a.shared_key.cmp(&b.shared_key));
        if existing.is_some() {
            return Ok(existing);
        }
        let Some(spk) = newest_pre_key(peer_keys, installation_id) else {
            return Ok(None);
        };
        let their_spk = public_key("signed pre-key", &spk.key)?;
        let ephemeral = self.entropy.secret_key(KeyPurpose::X3dhEphemeral);
        let secrets = x3dh::initiator(&self.identity, &ephemeral, recipient, &their_spk);
        let ratchet_key = self.entropy.secret_key(KeyPurpose::RatchetKey);
        let state = RatchetState::initiator(&secrets.shared_key, &their_spk, ratchet_key);
        debug!(target: "ratchet", installation = installation_id, "new session (X3DH initiator)");
        Ok(Some(SessionRecord {
            id: SessionId {
                identity: recipient_c,
                installation_id: installation_id.to_owned(),
                bundle_id: spk.key,
            },
            shared_key: secrets.shared_key.clone(),
            role: Role::Initiator {
                ephemeral: ephemeral.public_key().to_compressed(),
                confirmed: false,
            },
            state,
            created_at: now_ns,
        }))
    }

    /// status-go `DecryptPayload`: the message for this installation (or `"none"`), then the
    /// X3DH header, the Double Ratchet header or the DH header.
    fn decrypt_direct(
        &mut self,
        sender: &PublicKey,
        sender_installation: &str,
        messages: &BTreeMap<String, proto::DirectMessageProtocol>,
        now_ns: i64,
        writes: &mut Vec<Write>,
    ) -> Result<(Option<Vec<u8>>, MessageKind)> {
        let message =
            messages.get(&self.installation_id).or_else(|| messages.get(NO_INSTALLATION_ID));
        let Some(message) = message else {
            if *sender != self.public {
                return Err(Error::DeviceNotFound {
                    installation_id: self.installation_id.clone(),
                });
            }
            if sender_installation != self.installation_id {
                return Err(Error::NotPairedDevice {
                    installation_id: sender_installation.to_owned(),
                });
            }
            return Ok((None, MessageKind::OwnEcho));
        };
        let sender_c = sender.to_compressed();

        // A session the X3DH header starts (stored only if the message decrypts).
        let mut started = None;
        let mut replaces_existing = false;
        if let Some(x3dh_header) = &message.x3dh_header {
            let their_ephemeral = compressed_key("X3DH_header.key", &x3dh_header.key)?;
            let bundle_id: CompressedKey = x3dh_header.id.as_slice().try_into().map_err(|_| {
                Error::UnknownSignedPreKey { bundle_id: hex::encode(&x3dh_header.id) }
            })?;
            let own =
                self.store.own_pre_keys()?.into_iter().find(|k| k.public == bundle_id).ok_or_else(
                    || Error::UnknownSignedPreKey { bundle_id: hex::encode(bundle_id) },
                )?;
            let id = SessionId {
                identity: sender_c,
                installation_id: sender_installation.to_owned(),
                bundle_id,
            };
            let existing = self.store.session(&id)?;
            let known = matches!(
                existing,
                Some(SessionRecord { role: Role::Responder { their_ephemeral: e }, .. })
                    if e == their_ephemeral
            );
            if !known {
                replaces_existing = existing.is_some();
                let ephemeral_key = public_key("X3DH_header.key", &their_ephemeral)?;
                let secrets = x3dh::responder(&self.identity, &own.secret, sender, &ephemeral_key);
                let state = RatchetState::responder(&secrets.shared_key, own.secret.clone());
                started = Some(SessionRecord {
                    id,
                    shared_key: secrets.shared_key.clone(),
                    role: Role::Responder { their_ephemeral },
                    state,
                    created_at: now_ns,
                });
            }
        }

        if let Some(dr_header) = &message.dr_header {
            let header = Header {
                dh: compressed_key("DR_header.key", &dr_header.key)?,
                n: dr_header.n,
                pn: dr_header.pn,
            };
            let bundle_id: CompressedKey =
                dr_header.id.as_slice().try_into().map_err(|_| Error::InvalidLength {
                    field: "DR_header.id",
                    expected: 33,
                    got: dr_header.id.len(),
                })?;
            let id = SessionId {
                identity: sender_c,
                installation_id: sender_installation.to_owned(),
                bundle_id,
            };
            let (mut session, x3dh) = match started {
                Some(session) if session.id == id => (session, true),
                _ => (
                    self.store.session(&id)?.ok_or_else(|| Error::SessionNotFound {
                        installation_id: sender_installation.to_owned(),
                        bundle_id: hex::encode(bundle_id),
                    })?,
                    false,
                ),
            };
            let skipped =
                if x3dh { None } else { self.store.skipped_key(&id, &header.dh, header.n)? };
            if x3dh && replaces_existing {
                // A new X3DH from the same installation (a reinstall): the old session's
                // skipped keys go with it.
                writes.push(Write::PruneSkippedKeys {
                    session: id.clone(),
                    delete_through_seq: None,
                    keep_newest: 0,
                });
            }
            let decrypted = session.state.decrypt(
                &header,
                &message.payload,
                skipped.as_deref(),
                self.config.max_skip,
                self.entropy.as_mut(),
            )?;
            if let Some(state) = decrypted.state {
                session.state = state;
            }
            // The peer answered on this session: stop attaching the X3DH header.
            if let Role::Initiator { confirmed, .. } = &mut session.role {
                *confirmed = true;
            }
            let keys_count = session.state.keys_count;
            writes.push(Write::PutSession(Box::new(session)));
            if !decrypted.skipped.is_empty() {
                writes.push(Write::PutSkippedKeys { session: id.clone(), keys: decrypted.skipped });
            }
            if let Some((dh, n)) = decrypted.consumed {
                writes.push(Write::DeleteSkippedKey { session: id.clone(), dh, n });
            }
            writes.push(Write::PruneSkippedKeys {
                session: id,
                delete_through_seq: keys_count.checked_sub(self.config.max_keep),
                keep_newest: self.config.max_message_keys_per_session,
            });
            return Ok((Some(decrypted.plaintext), MessageKind::DoubleRatchet { x3dh }));
        }

        if let Some(dh_header) = &message.dh_header {
            let ephemeral =
                public_key("DH_header.key", &compressed_key("DH_header.key", &dh_header.key)?)?;
            let key = dh_mode_key(&self.identity, &ephemeral);
            let plaintext = dh_open(&key, &message.payload)?;
            return Ok((Some(plaintext), MessageKind::Dh));
        }
        Err(Error::NoKeyHeader)
    }

    /// status-go `SharedSecret.Agreed`: the secret with `them` (stored), and whether every
    /// targeted installation of theirs has used it.
    fn agreed(
        &mut self,
        them: &PublicKey,
        targeted: &[String],
        writes: &mut Vec<Write>,
    ) -> Result<(NegotiatedSecret, bool)> {
        let record = match self.store.shared_secret(&them.to_compressed())? {
            Some(record) => record,
            None => {
                let record = SharedSecretRecord {
                    secret: NegotiatedSecret::derive(&self.identity, them),
                    installations: BTreeSet::new(),
                };
                writes.push(Write::PutSharedSecret(record.clone()));
                record
            }
        };
        let agreed =
            !targeted.is_empty() && targeted.iter().all(|id| record.installations.contains(id));
        Ok((record.secret, agreed))
    }

    /// status-go `SharedSecret.Generate` on receipt: the secret with `sender`, recording that
    /// `installation_id` has used it.
    fn record_agreement(
        &mut self,
        sender: &PublicKey,
        installation_id: &str,
        writes: &mut Vec<Write>,
    ) -> Result<NegotiatedSecret> {
        let stored = self.store.shared_secret(&sender.to_compressed())?;
        let is_new = stored.is_none();
        let mut record = stored.unwrap_or_else(|| SharedSecretRecord {
            secret: NegotiatedSecret::derive(&self.identity, sender),
            installations: BTreeSet::new(),
        });
        if record.installations.insert(installation_id.to_owned()) || is_new {
            writes.push(Write::PutSharedSecret(record.clone()));
        }
        Ok(record.secret)
    }
}

/// The newest non-expired pre-key of an installation.
fn newest_pre_key<'a>(keys: &'a [PeerPreKey], installation_id: &str) -> Option<&'a PeerPreKey> {
    keys.iter()
        .filter(|k| k.installation_id == installation_id && !k.expired)
        .max_by_key(|k| (k.version, k.timestamp))
}

/// status-go `getProtocolVersion`: the protocol version the first bundle gives the sending
/// installation (0 if none).
fn protocol_version(bundles: &[proto::Bundle], installation_id: &str) -> u32 {
    if installation_id.is_empty() {
        return 0;
    }
    for bundle in bundles {
        if bundle.signed_pre_keys.is_empty() {
            continue;
        }
        return bundle.signed_pre_keys.get(installation_id).map_or(0, |spk| spk.protocol_version);
    }
    0
}
