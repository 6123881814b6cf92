//! [`CheckinMessage`]: any check-in, decoded in two steps, and the [`Message`] trait that
//! every typed message implements.

use crate::error::{Error, Result};
use crate::generated::checkin::MessageType;
use crate::generated::checkin::{decode_known, each_message};
use mdm_proto::{Enrollment, Fields, FromValue, Identity, Limits, ToValue};
use plist::{Dictionary, Value};

pub use crate::generated::checkin::CheckinMessage;

/// The key that names a check-in's type.
pub const MESSAGE_TYPE_KEY: &str = "MessageType";

/// A typed check-in message: one `MessageType` of Apple's schema.
///
/// Every implementation keeps the identity keys in `identity` and the keys it does not model
/// in `extra`, so `from_dictionary(m.to_dictionary())` gives `m` back and
/// `to_dictionary(from_dictionary(d))` gives `d` back.
pub trait Message: Sized + Clone + Into<CheckinMessage> {
    /// The `MessageType` this type reads and writes.
    const MESSAGE_TYPE: MessageType;

    /// Reads the message from a decoded dictionary (its `MessageType` must match).
    ///
    /// This checks the message's own keys; it does not check that the identity keys name
    /// an enrollment ([`Message::decode`] does).
    fn from_dictionary(dict: Dictionary) -> Result<Self>;

    /// The message as a dictionary, `MessageType` and every kept key included, with the
    /// keys sorted as Apple's devices send them.
    fn into_dictionary(self) -> Dictionary;

    /// The message as a dictionary (a copy; [`Message::into_dictionary`] avoids it).
    fn to_dictionary(&self) -> Dictionary {
        self.clone().into_dictionary()
    }

    /// The identity keys the message came with.
    fn identity(&self) -> &Identity;

    /// Decodes an untrusted body with the default limits ([`Limits::MDM`]), and checks that
    /// its identity keys name an enrollment.
    fn decode(bytes: &[u8]) -> Result<Self> {
        let dict = mdm_proto::parse_dictionary(bytes, &Limits::MDM).map_err(Error::Body)?;
        let message = Self::from_dictionary(dict)?;
        message
            .identity()
            .resolve()
            .map_err(|e| Error::invalid(Self::MESSAGE_TYPE.as_str(), e))?;
        Ok(message)
    }

    /// Encodes the message as an XML plist.
    fn encode(&self) -> Result<Vec<u8>> {
        mdm_proto::to_xml(&Value::Dictionary(self.to_dictionary())).map_err(Error::Encode)
    }

    /// The enrollment the message comes from.
    fn enrollment(&self) -> Result<Enrollment> {
        self.identity()
            .resolve()
            .map_err(|e| Error::invalid(Self::MESSAGE_TYPE.as_str(), e))
    }
}

/// Checks the `MessageType` of `dict` and reads the message from it (a generated type,
/// whose `FromValue` drops `MessageType`), then runs `check` on it: the checks of
/// `overrides.rs` the schema cannot say. Errors are reported with the message type.
pub(crate) fn read_message<T: FromValue>(
    dict: Dictionary,
    expected: &MessageType,
    check: impl FnOnce(&T) -> mdm_proto::Result<()>,
) -> Result<T> {
    let found = message_type_of(&dict)?;
    if found != expected.as_str() {
        return Err(Error::UnexpectedMessageType {
            expected: expected.clone(),
            found: found.to_owned(),
        });
    }
    T::from_value(Value::Dictionary(dict), "")
        .and_then(|message| check(&message).map(|()| message))
        .map_err(|e| Error::invalid(expected.as_str(), e))
}

/// The dictionary of a message or a response body (a generated type, whose `ToValue`
/// writes a message's `MessageType`, its identity keys and the typed values over the extra
/// keys), with the keys of every dictionary in it sorted as Apple's devices send them.
pub(crate) fn sorted_dictionary<T: ToValue>(value: &T) -> Dictionary {
    let mut value = value.to_value();
    sort_keys(&mut value);
    match value {
        Value::Dictionary(dict) => dict,
        _ => Dictionary::new(),
    }
}

