//! The crate's one error type (shared by the protocol crates built on it).

/// Everything that can go wrong in this crate.
///
/// Peer garbage ([`Error::Malformed`], [`Error::Invalid`], [`Error::Unsupported`],
/// [`Error::BadSignature`], [`Error::Decrypt`], [`Error::Mismatch`], [`Error::TooLarge`]),
/// caller misuse ([`Error::Usage`]), a missing or wrong passphrase ([`Error::Passphrase`]),
/// local key failures ([`Error::Key`]) and, for the HTTP layers of crates built on this one
/// (scep-proto's client), transport failures ([`Error::Transport`], [`Error::Http`]) are
/// distinct variants. This crate itself does no I/O.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not valid DER/BER where `what` was expected.
    #[error("malformed {what} at byte {offset}: {reason}")]
    Malformed {
        /// What was being parsed.
        what: &'static str,
        /// Byte offset in the input.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A well-formed value that is not acceptable.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// A required element is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// An algorithm or message kind this crate does not implement.
    #[error("unsupported {what}: {value}")]
    Unsupported {
        /// The field.
        what: &'static str,
        /// The value found.
        value: String,
    },
    /// A signature did not verify.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// An envelope could not be opened.
    #[error("cannot decrypt: {0}")]
    Decrypt(String),
    /// transactionID or nonce does not match the request.
    #[error("mismatch: {0}")]
    Mismatch(String),
    /// The input is larger than the limit.
    #[error("input too large: {len} bytes (limit {limit})")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// A PEM key or PKCS#12 file is encrypted and no passphrase, or a wrong one, was given.
    #[error("passphrase: {0}")]
    Passphrase(String),
    /// The caller passed something unusable (not the peer's fault).
    #[error("usage: {0}")]
    Usage(String),
    /// A local private-key operation failed.
    #[error("key operation failed: {0}")]
    Key(String),
    /// A certificate path did not validate: `certificate` names which one (its role and
    /// subject), `failure` says why.
    #[error("certificate path: {certificate}: {failure}")]
    Path {
        /// The failing certificate's role and subject, e.g. `intermediate 0 (CN=Sub CA)`.
        certificate: String,
        /// What was wrong with it.
        failure: crate::validate::PathFailure,
    },
    /// The server answered with an HTTP error.
    #[error("HTTP {status}: {body}")]
    Http {
        /// Status code.
        status: u16,
        /// Start of the body.
        body: String,
    },
    /// Network failure.
    #[error("transport: {0}")]
    Transport(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// [`Error::Malformed`] from its parts.
    pub fn malformed(what: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            offset,
            reason: reason.into(),
        }
    }

    /// [`Error::Invalid`] from its parts.
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            what,
            reason: reason.into(),
        }
    }

    /// [`Error::Unsupported`] from its parts.
    pub fn unsupported(what: &'static str, value: impl Into<String>) -> Self {
        Self::Unsupported {
            what,
            value: value.into(),
        }
    }

    /// [`Error::Malformed`] from a der error, with its byte position.
    pub fn der(what: &'static str, e: der::Error) -> Self {
        let offset = e
            .position()
            .map(|p| usize::try_from(u32::from(p)).unwrap_or(0))
            .unwrap_or(0);
        Self::Malformed {
            what,
            offset,
            reason: e.to_string(),
        }
    }
}

/// Result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
