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
        /// HTTP status of the answer.
        status: u16,
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
    /// A network failure: connect, reset, GOAWAY, a dropped connection (client and mock).
    #[error("transport: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A TLS failure: the peer rejected our certificate or we rejected theirs.
    #[error("TLS: {0}")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The push did not finish within its deadline (all attempts included).
    #[error("no answer within the deadline of {0:?}")]
    Deadline(std::time::Duration),
    /// No push certificate is loaded for this topic.
    #[error("no push certificate loaded for topic {0:?}")]
    UnknownTopic(String),
}

impl Error {
    pub(crate) fn input(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    /// What a failed push means: transport failures, deadlines and 5xx garbage are worth a
    /// retry; everything else needs a change of configuration or input.
    pub fn disposition(&self) -> crate::Disposition {
        match self {
            Error::InvalidResponse { status, .. } => crate::Disposition::classify(*status, None),
            Error::Transport(_) | Error::Deadline(_) => crate::Disposition::RetryLater,
            _ => crate::Disposition::ConfigError,
        }
    }

    pub(crate) fn response(
        status: u16,
        what: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::InvalidResponse {
            status,
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
