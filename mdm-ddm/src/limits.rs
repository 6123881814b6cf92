//! The front door for untrusted JSON bodies: size and depth are checked before parsing.

use crate::error::{Error, Result};
use serde_json::Value;

/// Limits applied to an untrusted DDM body before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest body accepted, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of objects and arrays accepted.
    pub max_depth: usize,
}

impl Limits {
    /// Limits for DDM bodies: 10 MiB and 64 levels.
    ///
    /// The deepest schema path (a status reason's details inside `management.declarations`)
    /// is about ten levels; the size leaves room for certificate lists with DER data.
    /// serde_json stops at 128 levels by itself; this limit is lower and checked first.
    pub const DDM: Limits = Limits {
        max_bytes: 10 * 1024 * 1024,
        max_depth: 64,
    };

    /// These limits with a different size limit.
    pub const fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// These limits with a different depth limit.
    pub const fn with_max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DDM
    }
}

/// Checks the size and the nesting depth of `bytes` without building anything.
pub fn check(bytes: &[u8], limits: &Limits) -> Result<()> {
    if bytes.len() > limits.max_bytes {
        return Err(Error::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (offset, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(Error::TooDeep {
                        limit: limits.max_depth,
                        offset,
                    });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses an untrusted body into a JSON value after [`check`]ing it.
pub fn parse_json(bytes: &[u8], limits: &Limits) -> Result<Value> {
    check(bytes, limits)?;
    serde_json::from_slice(bytes).map_err(Error::Json)
}

/// Parses an untrusted body that must be a JSON object.
pub fn parse_object(bytes: &[u8], limits: &Limits) -> Result<serde_json::Map<String, Value>> {
    match parse_json(bytes, limits)? {
        Value::Object(map) => Ok(map),
        other => Err(Error::WrongType {
            path: String::new(),
            expected: "an object at the top level",
            found: crate::schema::kind_of(&other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_is_checked_before_parsing() {
        let deep = "[".repeat(100_000);
        assert!(matches!(
            parse_json(deep.as_bytes(), &Limits::DDM),
            Err(Error::TooDeep {
                limit: 64,
                offset: 64
            })
        ));
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse_json(ok.as_bytes(), &Limits::DDM).is_ok());
        // Brackets inside strings do not count.
        let text = format!("{{\"a\":\"{}\\\"\"}}", "[".repeat(1000));
        assert!(parse_json(text.as_bytes(), &Limits::DDM).is_ok());
    }

    #[test]
    fn size_is_checked() {
        let limits = Limits::DDM.with_max_bytes(4);
        assert!(matches!(
            parse_json(b"[1,2,3]", &limits),
            Err(Error::TooLarge { size: 7, limit: 4 })
        ));
    }
}
