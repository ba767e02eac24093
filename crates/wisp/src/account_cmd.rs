//! `wisp account`: Status chat identities. A BIP39 mnemonic gives the chat key
//! (`m/43'/60'/1581'/0'/0`); wisp keeps that key in a keystore v3 file under
//! `<data-dir>/keystore/` (named as go-ethereum names them) and shows what people recognise it
//! by: the `zQ3sh…` key text, the 3-word alias and the identicon.
//!
//! Secrets never come from the command line (where `ps` and shell history would show them):
//! the password comes from `--password-file`, a no-echo terminal prompt, or standard input
//! when it is not a terminal; the mnemonic likewise. The mnemonic is printed once, by
//! `account new`, labelled as such; nothing else secret is ever printed or logged.

use std::{
    fs::{self, DirBuilder, OpenOptions},
    io::{self, BufRead, IsTerminal, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
    time::SystemTime,
};

use clap::{Args, Subcommand};
use wisp_accounts::{
    Account, AccountsError, ChatIdentity, DerivationPath, Identicon, Kdf, Keystore, Mnemonic,
    ScryptParams, WORD_COUNTS, keystore_file_name, parse_public_key, to_checksum_address,
};
use wisp_crypto::{PublicKey, SecretKey, Zeroizing};

use crate::{data_dir::DataDir, error::io_reason, print_line};

/// The keystore directory's name inside the data directory.
const KEYSTORE_DIR: &str = "keystore";
/// Mode of a keystore file: readable and writable by its owner only.
const KEYSTORE_FILE_MODE: u32 = 0o600;
/// Mode of the keystore directory.
const KEYSTORE_DIR_MODE: u32 = 0o700;

/// Shown after `wisp account --help`.
const ACCOUNT_EXAMPLES: &str = "\
Where things go:
  Keystore files (the chat key, encrypted with your password) are written to
  <data-dir>/keystore/UTC--<time>--<address>, in go-ethereum's keystore v3 format.
  Passwords and mnemonics are never taken as arguments: they come from a file
  (--password-file, --mnemonic-file), a prompt on the terminal (no echo), or, when
  standard input is not a terminal, from its lines (mnemonic first, then password).

Examples:
  Create an identity (prints the 12 words once: write them down) and show it:
    wisp account new
    wisp account show
  Restore an identity from its words, password from a file:
    wisp account import --password-file ~/.wisp-password
  Show who a key belongs to (no keystore or password needed):
    wisp account show zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB
  Save a contact's identicon:
    wisp account identicon zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB --out contact.png";

/// `wisp account ...`
#[derive(Debug, Subcommand)]
#[command(after_help = ACCOUNT_EXAMPLES)]
pub(crate) enum AccountCommand {
    /// Create a chat identity: a new mnemonic (shown once) and an encrypted keystore file
    New(NewArgs),
    /// Restore a chat identity from its BIP39 mnemonic into an encrypted keystore file
    Import(ImportArgs),
    /// Print a chat key's public key, zQ3 text, 3-word alias and address
    Show(ShowArgs),
    /// Write the identicon of a chat key as a PNG (or print it as a data URI)
    Identicon(IdenticonArgs),
}

/// How the keystore is encrypted and where the password comes from.
#[derive(Debug, Args)]
pub(crate) struct EncryptArgs {
    /// Read the keystore password from the first line of FILE [default: prompt twice on the terminal, or read a line from stdin]
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,

    /// Use status-go's light scrypt (N=4096, p=6; fast, weaker) instead of go-ethereum's standard (N=262144, about 1 s and 256 MiB)
    #[arg(long)]
    pub(crate) light_kdf: bool,
}

/// `wisp account new`
#[derive(Debug, Args)]
pub(crate) struct NewArgs {
    /// Number of mnemonic words: 12, 15, 18, 21 or 24
    #[arg(long, value_name = "N", default_value_t = 12, value_parser = parse_word_count)]
    pub(crate) words: usize,

    /// Password source and key derivation.
    #[command(flatten)]
    pub(crate) encrypt: EncryptArgs,
}

/// `wisp account import`
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// Read the mnemonic (12 to 24 English BIP39 words) from FILE [default: prompt on the terminal without echo, or read a line from stdin]
    #[arg(long, value_name = "FILE")]
    pub(crate) mnemonic_file: Option<PathBuf>,

    /// Password source and key derivation.
    #[command(flatten)]
    pub(crate) encrypt: EncryptArgs,
}

