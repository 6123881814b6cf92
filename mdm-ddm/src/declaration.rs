//! The declaration envelope: `Type`, `Identifier`, `ServerToken` and `Payload`.

use crate::error::{Error, Result};
use crate::generated::types::{DeclarationType, Payload};
use crate::limits::{Limits, parse_object};
use crate::schema::{Keys, kind_of};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The four kinds of declarations, which the protocol lists and serves separately.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DeclarationKind {
    /// `com.apple.activation.*`
    Activation,
    /// `com.apple.asset.*`
    Asset,
    /// `com.apple.configuration.*`
    Configuration,
    /// `com.apple.management.*`
    Management,
}

impl DeclarationKind {
    /// Every kind, in the order the declaration-items response lists them.
    pub const ALL: [DeclarationKind; 4] = [
        DeclarationKind::Activation,
        DeclarationKind::Configuration,
        DeclarationKind::Asset,
        DeclarationKind::Management,
    ];

    /// The kind of a declaration type, from its `com.apple.<kind>.` prefix; this works for
    /// types this version does not know too. `None` for other prefixes.
    pub fn of(declaration_type: &DeclarationType) -> Option<Self> {
        let rest = declaration_type.as_str().strip_prefix("com.apple.")?;
        let (kind, name) = rest.split_once('.')?;
        if name.is_empty() {
            return None;
        }
        Self::from_segment(kind)
    }

    /// The kind named by a `declaration/<kind>/<identifier>` endpoint segment.
    pub fn from_segment(segment: &str) -> Option<Self> {
        match segment {
            "activation" => Some(DeclarationKind::Activation),
            "asset" => Some(DeclarationKind::Asset),
            "configuration" => Some(DeclarationKind::Configuration),
            "management" => Some(DeclarationKind::Management),
            _ => None,
        }
    }

    /// The endpoint segment: `activation`, `asset`, `configuration` or `management`.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeclarationKind::Activation => "activation",
            DeclarationKind::Asset => "asset",
            DeclarationKind::Configuration => "configuration",
            DeclarationKind::Management => "management",
        }
    }
}

impl std::fmt::Display for DeclarationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl DeclarationType {
    /// The type's kind, from its `com.apple.<kind>.` prefix (see [`DeclarationKind::of`]).
    pub fn kind(&self) -> Option<DeclarationKind> {
        DeclarationKind::of(self)
    }
}

/// A generated payload type of one declaration type.
pub trait DeclarationPayload: Keys + Serialize + DeserializeOwned + Clone + Into<Payload> {
    /// The declaration `Type` whose payload this is.
    const TYPE: DeclarationType;
}

/// A declaration: the envelope and its typed payload.
///
/// Decoding checks the envelope and, for known types, the payload against the schema's
/// required keys and value types. Unknown types keep their payload as a JSON object;
/// unknown keys (in the envelope and in payloads) are kept, so decoding then encoding gives
/// the same JSON value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Declaration {
    /// `Type`, such as `com.apple.configuration.passcode.settings`.
    pub declaration_type: DeclarationType,
    /// `Identifier`: unique among an enrollment's declarations.
    pub identifier: String,
    /// `ServerToken`: changes whenever the declaration changes. [`crate::DeclarationSet`]
    /// computes it from the content.
    pub server_token: String,
    /// `Payload`.
    pub payload: Payload,
    /// Envelope keys this version does not know, kept as sent.
    pub extra: Map<String, Value>,
}

impl Declaration {
    /// A declaration with a typed payload and an empty server token.
    pub fn new(identifier: impl Into<String>, payload: impl DeclarationPayload) -> Self {
        fn build<P: DeclarationPayload>(identifier: String, payload: P) -> Declaration {
            Declaration {
                declaration_type: P::TYPE,
                identifier,
                server_token: String::new(),
                payload: payload.into(),
                extra: Map::new(),
            }
        }
        build(identifier.into(), payload)
    }

    /// A declaration of any type with a raw payload. A known type's payload is checked
    /// against the schema.
    pub fn from_parts(
        declaration_type: impl Into<DeclarationType>,
        identifier: impl Into<String>,
        payload: Map<String, Value>,
    ) -> Result<Self> {
        let declaration_type = declaration_type.into();
        let payload = Payload::decode(&declaration_type, payload, "Payload")?;
        Ok(Declaration {
            declaration_type,
            identifier: identifier.into(),
            server_token: String::new(),
            payload,
            extra: Map::new(),
        })
    }

    /// This declaration with `ServerToken` set.
    pub fn with_server_token(mut self, server_token: impl Into<String>) -> Self {
        self.server_token = server_token.into();
        self
    }

