//! Device message plists for tests, laid out as devices send them.

/// An XML plist whose top-level dictionary holds `inner` (already-written `<key>`/value
/// pairs), with the XML declaration and DOCTYPE devices send.
///
/// ```
/// let body = mdm_test_support::plist::dict("<key>MessageType</key><string>Authenticate</string>");
/// assert!(body.contains("<plist version=\"1.0\"><dict><key>MessageType</key>"));
/// ```
pub fn dict(inner: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>{inner}</dict></plist>"#
    )
}
