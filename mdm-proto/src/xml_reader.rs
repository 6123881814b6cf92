//! A one-pass reader for the XML property lists devices send, building a [`Value`] directly.
//!
//! It reads the plain form every Apple device and MDM server writes (an optional
//! `<?xml ...?>` declaration, an optional DOCTYPE without an internal subset, comments,
//! `<plist>` around one value, the ten value elements (the plist crate reads no `<uid>` in
//! XML either), the five XML entities and numeric
//! character references) and checks the front-door depth and object limits while it reads,
//! counting exactly as the pre-scan in `xml_check` does.
//!
//! Anything outside that form (CDATA, processing instructions inside the body, namespace
//! prefixes, attributes on value elements, a byte-order mark, invalid UTF-8, unknown
//! entities, malformed values, broken nesting) makes it give up with [`Read::Fallback`]
//! without building anything further; the caller then runs the pre-scan and the plist
//! crate's reader, which decide and describe the error (or accept the rare odd form) as
//! they always did. So a body is either read here into the value the plist crate would
//! build, or stopped at a limit with the error the pre-scan would give, or handed back.
//! A handed-back body costs the part read here plus the old path: at most twice the work,
//! still linear, and only for bodies no device writes.
//!
//! Why hand-rolled rather than on quick-xml (which the plist crate uses): the subset is
//! small, and reading it byte by byte with `memchr` avoids the event layer, the copies into
//! an event buffer, the per-character whitespace stripping of `<data>` and the second pass
//! for the limits; the plist crate stays the reference for everything else.

use crate::body::Limits;
use crate::error::Error;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use plist::{Date, Dictionary, Integer, Value};

/// What the reader made of a body.
#[derive(Debug)]
pub(crate) enum Read {
    /// The body, read as the plist crate reads it.
    Value(Value),
    /// A limit was crossed: the error the pre-scan gives for this body.
    Limit(Error),
    /// The body is outside the subset read here (or malformed): let the plist crate decide.
    Fallback,
}

/// Reads an XML plist body within `limits` (the size limit is the caller's).
pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Read {
    // The plist crate's reader refuses invalid UTF-8 anywhere (declaration, DOCTYPE,
    // comments included): check it once for the whole body, then slice text from it.
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Read::Fallback;
    };
    let mut reader = Reader {
        text,
        bytes,
        pos: 0,
        limits,
        elements: 0,
        depth: 0,
        scratch: Vec::new(),
    };
    match reader.document() {
        Ok(value) => Read::Value(value),
        Err(Stop::TooManyObjects) => Read::Limit(Error::TooManyObjects {
            limit: limits.max_objects,
        }),
        Err(Stop::TooDeep { at }) => Read::Limit(Error::TooDeep {
            limit: limits.max_depth,
            location: format!("byte {at}"),
        }),
        Err(Stop::Fallback) => Read::Fallback,
    }
}

/// Why reading stopped early (small and `Copy`, so early exits cost nothing).
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// More elements than `max_objects`.
    TooManyObjects,
    /// A container opened at byte `at` nests deeper than `max_depth`.
    TooDeep { at: usize },
    /// Outside the subset read here.
    Fallback,
}

type Step<T> = Result<T, Stop>;

/// An open container: where its children start in the shared stacks.
enum Frame {
    Array {
        start: usize,
    },
    /// A dictionary and, once its `<key>` has been read, the key waiting for its value.
    Dict {
        start: usize,
        key: Option<String>,
    },
}

/// The elements of the plist vocabulary, by tag name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tag {
    Plist,
    Dict,
    Array,
    Key,
    String,
    Data,
    Date,
    Integer,
    Real,
    True,
    False,
}

impl Tag {
    /// The element whose name starts `name` (the bytes after `<`), and the name's length.
    /// What follows the name is the caller's to check.
    fn at(name: &[u8]) -> Option<(Tag, usize)> {
        Some(match name.first()? {
            b'k' if name.starts_with(b"key") => (Tag::Key, 3),
            b's' if name.starts_with(b"string") => (Tag::String, 6),
            b'i' if name.starts_with(b"integer") => (Tag::Integer, 7),
            b'r' if name.starts_with(b"real") => (Tag::Real, 4),
            b't' if name.starts_with(b"true") => (Tag::True, 4),
            b'f' if name.starts_with(b"false") => (Tag::False, 5),
            b'a' if name.starts_with(b"array") => (Tag::Array, 5),
            b'p' if name.starts_with(b"plist") => (Tag::Plist, 5),
            b'd' if name.starts_with(b"dict") => (Tag::Dict, 4),
            b'd' if name.starts_with(b"data") => (Tag::Data, 4),
            b'd' if name.starts_with(b"date") => (Tag::Date, 4),
            _ => return None,
        })
    }

