//! The server side of the protocol, without I/O: an enrollment's declaration set, its
//! tokens, the responses to each endpoint, and the command that asks a device to sync.

use crate::declaration::{Declaration, DeclarationKind};
use crate::error::{Error, Result};
use crate::generated::protocol::{
    DeclarationItem, DeclarationItemsResponse, ManifestDeclarations, TokensResponse,
};
use crate::model::EnrollmentStatus;
use crate::status::StatusReport;
use crate::tokens::{self, SynchronizationTokens};
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The declarations of one enrollment, keyed by identifier.
///
/// ```
/// use mdm_ddm::{Declaration, DeclarationSet, Limits};
///
/// let mut set = DeclarationSet::new();
/// let json = br#"{"Type": "com.apple.configuration.management.test",
///   "Identifier": "test-1", "Payload": {"Echo": "hello"}}"#;
/// set.insert(Declaration::decode_authored(json, &Limits::DDM)?)?;
/// let before = set.declarations_token();
/// let json = br#"{"Type": "com.apple.configuration.management.test",
///   "Identifier": "test-1", "Payload": {"Echo": "changed"}}"#;
/// set.insert(Declaration::decode_authored(json, &Limits::DDM)?)?;
/// // The device sees a new DeclarationsToken and fetches the changed declaration.
/// assert_ne!(set.declarations_token(), before);
/// assert_eq!(set.len(), 1);
/// # Ok::<(), mdm_ddm::Error>(())
/// ```
///
/// Inserting a declaration computes its `ServerToken` from its content
/// ([`tokens::server_token`]), so tokens change exactly when content changes, and
/// [`DeclarationSet::declarations_token`] changes exactly when the set does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeclarationSet {
    declarations: BTreeMap<String, Declaration>,
}

impl DeclarationSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a declaration (by identifier) and returns the one it replaced.
    /// Its `ServerToken` is overwritten with the computed one.
    ///
    /// Fails with [`Error::Usage`] when the identifier is empty or the type names no
    /// declaration kind (it must start `com.apple.<kind>.`).
    pub fn insert(&mut self, mut declaration: Declaration) -> Result<Option<Declaration>> {
        if declaration.identifier.is_empty() {
            return Err(Error::Usage(
                "a declaration needs a non-empty Identifier".into(),
            ));
        }
        if declaration.kind().is_none() {
            return Err(Error::Usage(format!(
                "declaration `{}` has type `{}`, which names no declaration kind",
                declaration.identifier, declaration.declaration_type
            )));
        }
        declaration.server_token = tokens::server_token(&declaration);
        Ok(self
            .declarations
            .insert(declaration.identifier.clone(), declaration))
    }

    /// Removes a declaration by identifier.
    pub fn remove(&mut self, identifier: &str) -> Option<Declaration> {
        self.declarations.remove(identifier)
    }

    /// The declaration with this identifier.
    pub fn get(&self, identifier: &str) -> Option<&Declaration> {
        self.declarations.get(identifier)
    }

    /// The declaration of this kind with this identifier (what `declaration/<kind>/<id>`
    /// serves).
    pub fn declaration(&self, kind: DeclarationKind, identifier: &str) -> Option<&Declaration> {
        self.get(identifier).filter(|d| d.kind() == Some(kind))
    }

    /// The declarations, sorted by identifier.
    pub fn iter(&self) -> impl Iterator<Item = &Declaration> {
        self.declarations.values()
    }

    /// How many declarations the set holds.
    pub fn len(&self) -> usize {
        self.declarations.len()
    }

    /// True when the set holds no declaration.
    pub fn is_empty(&self) -> bool {
        self.declarations.is_empty()
    }

    /// The `DeclarationsToken` of the set.
    pub fn declarations_token(&self) -> String {
        tokens::declarations_token(
            self.iter()
                .map(|d| (d.identifier.as_str(), d.server_token.as_str())),
        )
    }

    /// The synchronization tokens; `timestamp` is when the set last changed (a server that
    /// does not track it may pass the current time).
    pub fn sync_tokens(&self, timestamp: SystemTime) -> SynchronizationTokens {
        SynchronizationTokens::new(self.declarations_token(), timestamp)
    }

    /// The body of the `tokens` endpoint.
    pub fn tokens_response(&self, timestamp: SystemTime) -> TokensResponse {
        TokensResponse::new(self.sync_tokens(timestamp))
    }

    /// The body of the `declaration-items` endpoint.
    pub fn declaration_items(&self) -> DeclarationItemsResponse {
        let mut lists: BTreeMap<DeclarationKind, Vec<DeclarationItem>> = BTreeMap::new();
        for d in self.iter() {
            if let Some(kind) = d.kind() {
                lists.entry(kind).or_default().push(DeclarationItem::new(
                    d.identifier.clone(),
                    d.server_token.clone(),
                ));
            }
        }
        let mut take = |k| lists.remove(&k).unwrap_or_default();
        let manifest = ManifestDeclarations::new(
            take(DeclarationKind::Activation),
            take(DeclarationKind::Configuration),
            take(DeclarationKind::Asset),
            take(DeclarationKind::Management),
        );
        DeclarationItemsResponse::new(manifest, self.declarations_token())
    }

    /// Answers a DeclarativeManagement check-in: `endpoint` and `data` are the check-in's
    /// `Endpoint` and `Data`. A status report is applied to `status`; `now` stamps the
    /// tokens.
    pub fn handle(
        &self,
        endpoint: &str,
        data: Option<&[u8]>,
        status: &mut EnrollmentStatus,
        now: SystemTime,
    ) -> Result<DdmReply> {
        match Endpoint::parse(endpoint)? {
            Endpoint::Tokens => Ok(DdmReply::Json(to_json_bytes(&self.tokens_response(now)))),
            Endpoint::DeclarationItems => {
                Ok(DdmReply::Json(to_json_bytes(&self.declaration_items())))
            }
            Endpoint::Declaration { kind, identifier } => {
                Ok(match self.declaration(kind, &identifier) {
                    Some(d) => DdmReply::Json(d.encode()),
                    None => DdmReply::NotFound,
                })
            }
            Endpoint::Status => {
                let body = data.ok_or_else(|| Error::MissingData("status".into()))?;
                let report = StatusReport::decode(body)?;
                status.apply(&report);
                Ok(DdmReply::NoContent)
            }
        }
    }

    /// Answers a DeclarativeManagement check-in given as its plist dictionary (as decoded by
    /// a check-in parser): reads `MessageType` (must be `DeclarativeManagement`), `Endpoint`
    /// and the optional `Data`, then calls [`DeclarationSet::handle`].
    pub fn handle_checkin(
        &self,
        checkin: &plist::Dictionary,
        status: &mut EnrollmentStatus,
        now: SystemTime,
    ) -> Result<DdmReply> {
        let string = |key: &str| -> Result<&str> {
            match checkin.get(key) {
                None => Err(Error::MissingKey { path: key.into() }),
                Some(plist::Value::String(s)) => Ok(s.as_str()),
                Some(other) => Err(Error::WrongType {
                    path: key.into(),
                    expected: "a string",
                    found: mdm_proto::fields::kind_of(other),
                }),
            }
        };
        let message_type = string("MessageType")?;
        if message_type != "DeclarativeManagement" {
            return Err(Error::InvalidValue {
                path: "MessageType".into(),
                reason: format!("expected DeclarativeManagement, found {message_type}"),
            });
        }
        let endpoint = string("Endpoint")?;
        let data = match checkin.get("Data") {
            None => None,
            Some(plist::Value::Data(d)) => Some(d.as_slice()),
            Some(other) => {
                return Err(Error::WrongType {
                    path: "Data".into(),
                    expected: "data",
                    found: mdm_proto::fields::kind_of(other),
                });
            }
        };
        self.handle(endpoint, data, status, now)
    }
}

