//! `wisp account` as a user runs it: the real binary, a scratch data directory, secrets from
//! files or standard input (never arguments). Every wait is bounded.

// The binary's dependencies are linked into this test crate too; it uses only some of them.
#![allow(unused_crate_dependencies)]

mod common;

use std::{
    fs,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use common::{Output, Scratch};
use serde_json::Value;

/// Longest wait for one `wisp account` command (standard scrypt takes about a second).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The all-zero-entropy BIP39 test mnemonic.
const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                       abandon abandon about";
/// Its first wallet address (m/44'/60'/0'/0/0), as every Ethereum wallet shows it.
const ABANDON_WALLET: &str = "0x9858EfFD232B4033E47d90003D41EC34EcaEda94";

impl Scratch {
    /// Writes `content` to a file in the scratch dir and returns its path.
    fn file(&self, name: &str, content: &str) -> PathBuf {
        self.write(name, content)
    }

    fn keystore_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(self.path("data").join("keystore"))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        files.sort();
        files
    }
}

impl Output {
    /// The value of a `label: value` line on stdout.
    fn field(&self, label: &str) -> &str {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{label}:")))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {label:?} line in:\n{}", self.stdout))
    }

    fn assert_ok(&self) {
        assert!(
            self.status.success(),
            "failed: {:?}\nstdout: {}\nstderr: {}",
            self.status,
            self.stdout,
            self.stderr
        );
    }

    fn assert_error(&self, code: i32, needle: &str) {
        assert_eq!(
            self.status.code(),
            Some(code),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        assert!(self.stderr.starts_with("error: "), "stderr: {}", self.stderr);
        assert!(self.stderr.contains(needle), "{needle:?} not in stderr: {}", self.stderr);
    }
}

/// Runs a command with `stdin` as its standard input (a pipe, so not a terminal), killing it
/// after [`COMMAND_TIMEOUT`].
fn run_with_stdin(cmd: &mut Command, stdin: &str) -> Output {
    common::run_with_stdin(cmd, Some(stdin), COMMAND_TIMEOUT)
}

/// Runs a command with an empty standard input.
fn run(cmd: &mut Command) -> Output {
    run_with_stdin(cmd, "")
}

/// `testdata/data/identity/vectors.json` at the repository root (copied from the team's
/// `shared/`, provenance in `testdata/README.md`): the only file these tests read.
fn identity_vectors() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/data/identity/vectors.json");
    let text =
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn help_lists_the_account_commands() {
    let out = run(Command::new(env!("CARGO_BIN_EXE_wisp")).args(["account", "--help"]));
    out.assert_ok();
    for word in ["new", "import", "show", "identicon", "--password-file", "keystore"] {
        assert!(out.stdout.contains(word), "{word:?} not in help:\n{}", out.stdout);
    }
    let top = run(Command::new(env!("CARGO_BIN_EXE_wisp")).arg("--help"));
    assert!(top.stdout.contains("account"), "{}", top.stdout);
}

/// `new` (standard scrypt, password file) prints the mnemonic once and writes a 0600 keystore;
/// `show` opens it; importing the printed words elsewhere gives the same identity.
#[test]
fn new_show_and_import_agree() {
    let s = Scratch::new("new");
    let password = s.file("pw", "correct horse battery staple\n");
    let created = run(s.wisp().args(["account", "new", "--password-file"]).arg(&password));
    created.assert_ok();
    let mnemonic_line = created.stdout.lines().nth(1).unwrap().trim().to_owned();
    assert_eq!(mnemonic_line.split(' ').count(), 12, "{}", created.stdout);
    assert!(created.stdout.starts_with("mnemonic (shown only this once"), "{}", created.stdout);
    assert!(created.field("compressed key").starts_with("zQ3sh"));
    assert_eq!(created.field("alias").split(' ').count(), 3);

    // One 0600 keystore named like go-ethereum's, with standard scrypt, for the chat key.
    let files = s.keystore_files();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].to_str().unwrap(), created.field("keystore"));
    let name = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    let address = created.field("address").to_owned();
    assert!(name.starts_with("UTC--") && name.ends_with(&address[2..].to_lowercase()), "{name}");
    assert_eq!(fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let json: Value = serde_json::from_slice(&fs::read(&files[0]).unwrap()).unwrap();
    assert_eq!(json["version"], 3);
    assert_eq!(json["crypto"]["kdf"], "scrypt");
    assert_eq!(json["crypto"]["kdfparams"]["n"], 262_144);
    let raw = fs::read_to_string(&files[0]).unwrap();
    assert!(!raw.contains(&mnemonic_line) && !raw.contains("correct horse"));
    // Secrets are not logged.
    assert!(!created.stderr.contains(&mnemonic_line), "{}", created.stderr);

    let shown = run(s.wisp().args(["account", "show", "--password-file"]).arg(&password));
    shown.assert_ok();
    for label in ["public key", "compressed key", "alias", "address"] {
        assert_eq!(shown.field(label), created.field(label), "{label}");
    }

    // The words restore the same chat key in another data directory (mnemonic from a file).
    let other = Scratch::new("new-import");
    let words = other.file("words", &format!("{mnemonic_line}\n"));
    let imported = run(other
        .wisp()
        .args(["account", "import", "--light-kdf", "--mnemonic-file"])
        .arg(&words)
        .arg("--password-file")
        .arg(&password));
    imported.assert_ok();
    assert!(!imported.stdout.contains(&mnemonic_line), "import must not print the words");
    for label in ["public key", "compressed key", "alias", "address", "wallet address"] {
        assert_eq!(imported.field(label), created.field(label), "{label}");
    }
}

