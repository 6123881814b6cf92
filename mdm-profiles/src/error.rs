//! The crate's one error type.

/// Why a profile could not be read.
///
/// What a profile says wrongly *inside* a well-formed plist (unknown keys, wrong types,
/// missing keys) is not an error: it is a [`Finding`](crate::lint::Finding) of the linter,
/// and the profile still decodes (the payload is then kept untyped).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a property list (nor a CMS-signed one), or the plist front door
    /// refused them (size, depth, object limits, malformed XML or binary).
    #[error("not a profile: {0}")]
    NotAPlist(#[source] mdm_proto::Error),
    /// The plist is well formed but its top-level value is not a dictionary.
    #[error("not a profile: the top-level value is {found}, not a dictionary")]
    NotADictionary {
        /// The kind of value found.
        found: &'static str,
    },
    /// The profile is CMS-signed but the signature cannot be read or does not verify.
    #[error("signed profile: {reason}")]
    BrokenSignature {
        /// What is wrong with the signature.
        reason: String,
    },
    /// The signature verifies, but its signer is not trusted: no path from the signer's
    /// certificate (through the certificates the signature carries) to a given anchor.
    #[error("signed profile: the signer is not trusted: {reason}")]
    Untrusted {
        /// Why the path to the anchors failed.
        reason: String,
    },
    /// Signing failed (a key or certificate mdm-pki refuses).
    #[error("signing the profile: {0}")]
    Sign(#[source] mdm_pki::Error),
    /// A payload a builder made does not pass the linter (a value outside the schema's
    /// allowed values or range, an unknown restriction key).
    #[error("{payload_type}: {reason}")]
    Invalid {
        /// The payload type built.
        payload_type: &'static str,
        /// The first error the linter found.
        reason: String,
        /// Every error the linter found.
        findings: Vec<crate::lint::Finding>,
    },
    /// Encoding failed (a value the plist writer refuses).
    #[error("encoding the profile: {0}")]
    Encode(#[source] mdm_proto::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
