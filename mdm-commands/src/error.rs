//! The crate's one error type.

/// Everything that can go wrong while reading or writing a command or a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The plist was refused, or a key is missing or of the wrong type (the message names
    /// the key path, such as `Command.Queries[0]`).
    #[error(transparent)]
    Payload(#[from] mdm_proto::Error),
    /// A JSON value could not be read as the schema's type (the message names the key path).
    #[error("JSON key `{path}`: {reason}")]
    Json {
        /// The key path.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

impl Error {
    pub(crate) fn json(path: &str, reason: impl Into<String>) -> Self {
        Error::Json {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
