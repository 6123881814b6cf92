//! `../shared`: Apple's schema trees and the corpus, beside the checkout.
//!
//! Found at `MDM_SHARED_DIR` if set, else as a folder named `shared` beside the workspace (or
//! beside any folder above it, so worktrees work). When it is missing, the lookups here
//! [`skip`](crate::skip) the calling test and return `None`.

use std::path::{Path, PathBuf};

/// The environment variable that overrides where `shared` is.
pub const SHARED_DIR_ENV: &str = "MDM_SHARED_DIR";

/// The skip group of every test that needs `../shared`.
pub const GROUP: &str = "../shared";

/// Where `shared` is, without skipping: `None` when it cannot be found.
pub fn locate() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(SHARED_DIR_ENV) {
        let dir = PathBuf::from(dir);
        return dir.join("corpus").is_dir().then_some(dir);
    }
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf();
    loop {
        for candidate in [dir.join("shared"), dir.join("../shared")] {
            if candidate.join("corpus").is_dir() {
                return Some(candidate);
            }
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// The `shared` folder, or `None` after a visible skip.
pub fn dir() -> Option<PathBuf> {
    let found = locate();
    if found.is_none() {
        crate::skip(
            GROUP,
            "Apple's schemas and the corpus are not beside the checkout (see README: Test data)",
        );
    }
    found
}

/// `shared/<relative>` (a file or folder), or `None` after a visible skip when `shared` or
/// that path is missing.
pub fn path(relative: &str) -> Option<PathBuf> {
    let path = dir()?.join(relative);
    if path.exists() {
        Some(path)
    } else {
        crate::skip(GROUP, &format!("{} is missing", path.display()));
        None
    }
}

/// `shared/corpus/<category>`, or `None` after a visible skip.
pub fn corpus(category: &str) -> Option<PathBuf> {
    path(&format!("corpus/{category}"))
}

/// The files (not folders) directly in `dir`, sorted by name; empty when it cannot be read.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}
