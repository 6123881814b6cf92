//! Parsing and classifying APNs answers (sans-I/O).

use http::{HeaderMap, StatusCode};

use crate::{Error, ErrorReason};

/// Largest response body parsed, in bytes (Apple's error bodies are under 100 bytes).
pub const MAX_RESPONSE_BODY: usize = 4096;

/// What a push's outcome means for the caller.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum Disposition {
    /// APNs accepted the notification.
    Delivered,
    /// The token is no longer valid for the topic (410 `Unregistered` only): stop pushing
    /// to it until the device sends a new TokenUpdate.
    TokenDead,
    /// A transient failure (429, 5xx, timeouts, dropped connections): try again later.
    RetryLater,
    /// Something in the request or the setup is wrong (certificate, topic, token format,
    /// environment): retrying the same push will not help.
    ConfigError,
}

impl Disposition {
    /// Classifies a status code and an optional reason.
    ///
    /// ```
    /// use apns_client::{Disposition, ErrorReason};
    /// assert_eq!(Disposition::classify(200, None), Disposition::Delivered);
    /// assert_eq!(Disposition::classify(410, Some(&ErrorReason::Unregistered)), Disposition::TokenDead);
    /// assert_eq!(Disposition::classify(410, Some(&ErrorReason::ExpiredToken)), Disposition::ConfigError);
    /// assert_eq!(Disposition::classify(429, None), Disposition::RetryLater);
    /// assert_eq!(Disposition::classify(503, Some(&ErrorReason::from("New"))), Disposition::RetryLater);
    /// assert_eq!(Disposition::classify(403, Some(&ErrorReason::BadCertificate)), Disposition::ConfigError);
    /// ```
    pub fn classify(status: u16, reason: Option<&ErrorReason>) -> Disposition {
        if status == 200 {
            return Disposition::Delivered;
        }
        if status == 410 && reason == Some(&ErrorReason::Unregistered) {
            return Disposition::TokenDead;
        }
        if status == 429 || (500..600).contains(&status) {
            return Disposition::RetryLater;
        }
        match reason {
            Some(
                ErrorReason::TooManyRequests
                | ErrorReason::InternalServerError
                | ErrorReason::ServiceUnavailable
                | ErrorReason::Shutdown
                | ErrorReason::IdleTimeout,
            ) => Disposition::RetryLater,
            _ => Disposition::ConfigError,
        }
    }

    /// A short lowercase name (`delivered`, `token_dead`, `retry_later`, `config_error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Disposition::Delivered => "delivered",
            Disposition::TokenDead => "token_dead",
            Disposition::RetryLater => "retry_later",
            Disposition::ConfigError => "config_error",
        }
    }
}

/// The error body APNs sends with a non-200 status.
#[derive(Clone, PartialEq, Debug)]
#[non_exhaustive]
pub struct ApnsError {
    /// `reason`.
    pub reason: ErrorReason,
    /// `timestamp`: for 410 answers, milliseconds since the Unix epoch at which APNs learnt
    /// that the token is no longer valid for the topic.
    pub timestamp: Option<u64>,
    /// Any other keys, kept as they came.
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A parsed APNs answer.
#[derive(Clone, PartialEq, Debug)]
#[non_exhaustive]
pub struct PushResponse {
    /// HTTP status.
    pub status: StatusCode,
    /// `apns-id` header (the id APNs gave the notification).
    pub apns_id: Option<String>,
    /// `apns-unique-id` header (sandbox only).
    pub apns_unique_id: Option<String>,
    /// The error body, for any status other than 200.
    pub error: Option<ApnsError>,
}

impl PushResponse {
    /// Whether APNs accepted the push.
    pub fn is_success(&self) -> bool {
        self.status == StatusCode::OK
    }

    /// The reason, for an error answer.
    pub fn reason(&self) -> Option<&ErrorReason> {
        self.error.as_ref().map(|e| &e.reason)
    }

    /// What the answer means.
    pub fn disposition(&self) -> Disposition {
        Disposition::classify(self.status.as_u16(), self.reason())
    }
}

fn header(headers: &HeaderMap, name: &str, status: u16) -> Result<Option<String>, Error> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if s.len() <= 128 => Ok(Some(s.to_owned())),
            Ok(s) => Err(Error::response(
                status,
                format!("header {name} (status {status})"),
                format!("{} bytes, at most 128", s.len()),
            )),
            Err(_) => Err(Error::response(
                status,
                format!("header {name} (status {status})"),
                "not visible ASCII",
            )),
        },
    }
}