/// `wisp account show`
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// A chat public key to describe instead of your own: zQ3sh… text, or hex (0x04…, 0x02/03…)
    #[arg(value_name = "KEY", conflicts_with_all = ["keystore", "password_file"])]
    pub(crate) key: Option<String>,

    /// Keystore file to open [default: the only file in <data-dir>/keystore]
    #[arg(long, value_name = "FILE")]
    pub(crate) keystore: Option<PathBuf>,

    /// Read the keystore password from the first line of FILE [default: prompt on the terminal, or read a line from stdin]
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
}

/// `wisp account identicon`
#[derive(Debug, Args)]
pub(crate) struct IdenticonArgs {
    /// The chat public key: zQ3sh… text, or hex (0x04…, 0x02/03…)
    #[arg(value_name = "KEY")]
    pub(crate) key: String,

    /// PNG file to write (50×50 RGBA) [default: print a data:image/png;base64 URI on stdout]
    #[arg(long, value_name = "FILE.png")]
    pub(crate) out: Option<PathBuf>,
}

/// Why an account command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountError {
    /// A mnemonic, key text or other input is invalid.
    #[error("{0}")]
    Input(#[from] AccountsError),
    /// A KEY argument is not a chat public key.
    #[error("invalid chat key {text:?}: {source} (expected zQ3sh… text, or hex such as 0x04…)")]
    Key {
        /// The argument (public, so repeated).
        text: String,
        /// Why it does not parse.
        source: AccountsError,
    },
    /// The mnemonic does not parse.
    #[error("invalid mnemonic: {0}")]
    Mnemonic(AccountsError),
    /// The password does not open the keystore.
    #[error("wrong password for keystore {}", .0.display())]
    WrongPassword(PathBuf),
    /// A keystore file is malformed or cannot be opened.
    #[error("keystore {}: {source}", path.display())]
    Keystore {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: AccountsError,
    },
    /// The key could not be encrypted.
    #[error("cannot encrypt the key: {0}")]
    Encrypt(AccountsError),
    /// A file could not be read.
    #[error("cannot read {what} {}: {}", path.display(), io_reason(source))]
    Read {
        /// What the file holds.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A file could not be written.
    #[error("cannot write {}: {}", path.display(), io_reason(source))]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// A keystore file for this address exists already.
    #[error("an account with address {address} already exists: {}", path.display())]
    Exists {
        /// The address.
        address: String,
        /// Its keystore file.
        path: PathBuf,
    },
    /// `show` found no keystore file.
    #[error(
        "no account in {}; create one with `wisp account new` or `wisp account import`, or pass --keystore FILE",
        .0.display()
    )]
    NoAccount(PathBuf),
    /// `show` found several keystore files.
    #[error("{} accounts in {}; pass --keystore FILE with one of: {}", files.len(), dir.display(), list(files))]
    SeveralAccounts {
        /// The keystore directory.
        dir: PathBuf,
        /// The files in it.
        files: Vec<PathBuf>,
    },
    /// The two passwords typed differ.
    #[error("the passwords do not match")]
    PasswordMismatch,
    /// An empty password for a new keystore.
    #[error("the password is empty; a keystore needs one")]
    EmptyPassword,
    /// Standard input ended before a line was read.
    #[error("no {0} on standard input (pass --{0}-file FILE, or run in a terminal to be prompted)")]
    NoInput(&'static str),
    /// The terminal or standard input could not be read.
    #[error("cannot read the {what}: {}", io_reason(source))]
    Prompt {
        /// What was being read.
        what: &'static str,
        /// What went wrong.
        source: io::Error,
    },
}

/// How `wisp node --account ID` names an account, resolved against the keystore files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AccountId {
    /// A chat public key (`0x04…`, `0x02/03…` or `zQ3sh…`): its address names the file.
    Key(PublicKey),
    /// An address (`0x` and 40 hex digits).
    Address([u8; 20]),
    /// A 3-word alias: only the decrypted key tells, so each keystore the password opens is
    /// checked.
    Alias(String),
}

