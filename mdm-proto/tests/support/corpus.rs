//! Finds ../shared/corpus and lists its plist files.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

/// The `shared` directory beside the checkout, or `None` after a visible skip.
pub fn shared_dir() -> Option<PathBuf> {
    mdm_test_support::shared::dir()
}

/// Every file of a corpus category, sorted, or `None` after a visible skip.
pub fn files(category: &str) -> Option<Vec<PathBuf>> {
    let dir = mdm_test_support::shared::corpus(category)?;
    Some(mdm_test_support::shared::files_in(&dir))
}

/// The file name of a path.
pub fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Files MANIFEST.md documents as broken by sanitizing (invalid base64 in `<data>`).
pub const BROKEN: [&str; 2] = [
    "commandment_TokenUpdate_iOS-11.3.1.xml",
    "commandment_CertificateList_iOS-11.3.1.xml",
];

/// Read by Python's plistlib but refused by the plist crate's strict base64 today:
/// `<data>AAAA=</data>` (a surplus `=` after a complete quantum). See the tests that
/// mention it; they accept either outcome until the front door is lenient there.
pub const LENIENT_BASE64: [&str; 1] = ["micromdm-v0_macos10.11_token_update_user.plist"];

/// Every plist body in the corpus categories that hold plists: (name, bytes).
pub fn plists() -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for category in ["checkin", "command-results", "commands", "profiles", "dep"] {
        for path in files(category)? {
            let bytes = std::fs::read(&path).unwrap();
            let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
            let first = text.iter().find(|b| !b.is_ascii_whitespace());
            if bytes.starts_with(b"bplist") || first == Some(&b'<') {
                out.push((format!("{category}/{}", name(&path)), bytes));
            }
        }
    }
    Some(out)
}
