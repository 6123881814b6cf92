//! A small DER reader and writer, and the BER-to-DER normaliser.
//!
//! The reader works on byte slices and keeps the exact bytes of every element, so that a
//! signature can be checked over the bytes the peer signed (der 0.8 re-sorts a SET OF on decode).

use crate::error::Error;

/// Largest input accepted by any parser of this crate.
pub const MAX_INPUT: usize = 1024 * 1024;
/// Deepest nesting accepted by the BER normaliser.
pub const MAX_DEPTH: usize = 40;

/// Tag bytes used by this crate.
pub mod tag {
    /// BOOLEAN
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER
    pub const OID: u8 = 0x06;
    /// UTF8String
    pub const UTF8_STRING: u8 = 0x0c;
    /// PrintableString
    pub const PRINTABLE_STRING: u8 = 0x13;
    /// T61String
    pub const T61_STRING: u8 = 0x14;
    /// IA5String
    pub const IA5_STRING: u8 = 0x16;
    /// UTCTime
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// BMPString
    pub const BMP_STRING: u8 = 0x1e;
    /// SEQUENCE
    pub const SEQUENCE: u8 = 0x30;
    /// SET
    pub const SET: u8 = 0x31;
    /// `[0]` constructed
    pub const CTX0: u8 = 0xa0;
    /// `[1]` constructed
    pub const CTX1: u8 = 0xa1;
    /// `[3]` constructed
    pub const CTX3: u8 = 0xa3;
    /// `[0]` primitive
    pub const CTX0_PRIM: u8 = 0x80;
}

/// One element: its tag, its contents, and its full encoding.
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    /// Tag byte (low-tag-number form only).
    pub tag: u8,
    /// Contents octets.
    pub value: &'a [u8],
    /// Tag, length and contents.
    pub raw: &'a [u8],
    /// Offset of the element in the outermost input.
    pub offset: usize,
}

impl<'a> Tlv<'a> {
    /// Parses exactly one DER element spanning all of `data`.
    pub fn parse_exact(data: &'a [u8], what: &'static str) -> Result<Self, Error> {
        let mut r = Reader::new(data, 0);
        let t = r.read(what)?;
        if !r.is_empty() {
            return Err(Error::malformed(what, r.offset(), "trailing bytes"));
        }
        Ok(t)
    }

    /// A reader over this element's contents.
    pub fn reader(&self) -> Reader<'a> {
        Reader::new(
            self.value,
            self.offset + (self.raw.len() - self.value.len()),
        )
    }

    /// Checks the tag.
    pub fn expect(self, tag: u8, what: &'static str) -> Result<Self, Error> {
        if self.tag != tag {
            return Err(Error::malformed(
                what,
                self.offset,
                format!("expected tag 0x{tag:02x}, found 0x{:02x}", self.tag),
            ));
        }
        Ok(self)
    }

    /// Reads an OBJECT IDENTIFIER.
    pub fn oid(&self, what: &'static str) -> Result<const_oid::ObjectIdentifier, Error> {
        if self.tag != tag::OID {
            return Err(Error::malformed(
                what,
                self.offset,
                "expected an OBJECT IDENTIFIER",
            ));
        }
        const_oid::ObjectIdentifier::from_bytes(self.value)
            .map_err(|e| Error::malformed(what, self.offset, format!("bad OID: {e}")))
    }

    /// Reads a string of any of the usual string types (UTF-8, Printable, IA5, T61, BMP).
    pub fn string(&self, what: &'static str) -> Result<String, Error> {
        match self.tag {
            tag::UTF8_STRING | tag::PRINTABLE_STRING | tag::IA5_STRING | tag::T61_STRING => {
                match std::str::from_utf8(self.value) {
                    Ok(s) => Ok(s.to_owned()),
                    // T61 is latin-1-ish: map bytes one to one.
                    Err(_) => Ok(self.value.iter().map(|&b| char::from(b)).collect()),
                }
            }
            tag::BMP_STRING => {
                if !self.value.len().is_multiple_of(2) {
                    return Err(Error::malformed(what, self.offset, "odd BMPString length"));
                }
                let units: Vec<u16> = self
                    .value
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16(&units)
                    .map_err(|_| Error::malformed(what, self.offset, "bad BMPString"))
            }
            t => Err(Error::malformed(
                what,
                self.offset,
                format!("expected a string, found tag 0x{t:02x}"),
            )),
        }
    }

    /// Reads a small non-negative INTEGER.
    pub fn small_uint(&self, what: &'static str) -> Result<u64, Error> {
        if self.tag != tag::INTEGER || self.value.is_empty() || self.value.len() > 9 {
            return Err(Error::malformed(
                what,
                self.offset,
                "expected a small INTEGER",
            ));
        }
        if self.value[0] & 0x80 != 0 {
            return Err(Error::malformed(what, self.offset, "negative INTEGER"));
        }
        let mut v: u64 = 0;
        for &b in self.value {
            v = v
                .checked_shl(8)
                .ok_or_else(|| Error::malformed(what, self.offset, "INTEGER too large"))?
                | u64::from(b);
        }
        Ok(v)
    }
}

