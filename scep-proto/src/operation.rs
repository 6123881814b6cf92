//! The HTTP binding, sans-I/O: which operation a request asks for, and request URLs.

use base64::Engine as _;

use crate::error::{Error, Result};

/// A SCEP HTTP operation.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `GetCACaps`.
    GetCaCaps,
    /// `GetCACert`.
    GetCaCert,
    /// `GetNextCACert`.
    GetNextCaCert,
    /// `PKIOperation`, with the pkiMessage DER (from the POST body or the base64 `message`).
    PkiOperation(Vec<u8>),
    /// Any other operation name.
    Other(String),
}

/// Longest `message` query parameter accepted (base64 of [`MAX_MESSAGE`] bytes, with room for
/// line breaks some clients insert).
///
/// [`MAX_MESSAGE`]: crate::pki_message::MAX_MESSAGE
pub const MAX_MESSAGE_PARAM: usize = (crate::pki_message::MAX_MESSAGE / 3 + 1) * 4 * 102 / 100;

/// Parses a request from its method, query string (without `?`) and body.
///
/// The query is form-decoded (`%XX` escapes, `+` as a space) without requiring UTF-8: only the
/// `operation` name (and for GET the base64 `message`) are read, and anything else, such as
/// the raw binary copy of the message that mdmb repeats in `message` next to a POST body, is
/// ignored. For `POST ...?operation=PKIOperation` the body is the message. For GET, `message`
/// is base64: standard or URL-safe alphabet, padded or not, with a `+` that arrived
/// unescaped (form-decoded to a space) and line breaks tolerated.
pub fn parse_request(method: &str, query: &str, body: &[u8]) -> Result<Operation> {
    let post = method.eq_ignore_ascii_case("POST");
    let mut operation = None;
    let mut message = None;
    // form_urlencoded decodes lossily and never fails, so a binary `message` cannot make a
    // POST unreadable; the operation name is compared exactly below.
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "operation" if operation.is_none() => operation = Some(v.into_owned()),
            "message" if !post && message.is_none() => message = Some(v),
            _ => {}
        }
    }
    let op = operation.ok_or(Error::Missing("operation query parameter"))?;
    Ok(match op.as_str() {
        "GetCACaps" => Operation::GetCaCaps,
        "GetCACert" => Operation::GetCaCert,
        "GetNextCACert" => Operation::GetNextCaCert,
        "PKIOperation" if post => {
            if body.len() > crate::pki_message::MAX_MESSAGE {
                return Err(Error::TooLarge {
                    len: body.len(),
                    limit: crate::pki_message::MAX_MESSAGE,
                });
            }
            if body.is_empty() {
                return Err(Error::Missing("PKIOperation body"));
            }
            Operation::PkiOperation(body.to_vec())
        }
        "PKIOperation" => {
            let m = message.ok_or(Error::Missing("message query parameter"))?;
            Operation::PkiOperation(decode_message_param(&m)?)
        }
        other => Operation::Other(other.to_owned()),
    })
}

/// Decodes a GET `message`: base64 in the standard or URL-safe alphabet, padding optional.
fn decode_message_param(m: &str) -> Result<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    if m.len() > MAX_MESSAGE_PARAM {
        return Err(Error::TooLarge {
            len: m.len(),
            limit: MAX_MESSAGE_PARAM,
        });
    }
    let compact: Vec<u8> = m
        .bytes()
        .filter(|b| !matches!(b, b'\r' | b'\n' | b'\t'))
        .map(|b| match b {
            // Some clients leave '+' unescaped, which form-decoding turns into ' '.
            b' ' | b'-' => b'+',
            b'_' => b'/',
            other => other,
        })
        .collect();
    if compact.is_empty() {
        return Err(Error::Missing("message query parameter"));
    }
    LENIENT
        .decode(&compact)
        .map_err(|e| Error::invalid("message query parameter", format!("bad base64: {e}")))
}

/// Builds the path-and-query for an operation on `path` (e.g. `/scep`). PKIOperation goes
/// in the query as base64 (GET); for POST, use `?operation=PKIOperation` with the DER body.
pub fn request_target(path: &str, op: &Operation) -> String {
    let name = match op {
        Operation::GetCaCaps => "GetCACaps",
        Operation::GetCaCert => "GetCACert",
        Operation::GetNextCaCert => "GetNextCACert",
        Operation::PkiOperation(_) => "PKIOperation",
        Operation::Other(s) => s.as_str(),
    };
    let mut t = format!("{path}?operation={}", query_encode(name));
    if let Operation::PkiOperation(der) = op {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        t.push_str("&message=");
        t.push_str(&query_encode(&b64));
    }
    t
}

fn query_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