/// Sorts the keys of every dictionary in `value`.
fn sort_keys(value: &mut Value) {
    match value {
        Value::Dictionary(dict) => {
            dict.sort_keys();
            for (_, v) in dict.iter_mut() {
                sort_keys(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}

/// A value that can be empty (a string, data).
pub(crate) trait IsEmpty {
    /// True when it has no characters or bytes.
    fn is_empty(&self) -> bool;
}

impl IsEmpty for String {
    fn is_empty(&self) -> bool {
        String::is_empty(self)
    }
}

impl IsEmpty for mdm_proto::Data {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Refuses an empty value of `key` ([`crate::overrides::Change::NonEmpty`]).
pub(crate) fn non_empty(key: &str, value: &impl IsEmpty) -> mdm_proto::Result<()> {
    if value.is_empty() {
        return Err(mdm_proto::Error::InvalidValue {
            path: key.to_owned(),
            reason: "it is empty".to_owned(),
        });
    }
    Ok(())
}

/// Refuses a missing identity key ([`crate::overrides::Change::Required`]).
pub(crate) fn present(key: &str, value: &Option<String>) -> mdm_proto::Result<()> {
    if value.is_none() {
        return Err(mdm_proto::Error::MissingKey {
            path: key.to_owned(),
        });
    }
    Ok(())
}

/// The `MessageType` string of a dictionary.
fn message_type_of(dict: &Dictionary) -> Result<&str> {
    match dict.get(MESSAGE_TYPE_KEY) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(Error::NoMessageType {
            found: mdm_proto::fields::kind_of(other),
        }),
        None => Err(Error::NoMessageType { found: "nothing" }),
    }
}

/// A check-in whose `MessageType` this version does not model, kept whole.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UnknownMessage {
    /// The `MessageType` as sent.
    pub message_type: String,
    /// The whole dictionary, `MessageType` and identity keys included.
    pub payload: Dictionary,
}

impl UnknownMessage {
    /// A message of type `message_type` with no other keys.
    pub fn new(message_type: impl Into<String>) -> Self {
        let message_type = message_type.into();
        let mut payload = Dictionary::new();
        payload.insert(
            MESSAGE_TYPE_KEY.to_owned(),
            Value::String(message_type.clone()),
        );
        UnknownMessage {
            message_type,
            payload,
        }
    }

    /// Reads the identity keys of the payload.
    pub fn identity(&self) -> Result<Identity> {
        let mut fields = Fields::new(self.identity_keys(), "");
        Identity::take(&mut fields).map_err(|e| Error::invalid(&self.message_type, e))
    }

    fn identity_keys(&self) -> Dictionary {
        Identity::KEYS
            .iter()
            .filter_map(|k| self.payload.get(k).map(|v| ((*k).to_owned(), v.clone())))
            .collect()
    }
}

impl CheckinMessage {
    /// Decodes an untrusted check-in body with the default limits ([`Limits::MDM`]).
    ///
    /// ```
    /// use mdm_checkin::CheckinMessage;
    ///
    /// let body = br#"<?xml version="1.0"?><plist version="1.0"><dict>
    ///   <key>MessageType</key><string>TokenUpdate</string>
    ///   <key>UDID</key><string>0000-1111</string><key>Topic</key><string>com.apple.mgmt.X</string>
    ///   <key>PushMagic</key><string>magic</string><key>Token</key><data>wP/uAA==</data>
    /// </dict></plist>"#;
    /// let CheckinMessage::TokenUpdate(update) = CheckinMessage::decode(body)? else {
    ///     panic!("not a TokenUpdate");
    /// };
    /// assert_eq!(update.push_magic, "magic");
    /// assert_eq!(update.token.as_ref(), &[0xc0, 0xff, 0xee, 0x00]);
    /// # Ok::<(), mdm_checkin::Error>(())
    /// ```
    ///
    /// Fails when the body is not a plist dictionary within the limits, has no
    /// `MessageType`, lacks a key its type really needs (a `TokenUpdate` without `Token`),
    /// has a known key with a value of the wrong type, or names no enrollment.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_with_limits(bytes, &Limits::MDM)
    }

    /// Decodes an untrusted check-in body with the given limits.
    pub fn decode_with_limits(bytes: &[u8], limits: &Limits) -> Result<Self> {
        let dict = mdm_proto::parse_dictionary(bytes, limits).map_err(Error::Body)?;
        let message = Self::from_dictionary(dict)?;
        message.enrollment()?;
        Ok(message)
    }

    /// Reads a check-in from a decoded dictionary, by its `MessageType`.
    ///
    /// Like [`Message::from_dictionary`], this does not check that the identity keys name
    /// an enrollment; [`CheckinMessage::enrollment`] does.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        let message_type = MessageType::from(message_type_of(&dict)?);
        let dict = match decode_known(&message_type, dict) {
            Ok(known) => return known,
            Err(dict) => dict,
        };
        let message = UnknownMessage {
            message_type: message_type.as_str().to_owned(),
            payload: dict,
        };
        message.identity()?;
        Ok(CheckinMessage::Unknown(message))
    }

    /// The message as a dictionary, every kept key included.
    pub fn to_dictionary(&self) -> Dictionary {
        each_message!(self, m => m.to_dictionary(), u => u.payload.clone())
    }

    /// The message as a dictionary, without copying it.
    pub fn into_dictionary(self) -> Dictionary {
        each_message!(self, m => m.into_dictionary(), u => u.payload)
    }

    /// Encodes the message as an XML plist.
    pub fn encode(&self) -> Result<Vec<u8>> {
        mdm_proto::to_xml(&Value::Dictionary(self.to_dictionary())).map_err(Error::Encode)
    }

    /// The message's `MessageType`.
    pub fn message_type(&self) -> MessageType {
        fn of<M: Message>(_: &M) -> MessageType {
            M::MESSAGE_TYPE
        }
        each_message!(self, m => of(m), u => MessageType::from(u.message_type.as_str()))
    }

    /// True when the message is of a type this version models.
    pub fn is_known(&self) -> bool {
        !matches!(self, CheckinMessage::Unknown(_))
    }

    /// The identity keys of the message.
    pub fn identity(&self) -> Result<Identity> {
        each_message!(self, m => Ok(m.identity().clone()), u => u.identity())
    }

    /// The enrollment the message comes from.
    pub fn enrollment(&self) -> Result<Enrollment> {
        let message_type = self.message_type();
        self.identity()?
            .resolve()
            .map_err(|e| Error::invalid(message_type.as_str(), e))
    }
}

impl From<UnknownMessage> for CheckinMessage {
    fn from(message: UnknownMessage) -> Self {
        CheckinMessage::Unknown(message)
    }
}
