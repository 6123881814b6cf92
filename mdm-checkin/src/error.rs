//! The crate's one error type.

/// Everything that can go wrong while reading or writing a check-in message.
///
/// Every variant but [`Error::Usage`] is about the input: what a device (or whoever sent the
/// body) got wrong. Messages name the key path that was wrong and the message type it was in.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body was refused before any key was read: too large, too deep, not a plist, not
    /// a dictionary, or malformed (see [`mdm_proto::Error`]).
    #[error("check-in body: {0}")]
    Body(#[source] mdm_proto::Error),
    /// The dictionary has no `MessageType` key, or its value is not a string.
    #[error("check-in has no `MessageType` string (found {found})")]
    NoMessageType {
        /// What was found instead: "nothing" or the kind of value.
        found: &'static str,
    },
    /// A typed decoder was given a message of another type.
    #[error("expected a {expected} check-in, found MessageType `{found}`")]
    UnexpectedMessageType {
        /// The type the decoder reads.
        expected: crate::MessageType,
        /// The `MessageType` of the message.
        found: String,
    },
    /// A key of a message is missing, mistyped or has a value that cannot be accepted.
    #[error("{message_type} check-in: {source}")]
    Invalid {
        /// The `MessageType` (or response) being read.
        message_type: String,
        /// What was wrong, with its key path.
        #[source]
        source: mdm_proto::Error,
    },
    /// A key of a response body is missing, mistyped or has a value that cannot be accepted.
    #[error("{response}: {source}")]
    InvalidResponse {
        /// The response being read, such as `GetToken response`.
        response: &'static str,
        /// What was wrong, with its key path.
        #[source]
        source: mdm_proto::Error,
    },
    /// A message could not be written as a plist.
    #[error("check-in could not be encoded: {0}")]
    Encode(#[source] mdm_proto::Error),
    /// A JSON body (an error body) that is not JSON or has no plist form.
    #[error("JSON body: {0}")]
    Json(String),
    /// The caller asked for something that cannot be done (not the peer's fault).
    #[error("usage error: {0}")]
    Usage(String),
}

impl Error {
    /// True when the error is about the input (something a peer sent), not about the caller.
    pub fn is_malformed_input(&self) -> bool {
        !matches!(self, Error::Usage(_) | Error::Encode(_))
    }

    /// The key path the error is about, when it is about one key.
    pub fn key_path(&self) -> Option<&str> {
        match self {
            Error::Invalid {
                source:
                    mdm_proto::Error::MissingKey { path }
                    | mdm_proto::Error::WrongType { path, .. }
                    | mdm_proto::Error::InvalidValue { path, .. },
                ..
            }
            | Error::InvalidResponse {
                source:
                    mdm_proto::Error::MissingKey { path }
                    | mdm_proto::Error::WrongType { path, .. }
                    | mdm_proto::Error::InvalidValue { path, .. },
                ..
            } => Some(path),
            Error::NoMessageType { .. } | Error::UnexpectedMessageType { .. } => {
                Some("MessageType")
            }
            _ => None,
        }
    }

    pub(crate) fn invalid(message_type: &str, source: mdm_proto::Error) -> Self {
        Error::Invalid {
            message_type: message_type.to_owned(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
