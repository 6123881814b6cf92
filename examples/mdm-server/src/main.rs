//! The `mdm-server` binary.
fn main() {}