impl AccountId {
    /// Reads an ID as `wisp account` prints it: public key, compressed key, address or alias.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the account is empty; expected a chat key (0x04…, zQ3sh…), an \
                        address (0x + 40 hex digits) or a 3-word alias"
                .into());
        }
        if let Ok(key) = parse_public_key(text) {
            return Ok(Self::Key(key));
        }
        let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
        if digits.len() == 40 && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return wisp_accounts::parse_address(text)
                .map(Self::Address)
                .map_err(|e| format!("{text:?} is not a valid address: {e}"));
        }
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.len() == 3 && words.iter().all(|w| w.chars().all(char::is_alphabetic)) {
            return Ok(Self::Alias(words.join(" ")));
        }
        Err(format!(
            "{text:?} is not an account; expected a chat key (0x04…, zQ3sh…), an address \
             (0x + 40 hex digits) or a 3-word alias, as `wisp account show` prints them"
        ))
    }

    /// Does `identity` match?
    fn matches(&self, identity: &ChatIdentity) -> bool {
        match self {
            Self::Key(key) => *key == identity.public_key,
            Self::Address(address) => *address == identity.address,
            Self::Alias(alias) => alias.eq_ignore_ascii_case(&identity.alias),
        }
    }

    /// The address, when the ID gives it without decrypting anything.
    fn address(&self) -> Option<[u8; 20]> {
        match self {
            Self::Key(key) => Some(key.address()),
            Self::Address(address) => Some(*address),
            Self::Alias(_) => None,
        }
    }
}

impl std::fmt::Display for AccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Key(key) => f.write_str(&wisp_accounts::compress_public_key(key)),
            Self::Address(address) => f.write_str(&to_checksum_address(address)),
            Self::Alias(alias) => write!(f, "{alias:?}"),
        }
    }
}

/// Why `wisp node --account` could not unlock the account.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UnlockError {
    /// No keystore file holds the account.
    #[error(
        "no account {id} in {}{}; create or import it with `wisp account new` / `wisp account import` (same --data-dir)",
        dir.display(),
        known_list(known)
    )]
    Unknown {
        /// The account asked for.
        id: String,
        /// The keystore directory.
        dir: PathBuf,
        /// The addresses of the files there.
        known: Vec<String>,
    },
    /// The password does not open the account's keystore.
    #[error("wrong password for account {id} (keystore {})", path.display())]
    WrongPassword {
        /// The account.
        id: String,
        /// Its keystore file.
        path: PathBuf,
    },
    /// The password was not readable, or a keystore file is broken.
    #[error("{0}")]
    Account(#[from] AccountError),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (it holds no keystore file)".into()
    } else {
        format!(" (it holds: {})", known.join(", "))
    }
}

/// Opens the keystore of `id` in `<data_dir>/keystore` with the password from
/// `password_file` (else a no-echo prompt, or a line of stdin) and returns the chat key.
pub(crate) fn unlock(
    data_dir: &Path,
    id: &AccountId,
    password_file: Option<&Path>,
) -> Result<SecretKey, UnlockError> {
    let dir = data_dir.join(KEYSTORE_DIR);
    let files = keystore_files(&dir)?;
    let mut candidates = Vec::new();
    let mut known = Vec::new();
    for path in files {
        let Ok(keystore) = read_keystore(&path) else {
            tracing::warn!(path = %path.display(), "not a keystore file; skipped");
            continue;
        };
        if let Some(address) = keystore.address() {
            known.push(to_checksum_address(&address));
        }
        let wanted = match (id.address(), keystore.address()) {
            (Some(want), Some(have)) => want == have,
            // An alias, or a keystore without its address: decrypting tells.
            _ => true,
        };
        if wanted {
            candidates.push((path, keystore));
        }
    }
    let unknown = |known| UnlockError::Unknown { id: id.to_string(), dir: dir.clone(), known };
    if candidates.is_empty() {
        return Err(unknown(known));
    }
    let prompt = format!("password of account {id}: ");
    let password = Input::new().password(password_file, &prompt)?;
    let mut wrong = None;
    for (path, keystore) in &candidates {
        match keystore.decrypt(password.as_bytes()) {
            Ok(key) if id.matches(&ChatIdentity::of(&key.public_key())) => return Ok(key),
            Ok(_) => {}
            Err(AccountsError::WrongPassword) => wrong = Some(path.clone()),
            Err(source) => {
                return Err(AccountError::Keystore { path: path.clone(), source }.into());
            }
        }
    }
    match (id, wrong) {
        // The key's file opened nothing: the password is wrong.
        (AccountId::Key(_) | AccountId::Address(_), Some(path)) => {
            Err(UnlockError::WrongPassword { id: id.to_string(), path })
        }
        // An alias in a file the password does not open, or in no file at all.
        (AccountId::Alias(_), Some(path)) if candidates.len() == 1 => {
            Err(UnlockError::WrongPassword { id: id.to_string(), path })
        }
        _ => Err(unknown(known)),
    }
}