    #[cfg(test)]
    fn from_name(name: &[u8]) -> Option<Tag> {
        Some(match name {
            b"plist" => Tag::Plist,
            b"dict" => Tag::Dict,
            b"array" => Tag::Array,
            b"key" => Tag::Key,
            b"string" => Tag::String,
            b"data" => Tag::Data,
            b"date" => Tag::Date,
            b"integer" => Tag::Integer,
            b"real" => Tag::Real,
            b"true" => Tag::True,
            b"false" => Tag::False,
            _ => return None,
        })
    }

    /// True when `rest` starts with this element's closing tag (a literal per tag, so the
    /// comparison is a few integer compares rather than a `memcmp` call).
    fn closes(self, rest: &[u8]) -> bool {
        match self {
            Tag::Plist => rest.starts_with(b"</plist>"),
            Tag::Dict => rest.starts_with(b"</dict>"),
            Tag::Array => rest.starts_with(b"</array>"),
            Tag::Key => rest.starts_with(b"</key>"),
            Tag::String => rest.starts_with(b"</string>"),
            Tag::Data => rest.starts_with(b"</data>"),
            Tag::Date => rest.starts_with(b"</date>"),
            Tag::Integer => rest.starts_with(b"</integer>"),
            Tag::Real => rest.starts_with(b"</real>"),
            Tag::True => rest.starts_with(b"</true>"),
            Tag::False => rest.starts_with(b"</false>"),
        }
    }

    fn close(self) -> &'static [u8] {
        match self {
            Tag::Plist => b"</plist>",
            Tag::Dict => b"</dict>",
            Tag::Array => b"</array>",
            Tag::Key => b"</key>",
            Tag::String => b"</string>",
            Tag::Data => b"</data>",
            Tag::Date => b"</date>",
            Tag::Integer => b"</integer>",
            Tag::Real => b"</real>",
            Tag::True => b"</true>",
            Tag::False => b"</false>",
        }
    }
}

struct Reader<'a> {
    /// The body, valid UTF-8.
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    limits: &'a Limits,
    /// Start tags seen so far (every element counts, as in the pre-scan).
    elements: usize,
    /// Open `<dict>` and `<array>` elements.
    depth: usize,
    /// Reused buffer for `<data>` with its white space taken out.
    scratch: Vec<u8>,
}