/// Sequential reader of DER elements.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    /// Reader over `data`, which starts at `base` in the outermost input.
    pub fn new(data: &'a [u8], base: usize) -> Self {
        Self { data, pos: 0, base }
    }

    /// True when all elements were read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Offset of the next element in the outermost input.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads the next element (definite lengths only).
    pub fn read(&mut self, what: &'static str) -> Result<Tlv<'a>, Error> {
        let start = self.pos;
        let off = self.offset();
        let rest = &self.data[start..];
        let (tag, hlen, len) = header(rest, off, what)?;
        let Some(len) = len else {
            return Err(Error::malformed(what, off, "indefinite length in DER"));
        };
        let end = hlen
            .checked_add(len)
            .filter(|&e| e <= rest.len())
            .ok_or_else(|| Error::malformed(what, off, "length runs past the end of the input"))?;
        self.pos = start + end;
        Ok(Tlv {
            tag,
            value: &rest[hlen..end],
            raw: &rest[..end],
            offset: off,
        })
    }

    /// Reads the next element if there is one.
    pub fn read_optional_any(&mut self) -> Result<Option<Tlv<'a>>, Error> {
        if self.is_empty() {
            Ok(None)
        } else {
            self.read("element").map(Some)
        }
    }

    /// Reads the next element if it has tag `t`.
    pub fn read_optional(&mut self, t: u8, what: &'static str) -> Result<Option<Tlv<'a>>, Error> {
        if self.peek_tag() == Some(t) {
            self.read(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads the next element and checks its tag.
    pub fn read_tag(&mut self, t: u8, what: &'static str) -> Result<Tlv<'a>, Error> {
        let off = self.offset();
        if self.is_empty() {
            return Err(Error::malformed(what, off, "missing element"));
        }
        self.read(what)?.expect(t, what)
    }
}

/// Parses a tag and length: (tag, header length, Some(content length) or None if indefinite).
fn header(
    data: &[u8],
    off: usize,
    what: &'static str,
) -> Result<(u8, usize, Option<usize>), Error> {
    let Some(&tag) = data.first() else {
        return Err(Error::malformed(what, off, "unexpected end of input"));
    };
    if tag & 0x1f == 0x1f {
        return Err(Error::malformed(
            what,
            off,
            "high tag numbers are not supported",
        ));
    }
    let Some(&l0) = data.get(1) else {
        return Err(Error::malformed(what, off, "truncated length"));
    };
    if l0 < 0x80 {
        return Ok((tag, 2, Some(usize::from(l0))));
    }
    if l0 == 0x80 {
        return Ok((tag, 2, None));
    }
    let n = usize::from(l0 & 0x7f);
    if n > 4 {
        return Err(Error::malformed(what, off, "length too large"));
    }
    let bytes = data
        .get(2..2 + n)
        .ok_or_else(|| Error::malformed(what, off, "truncated length"))?;
    let mut len = 0usize;
    for &b in bytes {
        len = (len << 8) | usize::from(b);
    }
    Ok((tag, 2 + n, Some(len)))
}

/// Converts BER (indefinite lengths, constructed strings, long-form lengths) to DER.
///
/// SET OF contents are not re-sorted: signatures are made over the bytes as sent.
pub fn ber_to_der(input: &[u8]) -> Result<Vec<u8>, Error> {
    if input.len() > MAX_INPUT {
        return Err(Error::TooLarge {
            len: input.len(),
            limit: MAX_INPUT,
        });
    }
    // Most input (a device's Mdm-Signature) is DER already: then the output is the input,
    // and the copy below costs one allocation instead of one per constructed element.
    if canonical(input, 0) == Some(input.len()) {
        return Ok(input.to_vec());
    }
    let mut out = Vec::with_capacity(input.len());
    let used = normalise(input, 0, 0, &mut out)?;
    if used != input.len() {
        return Err(Error::malformed("BER input", used, "trailing bytes"));
    }
    Ok(out)
}

/// How many bytes the element at the start of `data` takes when [`normalise`] would copy it
/// unchanged: definite lengths in their shortest form, no constructed universal strings, at
/// most [`MAX_DEPTH`] deep. `None` when it would change it, or fail.
fn canonical(data: &[u8], depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (tag, hlen, len) = header(data, 0, "BER input").ok()?;
    let len = len?;
    // `write_len`'s form: short below 0x80, else no leading zero byte.
    let shortest = if len < 0x80 {
        hlen == 2
    } else {
        data.get(2).is_some_and(|&b| b != 0)
    };
    if !shortest {
        return None;
    }
    let end = hlen.checked_add(len).filter(|&e| e <= data.len())?;
    if tag & 0x20 != 0 {
        if matches!(tag, 0x23 | 0x24 | 0x2c | 0x33 | 0x34 | 0x36 | 0x3e) {
            return None;
        }
        let mut pos = hlen;
        while pos < end {
            pos += canonical(&data[pos..end], depth + 1)?;
        }
    }
    Some(end)
}

/// Normalises one element at the start of `data`; returns how many input bytes it used.
fn normalise(data: &[u8], off: usize, depth: usize, out: &mut Vec<u8>) -> Result<usize, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::malformed("BER input", off, "nesting too deep"));
    }
    let (tag, hlen, len) = header(data, off, "BER input")?;
    let constructed = tag & 0x20 != 0;
    if !constructed {
        let Some(len) = len else {
            return Err(Error::malformed(
                "BER input",
                off,
                "indefinite length on a primitive",
            ));
        };
        let end = hlen
            .checked_add(len)
            .filter(|&e| e <= data.len())
            .ok_or_else(|| Error::malformed("BER input", off, "length runs past the end"))?;
        write_tlv(out, tag, &data[hlen..end]);
        return Ok(end);
    }
    // Constructed: normalise children into a buffer.
    let mut children = Vec::new();
    let mut pos = hlen;
    let end = match len {
        Some(len) => {
            let end = hlen
                .checked_add(len)
                .filter(|&e| e <= data.len())
                .ok_or_else(|| Error::malformed("BER input", off, "length runs past the end"))?;
            while pos < end {
                pos += normalise(&data[pos..end], off + pos, depth + 1, &mut children)?;
            }
            end
        }
        None => loop {
            if data.len() < pos + 2 {
                return Err(Error::malformed(
                    "BER input",
                    off + pos,
                    "missing end-of-contents",
                ));
            }
            if data[pos] == 0 && data[pos + 1] == 0 {
                break pos + 2;
            }
            pos += normalise(&data[pos..], off + pos, depth + 1, &mut children)?;
        },
    };
    // Universal constructed strings become primitive ones.
    let universal_string = matches!(tag, 0x23 | 0x24 | 0x2c | 0x33 | 0x34 | 0x36 | 0x3e);
    if universal_string {
        let mut joined = Vec::new();
        let mut r = Reader::new(&children, off);
        while !r.is_empty() {
            let t = r.read("BER constructed string")?;
            if t.tag != tag & !0x20 {
                return Err(Error::malformed(
                    "BER input",
                    t.offset,
                    "mixed constructed string",
                ));
            }
            joined.extend_from_slice(if tag == 0x23 && !joined.is_empty() {
                // BIT STRING pieces: drop the unused-bits byte of later pieces
                t.value.get(1..).unwrap_or_default()
            } else {
                t.value
            });
        }
        write_tlv(out, tag & !0x20, &joined);
    } else {
        write_tlv(out, tag, &children);
    }
    Ok(end)
}

/// Appends a DER length.
pub fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends a full element.
pub fn write_tlv(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    write_len(out, value.len());
    out.extend_from_slice(value);
}

/// Encodes one element.
pub fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    write_tlv(&mut out, tag, value);
    out
}