/// Parses a KEY argument.
fn parse_key(text: &str) -> Result<PublicKey, AccountError> {
    parse_public_key(text).map_err(|source| {
        let mut text = text.trim().to_owned();
        if text.chars().count() > 140 {
            text = text.chars().take(140).chain(std::iter::once('…')).collect();
        }
        AccountError::Key { text, source }
    })
}

fn list(files: &[PathBuf]) -> String {
    files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// Runs a `wisp account` command.
pub(crate) fn run(command: AccountCommand, data_dir: &DataDir) -> Result<(), crate::error::Error> {
    match command {
        AccountCommand::New(args) => new(&args, data_dir),
        AccountCommand::Import(args) => import(&args, data_dir),
        AccountCommand::Show(args) => show(&args, data_dir),
        AccountCommand::Identicon(args) => identicon(&args),
    }
}

/// `wisp chat`'s first start: `wisp account new` (`create`) or `import`, the password from
/// `password_file` or prompted.
#[cfg(feature = "tui")]
pub(crate) fn create_or_import(
    create: bool,
    data_dir: &DataDir,
    password_file: Option<&Path>,
) -> Result<(), crate::error::Error> {
    let encrypt =
        EncryptArgs { password_file: password_file.map(Path::to_path_buf), light_kdf: false };
    if create {
        new(&NewArgs { words: 12, encrypt }, data_dir)
    } else {
        import(&ImportArgs { mnemonic_file: None, encrypt }, data_dir)
    }
}

/// `wisp account new`: a fresh mnemonic, its chat key in a keystore, the mnemonic printed once.
fn new(args: &NewArgs, data_dir: &DataDir) -> Result<(), crate::error::Error> {
    let dir = keystore_dir(data_dir)?;
    let mut input = Input::new();
    let password = input.new_password(args.encrypt.password_file.as_deref())?;
    let mnemonic = Mnemonic::generate(args.words).map_err(AccountError::Input)?;
    let (path, identity, wallet) = store(&mnemonic, &password, &args.encrypt, &dir)?;
    print_line(&format!(
        "mnemonic (shown only this once; write the {} words down and keep them secret, they are the only way to restore this identity):",
        mnemonic.word_count()
    ))?;
    print_line(&format!("  {}", mnemonic.phrase()))?;
    print_identity(&identity)?;
    print_line(&format!("wallet address: {wallet}"))?;
    print_line(&format!("keystore:       {}", path.display()))
}

/// `wisp account import`: the chat key of an existing mnemonic into a keystore.
fn import(args: &ImportArgs, data_dir: &DataDir) -> Result<(), crate::error::Error> {
    let dir = keystore_dir(data_dir)?;
    let mut input = Input::new();
    let phrase = input.mnemonic(args.mnemonic_file.as_deref())?;
    let mnemonic = Mnemonic::parse(&phrase).map_err(AccountError::Mnemonic)?;
    drop(phrase);
    let password = input.new_password(args.encrypt.password_file.as_deref())?;
    let (path, identity, wallet) = store(&mnemonic, &password, &args.encrypt, &dir)?;
    print_identity(&identity)?;
    print_line(&format!("wallet address: {wallet}"))?;
    print_line(&format!("keystore:       {}", path.display()))?;
    eprintln!(
        "a node run from this data directory is its own installation (device) of the account; \
         to pair it with another one, see `wisp chat devices --help`"
    );
    Ok(())
}

/// `wisp account show`: the identity of KEY, or of the keystore's chat key.
fn show(args: &ShowArgs, data_dir: &DataDir) -> Result<(), crate::error::Error> {
    if let Some(text) = &args.key {
        let key = parse_key(text)?;
        return print_identity(&ChatIdentity::of(&key));
    }
    let path = match &args.keystore {
        Some(path) => path.clone(),
        None => only_keystore(&keystore_dir(data_dir)?)?,
    };
    let keystore = read_keystore(&path)?;
    let password = Input::new().password(args.password_file.as_deref(), "keystore password: ")?;
    let key = keystore.decrypt(password.as_bytes()).map_err(|e| match e {
        AccountsError::WrongPassword => AccountError::WrongPassword(path.clone()),
        source => AccountError::Keystore { path: path.clone(), source },
    })?;
    print_identity(&ChatIdentity::of(&key.public_key()))
}

/// `wisp account identicon`: the PNG of KEY's identicon, to a file or as a data URI.
fn identicon(args: &IdenticonArgs) -> Result<(), crate::error::Error> {
    let key = parse_key(&args.key)?;
    let icon = Identicon::for_public_key(&key);
    let Some(out) = &args.out else {
        return print_line(&icon.to_data_uri());
    };
    fs::write(out, icon.to_png())
        .map_err(|source| AccountError::Write { path: out.clone(), source })?;
    eprintln!("wrote the identicon of {} to {}", wisp_accounts::alias(&key), out.display());
    Ok(())
}

/// Derives the chat key, encrypts it and writes the keystore file; returns the file, the
/// identity and the first wallet address.
fn store(
    mnemonic: &Mnemonic,
    password: &str,
    encrypt: &EncryptArgs,
    dir: &Path,
) -> Result<(PathBuf, ChatIdentity, String), AccountError> {
    let account = Account::from_mnemonic(mnemonic, "")?;
    let chat_key = account.chat_key()?;
    let wallet = account.key_at(&DerivationPath::wallet(0)?)?.public_key().address();
    let identity = ChatIdentity::of(&chat_key.public_key());
    if let Some(existing) = find_address(dir, &identity.address) {
        return Err(AccountError::Exists { address: identity.checksum_address(), path: existing });
    }
    let kdf =
        Kdf::Scrypt(if encrypt.light_kdf { ScryptParams::LIGHT } else { ScryptParams::STANDARD });
    let path = write_keystore(dir, &chat_key, password, kdf)?;
    tracing::info!(path = %path.display(), alias = %identity.alias, "wrote keystore");
    Ok((path, identity, to_checksum_address(&wallet)))
}

fn print_identity(identity: &ChatIdentity) -> Result<(), crate::error::Error> {
    print_line(&format!("public key:     {}", identity.public_key_hex()))?;
    print_line(&format!("compressed key: {}", identity.compressed_key))?;
    print_line(&format!("alias:          {}", identity.alias))?;
    print_line(&format!("address:        {}", identity.checksum_address()))
}

fn keystore_dir(data_dir: &DataDir) -> Result<PathBuf, crate::error::Error> {
    Ok(data_dir.path()?.join(KEYSTORE_DIR))
}

/// The keystore files (not hidden, regular) in `dir`, sorted; none if `dir` does not exist.
fn keystore_files(dir: &Path) -> Result<Vec<PathBuf>, AccountError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(AccountError::Read {
                what: "keystore directory",
                path: dir.into(),
                source,
            });
        }
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok())
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_file()))
        .map(|entry| entry.path())
        .collect();
    files.sort();
    Ok(files)
}

