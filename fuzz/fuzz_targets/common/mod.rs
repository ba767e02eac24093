//! Pieces the messenger and MVDS fuzz targets share: a deterministic jitter source, fixed keys,
//! and a messenger with in-memory stores whose receive path counts drops. Each target includes
//! this module with `mod common;` and uses part of it.

use std::convert::Infallible;

use rand_core::TryRng;
use wisp_crypto::SecretKey;
use wisp_messenger::{Config, IncomingEnvelope, MemoryMessageStore, Messenger};
use wisp_ratchet::{MemoryStore, SecureTransport, SeededEntropy};

/// The clock of the messenger targets, in Unix milliseconds.
pub const NOW_MS: u64 = 1_800_000_000_000;

/// A fixed counter (a linear congruential sequence): MVDS needs jitter, not randomness.
pub struct Counter(pub u64);

impl TryRng for Counter {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.try_next_u64()? as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Ok(self.0)
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}

/// The secret key whose 32 bytes are all `byte`.
pub fn key(byte: u8) -> SecretKey {
    SecretKey::from_bytes(&[byte; 32]).unwrap()
}

/// A messenger with in-memory stores.
pub type TestMessenger =
    Messenger<MemoryStore, wisp_mvds::MemoryStore, Counter, MemoryMessageStore>;

/// A fresh messenger of key 0x5e… as installation `installation`, not started (`start`
/// derives the contact-code key with PBKDF2, too slow to fuzz; receiving does not need it).
pub fn messenger(installation: &str) -> TestMessenger {
    let me = key(0x5e);
    let transport = SecureTransport::new(me.clone(), installation, MemoryStore::new())
        .with_entropy(SeededEntropy::new([2; 32]));
    let mvds = wisp_mvds::Node::new(
        wisp_mvds::Config::default(),
        wisp_mvds::MemoryStore::new(),
        Counter(1),
    );
    Messenger::new(me, transport, mvds, MemoryMessageStore::new(), Config::default()).unwrap()
}

/// Hands `envelope` to `messenger` at [`NOW_MS`]: an envelope refused as a whole must count
/// exactly one drop more. Then drains the messenger's output.
pub fn receive(messenger: &mut TestMessenger, envelope: &IncomingEnvelope) {
    let before = messenger.counters().dropped();
    if messenger.handle_envelope(envelope, NOW_MS).is_err() {
        assert_eq!(messenger.counters().dropped(), before + 1, "one drop counted");
    }
    while messenger.poll_output().is_some() {}
}