/// Encodes a SEQUENCE of already encoded elements.
pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &parts.concat())
}

/// Encodes a SET OF, sorting the elements as DER requires.
pub fn set_of(parts: &[&[u8]]) -> Vec<u8> {
    let mut v: Vec<&[u8]> = parts.to_vec();
    v.sort();
    tlv(tag::SET, &v.concat())
}

/// Encodes an OBJECT IDENTIFIER.
pub fn oid(o: &const_oid::ObjectIdentifier) -> Vec<u8> {
    tlv(tag::OID, o.as_bytes())
}

/// Encodes a non-negative INTEGER from big-endian magnitude bytes.
pub fn uint(bytes: &[u8]) -> Vec<u8> {
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    let mut v = bytes[skip..].to_vec();
    if v.is_empty() || v[0] & 0x80 != 0 {
        v.insert(0, 0);
    }
    tlv(tag::INTEGER, &v)
}

/// Encodes a small non-negative INTEGER.
pub fn small_uint(n: u64) -> Vec<u8> {
    uint(&n.to_be_bytes())
}

/// Encodes an OCTET STRING.
pub fn octets(b: &[u8]) -> Vec<u8> {
    tlv(tag::OCTET_STRING, b)
}

/// Encodes a PrintableString.
pub fn printable(s: &str) -> Vec<u8> {
    tlv(tag::PRINTABLE_STRING, s.as_bytes())
}

