//! Open string enums: known values plus a hidden variant that keeps any other string.
//!
//! The macro is mdm-proto's, shared by every crate of the workspace, so an unknown status
//! behaves the same whether it came in a plist or in JSON.

pub(crate) use mdm_proto::open_enum;
pub use mdm_proto::string_enum::PrivOwnedStr;
