//! The `waku_*` methods (9/WAKU-RPC; status-go `waku/api.go`): settings, keys, posting,
//! polled filters and the `messages` subscription.

use std::{
    str::FromStr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use jsonrpsee::{core::to_json_raw_value, types::ErrorObjectOwned};
use wisp_crypto::{SecretKey, symmetric_key_from_password};
use wisp_rlpx::NodeRecord;
use wisp_waku::{
    BLOOM_LEN, Bloom, Encryption, Envelope, Filter, FilterKey, MessageParams, PayloadError,
    PostError, SealBudget, Topic, seal_payload,
};

use super::{
    super::config_file::{MAX_MIN_POW, MIN_MAX_MESSAGE_SIZE},
    MAX_MESSAGE_SIZE_LIMIT, Module, State,
    error::RpcError,
    keys::{KeyStore, new_id},
    method,
    types::{
        Args, Fields, Info, Message, SecretHex, decode_bytes, decode_fixed, decode_public_key,
        decode_topic, to_hex,
    },
};

/// `waku_version`: the Waku protocol version, `waku/1`.
pub(crate) const VERSION: &str = "1";
/// TTL of a posted message when `ttl` is absent or 0 (status-go `DefaultTTL`).
pub(crate) const DEFAULT_TTL: u32 = 50;
/// `powTime` is capped at this many seconds, so that no call can keep a CPU busy for long
/// (status-go has no cap).
pub(crate) const MAX_POW_TIME: u32 = 60;

/// Registers the `waku_*` methods and the `messages` subscription.
pub(crate) fn register(m: &mut Module) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    method(m, "waku_version", 0, |_, _| async { Ok(VERSION) })?;
    method(m, "waku_info", 0, |_, st| async move {
        let config = st.node.router_config().await?;
        let (_, messages) = st.node.stats().await?;
        Ok(Info { messages, min_pow: config.min_pow, max_message_size: config.max_envelope_size })
    })?;
    method(m, "waku_setMaxMessageSize", 1, |args, st| async move {
        let size = args.uint(0, "size in bytes")?;
        if size < u64::from(MIN_MAX_MESSAGE_SIZE) || size > u64::from(MAX_MESSAGE_SIZE_LIMIT) {
            return Err(RpcError::OutOfRange {
                field: "size",
                min: MIN_MAX_MESSAGE_SIZE.into(),
                max: MAX_MESSAGE_SIZE_LIMIT.into(),
                value: size,
            });
        }
        // Fits: at most MAX_MESSAGE_SIZE_LIMIT.
        st.node.set_max_message_size(size as usize).await?;
        Ok(true)
    })?;
    method(m, "waku_setMinPoW", 1, |args, st| async move {
        let pow = args.number(0, "minimum PoW")?;
        check_pow("pow", pow)?;
        if pow > MAX_MIN_POW {
            return Err(RpcError::MinPowTooHigh { value: pow, max: MAX_MIN_POW });
        }
        st.node.set_min_pow(pow).await?;
        Ok(true)
    })?;
    method(m, "waku_setBloomFilter", 1, |args, st| async move {
        let bloom = decode_fixed::<BLOOM_LEN>("bloom", args.string(0, "bloom filter")?)?;
        st.node.set_bloom(Bloom(*bloom)).await?;
        Ok(true)
    })?;
    method(m, "waku_markTrustedPeer", 1, |args, st| async move {
        let node = NodeRecord::from_str(args.string(0, "enode")?)?;
        st.node.mark_trusted(node.id).await?;
        Ok(true)
    })?;
    method(m, "waku_makeLightClient", 0, |_, st| async move {
        st.node.set_light(true).await?;
        Ok(true)
    })?;
    method(m, "waku_cancelLightClient", 0, |_, st| async move {
        st.node.set_light(false).await?;
        Ok(true)
    })?;

    register_keys(m)?;

    method(m, "waku_post", 1, |args, st| async move { post(&args, &st).await })?;
    method(m, "waku_newMessageFilter", 1, |args, st| async move {
        let filter = criteria(args.object(0, "Criteria")?, &st.keys)?;
        st.reserve_filter()?;
        let fid = match st.node.install_filter(filter).await {
            Ok(fid) => fid,
            Err(e) => {
                st.release_filter();
                return Err(e.into());
            }
        };
        let mut filters = st.filters();
        let id = new_id(|id| filters.contains_key(id));
        filters.insert(id.clone(), fid);
        Ok(id)
    })?;
    method(m, "waku_getFilterMessages", 1, |args, st| async move {
        let id = args.string(0, "filter id")?;
        let fid = st.filters().get(id).copied();
        let fid = fid.ok_or_else(|| RpcError::UnknownFilter(id.to_owned()))?;
        match st.node.filter_messages(fid).await? {
            Some(messages) => Ok(messages.iter().map(Message::from).collect::<Vec<_>>()),
            None => {
                if st.filters().remove(id).is_some() {
                    st.release_filter();
                }
                Err(RpcError::UnknownFilter(id.to_owned()))
            }
        }
    })?;
    method(m, "waku_deleteMessageFilter", 1, |args, st| async move {
        let id = args.string(0, "filter id")?;
        let fid = st.filters().remove(id);
        let fid = fid.ok_or_else(|| RpcError::UnknownFilter(id.to_owned()))?;
        st.release_filter();
        st.node.remove_filter(fid).await?;
        Ok(true)
    })?;

    m.register_subscription(
        "waku_subscribe",
        "waku_subscription",
        "waku_unsubscribe",
        |params, pending, st, _| async move {
            let filter = Args::parse(params.as_str(), 2).and_then(|args| {
                let kind = args.string(0, "subscription name (\"messages\")")?;
                if kind != "messages" {
                    return Err(RpcError::UnknownSubscription(kind.to_owned()));
                }
                let filter = criteria(args.object(1, "Criteria")?, &st.keys)?;
                st.reserve_filter()?;
                Ok(filter)
            });
            let subscribed = match filter {
                Ok(filter) => {
                    let subscribed = st.node.subscribe(filter).await.map_err(RpcError::from);
                    if subscribed.is_err() {
                        st.release_filter();
                    }
                    subscribed
                }
                Err(e) => Err(e),
            };
            let (fid, mut rx) = match subscribed {
                Ok(x) => x,
                Err(e) => {
                    tracing::debug!(target: "node::rpc", method = "waku_subscribe", error = %e, "call failed");
                    pending.reject(ErrorObjectOwned::from(e)).await;
                    return;
                }
            };
            if let Ok(sink) = pending.accept().await {
                loop {
                    tokio::select! {
                        received = rx.recv() => {
                            let Some(received) = received else { break };
                            let Ok(json) = to_json_raw_value(&Message::from(&received)) else {
                                continue;
                            };
                            if sink.send(json).await.is_err() {
                                break;
                            }
                        }
                        _ = sink.closed() => break,
                    }
                }
            }
            st.release_filter();
            let _ = st.node.remove_filter(fid).await;
        },
    )?;
    Ok(())
}

