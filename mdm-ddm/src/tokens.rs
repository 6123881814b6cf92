//! Synchronization tokens: the server tokens of declarations and the `DeclarationsToken`.
//!
//! A server token is the SHA-256 (hex) of the declaration's canonical JSON without its
//! `ServerToken`: object keys sorted, no white space. The `DeclarationsToken` is the
//! SHA-256 of the set's `(Identifier, ServerToken)` pairs sorted by identifier, each field
//! length-prefixed. So it changes exactly when a declaration is added, removed or changed,
//! and not when the same declarations are given in another order.

use crate::declaration::Declaration;
use crate::schema::{KeySpec, Keys, Kind};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// `SyncTokens`: the tokens a device compares with its own to decide what to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SynchronizationTokens {
    /// `DeclarationsToken`: changes whenever the set of declarations changes.
    #[serde(rename = "DeclarationsToken")]
    pub declarations_token: String,
    /// `Timestamp`: when the token last changed, RFC 3339 (`2024-01-02T03:04:05Z`).
    #[serde(rename = "Timestamp")]
    pub timestamp: String,
    /// Keys this version does not know, kept as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl SynchronizationTokens {
    /// Tokens with a declarations token and a timestamp.
    pub fn new(declarations_token: impl Into<String>, timestamp: SystemTime) -> Self {
        SynchronizationTokens {
            declarations_token: declarations_token.into(),
            timestamp: rfc3339(timestamp),
            extra: Map::new(),
        }
    }

    /// The tokens as compact JSON bytes (the `Data` of the DeclarativeManagement command).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl Keys for SynchronizationTokens {
    const KEYS: &'static [KeySpec] = &[
        KeySpec {
            key: "DeclarationsToken",
            required: true,
            kind: Kind::String,
        },
        KeySpec {
            key: "Timestamp",
            required: true,
            kind: Kind::String,
        },
    ];
}

/// Formats a time as RFC 3339 in UTC with whole seconds.
pub fn rfc3339(time: SystemTime) -> String {
    let odt = time::OffsetDateTime::from(time);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    odt.format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Writes the canonical form of a JSON value: object keys sorted by their UTF-8 bytes, no
/// white space, strings and numbers as serde_json writes them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(v) = map.get(k) {
                    write_canonical(v, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    hex::encode(digest.as_slice())
}

/// The server token of a declaration: SHA-256 (64 hex digits) of its canonical JSON
/// without `ServerToken`.
pub fn server_token(declaration: &Declaration) -> String {
    let mut map = declaration.to_json();
    map.shift_remove("ServerToken");
    hex_digest(canonical_json(&Value::Object(map)).as_bytes())
}

/// The `DeclarationsToken` of a set given as `(Identifier, ServerToken)` pairs, in any order.
pub fn declarations_token<'a>(items: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = items.into_iter().collect();
    pairs.sort();
    let mut hasher = Sha256::new();
    hasher.update(b"ddm-declarations-token-v1\n");
    for (id, token) in pairs {
        for field in [id, token] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
    }
    hex::encode(hasher.finalize().as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_keys_at_every_level() {
        let v: Value = serde_json::from_str(r#"{"b":[{"z":1,"a":"x"}],"a":true}"#).unwrap();
        assert_eq!(canonical_json(&v), r#"{"a":true,"b":[{"a":"x","z":1}]}"#);
    }

    #[test]
    fn declarations_token_ignores_order_and_separates_fields() {
        let a = declarations_token([("a", "1"), ("b", "2")]);
        assert_eq!(a, declarations_token([("b", "2"), ("a", "1")]));
        assert_ne!(a, declarations_token([("a", "12")]));
        assert_ne!(
            declarations_token([("ab", "c")]),
            declarations_token([("a", "bc")])
        );
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
    }
}
