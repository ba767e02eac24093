//! Where the vector files these tests read live: `testdata/` at the repository root (copied
//! from the team's `shared/`, with provenance in `testdata/README.md`). Each test target that
//! reads a vector file declares `mod testdata;`.

use std::path::PathBuf;

use serde_json::Value;

/// The JSON file `testdata/<relative>`.
pub(crate) fn json(relative: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata").join(relative);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}