/// Encodes a NULL.
pub fn null() -> Vec<u8> {
    vec![tag::NULL, 0]
}

/// Encodes an AlgorithmIdentifier, with NULL parameters if `with_null`.
pub fn alg_id(o: &const_oid::ObjectIdentifier, with_null: bool) -> Vec<u8> {
    if with_null {
        seq(&[&oid(o), &null()])
    } else {
        seq(&[&oid(o)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `ber_to_der` without the fast path for input that is DER already.
    fn slow(input: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Vec::new();
        let used = normalise(input, 0, 0, &mut out)?;
        if used != input.len() {
            return Err(Error::malformed("BER input", used, "trailing bytes"));
        }
        Ok(out)
    }

    /// One BER element: a tag, a length form (0 short/definite when it fits, 1 long with a
    /// leading zero, 2 indefinite) and either bytes or children.
    fn element() -> impl Strategy<Value = Vec<u8>> {
        let leaf = (
            prop::sample::select(vec![0x02u8, 0x04, 0x05, 0x06, 0x0c, 0x03, 0x80]),
            0u8..2,
            prop::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(|(tag, form, value)| encode(tag, form, &value));
        leaf.prop_recursive(4, 64, 6, |inner| {
            (
                prop::sample::select(vec![0x30u8, 0x31, 0xa0, 0x24, 0x23, 0x2c]),
                0u8..3,
                prop::collection::vec(inner, 0..6),
            )
                .prop_map(|(tag, form, children)| encode(tag, form, &children.concat()))
        })
    }

    fn encode(tag: u8, form: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match form {
            0 => write_len(&mut out, value.len()),
            1 => {
                out.push(0x83);
                out.extend_from_slice(&(value.len() as u32).to_be_bytes()[1..]);
            }
            _ => out.push(0x80),
        }
        out.extend_from_slice(value);
        if form == 2 && tag & 0x20 != 0 {
            out.extend_from_slice(&[0, 0]);
        }
        out
    }

    proptest! {
        #[test]
        fn the_der_fast_path_gives_what_normalising_gives(input in element()) {
            let fast = ber_to_der(&input);
            let slow = slow(&input);
            match (&fast, &slow) {
                (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                (Err(_), Err(_)) => {}
                _ => prop_assert!(false, "fast {fast:?} slow {slow:?}"),
            }
        }

        #[test]
        fn the_der_fast_path_agrees_on_random_bytes(input in prop::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(ber_to_der(&input).is_ok(), slow(&input).is_ok());
            if let (Ok(a), Ok(b)) = (ber_to_der(&input), slow(&input)) {
                prop_assert_eq!(a, b);
            }
        }
    }
}
