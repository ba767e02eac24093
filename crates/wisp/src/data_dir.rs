//! Where wisp keeps its files: `--data-dir`, `$WISP_DATA_DIR`, `$XDG_DATA_HOME/wisp` or
//! `~/.local/share/wisp` (ARCHITECTURE.md, "Where data lives").

use std::{
    env,
    path::{Path, PathBuf},
};

use wisp_node::node_key::NODE_KEY_FILE;

use crate::error::Error;

/// The data directory, resolved only when a command needs it (so `keys new --out` works without
/// `$HOME`).
#[derive(Debug, Clone)]
pub(crate) struct DataDir {
    explicit: Option<PathBuf>,
}

impl DataDir {
    /// The directory given by `--data-dir` / `$WISP_DATA_DIR`, if any.
    pub(crate) fn new(explicit: Option<PathBuf>) -> Self {
        Self { explicit }
    }

    /// The directory given by `--data-dir` / `$WISP_DATA_DIR`, without the default.
    pub(crate) fn explicit(&self) -> Option<&Path> {
        self.explicit.as_deref()
    }

    /// The directory itself.
    pub(crate) fn path(&self) -> Result<PathBuf, Error> {
        if let Some(dir) = &self.explicit {
            return Ok(dir.clone());
        }
        // The node's rule (`wisp_node::default_data_dir` without its `.` fallback: a command
        // that needs the directory says so rather than writing under the working directory).
        wisp_node::xdg_data_dir(env::var_os("XDG_DATA_HOME"), env::var_os("HOME"))
            .ok_or(Error::NoDataDir)
    }

    /// `<data-dir>/node.key`.
    pub(crate) fn node_key(&self) -> Result<PathBuf, Error> {
        Ok(self.path()?.join(NODE_KEY_FILE))
    }
}
