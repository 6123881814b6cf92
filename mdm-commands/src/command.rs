//! The `Command` trait and the command envelope.

use crate::error::Result;
use crate::generated::registry::{AnyCommand, decode_command};
use crate::schema::CommandSpec;
use mdm_proto::fields::{DictWriter, Fields, FromValue, ToValue};
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{Limits, parse_dictionary};

/// A command of the schema: its wire name and the type of its response.
pub trait Command:
    FromValue + ToValue + Clone + std::fmt::Debug + PartialEq + Into<AnyCommand> + Send + Sync + 'static
{
    /// The command's `RequestType`.
    const REQUEST_TYPE: &'static str;
    /// The keys a device sends back when it answers the command.
    type Response: FromValue
        + ToValue
        + Clone
        + std::fmt::Debug
        + PartialEq
        + Default
        + Send
        + Sync
        + 'static;
    /// What the schema says about the command.
    fn spec() -> &'static CommandSpec;
}

/// A command whose `RequestType` this version does not know, kept as sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RawCommand {
    /// `RequestType`.
    pub request_type: String,
    /// Every other key of the `Command` dictionary.
    pub payload: Dictionary,
}

impl RawCommand {
    /// A raw command.
    pub fn new(request_type: impl Into<String>, payload: Dictionary) -> Self {
        RawCommand {
            request_type: request_type.into(),
            payload,
        }
    }
}

impl AnyCommand {
    /// Reads a `Command` dictionary (with its `RequestType`); `path` names it in errors.
    pub fn from_dictionary(dict: Dictionary, path: &str) -> Result<Self> {
        let mut f = Fields::new(dict, path);
        let request_type: String = f.required("RequestType")?;
        let payload = Value::Dictionary(f.rest());
        match decode_command(&request_type, payload.clone(), path) {
            Some(typed) => Ok(typed?),
            None => Ok(AnyCommand::Unknown(RawCommand {
                request_type,
                payload: Dictionary::from_value(payload, path)?,
            })),
        }
    }

    /// The `Command` dictionary, `RequestType` first.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut out = DictWriter::new();
        out.put(
            "RequestType",
            &Value::String(self.request_type().to_owned()),
        );
        if let Value::Dictionary(payload) = self.payload_value() {
            out.extend(&payload);
        }
        out.finish()
    }

    /// A command of a known type with only its required keys, set to empty values (the
    /// first allowed value where the schema lists them; every listed value for an array of
    /// listed strings, so DeviceInformation asks every query); `None` for an unknown type.
    pub fn template(request_type: &str) -> Option<Self> {
        let spec = crate::schema::spec(request_type)?;
        let mut dict = Dictionary::new();
        dict.insert(
            "RequestType".to_owned(),
            Value::String(request_type.to_owned()),
        );
        for key in spec
            .payload
            .iter()
            .filter(|k| k.required && !k.is_wildcard())
        {
            dict.insert(key.key.to_owned(), empty_value(key));
        }
        AnyCommand::from_dictionary(dict, "Command").ok()
    }

    /// True when the command is one this version types.
    pub fn is_known(&self) -> bool {
        !matches!(self, AnyCommand::Unknown(_))
    }
}

/// A command as a server sends it: `{CommandUUID, Command: {RequestType, …}}`.
///
/// ```
/// use mdm_commands::prelude::DeviceInformation;
/// use mdm_commands::generated::device_information::QueriesItem;
/// use mdm_commands::{AnyCommand, CommandEnvelope, decode_report};
/// use mdm_commands::mdm_proto::CommandReport;
///
/// // What the server sends.
/// let command = DeviceInformation::new(vec![QueriesItem::Udid, QueriesItem::OsVersion]);
/// let bytes = CommandEnvelope::new("C-1", command).encode()?;
/// let sent = CommandEnvelope::decode(&bytes)?;
/// assert!(matches!(sent.command, AnyCommand::DeviceInformation(_)));
///
/// // What the device answers, typed as that command's response.
/// let report = CommandReport::decode(br#"<plist version="1.0"><dict>
///   <key>Status</key><string>Acknowledged</string><key>UDID</key><string>U</string>
///   <key>CommandUUID</key><string>C-1</string>
///   <key>QueryResponses</key><dict><key>OSVersion</key><string>27.0</string></dict>
/// </dict></plist>"#)?;
/// let response = decode_report::<DeviceInformation>(&report)?;
/// let os = response.query_responses.and_then(|q| q.os_version);
/// assert_eq!(os.as_deref(), Some("27.0"));
/// # Ok::<(), mdm_commands::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandEnvelope {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `Command`.
    pub command: AnyCommand,
    /// Top-level keys other than these two, kept as sent.
    pub extra: Dictionary,
}

impl CommandEnvelope {
    /// An envelope for a command.
    pub fn new(command_uuid: impl Into<String>, command: impl Into<AnyCommand>) -> Self {
        CommandEnvelope {
            command_uuid: command_uuid.into(),
            command: command.into(),
            extra: Dictionary::new(),
        }
    }