fn to_json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// What to send back to a DeclarativeManagement check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DdmReply {
    /// HTTP 200 with this JSON body (`Content-Type: application/json`).
    Json(Vec<u8>),
    /// HTTP 200 with an empty body (after a status report).
    NoContent,
    /// HTTP 404: no such declaration.
    NotFound,
}

/// The `Endpoint` of a DeclarativeManagement check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `tokens`
    Tokens,
    /// `declaration-items`
    DeclarationItems,
    /// `declaration/<kind>/<identifier>`
    Declaration {
        /// The declaration's kind.
        kind: DeclarationKind,
        /// The declaration's identifier.
        identifier: String,
    },
    /// `status`
    Status,
}

impl Endpoint {
    /// Parses an endpoint (a leading `/` is allowed).
    pub fn parse(endpoint: &str) -> Result<Self> {
        let e = endpoint.strip_prefix('/').unwrap_or(endpoint);
        let unknown = || Error::UnknownEndpoint(endpoint.chars().take(200).collect());
        match e {
            "tokens" => Ok(Endpoint::Tokens),
            "declaration-items" => Ok(Endpoint::DeclarationItems),
            "status" => Ok(Endpoint::Status),
            _ => {
                let rest = e.strip_prefix("declaration/").ok_or_else(unknown)?;
                let (kind, identifier) = rest.split_once('/').ok_or_else(unknown)?;
                let kind = DeclarationKind::from_segment(kind).ok_or_else(unknown)?;
                if identifier.is_empty() {
                    return Err(unknown());
                }
                Ok(Endpoint::Declaration {
                    kind,
                    identifier: identifier.to_owned(),
                })
            }
        }
    }

    /// The endpoint as a device sends it.
    pub fn as_path(&self) -> String {
        match self {
            Endpoint::Tokens => "tokens".into(),
            Endpoint::DeclarationItems => "declaration-items".into(),
            Endpoint::Status => "status".into(),
            Endpoint::Declaration { kind, identifier } => {
                format!("declaration/{kind}/{identifier}")
            }
        }
    }
}

/// The `DeclarativeManagement` MDM command (the command dictionary, without the
/// `CommandUUID` envelope) that tells a device to synchronize.
///
/// With `tokens`, its `Data` holds them as the JSON of a tokens response
/// (`{"SyncTokens":{"DeclarationsToken":..,"Timestamp":..}}`), as Apple's schema for the
/// command says ("JSON request using a TokensResponse"); the plist carries it as `<data>`,
/// that is base64 in XML.
pub fn declarative_management_command(tokens: Option<&SynchronizationTokens>) -> plist::Dictionary {
    let mut command = plist::Dictionary::new();
    command.insert(
        "RequestType".into(),
        plist::Value::String("DeclarativeManagement".into()),
    );
    if let Some(tokens) = tokens {
        let body = TokensResponse::new(tokens.clone());
        command.insert("Data".into(), plist::Value::Data(to_json_bytes(&body)));
    }
    command
}
