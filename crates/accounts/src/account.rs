//! A Status account (2/ACCOUNT §"Initial Key Generation"): the keys derived from one BIP39
//! mnemonic, and the public identity people see.

use wisp_crypto::{PublicKey, SecretKey};

use crate::{
    address::{ADDRESS_LEN, to_checksum_address},
    alias::alias,
    bip32::{DerivationPath, ExtendedPrivateKey},
    error::Result,
    identicon::Identicon,
    mnemonic::Mnemonic,
    multiformat::compress_public_key,
};

/// The keys of one mnemonic: the BIP32 master key, from which the chat key
/// (`m/43'/60'/1581'/0'/0`, EIP-1581) and the wallet keys (`m/44'/60'/0'/0/i`, BIP44) derive.
///
/// Secrets are wiped on drop; `Debug` shows only public data.
#[derive(Debug, Clone)]
pub struct Account {
    master: ExtendedPrivateKey,
}

impl Account {
    /// The account of a mnemonic and BIP39 passphrase (Status uses the empty passphrase).
    pub fn from_mnemonic(mnemonic: &Mnemonic, passphrase: &str) -> Result<Self> {
        Self::from_seed(mnemonic.to_seed(passphrase).as_bytes())
    }

    /// The account of a BIP32 seed (16 to 64 bytes).
    pub fn from_seed(seed: &[u8]) -> Result<Self> {
        Ok(Self { master: ExtendedPrivateKey::master(seed)? })
    }

    /// The BIP32 master key.
    pub fn master(&self) -> &ExtendedPrivateKey {
        &self.master
    }

    /// The Whisper/Waku chat key, `m/43'/60'/1581'/0'/0`.
    pub fn chat_key(&self) -> Result<SecretKey> {
        self.key_at(&DerivationPath::chat_key())
    }

    /// Wallet key `index`, `m/44'/60'/0'/0/index` (index < 2^31). Key 0 is also the chat key
    /// of Status accounts made before multiaccounts (2/ACCOUNT).
    pub fn wallet_key(&self, index: u32) -> Result<SecretKey> {
        self.key_at(&DerivationPath::wallet(index)?)
    }

    /// The key at any path.
    pub fn key_at(&self, path: &DerivationPath) -> Result<SecretKey> {
        Ok(self.master.derive_path(path)?.secret_key().clone())
    }
}

/// What identifies a chat key to people: the key, its `zQ3sh…` text, its 3-word alias, its
/// identicon and its Ethereum address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatIdentity {
    /// The chat public key.
    pub public_key: PublicKey,
    /// The compressed-key text, `zQ3sh…`.
    pub compressed_key: String,
    /// The 3-word alias, e.g. `"New Awful Harpseal"`.
    pub alias: String,
    /// The identicon.
    pub identicon: Identicon,
    /// The key's Ethereum address.
    pub address: [u8; ADDRESS_LEN],
}

impl ChatIdentity {
    /// The identity of a chat key.
    pub fn of(key: &PublicKey) -> Self {
        Self {
            public_key: *key,
            compressed_key: compress_public_key(key),
            alias: alias(key),
            identicon: Identicon::for_public_key(key),
            address: key.address(),
        }
    }

    /// The key as Status writes it: `0x04` and 128 lowercase hex digits.
    pub fn public_key_hex(&self) -> String {
        format!("0x{}", hex::encode(self.public_key.to_uncompressed()))
    }

    /// The address with its EIP-55 checksum, `0x…`.
    pub fn checksum_address(&self) -> String {
        to_checksum_address(&self.address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chat key and first wallet key of the all-`abandon … about` mnemonic (BIP39 entropy 0,
    /// empty passphrase). The wallet address is the well-known first account of this test
    /// mnemonic in Ethereum wallets (MetaMask, Ledger, ethers.js tests).
    #[test]
    fn test_mnemonic_keys() {
        let mnemonic = Mnemonic::from_entropy(&[0; 16]).unwrap();
        let account = Account::from_mnemonic(&mnemonic, "").unwrap();
        let wallet = account.wallet_key(0).unwrap().public_key();
        assert_eq!(
            to_checksum_address(&wallet.address()),
            "0x9858EfFD232B4033E47d90003D41EC34EcaEda94"
        );
        let chat = account.chat_key().unwrap().public_key();
        assert_ne!(chat, wallet);
        let identity = ChatIdentity::of(&chat);
        assert!(identity.compressed_key.starts_with("zQ3sh"));
        assert_eq!(identity.alias.split(' ').count(), 3);
        assert_eq!(identity.public_key_hex().len(), 132);
    }
}
