//! The front door for untrusted plist bodies.
//!
//! Every byte a device or a peer sends goes through [`parse_value`] or [`parse_dictionary`]
//! before anything else reads it. The size, the nesting depth and the number of objects are
//! checked *before* anything unbounded happens, because the plist parser recurses once per
//! nesting level (thousands of levels abort the process) and expands shared binary
//! references (a few hundred bytes can stand for billions of objects). XML bodies are read
//! in one pass that checks the limits as it goes (`xml_reader`); the few it does not read
//! itself go through the pre-scan and the plist crate's reader, as before.
//!
//! XML and binary (`bplist00`) bodies are accepted; the OpenStep text format is not.

use crate::error::{Error, Result};
use crate::{binary_check, xml_check, xml_reader};
use plist::{Dictionary, Value};

/// Limits applied to an untrusted body before it is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of dictionaries and arrays accepted (XML: element nesting).
    pub max_depth: usize,
    /// Most objects the decoded value may hold, counting every shared binary reference
    /// as many times as it is reached.
    pub max_objects: usize,
}

impl Limits {
    /// Limits for MDM check-ins and command reports: 10 MiB, 64 levels, 1,000,000 objects.
    ///
    /// Large enough for the biggest real reports (an InstalledApplicationList of a Mac with
    /// thousands of apps), small enough that decoding stays well under a second.
    pub const MDM: Limits = Limits {
        max_bytes: 10 * 1024 * 1024,
        max_depth: 64,
        max_objects: 1_000_000,
    };

    /// The default limits ([`Limits::MDM`]) with a different size limit.
    pub const fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// These limits with a different depth limit.
    pub const fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// These limits with a different object limit.
    pub const fn with_max_objects(mut self, max_objects: usize) -> Self {
        self.max_objects = max_objects;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::MDM
    }
}

/// The two encodings of a property list this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// `<?xml ...?><plist>...</plist>`
    Xml,
    /// `bplist00...`
    Binary,
}

/// Says which plist encoding a body uses, without decoding it.
pub fn sniff_format(bytes: &[u8]) -> Result<Format> {
    if bytes.starts_with(b"bplist") {
        return Ok(Format::Binary);
    }
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match text.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Ok(Format::Xml),
        Some(_) => Err(Error::NotAPlist {
            reason: "it starts with neither `<` (XML) nor `bplist` (binary)",
        }),
        None => Err(Error::NotAPlist {
            reason: "it is empty",
        }),
    }
}

/// Checks an untrusted body against `limits` and decodes it into a [`Value`].
pub fn parse_value(bytes: &[u8], limits: &Limits) -> Result<Value> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    match sniff_format(bytes)? {
        Format::Binary => {
            binary_check::check(bytes, limits)?;
            Value::from_reader(std::io::Cursor::new(bytes)).map_err(Error::Plist)
        }
        Format::Xml => match xml_reader::read(bytes, limits) {
            xml_reader::Read::Value(value) => Ok(value),
            xml_reader::Read::Limit(err) => Err(err),
            xml_reader::Read::Fallback => parse_xml_reference(bytes, limits),
        },
    }
}

/// The reference path for XML bodies: the pre-scan for the limits, then the plist crate's
/// reader (and its errors, in words). The one-pass reader hands every body it does not read
/// itself to this path, so both always agree.
pub(crate) fn parse_xml_reference(bytes: &[u8], limits: &Limits) -> Result<Value> {
    xml_check::check(bytes, limits)?;
    match Value::from_reader_xml(bytes) {
        Ok(value) => Ok(value),
        Err(strict) => match strip_excess_padding(bytes) {
            Some(repaired) => Value::from_reader_xml(repaired.as_slice())
                .map_err(|_| describe_xml_error(bytes, strict)),
            None => Err(describe_xml_error(bytes, strict)),
        },
    }
}

