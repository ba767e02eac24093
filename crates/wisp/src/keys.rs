//! `wisp keys`: node keys on disk, in go-ethereum's `nodekey` format (the secret key as 64
//! lowercase hex characters and a newline), so one file serves wisp, geth (`--nodekey`) and
//! status-go. The file format and its reading and writing are the node's
//! ([`wisp_node::node_key`]), so `wisp keys` and `wisp node` treat a key file alike.

use std::{net::SocketAddr, path::Path};

use wisp_crypto::SecretKey;
use wisp_node::node_key;
use wisp_rlpx::NodeRecord;

use crate::{
    cli::{KeysNewArgs, KeysShowArgs},
    data_dir::DataDir,
    error::{Error, short_id},
    print_line,
};

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

/// Reads and parses a key file (shared with the node: [`wisp_node::node_key`]).
pub(crate) fn read_key_file(path: &Path) -> Result<SecretKey, Error> {
    Ok(node_key::read_key_file(path)?)
}

/// Writes `key` to `path` with mode 0600, creating parent directories (mode 0700). Without
/// `force` an existing file is an error and stays as it was.
fn write_key_file(path: &Path, key: &SecretKey, force: bool) -> Result<(), Error> {
    Ok(node_key::write_key_file(path, key, force)?)
}
