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

/// Parses a request from its method, query string (without `?`) and body.
pub fn parse_request(method: &str, query: &str, body: &[u8]) -> Result<Operation> {
    let mut operation = None;
    let mut message = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "operation" => operation = Some(query_decode(v)?),
            "message" => message = Some(query_decode(v)?),
            _ => {}
        }
    }
    let op = operation.ok_or(Error::Missing("operation query parameter"))?;
    Ok(match op.as_str() {
        "GetCACaps" => Operation::GetCaCaps,
        "GetCACert" => Operation::GetCaCert,
        "GetNextCACert" => Operation::GetNextCaCert,
        "PKIOperation" => {
            if method.eq_ignore_ascii_case("POST") {
                if body.len() > crate::pki_message::MAX_MESSAGE {
                    return Err(Error::TooLarge {
                        len: body.len(),
                        limit: crate::pki_message::MAX_MESSAGE,
                    });
                }
                Operation::PkiOperation(body.to_vec())
            } else {
                let m = message.ok_or(Error::Missing("message query parameter"))?;
                // Some clients leave '+' unescaped, which form-decoding turns into ' '.
                let compact: String = m
                    .chars()
                    .map(|c| if c == ' ' { '+' } else { c })
                    .filter(|c| !c.is_whitespace())
                    .collect();
                let der = base64::engine::general_purpose::STANDARD
                    .decode(compact.as_bytes())
                    .map_err(|e| {
                        Error::invalid("message query parameter", format!("bad base64: {e}"))
                    })?;
                Operation::PkiOperation(der)
            }
        }
        other => Operation::Other(other.to_owned()),
    })
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

fn query_decode(s: &str) -> Result<String> {
    crate::cms::percent_decode_form(s)
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
