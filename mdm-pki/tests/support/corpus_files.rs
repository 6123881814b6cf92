//! The corpus files of ../shared (through mdm-test-support): tests that use this module need
//! the workspace and are not packaged.
#![allow(dead_code)]
#![allow(clippy::expect_used)]

use std::path::PathBuf;

/// `shared/`, found by mdm-test-support (call [`have_corpus`] first).
pub fn shared_dir() -> PathBuf {
    mdm_test_support::shared::locate().expect("../shared")
}

/// True when `shared/corpus` is there; otherwise a visible skip.
pub fn have_corpus() -> bool {
    mdm_test_support::shared::dir().is_some()
}

pub fn corpus(name: &str) -> Vec<u8> {
    std::fs::read(shared_dir().join("corpus").join(name)).expect("corpus file")
}
