//! The crate's error type.

use std::time::Duration;

/// Everything that can go wrong in this crate.
///
/// Peer garbage ([`Error::Decode`], [`Error::BodyTooLarge`], [`Error::Invalid`]), the
/// service's refusals ([`Error::Http`]) and transport failure ([`Error::Transport`]) are
/// distinct variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A body does not match its schema.
    #[error("cannot decode the {context} response at `{path}`: {source}")]
    Decode {
        /// What was decoded.
        context: &'static str,
        /// Where in the body the value did not match, such as `AssetSets.iOS[2].Build`
        /// (`.` for the body itself).
        path: String,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A value has the type its schema says but not the form its meaning needs (a date that
    /// is not a date, a version that is not dotted numbers).
    #[error("invalid `{field}` {value:?}: {reason}")]
    Invalid {
        /// Where the value is, such as `AssetSets.iOS[2].ExpirationDate`.
        field: String,
        /// The value (cut to 100 characters).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A body is larger than the limit.
    #[error("the {context} body is {len} bytes, more than the limit of {limit}")]
    BodyTooLarge {
        /// What was read.
        context: &'static str,
        /// Its length (or a lower bound).
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The service answered with a failed status.
    #[error("{context}: HTTP {status}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default())]
    Http {
        /// What was called.
        context: &'static str,
        /// The status code.
        status: u16,
        /// The `Retry-After` the service sent, in seconds.
        retry_after: Option<Duration>,
        /// The start of the body (200 bytes at most), for the log.
        body: String,
    },
    /// The API refused the call with JSON:API error objects (Apple Business Manager API).
    #[error("{context}: HTTP {status}{}{}", retry_after.map(|d| format!(" (retry after {}s)", d.as_secs())).unwrap_or_default(), errors.first().map(|e| format!(": {} {}", e.code, e.detail)).unwrap_or_default())]
    Api {
        /// What was called.
        context: &'static str,
        /// The status code.
        status: u16,
        /// The `Retry-After` the service sent (throttling, 429).
        retry_after: Option<Duration>,
        /// Apple's error objects (empty when the body had none).
        errors: Vec<ApiError>,
    },
    /// The caller passed something that cannot be sent.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// The argument.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The request could not be sent or the answer not read.
    #[error("transport: {0}")]
    Transport(Box<dyn std::error::Error + Send + Sync>),
}

/// One of Apple's JSON:API error objects.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// Apple's code, such as `NOT_FOUND` or `RATE_LIMIT_EXCEEDED`.
    pub code: String,
    /// The HTTP status as a string.
    pub status: String,
    /// A short summary.
    pub title: String,
    /// The explanation.
    pub detail: String,
}

impl Error {
    /// How long the service asked to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } | Error::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } | Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The largest body accepted from a service (GDMF's catalogue is about 200 KiB).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// Decodes a JSON body into `T`, naming the path of the value that did not match.
pub fn decode_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    context: &'static str,
) -> Result<T, Error> {
    if body.len() > MAX_BODY {
        return Err(Error::BodyTooLarge {
            context,
            len: body.len(),
            limit: MAX_BODY,
        });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| Error::Decode {
        context,
        path: e.path().to_string(),
        source: e.into_inner(),
    })?;
    de.end().map_err(|source| Error::Decode {
        context,
        path: ".".to_string(),
        source,
    })?;
    Ok(value)
}

/// `Retry-After` in seconds (the form Apple's services send); an HTTP date is ignored.
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// [`Error::Http`] for a failed status, else nothing.
pub fn check_status(
    status: http::StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
    context: &'static str,
) -> Result<(), Error> {
    if status.is_success() {
        return Ok(());
    }
    let end = body.len().min(200);
    Err(Error::Http {
        context,
        status: status.as_u16(),
        retry_after: retry_after(headers),
        body: String::from_utf8_lossy(body.get(..end).unwrap_or_default()).into_owned(),
    })
}

pub(crate) fn cut(value: &str) -> String {
    value.chars().take(100).collect()
}
