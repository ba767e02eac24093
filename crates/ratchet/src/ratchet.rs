//! The Double Ratchet on secp256k1, as status-im/doubleratchet runs it for status-go
//! (IMPLEMENTER-NOTES §5, DECISIONS 7, 16): DH ratchet steps, symmetric chains, skipped message
//! keys and out-of-order delivery.
//!
//! [`RatchetState::decrypt`] is pure: it returns the next state and the key-store changes
//! instead of applying them, so the caller can write them durably before it releases the
//! plaintext, and a failed decryption changes nothing.

use std::fmt;

use wisp_crypto::{PublicKey, SecretKey, Zeroizing};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::bundle::{CompressedKey, public_key};
use crate::cipher::{RootStep, kdf_ck, kdf_rk, open, seal};
use crate::entropy::{Entropy, KeyPurpose};
use crate::error::{Error, Result};

/// Length of the associated data of a ratchet message (DECISIONS 16).
pub const AD_LEN: usize = 4 + 4 + 33;

/// How many remote ratchet keys of finished receiving chains a session remembers, to tell a
/// replay on an old chain from a new ratchet step.
pub const MAX_RETIRED_KEYS: usize = 32;

/// The Double Ratchet header (5/SECURE-TRANSPORT `DRHeader` without the bundle id).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The sender's current ratchet public key, compressed.
    pub dh: CompressedKey,
    /// Number of the message in the sending chain.
    pub n: u32,
    /// Length of the previous sending chain.
    pub pn: u32,
}

impl Header {
    /// The associated data the MAC covers: `u32_le(n) || u32_le(pn) || dh(33)` (DECISIONS 16;
    /// status-go passes no other associated data).
    pub fn associated_data(&self) -> [u8; AD_LEN] {
        let mut ad = [0u8; AD_LEN];
        ad[..4].copy_from_slice(&self.n.to_le_bytes());
        ad[4..8].copy_from_slice(&self.pn.to_le_bytes());
        ad[8..].copy_from_slice(&self.dh);
        ad
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("dh", &hex::encode(self.dh))
            .field("n", &self.n)
            .field("pn", &self.pn)
            .finish()
    }
}

/// A symmetric-key chain: its key and the number of messages it has produced.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct Chain {
    /// The chain key.
    pub key: [u8; 32],
    /// Messages derived from this chain so far.
    #[zeroize(skip)]
    pub n: u32,
}

impl Chain {
    fn new(key: [u8; 32]) -> Self {
        Self { key, n: 0 }
    }

    /// Derives the next message key and advances the chain.
    fn step(&mut self) -> Zeroizing<[u8; 32]> {
        let (next, message_key) = kdf_ck(&self.key);
        self.key = next;
        self.n = self.n.wrapping_add(1);
        message_key
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain").field("n", &self.n).finish_non_exhaustive()
    }
}

/// A message key kept for a message that has not arrived yet.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SkippedKey {
    /// The remote ratchet key of the chain.
    #[zeroize(skip)]
    pub dh: CompressedKey,
    /// The message number in that chain.
    #[zeroize(skip)]
    pub n: u32,
    /// The message key.
    pub message_key: [u8; 32],
    /// Sequence number among all keys this session derived for receiving (oldest first); keys
    /// older than [`crate::Config::max_keep`] derivations are dropped.
    #[zeroize(skip)]
    pub seq: u64,
}

impl fmt::Debug for SkippedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SkippedKey")
            .field("dh", &hex::encode(self.dh))
            .field("n", &self.n)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

/// The state of one Double Ratchet session.
#[derive(Clone)]
pub struct RatchetState {
    /// The root key RK.
    pub root_key: [u8; 32],
    /// Our ratchet key pair DHs.
    pub dhs: SecretKey,
    /// The public half of `dhs`, compressed.
    pub dhs_public: CompressedKey,
    /// The remote ratchet key DHr (none for a responder before the first message).
    pub dhr: Option<CompressedKey>,
    /// The sending chain.
    pub send: Chain,
    /// The receiving chain.
    pub recv: Chain,
    /// Length of the previous sending chain.
    pub pn: u32,
    /// Message keys derived for receiving so far (the sequence number of the next one).
    pub keys_count: u64,
    /// Remote ratchet keys of finished receiving chains, newest last (at most
    /// [`MAX_RETIRED_KEYS`]).
    pub retired: Vec<CompressedKey>,
}

