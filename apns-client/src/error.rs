//! The crate's one error type.

/// Everything that can go wrong in this crate.
///
/// Faults are kept apart: [`Error::InvalidInput`] is a caller mistake, [`Error::InvalidResponse`]
/// is garbage from the peer, the certificate variants describe files the caller loaded, and
/// [`Error::Transport`] (client feature) is a network failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value the caller gave cannot be used (a device token that is not hex, an empty topic…).
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// Which input was wrong.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The APNs answer could not be understood.
    #[error("invalid APNs response: {what}: {reason}")]
    InvalidResponse {
        /// Where in the response (header name, JSON key or byte offset).
        what: String,
        /// Why.
        reason: String,
    },
    /// A PEM, DER or PKCS#12 container could not be read.
    #[error("cannot read {what}: {reason}")]
    Certificate {
        /// Which file or object (for example `certificate PEM`, `private key`, `PKCS#12`).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The private key is encrypted and no passphrase (or a wrong one) was given.
    #[error("private key: {0}")]
    KeyDecryption(String),
    /// The certificate is well formed but it is not an MDM push certificate.
    #[error("not an MDM push certificate: {0}")]
    NotMdmPushCertificate(String),
    /// The private key does not belong to the certificate.
    #[error("the private key does not match the certificate's public key ({0})")]
    KeyMismatch(String),
    /// A network or TLS failure (client and mock features).
    #[error("transport: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub(crate) fn input(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    pub(crate) fn response(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidResponse {
            what: what.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn cert(what: &'static str, reason: impl std::fmt::Display) -> Self {
        Error::Certificate {
            what,
            reason: reason.to_string(),
        }
    }
}
