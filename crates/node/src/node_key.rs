//! Node keys on disk, in go-ethereum's `nodekey` format: the secret key as 64 lowercase hex
//! characters and a newline, so one file serves wisp, geth (`--nodekey`) and status-go.
//!
//! New key files are mode 0600 and the directories created for them 0700; reading a file that
//! other users can read logs a warning. The node ([`crate::load_or_create_key`]) and the `wisp
//! keys` commands share this code.

use std::{
    fs::{self, DirBuilder, OpenOptions},
    io::{self, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use wisp_crypto::{SECRET_KEY_LEN, SecretKey, Zeroizing};

/// The node key's file name inside the data directory.
pub const NODE_KEY_FILE: &str = "node.key";
/// Characters of a key file, newline aside.
const KEY_HEX_LEN: usize = 2 * SECRET_KEY_LEN;
/// Mode of a new key file: readable and writable by its owner only.
const KEY_FILE_MODE: u32 = 0o600;
/// Mode of directories created for a key file.
const KEY_DIR_MODE: u32 = 0o700;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum NodeKeyError {
    /// The file could not be read.
    #[error("cannot read key file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file does not hold a key.
    #[error(
        "invalid key file {}: expected 64 hex characters (a secp256k1 secret key), {problem}",
        path.display()
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with its content; completes "expected 64 hex characters ..., ".
        problem: String,
    },
    /// The file (or its directory) could not be written.
    #[error("cannot write key file {}: {source}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The file exists and was not to be overwritten.
    #[error("key file {} already exists", .0.display())]
    Exists(PathBuf),
}

/// The file content of `key`: 64 lowercase hex characters and a newline.
pub fn encode_key_file(key: &SecretKey) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(KEY_HEX_LEN + 1));
    text.push_str(&hex::encode(&key.to_bytes()[..]));
    text.push('\n');
    text
}

/// Parses a key file's content; surrounding whitespace (the newline) is ignored. The error
/// completes "expected 64 hex characters (a secp256k1 secret key), ...".
pub fn decode_key_file(content: &[u8]) -> Result<SecretKey, String> {
    let text = content.trim_ascii();
    if text.is_empty() {
        return Err("but the file is empty".into());
    }
    if text.len() != KEY_HEX_LEN {
        return Err(format!("got {} characters", text.len()));
    }
    if let Some((index, &byte)) = text.iter().enumerate().find(|(_, b)| !b.is_ascii_hexdigit()) {
        let what = if byte.is_ascii_graphic() {
            format!("{:?}", byte as char)
        } else {
            format!("byte {byte:#04x}")
        };
        return Err(format!("but {what} at position {} is not a hex digit", index + 1));
    }
    let mut bytes = Zeroizing::new([0u8; SECRET_KEY_LEN]);
    hex::decode_to_slice(text, &mut bytes[..]).map_err(|e| e.to_string())?;
    SecretKey::from_bytes(&bytes[..])
        .map_err(|_| "but the value is zero or not below the secp256k1 curve order".into())
}

/// Reads and parses a key file; warns if other users can read it.
pub fn read_key_file(path: &Path) -> Result<SecretKey, NodeKeyError> {
    let content = fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| NodeKeyError::Read { path: path.to_owned(), source })?;
    let key = decode_key_file(&content)
        .map_err(|problem| NodeKeyError::Format { path: path.to_owned(), problem })?;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                target: "node",
                "key file {} can be read by other users (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            );
        }
    }
    Ok(key)
}

/// Writes `key` to `path` with mode 0600, creating parent directories (mode 0700). Without
/// `force` an existing file is an error and stays as it was.
pub fn write_key_file(path: &Path, key: &SecretKey, force: bool) -> Result<(), NodeKeyError> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| NodeKeyError::Write { path, source }
    };
    let file_name = path
        .file_name()
        .ok_or_else(|| write_error(path)(io::Error::other("the path does not name a file")))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(KEY_DIR_MODE)
            .create(dir)
            .map_err(write_error(dir))?;
    }
    let content = encode_key_file(key);
    if !force {
        return match create_and_write(path, &content) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(NodeKeyError::Exists(path.to_owned()))
            }
            r => r.map_err(write_error(path)),
        };
    }
    // Write a new 0600 file beside the old one and rename it over: the old key stays intact
    // until the new one is on disk, and the result is 0600 whatever the old file's mode was.
    let mut tmp_name = PathBuf::from(".");
    tmp_name.as_mut_os_string().push(file_name);
    tmp_name.as_mut_os_string().push(format!(".tmp-{}", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    create_and_write(&tmp, &content).map_err(write_error(&tmp))?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        write_error(path)(e)
    })
}

/// Creates a new file (never an existing one) with mode 0600 and writes `content` to disk;
/// a partly written file is removed.
fn create_and_write(path: &Path, content: &str) -> io::Result<()> {
    let mut file =
        OpenOptions::new().write(true).create_new(true).mode(KEY_FILE_MODE).open(path)?;
    let written = file.write_all(content.as_bytes()).and_then(|()| file.sync_all());
    if written.is_err() {
        drop(file);
        let _ = fs::remove_file(path);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodekey_format_round_trips() {
        let key = SecretKey::from_bytes(&[0xab; 32]).unwrap();
        let text = encode_key_file(&key);
        assert_eq!(text.as_str(), format!("{}\n", "ab".repeat(32)));
        assert_eq!(decode_key_file(text.as_bytes()).unwrap().public_key(), key.public_key());
        // geth writes no newline; editors may add \r\n or spaces.
        assert!(decode_key_file("ab".repeat(32).as_bytes()).is_ok());
        assert!(decode_key_file(format!("  {}\r\n", "AB".repeat(32)).as_bytes()).is_ok());
    }

    #[test]
    fn decode_errors_say_what_is_wrong() {
        assert_eq!(decode_key_file(b"\n").unwrap_err(), "but the file is empty");
        assert_eq!(decode_key_file(b"abcd\n").unwrap_err(), "got 4 characters");
        let with_x = format!("0x{}", "ab".repeat(31));
        assert_eq!(
            decode_key_file(with_x.as_bytes()).unwrap_err(),
            "but 'x' at position 2 is not a hex digit"
        );
        let zero = "00".repeat(32);
        assert!(decode_key_file(zero.as_bytes()).unwrap_err().contains("curve order"));
        let order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
        assert!(decode_key_file(order.as_bytes()).unwrap_err().contains("curve order"));
    }

    #[test]
    fn written_files_are_0600_in_0700_directories_and_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("wisp-node-key-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("sub").join(NODE_KEY_FILE);
        let key = SecretKey::from_bytes(&[7; 32]).unwrap();
        write_key_file(&path, &key, false).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
        assert_eq!(read_key_file(&path).unwrap().public_key(), key.public_key());
        let other = SecretKey::from_bytes(&[8; 32]).unwrap();
        assert!(matches!(write_key_file(&path, &other, false), Err(NodeKeyError::Exists(_))));
        write_key_file(&path, &other, true).unwrap();
        assert_eq!(read_key_file(&path).unwrap().public_key(), other.public_key());
        assert_eq!(mode(&path), 0o600);
        fs::remove_dir_all(&dir).unwrap();
    }
}
