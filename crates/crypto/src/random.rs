//! Random bytes for IVs, nonces, padding and handshake nonces.

use rand::Rng;

/// Fills `buf` with cryptographically secure random bytes (the thread-local ChaCha generator
/// of `rand`, seeded and periodically reseeded from the operating system).
pub fn fill_random(buf: &mut [u8]) {
    rand::rng().fill_bytes(buf);
}

/// `N` cryptographically secure random bytes (see [`fill_random`]).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    fill_random(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_bytes_differ() {
        let a: [u8; 32] = random_bytes();
        let b: [u8; 32] = random_bytes();
        assert_ne!(a, b);
        let mut buf = [0u8; 64];
        fill_random(&mut buf);
        assert_ne!(buf, [0u8; 64]);
        assert_eq!(random_bytes::<0>(), [0u8; 0]);
    }
}