impl Drop for RatchetState {
    fn drop(&mut self) {
        self.root_key.zeroize();
    }
}

impl fmt::Debug for RatchetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RatchetState")
            .field("dhs_public", &hex::encode(self.dhs_public))
            .field("dhr", &self.dhr.map(hex::encode))
            .field("send", &self.send)
            .field("recv", &self.recv)
            .field("pn", &self.pn)
            .field("keys_count", &self.keys_count)
            .finish_non_exhaustive()
    }
}

/// The derivations of one DH ratchet step, for tracing and tests.
#[derive(Clone)]
pub struct DhRatchetStep {
    /// The new remote ratchet key.
    pub their_key: CompressedKey,
    /// DH(old DHs, new DHr).
    pub recv_dh_out: Zeroizing<[u8; 32]>,
    /// KDF_RK giving the receiving chain.
    pub recv: RootStep,
    /// Our new ratchet public key.
    pub our_new_key: CompressedKey,
    /// DH(new DHs, new DHr).
    pub send_dh_out: Zeroizing<[u8; 32]>,
    /// KDF_RK giving the sending chain.
    pub send: RootStep,
}

impl fmt::Debug for DhRatchetStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DhRatchetStep")
            .field("their_key", &hex::encode(self.their_key))
            .field("our_new_key", &hex::encode(self.our_new_key))
            .finish_non_exhaustive()
    }
}

/// A successful decryption and what it changes; nothing is changed until the caller stores it.
#[derive(Debug)]
pub struct Decrypted {
    /// The plaintext.
    pub plaintext: Vec<u8>,
    /// The session's next state; `None` when the message used a stored skipped key (the state
    /// does not move then).
    pub state: Option<RatchetState>,
    /// Message keys skipped over, to store.
    pub skipped: Vec<SkippedKey>,
    /// The stored skipped key this message used, to delete: `(dh, n)`.
    pub consumed: Option<(CompressedKey, u32)>,
    /// The DH ratchet step the header caused, if any.
    pub step: Option<DhRatchetStep>,
    /// The message key used.
    pub message_key: Zeroizing<[u8; 32]>,
}

impl RatchetState {
    /// The initiator's state (status-go `NewWithRemoteKey`): root = both chains = SK; a fresh
    /// ratchet key `ours`; DHr = the responder's signed pre-key; `(RK, CKs) = KDF_RK(SK, DH(ours,
    /// DHr))`.
    pub fn initiator(
        shared_key: &[u8; 32],
        their_ratchet_key: &PublicKey,
        ours: SecretKey,
    ) -> Self {
        let dh_out = Zeroizing::new(*ours.ecdh(their_ratchet_key).as_bytes());
        let step = kdf_rk(shared_key, &dh_out);
        Self {
            root_key: step.root_key,
            dhs_public: ours.public_key().to_compressed(),
            dhs: ours,
            dhr: Some(their_ratchet_key.to_compressed()),
            send: Chain::new(step.chain_key),
            recv: Chain::new(*shared_key),
            pn: 0,
            keys_count: 0,
            retired: Vec::new(),
        }
    }

    /// The responder's state (status-go `New` with the signed pre-key pair): root = both chains
    /// = SK, DHs = our signed pre-key, no DHr; the first header triggers a DH ratchet step.
    pub fn responder(shared_key: &[u8; 32], signed_pre_key: SecretKey) -> Self {
        Self {
            root_key: *shared_key,
            dhs_public: signed_pre_key.public_key().to_compressed(),
            dhs: signed_pre_key,
            dhr: None,
            send: Chain::new(*shared_key),
            recv: Chain::new(*shared_key),
            pn: 0,
            keys_count: 0,
            retired: Vec::new(),
        }
    }

    /// Encrypts `plaintext`: the next message key of the sending chain, AD = the header.
    pub fn encrypt(&mut self, plaintext: &[u8]) -> (Header, Vec<u8>) {
        let header = Header { dh: self.dhs_public, n: self.send.n, pn: self.pn };
        let message_key = self.send.step();
        let ciphertext = seal(&message_key, plaintext, &header.associated_data());
        (header, ciphertext)
    }

