//! Status accounts (2/ACCOUNT): where a chat identity comes from and how people recognise it.
//!
//! - **[`Mnemonic`]** (BIP39, English list): generate, parse and check 12 to 24 words; the
//!   64-byte [`Seed`] with a passphrase.
//! - **[`bip32`]**: master keys, child derivation, [`DerivationPath`]s, `xprv`/`xpub`; Status'
//!   chat key path `m/43'/60'/1581'/0'/0` (EIP-1581) and wallet paths `m/44'/60'/0'/0/i`
//!   (BIP44), tied together by [`Account`].
//! - **[`address`]**: Ethereum addresses with the EIP-55 checksum.
//! - **[`Keystore`]**: keystore v3 files (scrypt or PBKDF2, AES-128-CTR, keccak MAC); a wrong
//!   password is [`AccountsError::WrongPassword`].
//! - **Chat identity** ([`ChatIdentity`]): the 3-word [`alias()`], the [`Identicon`] (a PNG data
//!   URI) and the `zQ3sh…` compressed-key text ([`multiformat`]), exactly as status-go
//!   v0.79.11 computes them (`shared/data/identity/ALGORITHMS.md`).
//!
//! Secrets ([`Mnemonic`], [`Seed`], [`bip32::ExtendedPrivateKey`], `wisp_crypto::SecretKey`)
//! are wiped on drop and never shown by `Debug`; errors never repeat a secret (a mistyped
//! mnemonic word is reported by its position). Nothing here panics on input or does I/O.
//!
//! # Example
//!
//! ```
//! use wisp_accounts::{Account, ChatIdentity, Kdf, Keystore, Mnemonic, ScryptParams};
//!
//! # fn main() -> wisp_accounts::Result<()> {
//! // A new identity: show the words to their owner once, keep the chat key.
//! let mnemonic = Mnemonic::generate(12)?;
//! let account = Account::from_mnemonic(&mnemonic, "")?;
//! let chat_key = account.chat_key()?; // m/43'/60'/1581'/0'/0
//!
//! // What a contact sees: `zQ3sh…`, "Adjective Adjective Animal", an identicon.
//! let identity = ChatIdentity::of(&chat_key.public_key());
//! assert!(identity.compressed_key.starts_with("zQ3sh"));
//! assert!(identity.identicon.to_data_uri().starts_with("data:image/png;base64,"));
//!
//! // The compressed text goes back to the key.
//! let parsed = wisp_accounts::multiformat::decompress_public_key(&identity.compressed_key)?;
//! assert_eq!(parsed, chat_key.public_key());
//!
//! // Store the key encrypted (go-ethereum's standard scrypt in real use; light here).
//! let keystore = Keystore::encrypt(&chat_key, b"hunter2", Kdf::Scrypt(ScryptParams::LIGHT))?;
//! let json = keystore.to_json();
//! let reopened = Keystore::from_json(json.as_bytes())?.decrypt(b"hunter2")?;
//! assert_eq!(reopened.public_key(), chat_key.public_key());
//! assert!(Keystore::from_json(json.as_bytes())?.decrypt(b"wrong").is_err());
//!
//! // The same words always give the same identity.
//! let again = Account::from_mnemonic(&Mnemonic::parse(mnemonic.phrase())?, "")?;
//! assert_eq!(again.chat_key()?.public_key(), chat_key.public_key());
//! # Ok(())
//! # }
//! ```

mod account;
pub mod address;
pub mod alias;
mod base58;
pub mod bip32;
mod error;
pub mod identicon;
pub mod keystore;
mod mnemonic;
pub mod multiformat;
pub mod png;
pub mod wordlist;

#[cfg(test)]
mod vector_tests;

pub use account::{Account, ChatIdentity};
pub use address::{parse_address, to_checksum_address};
pub use alias::alias;
pub use bip32::{
    CHAT_KEY_PATH, ChildNumber, DerivationPath, ExtendedPrivateKey, ExtendedPublicKey,
    WALLET_ROOT_PATH,
};
pub use error::{AccountsError, Result};
pub use identicon::Identicon;
pub use keystore::{Kdf, Keystore, ScryptParams, keystore_file_name};
pub use mnemonic::{Mnemonic, SEED_LEN, SEED_PBKDF2_ROUNDS, Seed, WORD_COUNTS};
pub use multiformat::{compress_public_key, decompress_public_key, parse_public_key};
