//! Re-export of [`mdm_pki::cms`], the workspace's CMS module (it moved there).

pub use mdm_pki::cms::*;
