//! Activation Lock bypass codes in Apple's format.
//!
//! A bypass code is 16 random bytes. People see it as 26 characters of the alphabet
//! `0123456789ACDEFGHJKLMNPQRTUVWXYZ` (5 bits each, most significant first, the last character
//! holding the 3 remaining bits), grouped `XXXXX-XXXXX-XXXX-XXXX-XXXX-XXXX`. Apple receives
//! only its hash, the `escrow_key`: PBKDF2-HMAC-SHA256 of the 16 bytes with a salt of four
//! zero bytes, 50,000 iterations and 32 bytes of output, in lowercase hex.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::error::Error;

const ALPHABET: &[u8; 32] = b"0123456789ACDEFGHJKLMNPQRTUVWXYZ";
const GROUPS: [usize; 6] = [5, 5, 4, 4, 4, 4];
/// PBKDF2 iterations of the escrow key.
pub const ITERATIONS: u32 = 50_000;
/// PBKDF2 salt of the escrow key.
pub const SALT: [u8; 4] = [0; 4];

/// An Activation Lock bypass code.
#[derive(Clone, PartialEq, Eq)]
pub struct BypassCode {
    key: [u8; 16],
}

impl std::fmt::Debug for BypassCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BypassCode(<redacted>)")
    }
}

impl BypassCode {
    /// A new random code.
    pub fn generate() -> Self {
        BypassCode {
            key: rand::random(),
        }
    }

    /// The code made of these 16 bytes.
    pub fn from_bytes(key: [u8; 16]) -> Self {
        BypassCode { key }
    }

    /// The 16 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.key
    }

    /// The human-readable form, `XXXXX-XXXXX-XXXX-XXXX-XXXX-XXXX`.
    pub fn code(&self) -> String {
        let mut symbols = Vec::with_capacity(26);
        let value = u128::from_be_bytes(self.key);
        for i in 0..25 {
            let shift = 128 - 5 * (i + 1);
            symbols.push(ALPHABET[((value >> shift) & 0x1f) as usize]);
        }
        symbols.push(ALPHABET[((value & 0x7) << 2) as usize]);
        let mut out = String::with_capacity(31);
        let mut pos = 0;
        for (g, len) in GROUPS.iter().enumerate() {
            if g > 0 {
                out.push('-');
            }
            for &s in &symbols[pos..pos + len] {
                out.push(char::from(s));
            }
            pos += len;
        }
        out
    }

    /// Parses the human-readable form (dashes and case are ignored).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let invalid = |reason: String| Error::InvalidInput {
            what: "bypass code",
            reason,
        };
        let mut value: u128 = 0;
        let mut count = 0usize;
        for (offset, c) in text.char_indices() {
            if c == '-' {
                continue;
            }
            let upper = c.to_ascii_uppercase();
            let digit = ALPHABET
                .iter()
                .position(|&a| char::from(a) == upper)
                .ok_or_else(|| invalid(format!("character {c:?} at byte {offset}")))?;
            count += 1;
            if count > 26 {
                return Err(invalid("more than 26 characters".into()));
            }
            if count == 26 {
                if digit & 0x3 != 0 {
                    return Err(invalid("the last character has padding bits set".into()));
                }
                value = (value << 3) | (digit as u128 >> 2);
            } else {
                value = (value << 5) | digit as u128;
            }
        }
        if count != 26 {
            return Err(invalid(format!("{count} characters, expected 26")));
        }
        Ok(BypassCode {
            key: value.to_be_bytes(),
        })
    }

    /// The escrow key Apple stores: the hex PBKDF2-HMAC-SHA256 hash of the raw bytes.
    pub fn hash(&self) -> String {
        hex::encode(pbkdf2_sha256_32(&self.key, &SALT, ITERATIONS))
    }
}

/// PBKDF2-HMAC-SHA256 with one 32-byte block of output.
fn pbkdf2_sha256_32(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    let Ok(prf) = <Hmac<Sha256> as KeyInit>::new_from_slice(password) else {
        return out;
    };
    let mut mac = prf.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    out = u;
    for _ in 1..iterations {
        let mut mac = prf.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let code = BypassCode::from_bytes([0xff; 16]);
        assert_eq!(code.code(), "ZZZZZ-ZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZW");
        let code = BypassCode::from_bytes([0; 16]);
        assert_eq!(code.code(), "00000-00000-0000-0000-0000-0000");
        for _ in 0..20 {
            let c = BypassCode::generate();
            let text = c.code();
            assert_eq!(text.len(), 31);
            assert_eq!(BypassCode::parse(&text).unwrap(), c);
            assert_eq!(BypassCode::parse(&text.to_lowercase()).unwrap(), c);
        }
        assert!(BypassCode::parse("ZZZZZ-ZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZZ").is_err());
        assert!(BypassCode::parse("ZZZZZ").is_err());
        assert!(BypassCode::parse("BBBBB-ZZZZZ-ZZZZ-ZZZZ-ZZZZ-ZZZW").is_err());
    }

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1, 64), first 32 bytes.
        assert_eq!(
            hex::encode(pbkdf2_sha256_32(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
    }

    #[test]
    fn hash_is_hex_sha256_sized() {
        let h = BypassCode::from_bytes([0; 16]).hash();
        assert_eq!(h.len(), 64);
        assert_eq!(h, REFERENCE_ZERO_HASH);
    }

    // Python: hashlib.pbkdf2_hmac("sha256", bytes(16), bytes(4), 50000, 32).hex()
    const REFERENCE_ZERO_HASH: &str =
        "deab860d28deb5b7121d6d8fcf0f78e1471756d1b2c566c03277c23ea8930b4f";
}
