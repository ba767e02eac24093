//! EIP-1459 DNS node lists.
