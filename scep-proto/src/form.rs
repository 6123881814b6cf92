//! Percent-decoding of SCEP query strings.

use crate::error::{Error, Result};

/// Decodes `%XX` escapes (and `+` stays `+`).
fn percent_decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::invalid("percent-encoding", format!("bad escape at byte {i}"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid("percent-encoding", "not UTF-8"))
}

/// Form decoding: `%XX` escapes and `+` as space.
pub(crate) fn percent_decode_form(s: &str) -> Result<String> {
    percent_decode(&s.replace('+', " "))
}