/// Parses an APNs answer from its status, headers and body.
///
/// A 200 answer's body is ignored. Any other status must carry a JSON object with a string
/// `reason`; a missing or malformed body is an [`Error::InvalidResponse`] whose `what`
/// names the status, so callers can still fall back on [`Disposition::classify`].
///
/// ```
/// use apns_client::{parse_response, Disposition, ErrorReason};
/// use http::{HeaderMap, StatusCode};
/// let r = parse_response(StatusCode::GONE, &HeaderMap::new(),
///     br#"{"reason":"Unregistered","timestamp":1700000000000}"#).unwrap();
/// assert_eq!(r.reason(), Some(&ErrorReason::Unregistered));
/// assert_eq!(r.error.as_ref().unwrap().timestamp, Some(1700000000000));
/// assert_eq!(r.disposition(), Disposition::TokenDead);
/// ```
pub fn parse_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<PushResponse, Error> {
    let code = status.as_u16();
    let apns_id = header(headers, "apns-id", code)?;
    let apns_unique_id = header(headers, "apns-unique-id", code)?;
    if status == StatusCode::OK {
        return Ok(PushResponse {
            status,
            apns_id,
            apns_unique_id,
            error: None,
        });
    }
    let error = parse_error_body(code, body)?;
    Ok(PushResponse {
        status,
        apns_id,
        apns_unique_id,
        error: Some(error),
    })
}

/// Parses the JSON error body of a non-200 answer.
pub fn parse_error_body(status: u16, body: &[u8]) -> Result<ApnsError, Error> {
    let what = |key: &str| format!("body{key} (status {status})");
    if body.len() > MAX_RESPONSE_BODY {
        return Err(Error::response(
            status,
            what(""),
            format!("{} bytes, at most {MAX_RESPONSE_BODY}", body.len()),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::response(status, what(""), "empty error body"));
    }
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Error::response(
            status,
            what(""),
            format!("not JSON at line {} column {}: {e}", e.line(), e.column()),
        )
    })?;
    let serde_json::Value::Object(mut map) = value else {
        return Err(Error::response(status, what(""), "not a JSON object"));
    };
    let reason = match map.remove("reason") {
        Some(serde_json::Value::String(s)) => ErrorReason::from(s),
        Some(_) => return Err(Error::response(status, what(".reason"), "not a string")),
        None => return Err(Error::response(status, what(".reason"), "missing")),
    };
    let timestamp = match map.remove("timestamp") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            Some(t) => Some(t),
            None => {
                return Err(Error::response(
                    status,
                    what(".timestamp"),
                    format!("{n} is not a non-negative integer"),
                ));
            }
        },
        Some(_) => return Err(Error::response(status, what(".timestamp"), "not a number")),
    };
    Ok(ApnsError {
        reason,
        timestamp,
        extra: map,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(status: u16, body: &str) -> Result<PushResponse, Error> {
        parse_response(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
    }

    #[test]
    fn success_with_id() {
        let mut h = HeaderMap::new();
        h.insert(
            "apns-id",
            "EC1BF194-B3B2-424A-89A9-5A918A6E6B5C".parse().unwrap(),
        );
        let r = parse_response(StatusCode::OK, &h, b"").unwrap();
        assert!(r.is_success());
        assert_eq!(
            r.apns_id.as_deref(),
            Some("EC1BF194-B3B2-424A-89A9-5A918A6E6B5C")
        );
        assert_eq!(r.disposition(), Disposition::Delivered);
    }

    #[test]
    fn every_known_reason_classified() {
        for reason in ErrorReason::KNOWN {
            let status = reason.documented_status().unwrap();
            let body = format!(r#"{{"reason":"{reason}"}}"#);
            let r = parse(status, &body).unwrap();
            assert_eq!(r.reason(), Some(reason));
            let d = r.disposition();
            let expected = match status {
                410 if *reason == ErrorReason::Unregistered => Disposition::TokenDead,
                429 | 500 | 503 => Disposition::RetryLater,
                _ if *reason == ErrorReason::IdleTimeout => Disposition::RetryLater,
                _ => Disposition::ConfigError,
            };
            assert_eq!(d, expected, "{reason}");
        }
    }

    #[test]
    fn unknown_reason_and_extra_keys_kept() {
        let r = parse(400, r#"{"reason":"NewThing","detail":[1,2]}"#).unwrap();
        let e = r.error.unwrap();
        assert_eq!(e.reason.as_str(), "NewThing");
        assert_eq!(e.extra["detail"], serde_json::json!([1, 2]));
    }

    #[test]
    fn malformed_bodies() {
        for (body, needle) in [
            ("", "empty"),
            ("{", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"reason":1}"#, "body.reason"),
            (r#"{}"#, "missing"),
            (
                r#"{"reason":"Unregistered","timestamp":-1}"#,
                "body.timestamp",
            ),
            (
                r#"{"reason":"Unregistered","timestamp":"x"}"#,
                "not a number",
            ),
        ] {
            let e = parse(410, body).unwrap_err().to_string();
            assert!(e.contains(needle), "{body}: {e}");
            assert!(e.contains("status 410"), "{e}");
        }
        let big = "x".repeat(MAX_RESPONSE_BODY + 1);
        assert!(
            parse(400, &big)
                .unwrap_err()
                .to_string()
                .contains("at most")
        );
    }
}