    /// Decrypts a message without changing `self`.
    ///
    /// `skipped` is the stored key for `(header.dh, header.n)`, if the store has one. A ratchet
    /// step draws a new key pair from `entropy`. Errors: [`Error::BadMac`] and
    /// [`Error::CiphertextTooShort`] (forged or damaged message), [`Error::Replay`] (key used or
    /// discarded), [`Error::TooManySkipped`] (more than `max_skip` keys to skip),
    /// [`Error::InvalidKey`] (header key not on the curve).
    pub fn decrypt(
        &self,
        header: &Header,
        ciphertext: &[u8],
        skipped: Option<&[u8; 32]>,
        max_skip: u32,
        entropy: &mut dyn Entropy,
    ) -> Result<Decrypted> {
        let ad = header.associated_data();
        if let Some(message_key) = skipped {
            let plaintext = open(message_key, ciphertext, &ad)?;
            return Ok(Decrypted {
                plaintext,
                state: None,
                skipped: Vec::new(),
                consumed: Some((header.dh, header.n)),
                step: None,
                message_key: Zeroizing::new(*message_key),
            });
        }

        let mut next = self.clone();
        let mut skipped_keys = Vec::new();
        let mut step = None;
        if next.dhr != Some(header.dh) {
            if next.retired.contains(&header.dh) {
                return Err(Error::Replay { n: header.n });
            }
            if let Some(dhr) = next.dhr {
                if header.pn < next.recv.n {
                    return Err(Error::InconsistentHeader { pn: header.pn, received: next.recv.n });
                }
                next.skip(dhr, header.pn, max_skip, &mut skipped_keys)?;
            }
            step = Some(next.dh_ratchet(&header.dh, entropy)?);
        }
        let dhr = header.dh;
        next.skip(dhr, header.n, max_skip, &mut skipped_keys)?;
        let message_key = next.recv.step();
        next.keys_count += 1;
        let plaintext = open(&message_key, ciphertext, &ad)?;
        Ok(Decrypted {
            plaintext,
            state: Some(next),
            skipped: skipped_keys,
            consumed: None,
            step,
            message_key,
        })
    }

    /// Derives and collects the receiving chain's keys up to message `until` (exclusive).
    fn skip(
        &mut self,
        dh: CompressedKey,
        until: u32,
        max_skip: u32,
        out: &mut Vec<SkippedKey>,
    ) -> Result<()> {
        if until < self.recv.n {
            // status-go: "bad until: probably an out-of-order message that was deleted".
            return Err(Error::Replay { n: until });
        }
        let skip = u64::from(until - self.recv.n);
        if skip > u64::from(max_skip) {
            return Err(Error::TooManySkipped { skip, max: max_skip });
        }
        while self.recv.n < until {
            let n = self.recv.n;
            let message_key = self.recv.step();
            out.push(SkippedKey { dh, n, message_key: *message_key, seq: self.keys_count });
            self.keys_count += 1;
        }
        Ok(())
    }