/// XML white space (the only text allowed between elements here).
fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    /// The whole document: prolog, `<plist>` (optional, as for the plist crate), one value,
    /// the closing tag, and nothing but white space and comments after it.
    fn document(&mut self) -> Step<Value> {
        if self.rest().starts_with(b"<?xml") {
            let end = memchr::memmem::find(self.rest(), b"?>").ok_or(Stop::Fallback)?;
            self.pos += end + 2;
        }
        loop {
            self.skip_misc()?;
            if self.rest().starts_with(b"<!DOCTYPE") {
                self.skip_doctype()?;
            } else {
                break;
            }
        }
        let start = self.pos;
        let (tag, empty) = self.start_tag(true)?;
        let wrapped = tag == Tag::Plist;
        if wrapped && empty {
            return Err(Stop::Fallback);
        }
        let value = if wrapped {
            self.skip_misc()?;
            let start = self.pos;
            let (tag, empty) = self.start_tag(false)?;
            self.value(tag, empty, start)?
        } else {
            self.value(tag, empty, start)?
        };
        self.skip_misc()?;
        if wrapped {
            self.expect(Tag::Plist.close())?;
            self.skip_misc()?;
        }
        if !self.at_end() {
            return Err(Stop::Fallback);
        }
        Ok(value)
    }

    /// Skips white space and comments.
    fn skip_misc(&mut self) -> Step<()> {
        loop {
            let bytes = self.bytes;
            let mut pos = self.pos;
            while pos < bytes.len() && is_xml_space(bytes[pos]) {
                pos += 1;
            }
            self.pos = pos;
            if !self.rest().starts_with(b"<!--") {
                return Ok(());
            }
            let body = self.pos + 4;
            let rest = self.bytes.get(body..).unwrap_or_default();
            let len = memchr::memmem::find(rest, b"-->").ok_or(Stop::Fallback)?;
            // `<!-->` and `<!--->` are read differently by XML readers; a `>` inside a
            // comment makes where it ends a matter of taste. Leave both to the plist crate.
            let text = &rest[..len];
            if text.starts_with(b"-") || memchr::memchr(b'>', text).is_some() {
                return Err(Stop::Fallback);
            }
            self.pos = body + len + 3;
        }
    }

    /// Skips `<!DOCTYPE ...>` without an internal subset and with balanced quotes.
    fn skip_doctype(&mut self) -> Step<()> {
        let rest = self.rest();
        let end = memchr::memchr(b'>', rest).ok_or(Stop::Fallback)?;
        let text = &rest[..end];
        let quotes = text.iter().filter(|b| matches!(b, b'"' | b'\'')).count();
        if memchr::memchr2(b'[', b'<', &text[1..]).is_some() || quotes % 2 != 0 {
            return Err(Stop::Fallback);
        }
        self.pos += end + 1;
        Ok(())
    }

    fn expect(&mut self, literal: &[u8]) -> Step<()> {
        if self.rest().starts_with(literal) {
            self.pos += literal.len();
            Ok(())
        } else {
            Err(Stop::Fallback)
        }
    }

    /// Reads a start tag `<name>` or `<name/>` (attributes only on `<plist>`, and only when
    /// `plist_allowed`), counts it against the object limit, and says if it was empty.
    fn start_tag(&mut self, plist_allowed: bool) -> Step<(Tag, bool)> {
        let rest = self.rest();
        if rest.first() != Some(&b'<') {
            return Err(Stop::Fallback);
        }
        let (tag, name_len) = Tag::at(&rest[1..]).ok_or(Stop::Fallback)?;
        let mut end = 1 + name_len;
        if tag == Tag::Plist {
            if !plist_allowed {
                return Err(Stop::Fallback);
            }
            if rest.get(end).is_some_and(|b| is_xml_space(*b)) {
                end = skip_attributes(rest, end).ok_or(Stop::Fallback)?;
            }
        }
        let empty = match (rest.get(end), rest.get(end + 1)) {
            (Some(b'>'), _) => {
                end += 1;
                false
            }
            (Some(b'/'), Some(b'>')) => {
                end += 2;
                true
            }
            _ => return Err(Stop::Fallback),
        };
        self.elements += 1;
        if self.elements > self.limits.max_objects {
            return Err(Stop::TooManyObjects);
        }
        self.pos += end;
        Ok((tag, empty))
    }

    /// Reads one value whose start tag (at byte `start`) has just been read, with
    /// everything nested in it, without recursion.
    ///
    /// The children of every open container wait in two shared stacks (`items` for
    /// arrays, `entries` for dictionaries) and move into a container of exactly the right
    /// size when it closes, instead of each container growing its own buffer.
    fn value(&mut self, tag: Tag, empty: bool, start: usize) -> Step<Value> {
        let mut frames: Vec<Frame> = Vec::new();
        let mut items: Vec<Value> = Vec::new();
        let mut entries: Vec<(String, Value)> = Vec::new();
        let mut next = Some((tag, empty, start));
        loop {
            let value = match next.take() {
                Some((tag, empty, start)) => match self.leaf_or_open(tag, empty, start)? {
                    Some(value) => value,
                    None => {
                        frames.push(match tag {
                            Tag::Dict => Frame::Dict {
                                start: entries.len(),
                                key: None,
                            },
                            _ => Frame::Array { start: items.len() },
                        });
                        self.skip_misc()?;
                        next = self.next_child()?;
                        continue;
                    }
                },
                // The closing tag of the innermost container.
                None => {
                    let value = match frames.pop() {
                        Some(Frame::Array { start }) => {
                            self.expect(Tag::Array.close())?;
                            Value::Array(items.drain(start..).collect())
                        }
                        Some(Frame::Dict { start, key: None }) => {
                            self.expect(Tag::Dict.close())?;
                            // Collected in order, as the plist crate inserts them: a repeated
                            // key keeps its first place and takes its last value.
                            Value::Dictionary(entries.drain(start..).collect::<Dictionary>())
                        }
                        Some(Frame::Dict { key: Some(_), .. }) | None => {
                            return Err(Stop::Fallback);
                        }
                    };
                    self.depth -= 1;
                    value
                }
            };
            match frames.last_mut() {
                None => return Ok(value),
                Some(Frame::Array { .. }) => items.push(value),
                Some(Frame::Dict {
                    key: key @ None, ..
                }) => match value {
                    Value::String(s) => *key = Some(s),
                    _ => return Err(Stop::Fallback),
                },
                Some(Frame::Dict {
                    key: key @ Some(_), ..
                }) => {
                    if let Some(key) = key.take() {
                        entries.push((key, value));
                    }
                }
            }
            self.skip_misc()?;
            next = self.next_child()?;
        }
    }

    /// After white space inside a container: the next child's start tag, or `None` when
    /// a closing tag follows.
    fn next_child(&mut self) -> Step<Option<(Tag, bool, usize)>> {
        if self.rest().starts_with(b"</") {
            return Ok(None);
        }
        let start = self.pos;
        let (tag, empty) = self.start_tag(false)?;
        Ok(Some((tag, empty, start)))
    }

    /// A leaf value, or `None` for a container just opened (depth counted).
    fn leaf_or_open(&mut self, tag: Tag, empty: bool, start: usize) -> Step<Option<Value>> {
        Ok(Some(match tag {
            Tag::Dict | Tag::Array if empty => match tag {
                Tag::Dict => Value::Dictionary(Dictionary::new()),
                _ => Value::Array(Vec::new()),
            },
            Tag::Dict | Tag::Array => {
                self.depth += 1;
                if self.depth > self.limits.max_depth {
                    return Err(Stop::TooDeep { at: start });
                }
                return Ok(None);
            }
            Tag::True | Tag::False => {
                if !empty {
                    self.expect(tag.close())?;
                }
                Value::Boolean(tag == Tag::True)
            }
            Tag::Key | Tag::String => Value::String(self.text(tag, empty)?.into_owned()),
            Tag::Data => {
                let text = self.text(tag, empty)?;
                Value::Data(self.base64(text.as_bytes())?)
            }
            Tag::Date => {
                let text = self.text(tag, empty)?;
                Value::Date(Date::from_xml_format(&text).map_err(|_| Stop::Fallback)?)
            }
            Tag::Integer => Value::Integer(integer(&self.text(tag, empty)?)?),
            Tag::Real => Value::Real(self.text(tag, empty)?.parse().map_err(|_| Stop::Fallback)?),
            Tag::Plist => return Err(Stop::Fallback),
        }))
    }

    /// The text of a leaf element up to its closing tag (nothing else may be inside), with
    /// entities and character references replaced.
    fn text(&mut self, tag: Tag, empty: bool) -> Step<std::borrow::Cow<'a, str>> {
        if empty {
            return Ok(std::borrow::Cow::Borrowed(""));
        }
        let rest = self.rest();
        // Most values are short: look at the first bytes one by one before calling memchr.
        let short = rest.len().min(16);
        let mut i = 0;
        while i < short && rest[i] != b'<' && rest[i] != b'&' {
            i += 1;
        }
        if i == short {
            i = memchr::memchr2(b'<', b'&', rest).ok_or(Stop::Fallback)?;
        }
        let (len, amp) = (i, rest[i] == b'&');
        let (len, amp) = if amp {
            (memchr::memchr(b'<', rest).ok_or(Stop::Fallback)?, true)
        } else {
            (len, false)
        };
        if !tag.closes(&rest[len..]) {
            return Err(Stop::Fallback);
        }
        let raw = self
            .text
            .get(self.pos..self.pos + len)
            .ok_or(Stop::Fallback)?;
        self.pos += len + tag.close().len();
        if amp {
            unescape(raw).map(std::borrow::Cow::Owned)
        } else {
            Ok(std::borrow::Cow::Borrowed(raw))
        }
    }

    /// Decodes base64 as the plist crate does (standard alphabet, canonical padding, no
    /// stray bits), with ASCII white space anywhere taken out first.
    fn base64(&mut self, text: &[u8]) -> Step<Vec<u8>> {
        if let Some(data) = base64_canonical(text) {
            return Ok(data);
        }
        // Not canonical: let the base64 crate, as the plist crate calls it, decide.
        self.scratch.clear();
        self.scratch
            .extend(text.iter().filter(|b| !b.is_ascii_whitespace()));
        STANDARD.decode(&self.scratch).map_err(|_| Stop::Fallback)
    }
}

