//! `wisp keys`: node keys on disk, in go-ethereum's `nodekey` format (the secret key as 64
//! lowercase hex characters and a newline), so one file serves wisp, geth (`--nodekey`) and
//! status-go.

use std::{
    fs::{self, DirBuilder, OpenOptions},
    io::{self, Write},
    net::SocketAddr,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use wisp_crypto::{SECRET_KEY_LEN, SecretKey, Zeroizing};
use wisp_rlpx::NodeRecord;

use crate::{
    cli::{KeysNewArgs, KeysShowArgs},
    data_dir::DataDir,
    error::{Error, short_id},
    print_line,
};

/// Characters of a key file, newline aside.
const KEY_HEX_LEN: usize = 2 * SECRET_KEY_LEN;
/// Mode of a new key file: readable and writable by its owner only.
const KEY_FILE_MODE: u32 = 0o600;
/// Mode of directories created for a key file.
const KEY_DIR_MODE: u32 = 0o700;

/// `wisp keys new`: writes a fresh key, prints its enode URL on stdout and its path on stderr.
pub(crate) fn new(args: &KeysNewArgs, data_dir: &DataDir) -> Result<(), Error> {
    let path = match &args.out {
        Some(path) => path.clone(),
        None => data_dir.node_key()?,
    };
    let key = SecretKey::random();
    write_key_file(&path, &key, args.force)?;
    eprintln!("wrote node key to {}", path.display());
    print_line(&enode(&key, args.addr).to_string())
}

/// `wisp keys show`: prints the enode URL of a key file.
pub(crate) fn show(args: &KeysShowArgs, data_dir: &DataDir) -> Result<(), Error> {
    let path = match &args.key {
        Some(path) => path.clone(),
        None => data_dir.node_key()?,
    };
    let key = read_key_file(&path)?;
    print_line(&enode(&key, args.addr).to_string())
}

/// The key a network command runs with: `--key` if given, else `<data-dir>/node.key` if it
/// exists, else a fresh random key.
pub(crate) fn node_key(explicit: Option<&Path>, data_dir: &DataDir) -> Result<SecretKey, Error> {
    if let Some(path) = explicit {
        return read_key_file(path);
    }
    let path = match data_dir.node_key() {
        Ok(path) => path,
        Err(e) => return Ok(random_key(&e.to_string())),
    };
    match path.try_exists() {
        // A file we cannot even stat is reported by the read.
        Ok(true) | Err(_) => read_key_file(&path),
        Ok(false) => Ok(random_key(&format!("no key file at {}", path.display()))),
    }
}

fn random_key(why: &str) -> SecretKey {
    let key = SecretKey::random();
    tracing::debug!(node = %short_id(&key.public_key().node_id()), "{why}: using a fresh random node key");
    key
}

/// The enode URL of `key` at `addr`.
pub(crate) fn enode(key: &SecretKey, addr: SocketAddr) -> NodeRecord {
    NodeRecord::new(key.public_key().node_id(), addr)
}

/// The file content: 64 lowercase hex characters and a newline.
fn encode(key: &SecretKey) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::with_capacity(KEY_HEX_LEN + 1));
    text.push_str(&hex::encode(&key.to_bytes()[..]));
    text.push('\n');
    text
}

/// Parses a key file's content; surrounding whitespace (the newline) is ignored. The error
/// completes "expected 64 hex characters (a secp256k1 secret key), ...".
fn decode(content: &[u8]) -> Result<SecretKey, String> {
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

/// Reads and parses a key file.
pub(crate) fn read_key_file(path: &Path) -> Result<SecretKey, Error> {
    let content = fs::read(path)
        .map(Zeroizing::new)
        .map_err(|source| Error::KeyRead { path: path.to_owned(), source })?;
    let key =
        decode(&content).map_err(|problem| Error::KeyFormat { path: path.to_owned(), problem })?;
    if let Ok(meta) = fs::metadata(path) {
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
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
fn write_key_file(path: &Path, key: &SecretKey, force: bool) -> Result<(), Error> {
    let write_error = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::KeyWrite { path, source }
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
    let content = encode(key);
    if !force {
        return match create_and_write(path, &content) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(Error::KeyExists(path.to_owned()))
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
        let text = encode(&key);
        assert_eq!(text.as_str(), format!("{}\n", "ab".repeat(32)));
        assert_eq!(decode(text.as_bytes()).unwrap().public_key(), key.public_key());
        // geth writes no newline; editors may add \r\n or spaces.
        assert!(decode("ab".repeat(32).as_bytes()).is_ok());
        assert!(decode(format!("  {}\r\n", "AB".repeat(32)).as_bytes()).is_ok());
    }

    #[test]
    fn decode_errors_say_what_is_wrong() {
        assert_eq!(decode(b"\n").unwrap_err(), "but the file is empty");
        assert_eq!(decode(b"abcd\n").unwrap_err(), "got 4 characters");
        let with_x = format!("0x{}", "ab".repeat(31));
        assert_eq!(
            decode(with_x.as_bytes()).unwrap_err(),
            "but 'x' at position 2 is not a hex digit"
        );
        let zero = "00".repeat(32);
        assert!(decode(zero.as_bytes()).unwrap_err().contains("curve order"));
        let order = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141";
        assert!(decode(order.as_bytes()).unwrap_err().contains("curve order"));
    }
}
