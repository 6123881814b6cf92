//! The schema facts generated code carries: key tables for validation, and per-type
//! metadata (`supportedOS`, title, how configurations combine).

use crate::error::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The JSON type a schema key expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A string.
    String,
    /// An integer that fits in an `i64`.
    Integer,
    /// Any number.
    Real,
    /// `true` or `false`.
    Boolean,
    /// Binary data as a base64 string.
    Data,
    /// Any value, `null` included.
    Any,
    /// An array whose elements all have this kind.
    Array(&'static Kind),
    /// An object with these keys (others allowed and kept).
    Dict(&'static [KeySpec]),
    /// An object whose keys are free and whose values all have this kind.
    MapOf(&'static Kind),
    /// An object with free contents.
    OpenDict,
}

impl Kind {
    /// How the kind reads in error messages.
    pub fn describe(&self) -> &'static str {
        match self {
            Kind::String => "a string",
            Kind::Integer => "an integer",
            Kind::Real => "a number",
            Kind::Boolean => "a boolean",
            Kind::Data => "a base64 string",
            Kind::Any => "any value",
            Kind::Array(_) => "an array",
            Kind::Dict(_) | Kind::MapOf(_) | Kind::OpenDict => "an object",
        }
    }
}

/// One key of a schema dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeySpec {
    /// The key as it appears on the wire.
    pub key: &'static str,
    /// Whether the schema requires the key.
    pub required: bool,
    /// The type of its value.
    pub kind: Kind,
}

/// A type generated from a schema dictionary: its key table.
pub trait Keys {
    /// The keys the schema defines, in schema order.
    const KEYS: &'static [KeySpec];
}

/// What the schema says about a declaration type, credential type or status item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TypeInfo {
    /// The schema's title, such as `Passcode:Settings`.
    pub title: &'static str,
    /// The schema's one-line description.
    pub description: &'static str,
    /// For configurations: `single`, `multiple` or `combined`.
    pub apply: Option<&'static str>,
    /// Whether Apple marks the type as beta.
    pub beta: bool,
    /// Per-platform support.
    pub supported_os: &'static [OsSupport],
}

impl TypeInfo {
    /// The support facts for one platform (`iOS`, `macOS`, `tvOS`, `visionOS`, `watchOS`).
    pub fn platform(&self, platform: &str) -> Option<&'static OsSupport> {
        self.supported_os.iter().find(|o| o.platform == platform)
    }
}

/// Support of a type on one platform, as the schema's `supportedOS` states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OsSupport {
    /// `iOS`, `macOS`, `tvOS`, `visionOS` or `watchOS`.
    pub platform: &'static str,
    /// First OS version that supports it; `None` when not available (`n/a`).
    pub introduced: Option<&'static str>,
    /// OS version that removed it, if any.
    pub removed: Option<&'static str>,
    /// Enrollment types allowed (`supervised`, `device`, `user`, `local`).
    pub allowed_enrollments: &'static [&'static str],
    /// Scopes allowed (`system`, `user`).
    pub allowed_scopes: &'static [&'static str],
    /// Scopes allowed on Shared iPad.
    pub shared_ipad_scopes: &'static [&'static str],
}

/// The JSON type of a value, for error messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `parent.key`, or `key` at the top.
pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Checks `value` against `kind`; errors name the key path.
pub fn validate(value: &Value, kind: &Kind, path: &str) -> Result<()> {
    let wrong = |found: &Value| Error::WrongType {
        path: path.to_owned(),
        expected: kind.describe(),
        found: kind_of(found),
    };
    match kind {
        Kind::Any => Ok(()),
        Kind::String | Kind::Data => value.is_string().then_some(()).ok_or_else(|| wrong(value)),
        Kind::Boolean => value.is_boolean().then_some(()).ok_or_else(|| wrong(value)),
        Kind::Real => value.is_number().then_some(()).ok_or_else(|| wrong(value)),
        Kind::Integer => {
            if value.is_i64() {
                Ok(())
            } else if value.is_u64() {
                Err(Error::InvalidValue {
                    path: path.to_owned(),
                    reason: "integer out of range".into(),
                })
            } else {
                Err(wrong(value))
            }
        }
        Kind::Array(item) => {
            let items = value.as_array().ok_or_else(|| wrong(value))?;
            for (i, v) in items.iter().enumerate() {
                validate(v, item, &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Kind::Dict(keys) => {
            validate_object(value.as_object().ok_or_else(|| wrong(value))?, keys, path)
        }
        Kind::MapOf(item) => {
            let map = value.as_object().ok_or_else(|| wrong(value))?;
            for (k, v) in map {
                validate(v, item, &join(path, k))?;
            }
            Ok(())
        }
        Kind::OpenDict => value.is_object().then_some(()).ok_or_else(|| wrong(value)),
    }
}

/// Checks the keys of an object against a key table.
pub fn validate_object(map: &Map<String, Value>, keys: &[KeySpec], path: &str) -> Result<()> {
    for spec in keys {
        match map.get(spec.key) {
            None if spec.required => {
                return Err(Error::MissingKey {
                    path: join(path, spec.key),
                });
            }
            None => {}
            Some(v) => validate(v, &spec.kind, &join(path, spec.key))?,
        }
    }
    Ok(())
}

/// Validates an object against `T`'s keys, then decodes it.
pub fn decode_object<T: Keys + DeserializeOwned>(map: Map<String, Value>, path: &str) -> Result<T> {
    validate_object(&map, T::KEYS, path)?;
    serde_json::from_value(Value::Object(map)).map_err(|e| Error::InvalidValue {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Validates a value against `kind`, then decodes it.
pub fn decode_value<T: DeserializeOwned>(value: Value, kind: &Kind, path: &str) -> Result<T> {
    validate(&value, kind, path)?;
    serde_json::from_value(value).map_err(|e| Error::InvalidValue {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Encodes a value to JSON. Generated types always encode; anything else gives `null`.
pub fn encode_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// Encodes a generated struct to a JSON object.
pub fn encode_object<T: Serialize>(value: &T) -> Map<String, Value> {
    match encode_value(value) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