/// The key-store methods.
fn register_keys(m: &mut Module) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    method(m, "waku_newKeyPair", 0, |_, st| async move {
        Ok(st.keys.add_key_pair(SecretKey::random()))
    })?;
    method(m, "waku_addPrivateKey", 1, |args, st| async move {
        let bytes = decode_fixed::<32>("private key", args.string(0, "private key")?)?;
        let key = SecretKey::from_bytes(&bytes[..])
            .map_err(|e| RpcError::BadPrivateKey(e.to_string()))?;
        Ok(st.keys.add_key_pair(key))
    })?;
    method(m, "waku_deleteKeyPair", 1, |args, st| async move {
        let id = args.string(0, "key pair id")?;
        if st.keys.delete_key_pair(id) {
            Ok(true)
        } else {
            Err(RpcError::UnknownKeyPair(id.into()))
        }
    })?;
    method(m, "waku_hasKeyPair", 1, |args, st| async move {
        Ok(st.keys.has_key_pair(args.string(0, "key pair id")?))
    })?;
    method(m, "waku_getPublicKey", 1, |args, st| async move {
        let key = key_pair(&st.keys, args.string(0, "key pair id")?)?;
        Ok(to_hex(key.public_key().to_uncompressed()))
    })?;
    method(m, "waku_getPrivateKey", 1, |args, st| async move {
        let key = key_pair(&st.keys, args.string(0, "key pair id")?)?;
        Ok(SecretHex::new(&key.to_bytes()[..]))
    })?;
    method(m, "waku_newSymKey", 0, |_, st| async move {
        let mut key = wisp_crypto::Zeroizing::new([0u8; 32]);
        wisp_crypto::fill_random(&mut key[..]);
        Ok(st.keys.add_sym_key(key))
    })?;
    method(m, "waku_addSymKey", 1, |args, st| async move {
        let key = decode_fixed::<32>("symmetric key", args.string(0, "symmetric key")?)?;
        Ok(st.keys.add_sym_key(key))
    })?;
    method(m, "waku_generateSymKeyFromPassword", 1, |args, st| async move {
        let password = wisp_crypto::Zeroizing::new(args.string(0, "password")?.to_owned());
        // PBKDF2 with 65 356 rounds: CPU work, off the async threads.
        let key = tokio::task::spawn_blocking(move || symmetric_key_from_password(&password))
            .await
            .map_err(|e| RpcError::Internal(e.to_string()))?;
        Ok(st.keys.add_sym_key(key))
    })?;
    method(m, "waku_hasSymKey", 1, |args, st| async move {
        Ok(st.keys.has_sym_key(args.string(0, "symmetric key id")?))
    })?;
    method(m, "waku_getSymKey", 1, |args, st| async move {
        let id = args.string(0, "symmetric key id")?;
        let key = st.keys.sym_key(id).ok_or_else(|| RpcError::UnknownSymKey(id.to_owned()))?;
        Ok(SecretHex::new(&key[..]))
    })?;
    method(m, "waku_deleteSymKey", 1, |args, st| async move {
        Ok(st.keys.delete_sym_key(args.string(0, "symmetric key id")?))
    })?;
    Ok(())
}