    /// The declaration's kind; `None` when its type has no `com.apple.<kind>.` prefix.
    pub fn kind(&self) -> Option<DeclarationKind> {
        DeclarationKind::of(&self.declaration_type)
    }

    /// The typed payload, when it is of type `P`.
    pub fn payload_as<P: DeclarationPayload>(&self) -> Option<P> {
        if self.declaration_type != P::TYPE {
            return None;
        }
        serde_json::from_value(Value::Object(self.payload.to_json())).ok()
    }

    /// Decodes a declaration from untrusted JSON bytes with the default [`Limits`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_with_limits(bytes, &Limits::DDM)
    }

    /// Decodes a declaration from untrusted JSON bytes.
    pub fn decode_with_limits(bytes: &[u8], limits: &Limits) -> Result<Self> {
        Self::from_json(parse_object(bytes, limits)?)
    }

    /// Decodes a declaration as its author writes it (an administrator, a server's API):
    /// `ServerToken` may be left out, since [`crate::DeclarationSet::insert`] computes it,
    /// and the declaration must be one a set accepts: a non-empty `Identifier` and a `Type`
    /// that names a declaration kind.
    ///
    /// ```
    /// use mdm_ddm::{Declaration, Limits};
    ///
    /// let json = br#"{"Type": "com.apple.configuration.management.test",
    ///   "Identifier": "test-1", "Payload": {"Echo": "hello"}}"#;
    /// let declaration = Declaration::decode_authored(json, &Limits::DDM)?;
    /// assert_eq!(declaration.identifier, "test-1");
    /// # Ok::<(), mdm_ddm::Error>(())
    /// ```
    pub fn decode_authored(bytes: &[u8], limits: &Limits) -> Result<Self> {
        let mut map = parse_object(bytes, limits)?;
        map.entry("ServerToken")
            .or_insert_with(|| Value::String(String::new()));
        let declaration = Self::from_json(map)?;
        if declaration.identifier.is_empty() {
            return Err(Error::InvalidValue {
                path: "Identifier".into(),
                reason: "must not be empty".into(),
            });
        }
        if declaration.kind().is_none() {
            return Err(Error::InvalidValue {
                path: "Type".into(),
                reason: format!(
                    "`{}` names no declaration kind",
                    declaration.declaration_type
                ),
            });
        }
        Ok(declaration)
    }

    /// Decodes a declaration from a JSON object.
    pub fn from_json(mut map: Map<String, Value>) -> Result<Self> {
        let declaration_type = DeclarationType::from(take_string(&mut map, "Type")?);
        let identifier = take_string(&mut map, "Identifier")?;
        let server_token = take_string(&mut map, "ServerToken")?;
        let payload = match map.shift_remove("Payload") {
            None => {
                return Err(Error::MissingKey {
                    path: "Payload".into(),
                });
            }
            Some(Value::Object(p)) => Payload::decode(&declaration_type, p, "Payload")?,
            Some(other) => {
                return Err(Error::WrongType {
                    path: "Payload".into(),
                    expected: "an object",
                    found: kind_of(&other),
                });
            }
        };
        Ok(Declaration {
            declaration_type,
            identifier,
            server_token,
            payload,
            extra: map,
        })
    }

    /// Decodes a declaration from a JSON value.
    pub fn from_value(value: Value) -> Result<Self> {
        match value {
            Value::Object(map) => Self::from_json(map),
            other => Err(Error::WrongType {
                path: String::new(),
                expected: "an object at the top level",
                found: kind_of(&other),
            }),
        }
    }

    /// The declaration as a JSON object: `Type`, `Identifier`, `ServerToken`, `Payload`,
    /// then the unknown envelope keys.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(
            "Type".into(),
            Value::String(self.declaration_type.as_str().to_owned()),
        );
        map.insert("Identifier".into(), Value::String(self.identifier.clone()));
        map.insert(
            "ServerToken".into(),
            Value::String(self.server_token.clone()),
        );
        map.insert("Payload".into(), Value::Object(self.payload.to_json()));
        for (k, v) in &self.extra {
            if !map.contains_key(k) {
                map.insert(k.clone(), v.clone());
            }
        }
        map
    }

    /// The declaration as JSON bytes (compact).
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(&Value::Object(self.to_json())).unwrap_or_default()
    }
}

impl serde::Serialize for Declaration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Declaration {
    /// Deserializes and checks a declaration as [`Declaration::from_json`] does.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let map = <Map<String, Value> as serde::Deserialize>::deserialize(d)?;
        Declaration::from_json(map).map_err(serde::de::Error::custom)
    }
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Result<String> {
    match map.shift_remove(key) {
        None => Err(Error::MissingKey { path: key.into() }),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(Error::WrongType {
            path: key.into(),
            expected: "a string",
            found: kind_of(&other),
        }),
    }
}
