//! The crate's error type.

use std::time::Duration;

use crate::types::ErrorCode;

/// Everything that can go wrong in this crate.
///
/// Peer garbage ([`Error::Decode`], [`Error::BodyTooLarge`], [`Error::TokenFile`]), Apple's
/// refusals ([`Error::Api`]), caller misuse ([`Error::InvalidInput`]) and transport failure
/// ([`Error::Transport`]) are distinct variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A response body is not the JSON this endpoint returns.
    #[error("cannot decode the {context} response at `{path}`: {source}")]
    Decode {
        /// The endpoint or body that was decoded.
        context: &'static str,
        /// Where in the body the value did not match its schema, such as
        /// `devices[3].serial_number` (`.` for the body itself).
        path: String,
        /// The JSON error (it names the line and column).
        source: serde_json::Error,
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
    /// Apple (or the mock) refused the call.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The caller passed something the API cannot take.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// The argument.
        what: &'static str,
        /// Why it is wrong.
        reason: String,
    },
    /// A server token file (or its decrypted content) is malformed.
    #[error("server token file: {reason}")]
    TokenFile {
        /// What was wrong, and where.
        reason: String,
    },
    /// Key or certificate generation, or envelope decryption, failed.
    #[error("crypto ({context}): {reason}")]
    Crypto {
        /// The operation.
        context: &'static str,
        /// The cause.
        reason: String,
    },
    /// The connection to Apple failed (DNS, TCP, TLS, HTTP framing, timeout).
    #[error("transport: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The cursor store failed.
    #[error("cursor store: {0}")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The page handler of a sync failed; the cursor was not advanced.
    #[error("page handler: {0}")]
    Handler(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Apple's error, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the connection failed (the call may be retried).
    pub fn is_transport(&self) -> bool {
        matches!(self, Error::Transport(_))
    }
}

/// A failed call: the HTTP status, Apple's error code and the body's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Apple answered HTTP {status} {code}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP status.
    pub status: u16,
    /// Apple's code from the body, or one derived from the status.
    pub code: ErrorCode,
    /// The body as text (cut to [`ApiError::MAX_MESSAGE`] bytes), without the code when the
    /// body is the code alone.
    pub message: String,
    /// The `Retry-After` header, in seconds form.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    /// The most bytes of an error body kept in [`ApiError::message`].
    pub const MAX_MESSAGE: usize = 512;

    /// Builds the error from a failed response's status, `Retry-After` header and body.
    pub fn from_response(status: u16, retry_after: Option<&str>, body: &[u8]) -> Self {
        let cut = &body[..body.len().min(Self::MAX_MESSAGE)];
        let text = String::from_utf8_lossy(cut).trim().to_string();
        let (code, message) = extract_code(&text, body.len() <= Self::MAX_MESSAGE);
        let code = code.unwrap_or_else(|| ErrorCode::from_status(status));
        let retry_after = retry_after.and_then(parse_retry_after);
        ApiError {
            status,
            code,
            message,
            retry_after,
        }
    }

    /// Whether the session must be renewed: HTTP 401, or a 403 that says a token expired.
    pub fn is_session_expired(&self) -> bool {
        if self.status == 401 {
            return true;
        }
        if self.status == 403 && !self.code.is_cursor_error() {
            let lower = self.message.to_ascii_lowercase();
            let code = self.code.as_str().to_ascii_lowercase();
            return (lower.contains("expired") || code.contains("expired"))
                && (lower.contains("token")
                    || code.contains("token")
                    || lower.contains("session"));
        }
        false
    }

    /// Whether Apple asks the caller to slow down (THROTTLED, HTTP 429, or 503 with
    /// `Retry-After`).
    pub fn is_throttled(&self) -> bool {
        self.code == ErrorCode::Throttled
            || self.status == 429
            || (self.status == 503 && self.retry_after.is_some())
    }

    /// Whether the cursor must be dropped and the devices fetched again.
    pub fn is_cursor_error(&self) -> bool {
        self.code.is_cursor_error()
    }
}

/// Largest `Retry-After` honoured, so a hostile header cannot park a sync for days.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

fn is_code_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && s.bytes().any(|b| b.is_ascii_uppercase())
}

/// Finds Apple's code in an error body: a bare `CODE`, `"CODE"`, `CODE: message`, or a JSON
/// object with a `code`, `error_code` or `error` key.
fn extract_code(text: &str, complete: bool) -> (Option<ErrorCode>, String) {
    if complete && text.starts_with('{') {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text)
        {
            for key in ["code", "error_code", "error"] {
                if let Some(serde_json::Value::String(code)) = map.get(key)
                    && is_code_token(code)
                {
                    let message = ["message", "error_description", "description"]
                        .iter()
                        .find_map(|k| map.get(*k).and_then(|v| v.as_str()))
                        .unwrap_or_default()
                        .to_string();
                    return (Some(ErrorCode::from(code.as_str())), message);
                }
            }
        }
        return (None, text.to_string());
    }
    let unquoted = text.trim_matches('"');
    if is_code_token(unquoted) {
        return (Some(ErrorCode::from(unquoted)), String::new());
    }
    // "CODE: message" or "CODE message"
    let head: String = unquoted
        .chars()
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
        .collect();
    if head.len() >= 3 && is_code_token(&head) && head.contains('_') {
        let rest = unquoted[head.len()..]
            .trim_start_matches([':', ' ', '-'])
            .to_string();
        return (Some(ErrorCode::from(head.as_str())), rest);
    }
    (None, text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_from_bodies() {
        let e = ApiError::from_response(400, None, b"EXPIRED_CURSOR");
        assert_eq!(e.code, ErrorCode::ExpiredCursor);
        assert!(e.is_cursor_error());
        assert!(!e.is_session_expired());
        let e = ApiError::from_response(400, None, b"\"INVALID_CURSOR\"\n");
        assert_eq!(e.code, ErrorCode::InvalidCursor);
        let e =
            ApiError::from_response(400, Some("3"), br#"{"code":"THROTTLED","message":"slow"}"#);
        assert!(e.is_throttled());
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        assert_eq!(e.message, "slow");
        let e = ApiError::from_response(401, None, b"UNAUTHORIZED");
        assert!(e.is_session_expired());
        let e = ApiError::from_response(403, None, b"FORBIDDEN: oauth token expired");
        assert!(e.is_session_expired());
        let e = ApiError::from_response(403, None, b"ACCESS_DENIED");
        assert!(!e.is_session_expired());
        let e = ApiError::from_response(500, None, b"<html>oops</html>");
        assert_eq!(e.code, ErrorCode::InternalServerError);
        let e = ApiError::from_response(400, None, b"NEW_APPLE_CODE");
        assert_eq!(e.code.as_str(), "NEW_APPLE_CODE");
        assert!(!e.code.is_known());
        let e = ApiError::from_response(429, Some("99999999"), b"");
        assert_eq!(e.retry_after, Some(MAX_RETRY_AFTER));
        assert!(e.is_throttled());
    }
}