    /// One DH ratchet step on receiving the new remote key `theirs`.
    fn dh_ratchet(
        &mut self,
        theirs: &CompressedKey,
        entropy: &mut dyn Entropy,
    ) -> Result<DhRatchetStep> {
        let their_key = public_key("DR_header.key", theirs)?;
        self.pn = self.send.n;
        if let Some(old) = self.dhr.replace(*theirs) {
            self.retired.push(old);
            if self.retired.len() > MAX_RETIRED_KEYS {
                self.retired.remove(0);
            }
        }
        let recv_dh_out = Zeroizing::new(*self.dhs.ecdh(&their_key).as_bytes());
        let recv = kdf_rk(&self.root_key, &recv_dh_out);
        self.root_key = recv.root_key;
        self.recv = Chain::new(recv.chain_key);

        self.dhs = entropy.secret_key(KeyPurpose::RatchetKey);
        self.dhs_public = self.dhs.public_key().to_compressed();
        let send_dh_out = Zeroizing::new(*self.dhs.ecdh(&their_key).as_bytes());
        let send = kdf_rk(&self.root_key, &send_dh_out);
        self.root_key = send.root_key;
        self.send = Chain::new(send.chain_key);
        Ok(DhRatchetStep {
            their_key: *theirs,
            recv_dh_out,
            recv,
            our_new_key: self.dhs_public,
            send_dh_out,
            send,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    fn pair(seed: u8) -> (RatchetState, RatchetState) {
        let mut entropy = SeededEntropy::new([seed; 32]);
        let spk = entropy.secret_key(KeyPurpose::SignedPreKey);
        let sk = [seed; 32];
        let alice = RatchetState::initiator(
            &sk,
            &spk.public_key(),
            entropy.secret_key(KeyPurpose::RatchetKey),
        );
        let bob = RatchetState::responder(&sk, spk);
        (alice, bob)
    }

    fn apply(state: &mut RatchetState, decrypted: &Decrypted) {
        if let Some(next) = &decrypted.state {
            *state = next.clone();
        }
    }

    #[test]
    fn header_associated_data_layout() {
        let header = Header { dh: [2; 33], n: 1, pn: 0x0102_0304 };
        let ad = header.associated_data();
        assert_eq!(ad[..8], [1, 0, 0, 0, 4, 3, 2, 1]);
        assert_eq!(ad[8..], [2; 33]);
    }

    #[test]
    fn out_of_order_and_replay() {
        let mut entropy = SeededEntropy::new([9; 32]);
        let (mut alice, mut bob) = pair(1);
        let messages: Vec<_> = (0u8..5).map(|i| alice.encrypt(&[i; 3])).collect();
        // Deliver 3 first: keys 0..3 are skipped.
        let d = bob.decrypt(&messages[3].0, &messages[3].1, None, 1000, &mut entropy).unwrap();
        assert_eq!(d.plaintext, [3; 3]);
        assert_eq!(d.skipped.iter().map(|k| k.n).collect::<Vec<_>>(), [0, 1, 2]);
        assert!(d.step.is_some());
        apply(&mut bob, &d);
        let skipped = d.skipped.clone();
        // Message 1 from its stored key; the state does not move.
        let one = bob
            .decrypt(
                &messages[1].0,
                &messages[1].1,
                Some(&skipped[1].message_key),
                1000,
                &mut entropy,
            )
            .unwrap();
        assert_eq!(one.plaintext, [1; 3]);
        assert!(one.state.is_none());
        assert_eq!(one.consumed, Some((messages[1].0.dh, 1)));
        // Message 3 again: replay.
        assert!(matches!(
            bob.decrypt(&messages[3].0, &messages[3].1, None, 1000, &mut entropy),
            Err(Error::Replay { n: 3 })
        ));
        // Message 4 in order.
        let four = bob.decrypt(&messages[4].0, &messages[4].1, None, 1000, &mut entropy).unwrap();
        assert_eq!(four.plaintext, [4; 3]);
        apply(&mut bob, &four);
        // Bob answers; Alice ratchets; then an old-chain replay is recognised.
        let (h, c) = bob.encrypt(b"reply");
        let d = alice.decrypt(&h, &c, None, 1000, &mut entropy).unwrap();
        apply(&mut alice, &d);
        let (h2, c2) = alice.encrypt(b"again");
        let d = bob.decrypt(&h2, &c2, None, 1000, &mut entropy).unwrap();
        assert_eq!(d.skipped.len(), 0);
        apply(&mut bob, &d);
        assert!(matches!(
            bob.decrypt(&messages[4].0, &messages[4].1, None, 1000, &mut entropy),
            Err(Error::Replay { n: 4 })
        ));
    }

    #[test]
    fn skip_limit_and_tampering() {
        let mut entropy = SeededEntropy::new([3; 32]);
        let (mut alice, bob) = pair(2);
        let mut last = alice.encrypt(b"x");
        for _ in 0..5 {
            last = alice.encrypt(b"x");
        }
        assert!(matches!(
            bob.decrypt(&last.0, &last.1, None, 4, &mut entropy),
            Err(Error::TooManySkipped { skip: 5, max: 4 })
        ));
        let mut bad = last.1.clone();
        bad[20] ^= 0x80;
        assert!(matches!(bob.decrypt(&last.0, &bad, None, 10, &mut entropy), Err(Error::BadMac)));
        let mut header = last.0;
        header.n += 1;
        assert!(matches!(
            bob.decrypt(&header, &last.1, None, 10, &mut entropy),
            Err(Error::BadMac)
        ));
        header = last.0;
        header.dh[0] = 0x05;
        assert!(matches!(
            bob.decrypt(&header, &last.1, None, 10, &mut entropy),
            Err(Error::InvalidKey { .. })
        ));
        assert!(bob.decrypt(&last.0, &last.1, None, 10, &mut entropy).is_ok());
    }
}
