//! The session: OAuth 1.0a HMAC-SHA1 signing of `GET /session`, sans-I/O.

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::types::ServerToken;

/// Percent-encodes as RFC 5849 section 3.6 asks: everything but `A-Z a-z 0-9 - . _ ~`.
pub fn percent_encode(input: &str) -> String {
    let mut out = String::with_capacity(input.len() * 3);
    for b in input.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

/// The OAuth 1.0a parameters of one signed `/session` request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OAuthParams {
    /// `oauth_timestamp`: seconds since the Unix epoch.
    pub timestamp: u64,
    /// `oauth_nonce`: a value never used twice with the same timestamp.
    pub nonce: String,
}

impl OAuthParams {
    /// Parameters with a given timestamp and nonce (tests, replays).
    pub fn new(timestamp: u64, nonce: impl Into<String>) -> Self {
        OAuthParams {
            timestamp,
            nonce: nonce.into(),
        }
    }

    /// Parameters for now, with a random nonce.
    pub fn now() -> Self {
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let nonce: [u8; 16] = rand::random();
        OAuthParams {
            timestamp,
            nonce: hex::encode(nonce),
        }
    }
}

/// The OAuth signature base string (RFC 5849 section 3.4.1) of a request without query or
/// body parameters, as `/session` is.
pub fn signature_base_string(
    method: &str,
    url: &str,
    token: &ServerToken,
    params: &OAuthParams,
) -> String {
    let timestamp = params.timestamp.to_string();
    let mut pairs = [
        ("oauth_consumer_key", token.consumer_key.as_str()),
        ("oauth_nonce", params.nonce.as_str()),
        ("oauth_signature_method", "HMAC-SHA1"),
        ("oauth_timestamp", timestamp.as_str()),
        ("oauth_token", token.access_token.as_str()),
        ("oauth_version", "1.0"),
    ]
    .map(|(k, v)| (percent_encode(k), percent_encode(v)));
    pairs.sort();
    let normalized = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode(url),
        percent_encode(&normalized)
    )
}

/// The HMAC-SHA1 signature (base64) of a base string with the token's two secrets.
pub fn sign(base_string: &str, token: &ServerToken) -> String {
    let key = format!(
        "{}&{}",
        percent_encode(&token.consumer_secret),
        percent_encode(&token.access_secret)
    );
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match <Hmac<Sha1> as KeyInit>::new_from_slice(key.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(base_string.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The `Authorization: OAuth …` header value for `GET url`.
pub fn authorization_header(url: &str, token: &ServerToken, params: &OAuthParams) -> String {
    let base = signature_base_string("GET", url, token, params);
    let signature = sign(&base, token);
    format!(
        "OAuth realm=\"ADM\", oauth_consumer_key=\"{}\", oauth_token=\"{}\", \
         oauth_signature_method=\"HMAC-SHA1\", oauth_signature=\"{}\", \
         oauth_timestamp=\"{}\", oauth_nonce=\"{}\", oauth_version=\"1.0\"",
        percent_encode(&token.consumer_key),
        percent_encode(&token.access_token),
        percent_encode(&signature),
        params.timestamp,
        percent_encode(&params.nonce),
    )
}

/// Parses an `Authorization: OAuth …` header into its (decoded) parameters; used by the mock
/// to verify signatures. Returns `None` for anything malformed.
pub fn parse_authorization_header(value: &str) -> Option<Vec<(String, String)>> {
    let rest = value.trim().strip_prefix("OAuth ")?;
    let mut out = Vec::new();
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=')?;
        let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
        out.push((k.trim().to_string(), percent_decode(v)?));
        if out.len() > 32 {
            return None;
        }
    }
    Some(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Verifies an `Authorization` header against a token (constant-time on the signature).
pub fn verify_authorization_header(url: &str, token: &ServerToken, header: &str) -> bool {
    let Some(params) = parse_authorization_header(header) else {
        return false;
    };
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("oauth_consumer_key") != Some(&token.consumer_key)
        || get("oauth_token") != Some(&token.access_token)
        || get("oauth_signature_method") != Some("HMAC-SHA1")
    {
        return false;
    }
    let (Some(ts), Some(nonce), Some(sig)) = (
        get("oauth_timestamp").and_then(|t| t.parse::<u64>().ok()),
        get("oauth_nonce"),
        get("oauth_signature"),
    ) else {
        return false;
    };
    let expected = sign(
        &signature_base_string("GET", url, token, &OAuthParams::new(ts, nonce)),
        token,
    );
    expected.len() == sig.len()
        && expected
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> ServerToken {
        ServerToken::new("CK_abc", "CS_s&cret", "AT_tok", "AS_sec ret")
    }

    #[test]
    fn encodes_rfc5849() {
        assert_eq!(percent_encode("a b&c=d~._-"), "a%20b%26c%3Dd~._-");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn base_string_and_signature_match_a_reference() {
        let params = OAuthParams::new(1_700_000_000, "n0nce");
        let base = signature_base_string(
            "GET",
            "https://mdmenrollment.apple.com/session",
            &token(),
            &params,
        );
        assert_eq!(
            base,
            "GET&https%3A%2F%2Fmdmenrollment.apple.com%2Fsession&oauth_consumer_key%3DCK_abc\
             %26oauth_nonce%3Dn0nce%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp\
             %3D1700000000%26oauth_token%3DAT_tok%26oauth_version%3D1.0"
        );
        // Reference computed with Python's hmac/hashlib/base64 over the same base string and
        // key "CS_s%26cret&AS_sec%20ret".
        assert_eq!(sign(&base, &token()), REFERENCE_SIGNATURE);
    }

    const REFERENCE_SIGNATURE: &str = "8vIljyBUXP6G0kXCsxlCIMNTG5g=";

    #[test]
    fn header_round_trips_and_verifies() {
        let url = "http://127.0.0.1:1/session";
        let header = authorization_header(url, &token(), &OAuthParams::now());
        assert!(header.starts_with("OAuth realm=\"ADM\""));
        assert!(verify_authorization_header(url, &token(), &header));
        assert!(!verify_authorization_header(
            "http://other/session",
            &token(),
            &header
        ));
        let mut other = token();
        other.access_secret = "nope".into();
        assert!(!verify_authorization_header(url, &other, &header));
        assert!(parse_authorization_header("Basic abc").is_none());
        assert!(parse_authorization_header("OAuth a=\"%zz\"").is_none());
    }
}
