//! A linear pre-scan of an XML plist: element nesting depth and element count.
//!
//! It does not validate XML (the parser does that afterwards); it only makes sure that the
//! parser, which recurses once per nested element, is never handed more than the limits.
//! Depth counts `<dict>` and `<array>` (the only elements the parser recurses on);
//! the object count counts every element.

use crate::body::Limits;
use crate::error::{Error, Result};

/// Checks nesting depth and element count of an XML body.
pub(crate) fn check(bytes: &[u8], limits: &Limits) -> Result<()> {
    let mut depth: usize = 0;
    let mut elements: usize = 0;
    let mut i = 0;
    while let Some(rel) = memchr::memchr(b'<', &bytes[i..]) {
        let start = i + rel;
        let rest = &bytes[start..];
        if rest.starts_with(b"<!--") {
            i = skip_past(bytes, start + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_past(bytes, start + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_past(bytes, start + 2, b"?>");
        } else if rest.starts_with(b"<!") {
            i = skip_declaration(bytes, start + 2);
        } else if rest.starts_with(b"</") {
            if is_container(&rest[2..]) {
                depth = depth.saturating_sub(1);
            }
            i = skip_tag(bytes, start + 2).0;
        } else {
            let (end, self_closing) = skip_tag(bytes, start + 1);
            elements += 1;
            if elements > limits.max_objects {
                return Err(Error::TooManyObjects {
                    limit: limits.max_objects,
                });
            }
            if !self_closing && is_container(&rest[1..]) {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(Error::TooDeep {
                        limit: limits.max_depth,
                        location: format!("byte {start}"),
                    });
                }
            }
            i = end;
        }
        if i >= bytes.len() {
            break;
        }
    }
    Ok(())
}

/// True when a tag name (the bytes after `<` or `</`) is `dict` or `array`.
///
/// The name ends at white space, `>` or `/`. A namespace prefix (`<a:array>`) is dropped
/// up to the first `:`, as the XML reader does, so prefixed containers count too.
fn is_container(name: &[u8]) -> bool {
    let end = name
        .iter()
        .position(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
        .unwrap_or(name.len());
    let name = &name[..end];
    let local = match name.iter().position(|b| *b == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    };
    local == b"dict" || local == b"array"
}

/// Index just past the first `end` at or after `from`, or the end of input.
fn skip_past(bytes: &[u8], from: usize, end: &[u8]) -> usize {
    let from = from.min(bytes.len());
    memchr::memmem::find(&bytes[from..], end).map_or(bytes.len(), |p| from + p + end.len())
}

/// Skips a `<!DOCTYPE ...>` declaration, including an internal subset in brackets.
fn skip_declaration(bytes: &[u8], from: usize) -> usize {
    let mut brackets = 0usize;
    let mut quote: Option<u8> = None;
    for (offset, &b) in bytes.iter().enumerate().skip(from) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'[') => brackets += 1,
            (None, b']') => brackets = brackets.saturating_sub(1),
            (None, b'>') if brackets == 0 => return offset + 1,
            _ => {}
        }
    }
    bytes.len()
}

/// Skips to just past the `>` that ends a tag (quotes respected); says if it was `/>`.
fn skip_tag(bytes: &[u8], from: usize) -> (usize, bool) {
    let mut quote: Option<u8> = None;
    let mut previous = 0u8;
    for (offset, &b) in bytes.iter().enumerate().skip(from) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'>') => return (offset + 1, previous == b'/'),
            _ => {}
        }
        previous = b;
    }
    (bytes.len(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Vec<u8> {
        let mut s = String::from("<?xml version=\"1.0\"?><plist version=\"1.0\">");
        s.push_str(&"<array>".repeat(levels));
        s.push_str(&"</array>".repeat(levels));
        s.push_str("</plist>");
        s.into_bytes()
    }

    #[test]
    fn depth_at_limit_passes_and_one_more_fails() {
        let limits = Limits::MDM.with_max_depth(10);
        assert!(check(&nested(10), &limits).is_ok());
        let err = check(&nested(11), &limits).unwrap_err();
        assert!(matches!(err, Error::TooDeep { limit: 10, .. }), "{err}");
    }

    #[test]
    fn comments_cdata_and_doctype_do_not_count() {
        let body = b"<?xml version=\"1.0\"?><!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"x\"><!-- <array><array> --><plist><string><![CDATA[<array><array><array>]]></string></plist>";
        assert!(check(body, &Limits::MDM.with_max_depth(1)).is_ok());
    }

    #[test]
    fn self_closing_elements_do_not_nest() {
        let body = b"<plist><dict><key>a</key><true/><key>b</key><false/></dict></plist>";
        assert!(check(body, &Limits::MDM.with_max_depth(2)).is_ok());
    }

    #[test]
    fn namespace_prefixed_containers_count() {
        let mut s = String::from("<plist>");
        s.push_str(&"<a:array>".repeat(20));
        s.push_str(&"</a:array>".repeat(20));
        s.push_str("</plist>");
        let err = check(s.as_bytes(), &Limits::MDM.with_max_depth(10)).unwrap_err();
        assert!(matches!(err, Error::TooDeep { .. }), "{err}");
        assert!(check(s.as_bytes(), &Limits::MDM.with_max_depth(20)).is_ok());
    }

    #[test]
    fn element_count_is_limited() {
        let mut s = String::from("<plist><array>");
        s.push_str(&"<true/>".repeat(100));
        s.push_str("</array></plist>");
        let err = check(s.as_bytes(), &Limits::MDM.with_max_objects(50)).unwrap_err();
        assert!(matches!(err, Error::TooManyObjects { limit: 50 }));
    }
}
