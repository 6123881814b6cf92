//! The bodies a server sends back to the check-ins that need one.
//!
//! `Authenticate`, `TokenUpdate`, `CheckOut` and `SetBootstrapToken` are answered with an
//! empty 200. `UserAuthenticate`, `GetBootstrapToken`, `GetToken` and `ReturnToService`
//! are answered with a plist dictionary: the last three are generated from their
//! `responsekeys`, `UserAuthenticate`'s is written here. (`DeclarativeManagement` is
//! answered with JSON; see `mdm-ddm`.)

use crate::error::{Error, Result};
use mdm_proto::{DictWriter, Fields, FromValue, Limits, ToValue};
use plist::{Dictionary, Value};

pub use crate::generated::checkin::{GetBootstrapTokenResponse, GetTokenResponse};

/// Types a decoded dictionary as a body (`FromValue`), naming `name` in the error.
pub(crate) fn typed_body<T: FromValue>(dict: Dictionary, name: &'static str) -> Result<T> {
    T::from_value(Value::Dictionary(dict), "").map_err(|source| Error::InvalidResponse {
        response: name,
        source,
    })
}

/// Decodes an untrusted plist body (the front door's limits) and types it with [`typed_body`].
pub(crate) fn decode_typed_body<T: FromValue>(bytes: &[u8], name: &'static str) -> Result<T> {
    let dict = mdm_proto::parse_dictionary(bytes, &Limits::MDM).map_err(Error::Body)?;
    typed_body(dict, name)
}

/// Encodes a body as an XML plist, its keys sorted.
pub(crate) fn encode_body<T: ToValue>(body: &T) -> Result<Vec<u8>> {
    let dict = crate::message::sorted_dictionary(body);
    mdm_proto::to_xml(&Value::Dictionary(dict)).map_err(Error::Encode)
}

const USER_AUTHENTICATE: &str = "UserAuthenticate response";

/// The answer to a first-round [`UserAuthenticate`](crate::UserAuthenticate).
///
/// Written by hand: the schema gives `UserAuthenticate` no `responsekeys` (its notes
/// describe `DigestChallenge`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct UserAuthenticateResponse {
    /// `DigestChallenge`: the challenge the user's second `UserAuthenticate` answers, such
    /// as `Digest nonce="..."`. Absent: the server accepts the user without a challenge.
    pub digest_challenge: Option<String>,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl UserAuthenticateResponse {
    /// A response carrying a digest challenge.
    pub fn new(digest_challenge: impl Into<String>) -> Self {
        UserAuthenticateResponse {
            digest_challenge: Some(digest_challenge.into()),
            extra: Dictionary::new(),
        }
    }

    /// Reads a response from a decoded dictionary.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        typed_body(dict, USER_AUTHENTICATE)
    }

    /// Decodes a response body.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        decode_typed_body(bytes, USER_AUTHENTICATE)
    }

    /// The response as a dictionary, its keys sorted.
    pub fn to_dictionary(&self) -> Dictionary {
        crate::message::sorted_dictionary(self)
    }

    /// Encodes the response as an XML plist.
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode_body(self)
    }
}

impl FromValue for UserAuthenticateResponse {
    fn from_value(value: Value, path: &str) -> mdm_proto::Result<Self> {
        let mut f = Fields::new(Dictionary::from_value(value, path)?, path);
        Ok(UserAuthenticateResponse {
            digest_challenge: f.optional("DigestChallenge")?,
            extra: f.rest(),
        })
    }
}

impl ToValue for UserAuthenticateResponse {
    fn to_value(&self) -> Value {
        let mut out = DictWriter::new();
        out.put_opt("DigestChallenge", &self.digest_challenge);
        out.extend(&self.extra);
        Value::Dictionary(out.finish())
    }
}
