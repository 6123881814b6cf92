//! Constant-time comparison of secrets (challenge passwords, tokens, MACs).

use subtle::ConstantTimeEq as _;

/// True if `a` and `b` are equal, in time that depends only on their lengths (`subtle`).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn equal_and_unequal() {
        assert!(constant_time_eq(b"sekrit", b"sekrit"));
        assert!(!constant_time_eq(b"sekrit", b"sekriT"));
        assert!(!constant_time_eq(b"sekrit", b"sekrit!"));
        assert!(constant_time_eq(b"", b""));
    }
}
