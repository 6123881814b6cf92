//! The crate's one error type.

/// Everything that can go wrong while reading or writing an MDM payload.
///
/// Variants keep apart what a peer sent wrong (limits, malformed plists, missing or
/// mistyped keys) from what a caller asked for wrongly ([`Error::Usage`]). Messages name the
/// key path (`ErrorChain[0].ErrorCode`) or the byte offset that was wrong.
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
    /// The body nests dictionaries and arrays deeper than the configured limit.
    #[error("plist nests deeper than the limit of {limit} levels (at {location})")]
    TooDeep {
        /// The configured limit.
        limit: usize,
        /// Where the limit was crossed: a byte offset or a binary object number.
        location: String,
    },
    /// The body holds (or, through shared references, expands to) more objects than allowed.
    #[error("plist expands to more than {limit} objects")]
    TooManyObjects {
        /// The configured limit.
        limit: usize,
    },
    /// A binary plist refers back to one of its own containers.
    #[error("binary plist object {object} refers to itself through its children")]
    CyclicReference {
        /// The object number that closes the cycle.
        object: u64,
    },
    /// A binary plist whose structure (trailer, offset table, object markers) is broken.
    #[error("malformed binary plist: {reason} (at byte {offset})")]
    MalformedBinary {
        /// Byte offset of the problem.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// The body is neither an XML nor a binary property list.
    #[error("body is not a property list: {reason}")]
    NotAPlist {
        /// What was seen instead.
        reason: &'static str,
    },
    /// An XML plist value that is not what its element says (`<data>` that is not base64,
    /// a `<date>` that is not ISO 8601, an `<integer>` that is not a number…), named by the
    /// key it belongs to.
    #[error("key `{key}`: {reason}: `{value}` (at byte {offset})")]
    InvalidXmlValue {
        /// The key the value belongs to (the nearest `<key>` before it), `` for none.
        key: String,
        /// The value as sent, cut to 64 characters.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
        /// Byte offset of the value.
        offset: u64,
    },
    /// The plist parser rejected the body (bad XML, bad base64 in `<data>`, bad dates...).
    #[error("plist could not be decoded: {0}")]
    Plist(#[source] plist::Error),
    /// The top-level value is not a dictionary.
    #[error("expected a dictionary at the top level, found {found}")]
    NotADictionary {
        /// The kind of value found.
        found: &'static str,
    },
    /// A key that must be present is missing.
    #[error("missing required key `{path}`")]
    MissingKey {
        /// The key path, such as `Command.RequestType`.
        path: String,
    },
    /// A key is present with a value of the wrong type.
    #[error("key `{path}` should be {expected}, found {found}")]
    WrongType {
        /// The key path.
        path: String,
        /// The type the schema expects.
        expected: &'static str,
        /// The type found on the wire.
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
    /// The message names no device: it has neither `UDID` nor `EnrollmentID`.
    #[error("message identifies no enrollment: it has neither UDID nor EnrollmentID")]
    NoEnrollmentIdentity,
    /// A request signature or a forwarded client certificate could not be verified.
    #[error("signature: {0}")]
    Signature(String),
    /// The caller asked for something that cannot be done (not the peer's fault).
    #[error("usage error: {0}")]
    Usage(String),
}

impl Error {
    /// True when the error is about the input (something a peer sent), not about the caller.
    pub fn is_malformed_input(&self) -> bool {
        !matches!(self, Error::Usage(_))
    }

    /// A copy of a key-path error with `prefix.` put in front of its path.
    pub fn with_path_prefix(self, prefix: &str) -> Self {
        let join = |path: String| {
            if path.is_empty() {
                prefix.to_owned()
            } else if path.starts_with('[') {
                format!("{prefix}{path}")
            } else {
                format!("{prefix}.{path}")
            }
        };
        match self {
            Error::MissingKey { path } => Error::MissingKey { path: join(path) },
            Error::WrongType {
                path,
                expected,
                found,
            } => Error::WrongType {
                path: join(path),
                expected,
                found,
            },
            Error::InvalidValue { path, reason } => Error::InvalidValue {
                path: join(path),
                reason,
            },
            other => other,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
