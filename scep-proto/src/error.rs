//! The crate's error type: `mdm-pki`'s one error, re-exported (SCEP adds no kind of failure
//! of its own beyond those, and sharing it keeps `?` working across the two crates).

/// Re-export of [`mdm_pki::Error`] and [`mdm_pki::Result`].
pub use mdm_pki::{Error, Result};