/// The plist crate's error for a bad XML value, in words: the key it belongs to, the value
/// and what is wrong with it, instead of the crate's internal names
/// (`InvalidDataString (offset 467)`). Other errors are kept as they are.
fn describe_xml_error(bytes: &[u8], err: plist::Error) -> Error {
    let text = err.to_string();
    let reason = match text.split_whitespace().next() {
        Some("InvalidDataString") => "not base64 data",
        Some("InvalidDateString") => "not an ISO 8601 date",
        Some("InvalidIntegerString") => "not an integer",
        Some("InvalidRealString") => "not a real number",
        Some("InvalidUidString") => "not a UID",
        _ => return Error::Plist(err),
    };
    let Some(offset) = text
        .split("offset ")
        .nth(1)
        .and_then(|t| t.trim_end_matches(')').trim().parse::<usize>().ok())
    else {
        return Error::Plist(err);
    };
    // The value: the text of the element the offset is in, or of the element just before
    // it (the parser may report the offset after the closing tag).
    let mut end = offset.min(bytes.len());
    let mut found = (end, end);
    for _ in 0..3 {
        let open = memchr::memrchr(b'>', &bytes[..end]).map_or(0, |i| i + 1);
        let close = memchr::memchr(b'<', &bytes[open..]).map_or(bytes.len(), |i| open + i);
        found = (open, close);
        if open < close && !bytes[open..close].iter().all(u8::is_ascii_whitespace) {
            break;
        }
        // Step back over the tag before `open`.
        match memchr::memrchr(b'<', &bytes[..open]) {
            Some(tag) if tag > 0 => end = tag,
            _ => break,
        }
    }
    let (open, value_end) = found;
    let value: String = String::from_utf8_lossy(&bytes[open..value_end])
        .trim()
        .chars()
        .take(64)
        .collect();
    let key = memchr::memmem::rfind(&bytes[..open], b"<key>")
        .and_then(|k| {
            let start = k + 5;
            let len = memchr::memmem::find(&bytes[start..open], b"</key>")?;
            Some(String::from_utf8_lossy(&bytes[start..start + len]).into_owned())
        })
        .unwrap_or_default();
    Error::InvalidXmlValue {
        key,
        value,
        reason,
        offset: open as u64,
    }
}

/// A copy of an XML body in which every `<data>` value made of whole 4-character base64
/// blocks followed by stray `=` has those `=` removed (`AAAA=` becomes `AAAA`), or `None`
/// when no value needs it. Real captures contain such values and Python's plistlib reads
/// them; padding is never added, so truly broken values (`Base64=`) still fail.
fn strip_excess_padding(bytes: &[u8]) -> Option<Vec<u8>> {
    const OPEN: &[u8] = b"<data>";
    const CLOSE: &[u8] = b"</data>";
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut rest = bytes;
    while let Some(start) = find(rest, OPEN) {
        let content_start = start + OPEN.len();
        let Some(len) = find(&rest[content_start..], CLOSE) else {
            break;
        };
        out.extend_from_slice(&rest[..content_start]);
        let content = &rest[content_start..content_start + len];
        let significant = content.iter().filter(|b| !b.is_ascii_whitespace()).count();
        let padding = content
            .iter()
            .rev()
            .filter(|b| !b.is_ascii_whitespace())
            .take_while(|b| **b == b'=')
            .count();
        let body = significant - padding;
        if padding > 0 && body > 0 && body % 4 == 0 {
            out.extend(content.iter().filter(|b| **b != b'='));
            changed = true;
        } else {
            out.extend_from_slice(content);
        }
        rest = &rest[content_start + len..];
    }
    out.extend_from_slice(rest);
    changed.then_some(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Checks an untrusted body against `limits` and decodes it into a top-level [`Dictionary`].
pub fn parse_dictionary(bytes: &[u8], limits: &Limits) -> Result<Dictionary> {
    match parse_value(bytes, limits)? {
        Value::Dictionary(dict) => Ok(dict),
        other => Err(Error::NotADictionary {
            found: crate::fields::kind_of(&other),
        }),
    }
}

/// Encodes a value as an XML plist (Apple's layout: tabs, `<?xml` header and DOCTYPE).
pub fn to_xml(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(1024);
    value.to_writer_xml(&mut out).map_err(Error::Plist)?;
    Ok(out)
}

/// Encodes a value as a binary plist.
pub fn to_binary(value: &Value) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    value.to_writer_binary(&mut out).map_err(Error::Plist)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stray_padding_after_whole_blocks_is_forgiven() {
        let body = b"<plist><dict><key>Token</key><data>AAAA=</data></dict></plist>";
        let dict = parse_dictionary(body, &Limits::MDM).unwrap();
        assert_eq!(dict.get("Token"), Some(&Value::Data(vec![0, 0, 0])));
    }

    #[test]
    fn broken_base64_still_fails() {
        let body = b"<plist><dict><key>Token</key><data>Base64=</data></dict></plist>";
        assert!(matches!(
            parse_dictionary(body, &Limits::MDM),
            Err(Error::InvalidXmlValue { ref key, ref value, .. })
                if key == "Token" && value == "Base64="
        ));
    }
}