/// Symbol values of the standard base64 alphabet; the markers below for the rest.
static B64: [u8; 256] = {
    let mut table = [B64_INVALID; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table[b' ' as usize] = B64_SPACE;
    table[b'\t' as usize] = B64_SPACE;
    table[b'\n' as usize] = B64_SPACE;
    table[0x0C] = B64_SPACE;
    table[b'\r' as usize] = B64_SPACE;
    table[b'=' as usize] = B64_PAD;
    table
};
const B64_INVALID: u8 = 0xFF;
const B64_SPACE: u8 = 0xFE;
const B64_PAD: u8 = 0xFD;

/// Decodes base64 in the one form the plist crate's decoder accepts (standard alphabet,
/// `=` padding exactly where needed, unused bits zero), skipping ASCII white space, in
/// one pass without a copy; `None` for anything else (the caller then asks the base64
/// crate, which refuses it or, for forms this misses, decides).
fn base64_canonical(text: &[u8]) -> Option<Vec<u8>> {
    // Room for every symbol's bits; written by index, cut to length at the end.
    let mut out = vec![0u8; text.len() / 4 * 3 + 3];
    let mut written = 0;
    let mut acc: u32 = 0;
    let mut symbols = 0u32;
    let mut i = 0;
    while i < text.len() {
        // Whole quanta of four symbols, the common case, at once.
        if symbols == 0
            && let (Some(&[a, b, c, d]), Some(dst)) =
                (text.get(i..i + 4), out.get_mut(written..written + 3))
        {
            let (a, b, c, d) = (
                B64[a as usize],
                B64[b as usize],
                B64[c as usize],
                B64[d as usize],
            );
            if (a | b | c | d) < 64 {
                let v = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6 | u32::from(d);
                dst.copy_from_slice(&v.to_be_bytes()[1..]);
                written += 3;
                i += 4;
                continue;
            }
        }
        match B64[text[i] as usize] {
            B64_SPACE => {}
            B64_PAD => break,
            B64_INVALID => return None,
            v => {
                acc = acc << 6 | u32::from(v);
                symbols += 1;
                if symbols == 4 {
                    out.get_mut(written..written + 3)?
                        .copy_from_slice(&acc.to_be_bytes()[1..]);
                    written += 3;
                    acc = 0;
                    symbols = 0;
                }
            }
        }
        i += 1;
    }
    out.truncate(written);
    let mut pads = 0;
    for &b in &text[i..] {
        match B64[b as usize] {
            B64_PAD => pads += 1,
            B64_SPACE => {}
            _ => return None,
        }
    }
    match (symbols, pads) {
        (0, 0) => {}
        // Two symbols: 12 bits, one byte and four bits that must be zero.
        (2, 2) if acc & 0xF == 0 => out.push((acc >> 4) as u8),
        // Three symbols: 18 bits, two bytes and two bits that must be zero.
        (3, 1) if acc & 0x3 == 0 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return None,
    }
    Some(out)
}

/// Skips the attributes of a start tag from `from` to the `>` or `/>` that ends it, with
/// quoted values (which may hold `>`) respected. Returns the offset of that `>` or `/`.
fn skip_attributes(tag: &[u8], from: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (offset, &b) in tag.iter().enumerate().skip(from) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), b'<') => return None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(b),
            (None, b'<') => return None,
            (None, b'>') => {
                return Some(if tag.get(offset - 1) == Some(&b'/') {
                    offset - 1
                } else {
                    offset
                });
            }
            _ => {}
        }
    }
    None
}

