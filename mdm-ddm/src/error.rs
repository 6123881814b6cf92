//! The crate's one error type.

/// Everything that can go wrong while reading or writing DDM documents.
///
/// What a peer sent wrong (limits, malformed JSON, missing or mistyped keys, unknown
/// endpoints) is kept apart from what a caller asked for wrongly ([`Error::Usage`]).
/// Messages name the key path (`Payload.Reference.DataURL`,
/// `StatusItems.management.declarations.activations[0].valid`) that was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body is larger than the configured limit.
    #[error("body is {size} bytes, larger than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the body in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The body nests objects and arrays deeper than the configured limit.
    #[error("JSON nests deeper than the limit of {limit} levels (at byte {offset})")]
    TooDeep {
        /// The configured limit.
        limit: usize,
        /// Byte offset where the limit was crossed.
        offset: usize,
    },
    /// The body is not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// A key that must be present is missing.
    #[error("missing required key `{path}`")]
    MissingKey {
        /// The key path, such as `Payload.Reference.DataURL`.
        path: String,
    },
    /// A key is present with a value of the wrong type.
    #[error("key `{path}` should be {expected}, found {found}")]
    WrongType {
        /// The key path (empty for the top level).
        path: String,
        /// The type the schema expects.
        expected: &'static str,
        /// The type found.
        found: &'static str,
    },
    /// A key has the right type but a value that cannot be accepted.
    #[error("key `{path}` has an invalid value: {reason}")]
    InvalidValue {
        /// The key path.
        path: String,
        /// Why the value was refused.
        reason: String,
    },
    /// A DeclarativeManagement check-in names an endpoint this crate does not serve.
    #[error("unknown DeclarativeManagement endpoint `{0}`")]
    UnknownEndpoint(String),
    /// The status endpoint was called without a status report in `Data`.
    #[error("the `{0}` endpoint needs a body in the check-in's `Data`")]
    MissingData(String),
    /// The caller asked for something that cannot be done (not the peer's fault).
    #[error("usage error: {0}")]
    Usage(String),
}

impl Error {
    /// True when the error is about the input (something a peer sent), not about the caller.
    pub fn is_malformed_input(&self) -> bool {
        !matches!(self, Error::Usage(_))
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