/// Secrets from standard input when it is not a terminal: mnemonic line, then password line.
#[test]
fn secrets_from_stdin_and_wrong_password() {
    let s = Scratch::new("stdin");
    let imported = run_with_stdin(
        s.wisp().args(["account", "import", "--light-kdf", "--log-level", "trace"]),
        &format!("{ABANDON}\nsecret pw\n"),
    );
    imported.assert_ok();
    assert_eq!(imported.field("wallet address"), ABANDON_WALLET);
    assert!(!imported.stderr.contains("abandon") && !imported.stderr.contains("secret pw"));

    let shown = run_with_stdin(s.wisp().args(["account", "show"]), "secret pw\n");
    shown.assert_ok();
    assert_eq!(shown.field("public key"), imported.field("public key"));

    let wrong = run_with_stdin(s.wisp().args(["account", "show"]), "Secret pw\n");
    wrong.assert_error(1, "wrong password for keystore");
    assert!(wrong.stdout.is_empty());

    let nothing = run(s.wisp().args(["account", "show"]));
    nothing.assert_error(1, "no password on standard input");

    // The same mnemonic again: refused, the first keystore stays.
    let again = run_with_stdin(
        s.wisp().args(["account", "import", "--light-kdf"]),
        &format!("{ABANDON}\nother\n"),
    );
    again.assert_error(1, "already exists");
    assert_eq!(s.keystore_files().len(), 1);

    // A second account: `show` must be told which one.
    let second =
        run_with_stdin(s.wisp().args(["account", "new", "--light-kdf", "--words", "24"]), "pw2\n");
    second.assert_ok();
    assert_eq!(second.stdout.lines().nth(1).unwrap().split_whitespace().count(), 24);
    let which = run_with_stdin(s.wisp().args(["account", "show"]), "pw2\n");
    which.assert_error(1, "pass --keystore FILE");
    let chosen = run_with_stdin(
        s.wisp().args(["account", "show", "--keystore", second.field("keystore")]),
        "pw2\n",
    );
    chosen.assert_ok();
    assert_eq!(chosen.field("alias"), second.field("alias"));
}

#[test]
fn bad_input_is_reported() {
    let s = Scratch::new("bad");
    // A mistyped word: its position, never the word.
    let typo = ABANDON.replacen("abandon", "abandin", 1);
    let out = run_with_stdin(s.wisp().args(["account", "import"]), &format!("{typo}\npw\n"));
    out.assert_error(1, "word 1 of the mnemonic is not in the BIP39 English word list");
    assert!(!out.stderr.contains("abandin"));
    let swapped = ABANDON.replace("about", "abandon");
    let out = run_with_stdin(s.wisp().args(["account", "import"]), &format!("{swapped}\npw\n"));
    out.assert_error(1, "checksum");
    let out = run_with_stdin(s.wisp().args(["account", "import"]), &format!("{ABANDON}\n\n"));
    out.assert_error(1, "the password is empty");
    assert!(s.keystore_files().is_empty());

    run(s.wisp().args(["account", "show"])).assert_error(1, "no account in");
    run(s.wisp().args(["account", "identicon", "0x1234"]))
        .assert_error(1, "invalid chat key \"0x1234\"");
    let missing = s.path("missing");
    run(s.wisp().args(["account", "new", "--password-file"]).arg(&missing))
        .assert_error(1, "cannot read password file");

    // Usage errors exit 2.
    assert_eq!(run(s.wisp().args(["account", "new", "--words", "13"])).status.code(), Some(2));
    assert_eq!(
        run(s.wisp().args([
            "account",
            "show",
            "zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB",
            "--keystore",
            "x"
        ]))
        .status
        .code(),
        Some(2)
    );
}

/// `show KEY` and `identicon KEY` agree with every key vector of
/// `testdata/data/identity/vectors.json`; the PNG decodes to the vector's pixels.
#[test]
fn show_and_identicon_match_the_identity_vectors() {
    let s = Scratch::new("vectors");
    let vectors = identity_vectors();
    let mut checked = 0;
    for v in vectors["key_vectors"].as_array().unwrap() {
        let key = v["public_key"].as_str().unwrap();
        let compressed = v["compressed_key"].as_str().unwrap();
        for form in [key, compressed] {
            let out = run(s.wisp().args(["account", "show", form]));
            out.assert_ok();
            assert_eq!(out.field("public key"), key);
            assert_eq!(out.field("compressed key"), compressed);
            assert_eq!(out.field("alias"), v["alias"].as_str().unwrap());
        }
        let png = s.path("icon.png");
        let out = run(s.wisp().args(["account", "identicon", compressed, "--out"]).arg(&png));
        out.assert_ok();
        let image = wisp_accounts::png::decode_rgba(&fs::read(&png).unwrap()).unwrap();
        assert_eq!((image.width, image.height), (50, 50));
        assert_eq!(
            hex::encode(wisp_crypto::sha256(&image.pixels)),
            v["identicon"]["rgba_pixels_sha256"].as_str().unwrap(),
            "{key}"
        );
        checked += 1;
    }
    assert_eq!(checked, 24, "key vectors checked");
    // Without --out: the data URI on stdout.
    let out = run(s.wisp().args([
        "account",
        "identicon",
        "zQ3shPyZJnxZK4Bwyx9QsaksNKDYTPmpwPvGSjMYVHoXHeEgB",
    ]));
    out.assert_ok();
    assert!(out.stdout.starts_with("data:image/png;base64,"), "{}", out.stdout);
}