    /// Decodes an untrusted command plist (XML or binary) with the default [`Limits`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_with_limits(bytes, &Limits::MDM)
    }

    /// Decodes an untrusted command plist.
    pub fn decode_with_limits(bytes: &[u8], limits: &Limits) -> Result<Self> {
        Self::from_dictionary(parse_dictionary(bytes, limits)?)
    }

    /// Reads an envelope from a decoded dictionary.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        let mut f = Fields::new(dict, "");
        let command_uuid: String = f.required("CommandUUID")?;
        let command: Dictionary = f.required("Command")?;
        let command = AnyCommand::from_dictionary(command, "Command")?;
        Ok(CommandEnvelope {
            command_uuid,
            command,
            extra: f.rest(),
        })
    }

    /// The envelope as a dictionary.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut out = DictWriter::new();
        out.put("CommandUUID", &self.command_uuid)
            .put("Command", &self.command.to_dictionary())
            .extend(&self.extra);
        out.finish()
    }

    /// Encodes the envelope as an XML plist.
    pub fn encode(&self) -> Result<Vec<u8>> {
        Ok(mdm_proto::to_xml(&Value::Dictionary(self.to_dictionary()))?)
    }

    /// Encodes the envelope as a binary plist.
    pub fn encode_binary(&self) -> Result<Vec<u8>> {
        Ok(mdm_proto::to_binary(&Value::Dictionary(
            self.to_dictionary(),
        ))?)
    }
}

/// The two keys every command carries, read without typing the command: what a server
/// needs to queue a command plist it was given as is (NanoMDM's raw enqueue), whatever its
/// `RequestType`, without refusing keys this version does not know.
///
/// ```
/// use mdm_commands::CommandHeader;
///
/// let plist = br#"<plist version="1.0"><dict><key>CommandUUID</key><string>C-1</string>
///   <key>Command</key><dict><key>RequestType</key><string>FutureCommand</string></dict>
/// </dict></plist>"#;
/// let header = CommandHeader::decode(plist, &mdm_commands::mdm_proto::Limits::MDM)?;
/// assert_eq!((header.command_uuid.as_str(), header.request_type.as_str()), ("C-1", "FutureCommand"));
/// # Ok::<(), mdm_commands::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandHeader {
    /// `CommandUUID`: 1 to [`CommandHeader::MAX_UUID_LEN`] bytes.
    pub command_uuid: String,
    /// `Command.RequestType`: not empty.
    pub request_type: String,
}

impl CommandHeader {
    /// The longest `CommandUUID` accepted, in bytes.
    pub const MAX_UUID_LEN: usize = 256;

    /// Reads the header of an untrusted command plist (XML or binary).
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Self> {
        Self::from_dictionary(&parse_dictionary(bytes, limits)?)
    }

    /// Reads the header of a decoded command dictionary.
    pub fn from_dictionary(dict: &Dictionary) -> Result<Self> {
        let wrong_type =
            |path: &str, expected: &'static str, found: &Value| mdm_proto::Error::WrongType {
                path: path.to_owned(),
                expected,
                found: mdm_proto::fields::kind_of(found),
            };
        let command_uuid = match dict.get("CommandUUID") {
            Some(Value::String(s)) if !s.is_empty() && s.len() <= Self::MAX_UUID_LEN => s.clone(),
            Some(Value::String(_)) => {
                return Err(mdm_proto::Error::InvalidValue {
                    path: "CommandUUID".into(),
                    reason: format!("must have 1 to {} bytes", Self::MAX_UUID_LEN),
                }
                .into());
            }
            Some(other) => return Err(wrong_type("CommandUUID", "a string", other).into()),
            None => {
                return Err(mdm_proto::Error::MissingKey {
                    path: "CommandUUID".into(),
                }
                .into());
            }
        };
        let request_type = match dict.get("Command") {
            Some(Value::Dictionary(command)) => match command.get("RequestType") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::String(_)) => {
                    return Err(mdm_proto::Error::InvalidValue {
                        path: "Command.RequestType".into(),
                        reason: "must not be empty".into(),
                    }
                    .into());
                }
                Some(other) => {
                    return Err(wrong_type("Command.RequestType", "a string", other).into());
                }
                None => {
                    return Err(mdm_proto::Error::MissingKey {
                        path: "Command.RequestType".into(),
                    }
                    .into());
                }
            },
            Some(other) => return Err(wrong_type("Command", "a dictionary", other).into()),
            None => {
                return Err(mdm_proto::Error::MissingKey {
                    path: "Command".into(),
                }
                .into());
            }
        };
        Ok(CommandHeader {
            command_uuid,
            request_type,
        })
    }
}

fn empty_value(spec: &crate::schema::KeySpec) -> Value {
    use crate::schema::Kind;
    let first = spec.values.first().copied();
    match spec.kind {
        Kind::String => Value::String(first.unwrap_or("").to_owned()),
        Kind::Boolean => Value::Boolean(false),
        Kind::Integer => Value::Integer(
            first
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0)
                .into(),
        ),
        Kind::Real => Value::Real(0.0),
        Kind::Data => Value::Data(Vec::new()),
        Kind::Date => Value::Date(std::time::UNIX_EPOCH.into()),
        // An array of listed strings gets every listed value. DeviceInformation's schema
        // lists its queries as the item's sub-keys rather than as values: its template asks
        // every query Apple lists, which is a command worth sending as it is.
        Kind::Array => Value::Array(match spec.children.first() {
            Some(item) if matches!(item.kind, Kind::String) && !item.values.is_empty() => item
                .values
                .iter()
                .map(|v| Value::String((*v).to_owned()))
                .collect(),
            Some(item) if matches!(item.kind, Kind::String) => item
                .children
                .iter()
                .filter(|k| !k.is_wildcard())
                .map(|k| Value::String(k.key.to_owned()))
                .collect(),
            _ => Vec::new(),
        }),
        Kind::Dictionary => Value::Dictionary(
            spec.children
                .iter()
                .filter(|k| k.required && !k.is_wildcard())
                .map(|k| (k.key.to_owned(), empty_value(k)))
                .collect(),
        ),
        // `Kind::Any`, and kinds a later mdm-proto adds.
        _ => Value::String(String::new()),
    }
}
