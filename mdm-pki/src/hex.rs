//! Hexadecimal helpers (IVs in PEM headers, transaction IDs, fingerprints).

/// Decodes hex (either case); `None` if it is not an even number of hex digits.
pub fn decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Encodes bytes as uppercase hex.
pub fn encode_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}
