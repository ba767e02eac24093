//! wisp-sim: many real `wisp_waku::Router`s, mailservers (wisp-mailserver's server, client
//! and memory store), messengers (`wisp_messenger::Messenger` with memory stores: public and
//! 1:1 chats), MVDS endpoints and hostile nodes in one process, on a virtual clock (ms) and a
//! virtual network, deterministic from a seed. No wall clock, no threads, no sockets.
//!
//! - [`Sim`]: the event core, the network faults and the invariant checks;
//! - [`scenario`]: the named scenarios behind `wisp sim` (topologies and workloads);
//! - [`Figures`]: what a run measured.

pub mod figures;
pub mod packet;
pub mod scenario;
mod sim;

pub use figures::{ConvFigures, Figures, KindFigures, MailFigures, MsgFigures, human};
pub use scenario::{Scenario, ScenarioConfig, ScenarioError, run_scenario};
pub use sim::{EPOCH_MS, Interest, Kind, LinkModel, Sim, SimConfig};

/// A small deterministic RNG (SplitMix64); a whole run draws from one.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / ((1u64 << 53) as f64)
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }
    /// Shuffles `v` in place (Fisher-Yates).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// The SplitMix64 finaliser: a good 64-bit mix.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