fn only_keystore(dir: &Path) -> Result<PathBuf, AccountError> {
    let mut files = keystore_files(dir)?;
    match files.len() {
        0 => Err(AccountError::NoAccount(dir.into())),
        1 => Ok(files.remove(0)),
        _ => Err(AccountError::SeveralAccounts { dir: dir.into(), files }),
    }
}

/// A keystore file in `dir` for `address` (go-ethereum names end in `--<hex address>`).
fn find_address(dir: &Path, address: &[u8; 20]) -> Option<PathBuf> {
    let suffix = format!("--{}", hex::encode(address));
    keystore_files(dir)
        .ok()?
        .into_iter()
        .find(|path| path.file_name().is_some_and(|name| name.to_string_lossy().ends_with(&suffix)))
}

fn read_keystore(path: &Path) -> Result<Keystore, AccountError> {
    let json = fs::read(path).map_err(|source| AccountError::Read {
        what: "keystore",
        path: path.into(),
        source,
    })?;
    Keystore::from_json(&json)
        .map_err(|source| AccountError::Keystore { path: path.into(), source })
}

/// Encrypts `key` and writes a new 0600 file in `dir` (created 0700 if needed).
pub(crate) fn write_keystore(
    dir: &Path,
    key: &SecretKey,
    password: &str,
    kdf: Kdf,
) -> Result<PathBuf, AccountError> {
    DirBuilder::new()
        .recursive(true)
        .mode(KEYSTORE_DIR_MODE)
        .create(dir)
        .map_err(|source| AccountError::Write { path: dir.into(), source })?;
    let keystore =
        Keystore::encrypt(key, password.as_bytes(), kdf).map_err(AccountError::Encrypt)?;
    let path = dir.join(keystore_file_name(&key.public_key().address(), SystemTime::now()));
    let write = |path: &Path| -> io::Result<()> {
        let mut file =
            OpenOptions::new().write(true).create_new(true).mode(KEYSTORE_FILE_MODE).open(path)?;
        file.write_all(keystore.to_json().as_bytes())?;
        file.sync_all()
    };
    write(&path).map_err(|source| {
        let _ = fs::remove_file(&path);
        AccountError::Write { path: path.clone(), source }
    })?;
    Ok(path)
}

