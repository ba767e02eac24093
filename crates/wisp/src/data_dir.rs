//! Where wisp keeps its files: `--data-dir`, `$WISP_DATA_DIR`, `$XDG_DATA_HOME/wisp` or
//! `~/.local/share/wisp` (ARCHITECTURE.md, "Where data lives").

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
};

use crate::error::Error;

/// The node key's file name inside the data directory.
pub(crate) const NODE_KEY_FILE: &str = "node.key";

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
        default_dir(env::var_os("XDG_DATA_HOME"), env::var_os("HOME")).ok_or(Error::NoDataDir)
    }

    /// `<data-dir>/node.key`.
    pub(crate) fn node_key(&self) -> Result<PathBuf, Error> {
        Ok(self.path()?.join(NODE_KEY_FILE))
    }
}

/// The XDG base-directory rule: `$XDG_DATA_HOME` if set to an absolute path, else
/// `$HOME/.local/share`.
fn default_dir(xdg_data_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    let xdg = xdg_data_home.map(PathBuf::from).filter(|p| p.is_absolute());
    let base = match xdg {
        Some(base) => base,
        None => {
            let home = home.filter(|h| !h.is_empty())?;
            Path::new(&home).join(".local").join("share")
        }
    };
    Some(base.join("wisp"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_xdg_rule() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(default_dir(os("/x/data"), os("/home/a")), Some("/x/data/wisp".into()));
        assert_eq!(
            default_dir(os("relative"), os("/home/a")),
            Some("/home/a/.local/share/wisp".into())
        );
        assert_eq!(default_dir(os(""), os("/home/a")), Some("/home/a/.local/share/wisp".into()));
        assert_eq!(default_dir(None, os("/home/a")), Some("/home/a/.local/share/wisp".into()));
        assert_eq!(default_dir(None, None), None);
        assert_eq!(default_dir(None, os("")), None);
    }
}
