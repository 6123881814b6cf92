//! A structural pre-walk of a binary plist (`bplist00`).
//!
//! Before the parser sees the body, this walks the object graph from the top object with an
//! explicit stack (no recursion) and checks: the trailer and the offset table are in bounds;
//! every reachable object's marker and length fit in the file; no container refers back to
//! itself; nesting stays within the depth limit; and the *expanded* object count (a shared
//! object counted once per reference, as the parser will build it) stays within the object
//! limit. Each object is read once, so the walk is linear in the size of the body.

use crate::body::Limits;
use crate::error::{Error, Result};

const HEADER_LEN: usize = 8;
const TRAILER_LEN: usize = 32;

/// Visiting state of one object during the walk.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    Unseen,
    OnStack,
    Done,
}

struct Layout<'a> {
    bytes: &'a [u8],
    offset_size: usize,
    ref_size: usize,
    num_objects: u64,
    offset_table: usize,
}

/// What an object marker says about the object's children.
struct Children {
    /// Byte offset of the first reference.
    refs_start: usize,
    /// Number of references (keys and values for a dictionary).
    count: u64,
}

fn malformed(offset: usize, reason: &'static str) -> Error {
    Error::MalformedBinary {
        offset: offset as u64,
        reason,
    }
}

fn read_uint(bytes: &[u8], at: usize, width: usize) -> Result<u64> {
    let end = at
        .checked_add(width)
        .filter(|end| *end <= bytes.len())
        .ok_or_else(|| malformed(at, "integer runs past the end"))?;
    Ok(bytes[at..end]
        .iter()
        .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

impl<'a> Layout<'a> {
    fn read(bytes: &'a [u8]) -> Result<Self> {
        if bytes.len() < HEADER_LEN + TRAILER_LEN {
            return Err(malformed(
                bytes.len(),
                "too short for a header and a trailer",
            ));
        }
        if &bytes[..8] != b"bplist00" {
            return Err(malformed(0, "unsupported binary plist version"));
        }
        let t = bytes.len() - TRAILER_LEN;
        let offset_size = usize::from(bytes[t + 6]);
        let ref_size = usize::from(bytes[t + 7]);
        if !(1..=8).contains(&offset_size) {
            return Err(malformed(t + 6, "offset size is not 1 to 8 bytes"));
        }
        if !(1..=8).contains(&ref_size) {
            return Err(malformed(
                t + 7,
                "object reference size is not 1 to 8 bytes",
            ));
        }
        let num_objects = read_uint(bytes, t + 8, 8)?;
        let top = read_uint(bytes, t + 16, 8)?;
        let table = read_uint(bytes, t + 24, 8)?;
        if num_objects == 0 || top >= num_objects {
            return Err(malformed(t + 16, "top object is not among the objects"));
        }
        let table_len = num_objects
            .checked_mul(offset_size as u64)
            .ok_or_else(|| malformed(t + 8, "object count overflows"))?;
        let table_end = table
            .checked_add(table_len)
            .ok_or_else(|| malformed(t + 24, "offset table overflows"))?;
        if table < HEADER_LEN as u64 || table_end > t as u64 {
            return Err(malformed(t + 24, "offset table lies outside the body"));
        }
        Ok(Layout {
            bytes,
            offset_size,
            ref_size,
            num_objects,
            offset_table: table as usize,
        })
    }

    fn top_object(&self) -> Result<u64> {
        read_uint(self.bytes, self.bytes.len() - TRAILER_LEN + 16, 8)
    }

    /// Byte offset of an object, checked to lie in the object area.
    fn object_offset(&self, object: u64) -> Result<usize> {
        let at = self.offset_table + (object as usize) * self.offset_size;
        let offset = read_uint(self.bytes, at, self.offset_size)?;
        if offset < HEADER_LEN as u64 || offset >= self.offset_table as u64 {
            return Err(malformed(at, "object offset lies outside the object area"));
        }
        Ok(offset as usize)
    }

    /// Reads a length that follows a marker: the low nibble, or an integer object after it.
    /// Returns the length and the offset of the first byte after it.
    fn length(&self, at: usize, low: u8) -> Result<(u64, usize)> {
        if low != 0x0F {
            return Ok((u64::from(low), at + 1));
        }
        let marker = *self
            .bytes
            .get(at + 1)
            .ok_or_else(|| malformed(at + 1, "length runs past the end"))?;
        if marker >> 4 != 0x1 || marker & 0x0F > 3 {
            return Err(malformed(
                at + 1,
                "length is not an integer of 1 to 8 bytes",
            ));
        }
        let width = 1usize << (marker & 0x0F);
        let len = read_uint(self.bytes, at + 2, width)?;
        Ok((len, at + 2 + width))
    }

    /// Checks that `len` units of `unit` bytes starting at `start` lie before the table.
    fn extent(&self, at: usize, start: usize, len: u64, unit: u64) -> Result<()> {
        let end = len
            .checked_mul(unit)
            .and_then(|n| n.checked_add(start as u64))
            .ok_or_else(|| malformed(at, "object length overflows"))?;
        if end > self.offset_table as u64 {
            return Err(malformed(at, "object runs past the object area"));
        }
        Ok(())
    }

    /// Checks one object; for a container, says where its references are.
    fn inspect(&self, object: u64) -> Result<Option<Children>> {
        let at = self.object_offset(object)?;
        let marker = self.bytes[at];
        let (high, low) = (marker >> 4, marker & 0x0F);
        match high {
            0x0 if matches!(low, 0x0 | 0x8 | 0x9 | 0xF) => Ok(None),
            0x1 if low <= 4 => self.extent(at, at + 1, 1u64 << low, 1).map(|_| None),
            0x2 if (2..=3).contains(&low) => self.extent(at, at + 1, 1u64 << low, 1).map(|_| None),
            0x3 if low == 3 => self.extent(at, at + 1, 8, 1).map(|_| None),
            0x4..=0x6 => {
                let (len, start) = self.length(at, low)?;
                let unit = if high == 0x6 { 2 } else { 1 };
                self.extent(at, start, len, unit).map(|_| None)
            }
            0x8 => self.extent(at, at + 1, u64::from(low) + 1, 1).map(|_| None),
            0xA | 0xC | 0xD => {
                let (len, start) = self.length(at, low)?;
                let count = if high == 0xD {
                    len.checked_mul(2)
                        .ok_or_else(|| malformed(at, "dictionary length overflows"))?
                } else {
                    len
                };
                self.extent(at, start, count, self.ref_size as u64)?;
                Ok(Some(Children {
                    refs_start: start,
                    count,
                }))
            }
            _ => Err(malformed(at, "unknown object marker")),
        }
    }

    fn child(&self, children: &Children, index: u64) -> Result<u64> {
        let at = children.refs_start + (index as usize) * self.ref_size;
        let child = read_uint(self.bytes, at, self.ref_size)?;
        if child >= self.num_objects {
            return Err(malformed(at, "object reference is out of range"));
        }
        Ok(child)
    }
}

struct Frame {
    object: u64,
    children: Children,
    next: u64,
    /// Expanded size of the children visited so far.
    size: u64,
    /// Greatest height among the children visited so far.
    height: usize,
}

/// Walks the object graph of a binary plist and checks it against `limits`.
pub(crate) fn check(bytes: &[u8], limits: &Limits) -> Result<()> {
    let layout = Layout::read(bytes)?;
    let n = usize::try_from(layout.num_objects).map_err(|_| malformed(0, "too many objects"))?;
    let mut mark = vec![Mark::Unseen; n];
    let mut size = vec![0u64; n];
    let mut height = vec![0usize; n];
    let max_objects = limits.max_objects as u64;
    let too_many = || Error::TooManyObjects {
        limit: limits.max_objects,
    };

    let top = layout.top_object()?;
    let mut stack: Vec<Frame> = Vec::new();
    let mut pending = Some(top);
    loop {
        if let Some(object) = pending.take() {
            let i = object as usize;
            match mark[i] {
                Mark::OnStack => return Err(Error::CyclicReference { object }),
                Mark::Done => {
                    if stack.len() + height[i] > limits.max_depth {
                        return Err(Error::TooDeep {
                            limit: limits.max_depth,
                            location: format!("binary object {object}"),
                        });
                    }
                }
                Mark::Unseen => match layout.inspect(object)? {
                    None => {
                        mark[i] = Mark::Done;
                        size[i] = 1;
                    }
                    Some(children) => {
                        if stack.len() >= limits.max_depth {
                            return Err(Error::TooDeep {
                                limit: limits.max_depth,
                                location: format!("binary object {object}"),
                            });
                        }
                        mark[i] = Mark::OnStack;
                        stack.push(Frame {
                            object,
                            children,
                            next: 0,
                            size: 0,
                            height: 0,
                        });
                        continue;
                    }
                },
            }
            // A finished child: add it to its parent.
            if let Some(parent) = stack.last_mut() {
                parent.size = parent.size.saturating_add(size[i]);
                parent.height = parent.height.max(height[i]);
                if parent.size > max_objects {
                    return Err(too_many());
                }
            } else {
                return if size[i] > max_objects {
                    Err(too_many())
                } else {
                    Ok(())
                };
            }
        }
        let Some(frame) = stack.last_mut() else {
            return Ok(());
        };
        if frame.next < frame.children.count {
            let child = layout.child(&frame.children, frame.next)?;
            frame.next += 1;
            pending = Some(child);
        } else {
            let done = stack
                .pop()
                .ok_or_else(|| malformed(0, "walk stack empty"))?;
            let i = done.object as usize;
            mark[i] = Mark::Done;
            size[i] = done.size.saturating_add(1);
            height[i] = done.height + 1;
            if size[i] > max_objects {
                return Err(too_many());
            }
            // Hand the finished container to its parent through the same path as a leaf.
            match stack.last_mut() {
                Some(parent) => {
                    parent.size = parent.size.saturating_add(size[i]);
                    parent.height = parent.height.max(height[i]);
                    if parent.size > max_objects {
                        return Err(too_many());
                    }
                }
                None => return Ok(()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plist::Value;

    fn binary(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        value.to_writer_binary(&mut out).unwrap();
        out
    }

    #[test]
    fn accepts_a_normal_dictionary() {
        let mut dict = plist::Dictionary::new();
        dict.insert("MessageType".into(), Value::String("TokenUpdate".into()));
        dict.insert("Token".into(), Value::Data(vec![1, 2, 3]));
        dict.insert("List".into(), Value::Array(vec![Value::Boolean(true); 3]));
        assert!(check(&binary(&Value::Dictionary(dict)), &Limits::MDM).is_ok());
    }

    #[test]
    fn rejects_depth_over_limit() {
        let mut v = Value::Boolean(true);
        for _ in 0..20 {
            v = Value::Array(vec![v]);
        }
        let bytes = binary(&v);
        assert!(check(&bytes, &Limits::MDM.with_max_depth(20)).is_ok());
        assert!(matches!(
            check(&bytes, &Limits::MDM.with_max_depth(19)),
            Err(Error::TooDeep { .. })
        ));
    }

    /// An array of two references to the same array, 40 times: 2^40 objects expanded.
    #[test]
    fn rejects_exponential_shared_references() {
        let n = 42u8;
        let mut body = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        offsets.push(body.len());
        body.push(0x09); // object 0: true
        for i in 1..n {
            offsets.push(body.len());
            body.extend_from_slice(&[0xA2, i - 1, i - 1]);
        }
        let table = body.len();
        for o in &offsets {
            body.push(*o as u8);
        }
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 1]);
        body.extend_from_slice(&u64::from(n).to_be_bytes());
        body.extend_from_slice(&u64::from(n - 1).to_be_bytes());
        body.extend_from_slice(&(table as u64).to_be_bytes());
        let err = check(&body, &Limits::MDM).unwrap_err();
        assert!(matches!(err, Error::TooManyObjects { .. }), "{err}");
    }

    #[test]
    fn rejects_a_cycle() {
        // object 0: array holding object 0
        let mut body = b"bplist00".to_vec();
        body.extend_from_slice(&[0xA1, 0x00]);
        let table = body.len();
        body.push(8);
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 1]);
        body.extend_from_slice(&1u64.to_be_bytes());
        body.extend_from_slice(&0u64.to_be_bytes());
        body.extend_from_slice(&(table as u64).to_be_bytes());
        assert!(matches!(
            check(&body, &Limits::MDM),
            Err(Error::CyclicReference { object: 0 })
        ));
    }

    #[test]
    fn rejects_a_string_longer_than_the_body() {
        let mut body = b"bplist00".to_vec();
        body.extend_from_slice(&[0x5F, 0x13]);
        body.extend_from_slice(&u64::MAX.to_be_bytes());
        let table = body.len();
        body.push(8);
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0, 1, 1]);
        body.extend_from_slice(&1u64.to_be_bytes());
        body.extend_from_slice(&0u64.to_be_bytes());
        body.extend_from_slice(&(table as u64).to_be_bytes());
        assert!(matches!(
            check(&body, &Limits::MDM),
            Err(Error::MalformedBinary { .. })
        ));
    }
}
