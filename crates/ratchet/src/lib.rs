//! wisp-ratchet (placeholder)