/// Replaces the five XML entities and numeric character references, as the plist crate's
/// reader does; anything else (unknown entities, a bare `&`) is left to it.
fn unescape(raw: &str) -> Step<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after.find(';').ok_or(Stop::Fallback)?;
        let name = &after[..semi];
        match name {
            "amp" => out.push('&'),
            "lt" => out.push('<'),
            "gt" => out.push('>'),
            "quot" => out.push('"'),
            "apos" => out.push('\''),
            _ => out.push(char_ref(name).ok_or(Stop::Fallback)?),
        }
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `#65` or `#x41` as a character (not NUL, not a surrogate, no sign).
fn char_ref(name: &str) -> Option<char> {
    let number = name.strip_prefix('#')?;
    let (digits, radix) = match number.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let code = u32::from_str_radix(digits, radix).ok()?;
    if code == 0 {
        return None;
    }
    char::from_u32(code)
}

/// An `<integer>` as the plist crate reads it: `0x` hexadecimal (unsigned), else a signed
/// 64-bit number, else an unsigned one.
fn integer(text: &str) -> Step<Integer> {
    if text.starts_with("0x") {
        let hex = text.trim_start_matches("0x");
        return u64::from_str_radix(hex, 16)
            .map(Integer::from)
            .map_err(|_| Stop::Fallback);
    }
    match text.parse::<i64>() {
        Ok(v) => Ok(Integer::from(v)),
        Err(_) => text
            .parse::<u64>()
            .map(Integer::from)
            .map_err(|_| Stop::Fallback),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(body: &str) -> Value {
        match read(body.as_bytes(), &Limits::MDM) {
            Read::Value(v) => v,
            other => panic!("{body}: {other:?}"),
        }
    }

    fn falls_back(body: &str) -> bool {
        matches!(read(body.as_bytes(), &Limits::MDM), Read::Fallback)
    }

    #[test]
    fn reads_every_leaf_kind() {
        let v = value(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\"><dict>\
             <key>s</key><string>a &amp; b &#65;&#x42;</string><key>i</key><integer>-5</integer>\
             <key>u</key><integer>18446744073709551615</integer><key>h</key><integer>0xff</integer>\
             <key>r</key><real>1.5</real><key>t</key><true/><key>f</key><false></false>\
             <key>d</key><data>AAEC\n\tAw==</data><key>e</key><date>2017-01-02T03:04:05Z</date>\
             <key>a</key><array/><key>x</key><dict/></dict></plist>",
        );
        let dict = v.into_dictionary().unwrap();
        assert_eq!(dict["s"], Value::String("a & b AB".into()));
        assert_eq!(dict["i"], Value::Integer((-5).into()));
        assert_eq!(dict["u"], Value::Integer(u64::MAX.into()));
        assert_eq!(dict["h"], Value::Integer(255.into()));
        assert_eq!(dict["r"], Value::Real(1.5));
        assert_eq!(dict["t"], Value::Boolean(true));
        assert_eq!(dict["f"], Value::Boolean(false));
        assert_eq!(dict["d"], Value::Data(vec![0, 1, 2, 3]));
        assert_eq!(dict["a"], Value::Array(vec![]));
        assert_eq!(dict["x"], Value::Dictionary(Dictionary::new()));
    }

    #[test]
    fn tag_names_are_recognised_exactly() {
        for name in [
            "plist", "dict", "array", "key", "string", "data", "date", "integer", "real", "true",
            "false",
        ] {
            let tag = Tag::from_name(name.as_bytes()).unwrap();
            assert!(Tag::at(format!("{name}>").as_bytes()) == Some((tag, name.len())));
            assert!(tag.closes(tag.close()));
            assert_eq!(tag.close(), format!("</{name}>").as_bytes());
        }
        assert!(Tag::at(b"uid>").is_none() && Tag::at(b"dat>").is_none() && Tag::at(b"").is_none());
    }

    #[test]
    fn odd_forms_are_left_to_the_plist_crate() {
        assert!(falls_back("<plist><string><![CDATA[x]]></string></plist>"));
        assert!(falls_back("<plist><string>&nbsp;</string></plist>"));
        assert!(falls_back("<plist><a:dict></a:dict></plist>"));
        assert!(falls_back("<plist><dict></array></plist>"));
        assert!(falls_back("<plist><uid>1</uid></plist>"));
        assert!(falls_back("\u{FEFF}<plist><true/></plist>"));
        assert!(falls_back("<plist><data>AAAA=</data></plist>"));
        assert!(falls_back("<plist><true/><true/></plist>"));
        assert!(falls_back("<plist><dict><key>a</key></dict></plist>"));
        assert!(falls_back("<plist><dict><key>a</key><true/>"));
    }

    #[test]
    fn limits_give_the_pre_scan_errors() {
        let deep = format!(
            "<plist>{}{}</plist>",
            "<array>".repeat(3),
            "</array>".repeat(3)
        );
        let limits = Limits::MDM.with_max_depth(2);
        match read(deep.as_bytes(), &limits) {
            Read::Limit(Error::TooDeep { limit: 2, location }) => assert_eq!(location, "byte 21"),
            other => panic!("{other:?}"),
        }
        let many = "<plist><array><true/><true/></array></plist>";
        assert!(matches!(
            read(many.as_bytes(), &Limits::MDM.with_max_objects(3)),
            Read::Limit(Error::TooManyObjects { limit: 3 })
        ));
    }
}
