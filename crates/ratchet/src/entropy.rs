//! Injectable randomness: every key and nonce the secure transport generates comes from an
//! [`Entropy`], so that tests and the simulator can replay recorded keys or run from a seed.

use std::collections::VecDeque;

use wisp_crypto::{SecretKey, fill_random, keccak256};

/// What a generated key is for; lets a scripted source hand out recorded keys per purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// A signed pre-key of our bundle.
    SignedPreKey,
    /// The X3DH ephemeral key EK of a session we initiate.
    X3dhEphemeral,
    /// A Double Ratchet key pair (session start and every DH ratchet step).
    RatchetKey,
    /// The one-off ephemeral key of a DH-mode message.
    DhEphemeral,
}

/// A source of keys and random bytes.
pub trait Entropy: Send {
    /// A fresh secret key for `purpose`.
    fn secret_key(&mut self, purpose: KeyPurpose) -> SecretKey;
    /// Fills `buf` with random bytes (DH-mode GCM nonces).
    fn fill_bytes(&mut self, buf: &mut [u8]);
}

/// The operating system's randomness (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn secret_key(&mut self, _purpose: KeyPurpose) -> SecretKey {
        SecretKey::random()
    }

    fn fill_bytes(&mut self, buf: &mut [u8]) {
        fill_random(buf);
    }
}

/// A deterministic source: keccak256(seed || counter) blocks. For tests and the simulator only;
/// never for real keys.
#[derive(Clone, Debug)]
pub struct SeededEntropy {
    seed: [u8; 32],
    counter: u64,
}

impl SeededEntropy {
    /// A source that replays the same stream for the same seed.
    pub fn new(seed: [u8; 32]) -> Self {
        Self { seed, counter: 0 }
    }

    fn block(&mut self) -> [u8; 32] {
        self.counter += 1;
        let mut input = [0u8; 40];
        input[..32].copy_from_slice(&self.seed);
        input[32..].copy_from_slice(&self.counter.to_be_bytes());
        keccak256(input)
    }
}

impl Entropy for SeededEntropy {
    fn secret_key(&mut self, _purpose: KeyPurpose) -> SecretKey {
        loop {
            // A block is a valid key except with probability ~2^-128.
            if let Ok(key) = SecretKey::from_bytes(&self.block()) {
                return key;
            }
        }
    }

    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(32) {
            let block = self.block();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

/// Hands out recorded keys and bytes per purpose, in order, then falls back to a
/// [`SeededEntropy`]. Replays captured sessions (`vectors/chat`) step by step.
#[derive(Clone, Debug)]
pub struct ScriptedEntropy {
    keys: Vec<(KeyPurpose, VecDeque<SecretKey>)>,
    bytes: VecDeque<u8>,
    fallback: SeededEntropy,
}

impl ScriptedEntropy {
    /// An empty script over a seeded fallback.
    pub fn new(fallback_seed: [u8; 32]) -> Self {
        Self {
            keys: Vec::new(),
            bytes: VecDeque::new(),
            fallback: SeededEntropy::new(fallback_seed),
        }
    }

    /// Queues `key` as the next key for `purpose`.
    pub fn push_key(&mut self, purpose: KeyPurpose, key: SecretKey) -> &mut Self {
        match self.keys.iter_mut().find(|(p, _)| *p == purpose) {
            Some((_, queue)) => queue.push_back(key),
            None => self.keys.push((purpose, VecDeque::from([key]))),
        }
        self
    }

    /// Queues bytes for [`Entropy::fill_bytes`].
    pub fn push_bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.bytes.extend(bytes);
        self
    }

    /// How many scripted keys for `purpose` are still queued.
    pub fn remaining(&self, purpose: KeyPurpose) -> usize {
        self.keys.iter().find(|(p, _)| *p == purpose).map_or(0, |(_, queue)| queue.len())
    }
}

impl Entropy for ScriptedEntropy {
    fn secret_key(&mut self, purpose: KeyPurpose) -> SecretKey {
        self.keys
            .iter_mut()
            .find(|(p, _)| *p == purpose)
            .and_then(|(_, queue)| queue.pop_front())
            .unwrap_or_else(|| self.fallback.secret_key(purpose))
    }

    fn fill_bytes(&mut self, buf: &mut [u8]) {
        for byte in buf.iter_mut() {
            *byte = match self.bytes.pop_front() {
                Some(b) => b,
                None => {
                    let mut one = [0u8; 1];
                    self.fallback.fill_bytes(&mut one);
                    one[0]
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripted_then_fallback() {
        let recorded = SecretKey::from_bytes(&[3; 32]).unwrap();
        let mut entropy = ScriptedEntropy::new([1; 32]);
        entropy.push_key(KeyPurpose::RatchetKey, recorded.clone()).push_bytes(&[1, 2]);
        assert_eq!(entropy.remaining(KeyPurpose::RatchetKey), 1);
        // Other purposes do not consume the script.
        let other = entropy.secret_key(KeyPurpose::X3dhEphemeral);
        assert_ne!(other.public_key(), recorded.public_key());
        assert_eq!(entropy.secret_key(KeyPurpose::RatchetKey).public_key(), recorded.public_key());
        assert_eq!(entropy.remaining(KeyPurpose::RatchetKey), 0);
        let mut buf = [0u8; 4];
        entropy.fill_bytes(&mut buf);
        assert_eq!(buf[..2], [1, 2]);
        let a = SeededEntropy::new([5; 32]).secret_key(KeyPurpose::SignedPreKey);
        let b = SeededEntropy::new([5; 32]).secret_key(KeyPurpose::SignedPreKey);
        assert_eq!(a.public_key(), b.public_key());
    }
}