fn key_pair(keys: &KeyStore, id: &str) -> Result<SecretKey, RpcError> {
    keys.key_pair(id).ok_or_else(|| RpcError::UnknownKeyPair(id.to_owned()))
}

fn check_pow(field: &'static str, pow: f64) -> Result<(), RpcError> {
    if !pow.is_finite() || pow < 0.0 {
        return Err(RpcError::BadPow { field, value: pow });
    }
    Ok(())
}

/// Which key a message or filter names: exactly one of two optional key fields.
enum KeyRef<'a> {
    /// A symmetric key id (`symKeyID`).
    Sym(&'a str),
    /// A key pair id (`privateKeyID`) or a public key (`pubKey`).
    Asym(&'a str),
}

impl<'a> KeyRef<'a> {
    fn one_of(
        sym: Option<&'a str>,
        asym: Option<&'a str>,
        names: (&'static str, &'static str),
    ) -> Result<Self, RpcError> {
        match (sym, asym) {
            (Some(s), None) => Ok(Self::Sym(s)),
            (None, Some(a)) => Ok(Self::Asym(a)),
            (given_sym, _) => Err(RpcError::SymAsym {
                sym: names.0,
                asym: names.1,
                given: if given_sym.is_some() { "both were given" } else { "neither was given" },
            }),
        }
    }
}

/// A filter from a Criteria object (9/WAKU-RPC §Filter).
fn criteria(c: Fields<'_>, keys: &KeyStore) -> Result<Filter, RpcError> {
    let key =
        KeyRef::one_of(c.str("symKeyID")?, c.str("privateKeyID")?, ("symKeyID", "privateKeyID"))?;
    let signer = match c.str("sig")? {
        Some(s) => Some(decode_public_key(&c.name("sig"), s)?),
        None => None,
    };
    let min_pow = c.f64("minPow")?.unwrap_or(0.0);
    check_pow("Criteria.minPow", min_pow)?;
    let topics = c
        .strings("topics")?
        .iter()
        .enumerate()
        .map(|(i, t)| decode_topic(&format!("{}[{i}]", c.name("topics")), t))
        .collect::<Result<Vec<Topic>, _>>()?;
    let key = match key {
        KeyRef::Sym(id) => {
            // 9/WAKU-RPC: topics are optional only with an asymmetric key.
            if topics.is_empty() {
                return Err(RpcError::NoTopics("a filter with a symmetric key needs topics"));
            }
            FilterKey::Symmetric(
                keys.sym_key(id).ok_or_else(|| RpcError::UnknownSymKey(id.to_owned()))?,
            )
        }
        KeyRef::Asym(id) => FilterKey::Asymmetric(key_pair(keys, id)?),
    };
    Ok(Filter { key, topics, min_pow, signer, allow_p2p: c.bool("allowP2P")?.unwrap_or(false) })
}

/// Sets a flag when dropped: the PoW search stops when the caller has gone away.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// `waku_post(NewMessage)`: encrypt, seal with PoW, post (or deliver to `targetPeer`).
/// Returns the envelope hash.
async fn post(args: &Args, st: &State) -> Result<String, RpcError> {
    let msg = args.object(0, "NewMessage")?;
    let key = KeyRef::one_of(msg.str("symKeyID")?, msg.str("pubKey")?, ("symKeyID", "pubKey"))?;
    let mut params = MessageParams::new(match msg.str("payload")? {
        Some(p) => decode_bytes(&msg.name("payload"), p, true)?,
        None => Vec::new(),
    });
    // status-go treats an empty padding as none: random padding.
    if let Some(p) = msg.str("padding")? {
        let padding = decode_bytes(&msg.name("padding"), p, true)?;
        if !padding.is_empty() {
            params.padding = Some(padding);
        }
    }
    if let Some(id) = msg.str("sig")? {
        params.signing_key = Some(key_pair(&st.keys, id)?);
    }
    let topic = match msg.str("topic")? {
        Some(t) => Some(decode_topic(&msg.name("topic"), t)?),
        None => None,
    };
    let (encryption, topic) = match key {
        KeyRef::Sym(id) => {
            let topic =
                topic.ok_or(RpcError::NoTopics("a message with a symmetric key needs a topic"))?;
            let key = st.keys.sym_key(id).ok_or_else(|| RpcError::UnknownSymKey(id.to_owned()))?;
            (Encryption::Symmetric(key), topic)
        }
        KeyRef::Asym(pub_key) => (
            Encryption::Asymmetric(decode_public_key(&msg.name("pubKey"), pub_key)?),
            topic.unwrap_or_default(),
        ),
    };
    let ttl = msg.u32("ttl")?.filter(|t| *t > 0).unwrap_or(DEFAULT_TTL);
    let pow_target = msg.f64("powTarget")?.unwrap_or(0.0);
    check_pow("NewMessage.powTarget", pow_target)?;
    let pow_time = msg.u32("powTime")?.unwrap_or(0).min(MAX_POW_TIME);
    let target_peer = match msg.str("targetPeer")? {
        Some(url) => Some(NodeRecord::from_str(url)?),
        None => None,
    };

    let config = st.node.router_config().await?;
    // Direct deliveries skip the PoW requirement, as in status-go.
    if target_peer.is_none() && pow_target < config.min_pow {
        return Err(RpcError::PowTooLow { target: pow_target, min: config.min_pow });
    }
    let max = config.max_envelope_size;
    let least = params.payload.len() + params.padding.as_ref().map_or(0, Vec::len);
    if least > max {
        return Err(RpcError::TooLarge { size: least, max });
    }
    let now = u32::try_from(crate::service::now_ms() / 1000).unwrap_or(u32::MAX);
    let expiry = now.checked_add(ttl).ok_or(RpcError::TtlTooLarge(ttl))?;

    let cancelled = Arc::new(AtomicBool::new(false));
    let _guard = CancelOnDrop(cancelled.clone());
    let draft = Draft { params, encryption, expiry, ttl, topic, max, pow_target, pow_time };
    let envelope = tokio::task::spawn_blocking(move || draft.seal(&cancelled))
        .await
        .map_err(|e| RpcError::Internal(e.to_string()))??;

    match target_peer {
        Some(peer) => {
            let hash = envelope.hash();
            if st.node.send_p2p(peer.id, vec![envelope]).await? {
                Ok(to_hex(hash))
            } else {
                Err(RpcError::PeerNotConnected(peer.id.to_string()))
            }
        }
        None => match st.node.post(envelope).await? {
            Ok(hash) => Ok(to_hex(hash)),
            Err(PostError::Refused(reason)) => Err(RpcError::Refused(reason)),
        },
    }
}

/// A message `waku_post` has checked, to be encrypted and sealed.
struct Draft {
    params: MessageParams,
    encryption: Encryption,
    expiry: u32,
    ttl: u32,
    topic: Topic,
    /// The node's largest envelope.
    max: usize,
    pow_target: f64,
    /// Seconds the PoW search may take.
    pow_time: u32,
}

impl Draft {
    /// Encrypts and seals the envelope (CPU work: run it on a blocking thread). The PoW
    /// search stops at the deadline or when `cancelled` is set.
    fn seal(self, cancelled: &AtomicBool) -> Result<Envelope, RpcError> {
        let Self { params, encryption, expiry, ttl, topic, max, pow_target, pow_time } = self;
        let data = seal_payload(&params, &encryption).map_err(|e| match e {
            PayloadError::PayloadTooLarge { size, .. } => RpcError::TooLarge { size, max },
            other => RpcError::Internal(other.to_string()),
        })?;
        let mut envelope = Envelope { expiry, ttl, topic, data: data.into(), nonce: 0 };
        // With nonce 0 the envelope is as small as it can be.
        if envelope.encoded_len() > max {
            return Err(RpcError::TooLarge { size: envelope.encoded_len(), max });
        }
        if pow_target > 0.0 {
            let deadline = Instant::now() + Duration::from_secs(pow_time.into());
            let mut keep_going = || Instant::now() < deadline && !cancelled.load(Ordering::Relaxed);
            let outcome = envelope.seal(
                pow_target,
                SealBudget { max_attempts: u64::MAX, keep_going: &mut keep_going },
            );
            if !outcome.reached {
                return Err(RpcError::PowNotReached {
                    target: pow_target,
                    achieved: outcome.pow,
                    pow_time,
                });
            }
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use wisp_waku::{OpeningKey, open_payload};

    use super::*;

    fn draft(payload: Vec<u8>, key: &Encryption, max: usize, target: f64, secs: u32) -> Draft {
        Draft {
            params: MessageParams::new(payload),
            encryption: key.clone(),
            expiry: 2_000_000_000,
            ttl: 60,
            topic: Topic([1, 2, 3, 4]),
            max,
            pow_target: target,
            pow_time: secs,
        }
    }

    #[test]
    fn seal_reaches_target_and_opens() {
        let key = symmetric_key_from_password("refpeers-test");
        let never = AtomicBool::new(false);
        let sym = Encryption::Symmetric(key.clone());
        let env = draft(b"hello".to_vec(), &sym, 1 << 20, 0.002, 5).seal(&never).unwrap();
        assert!(env.pow() >= 0.002);
        assert_eq!((env.ttl, env.topic), (60, Topic([1, 2, 3, 4])));
        let opened = open_payload(&env.data, OpeningKey::Symmetric(&key)).unwrap();
        assert_eq!(&opened.payload[..], b"hello");
    }

    #[test]
    fn seal_refuses_oversized_and_unreachable() {
        let key = Encryption::Symmetric(wisp_crypto::Zeroizing::new([1; 32]));
        let never = AtomicBool::new(false);
        let e = draft(vec![0; 1000], &key, 1000, 0.0, 0).seal(&never);
        assert!(matches!(e, Err(RpcError::TooLarge { max: 1000, .. })), "{e:?}");
        // An unreachable target gives up at the deadline (0 s: after the first batch).
        let e = draft(vec![0; 10], &key, 1 << 20, 1e30, 0).seal(&never);
        assert!(matches!(e, Err(RpcError::PowNotReached { pow_time: 0, .. })), "{e:?}");
        // A cancelled search stops too.
        let cancelled = AtomicBool::new(true);
        let e = draft(vec![0; 10], &key, 1 << 20, 1e30, 60).seal(&cancelled);
        assert!(matches!(e, Err(RpcError::PowNotReached { pow_time: 60, .. })), "{e:?}");
    }

    #[test]
    fn pow_values_are_checked() {
        assert!(check_pow("pow", 0.0).is_ok());
        assert!(check_pow("pow", 2e-6).is_ok());
        assert!(check_pow("pow", -1.0).is_err());
        assert!(check_pow("pow", f64::NAN).is_err());
        assert!(check_pow("pow", f64::INFINITY).is_err());
    }
}
