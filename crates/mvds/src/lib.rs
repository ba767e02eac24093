//! wisp-mvds (placeholder)