/// Where secrets are read from: files, the terminal (no echo), or standard input's lines.
struct Input {
    stdin_is_terminal: bool,
}

impl Input {
    fn new() -> Self {
        Self { stdin_is_terminal: io::stdin().is_terminal() }
    }

    /// A password for a new keystore: from the file, or typed twice; never empty.
    fn new_password(&mut self, file: Option<&Path>) -> Result<Zeroizing<String>, AccountError> {
        let password = self.password(file, "new keystore password: ")?;
        if file.is_none() && self.stdin_is_terminal {
            let again = self.password(None, "repeat the password: ")?;
            if *again != *password {
                return Err(AccountError::PasswordMismatch);
            }
        }
        if password.is_empty() {
            return Err(AccountError::EmptyPassword);
        }
        Ok(password)
    }

    /// A password: the first line of `file`, or a prompt on the terminal, or a line of stdin.
    fn password(
        &mut self,
        file: Option<&Path>,
        prompt: &str,
    ) -> Result<Zeroizing<String>, AccountError> {
        if let Some(path) = file {
            let text = read_secret_file(path, "password file")?;
            let first = text.lines().next().unwrap_or_default();
            return Ok(Zeroizing::new(first.to_owned()));
        }
        self.secret_line("password", prompt)
    }

    /// A mnemonic: all of `file` (words may span lines), or a prompt, or a line of stdin.
    fn mnemonic(&mut self, file: Option<&Path>) -> Result<Zeroizing<String>, AccountError> {
        match file {
            Some(path) => read_secret_file(path, "mnemonic file"),
            None => self.secret_line("mnemonic", "mnemonic (12 to 24 words, not echoed): "),
        }
    }

    fn secret_line(
        &mut self,
        what: &'static str,
        prompt: &str,
    ) -> Result<Zeroizing<String>, AccountError> {
        if self.stdin_is_terminal {
            return rpassword::prompt_password(prompt)
                .map(Zeroizing::new)
                .map_err(|source| AccountError::Prompt { what, source });
        }
        let mut line = Zeroizing::new(String::new());
        let read = io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|source| AccountError::Prompt { what, source })?;
        if read == 0 {
            return Err(AccountError::NoInput(what));
        }
        let trimmed = line.trim_end_matches(['\n', '\r']).len();
        line.truncate(trimmed);
        Ok(line)
    }
}

fn read_secret_file(path: &Path, what: &'static str) -> Result<Zeroizing<String>, AccountError> {
    let bytes = Zeroizing::new(fs::read(path).map_err(|source| AccountError::Read {
        what,
        path: path.into(),
        source,
    })?);
    let text = std::str::from_utf8(&bytes).map_err(|_| AccountError::Read {
        what,
        path: path.into(),
        source: io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"),
    })?;
    Ok(Zeroizing::new(text.to_owned()))
}

fn parse_word_count(s: &str) -> Result<usize, String> {
    let n: usize = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if WORD_COUNTS.contains(&n) {
        Ok(n)
    } else {
        Err("a mnemonic has 12, 15, 18, 21 or 24 words".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_counts() {
        assert_eq!(parse_word_count("24"), Ok(24));
        assert!(parse_word_count("13").is_err());
        assert!(parse_word_count("x").is_err());
    }

    #[test]
    fn errors_say_what_to_do() {
        let none = AccountError::NoAccount("/d/keystore".into()).to_string();
        assert!(none.contains("wisp account new"), "{none}");
        let input = AccountError::NoInput("password").to_string();
        assert!(input.contains("--password-file"), "{input}");
    }
}
