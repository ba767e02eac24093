//! wisp-accounts (placeholder)
