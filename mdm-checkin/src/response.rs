//! The bodies a server sends back to the check-ins that need one.
//!
//! `Authenticate`, `TokenUpdate`, `CheckOut` and `SetBootstrapToken` are answered with an
//! empty 200. `UserAuthenticate`, `GetBootstrapToken` and `GetToken` are answered with a
//! plist dictionary, modelled here. (`DeclarativeManagement` is answered with JSON; see
//! `mdm-ddm`.)

use crate::error::{Error, Result};
use mdm_proto::{Data, DictWriter, Fields, Limits};
use plist::{Dictionary, Value};

fn read_response<T>(
    bytes: &[u8],
    name: &'static str,
    read: impl FnOnce(Fields) -> mdm_proto::Result<T>,
) -> Result<T> {
    let dict = mdm_proto::parse_dictionary(bytes, &Limits::MDM).map_err(Error::Body)?;
    read(Fields::new(dict, "")).map_err(|source| Error::InvalidResponse {
        response: name,
        source,
    })
}

/// Types a decoded dictionary as a generated body (`FromValue`), naming `name` in the error.
pub(crate) fn typed_body<T: mdm_proto::FromValue>(
    dict: Dictionary,
    name: &'static str,
) -> Result<T> {
    T::from_value(Value::Dictionary(dict), "").map_err(|source| Error::InvalidResponse {
        response: name,
        source,
    })
}

/// Decodes an untrusted plist body (the front door's limits) and types it with [`typed_body`].
pub(crate) fn decode_typed_body<T: mdm_proto::FromValue>(
    bytes: &[u8],
    name: &'static str,
) -> Result<T> {
    let dict = mdm_proto::parse_dictionary(bytes, &Limits::MDM).map_err(Error::Body)?;
    typed_body(dict, name)
}

fn finish(mut out: DictWriter, extra: &Dictionary) -> Dictionary {
    out.extend(extra);
    let mut dict = out.finish();
    dict.sort_keys();
    dict
}

fn encode(dict: Dictionary) -> Result<Vec<u8>> {
    mdm_proto::to_xml(&Value::Dictionary(dict)).map_err(Error::Encode)
}

/// The answer to a first-round [`UserAuthenticate`](crate::UserAuthenticate).
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
        Self::read(Fields::new(dict, "")).map_err(|source| Error::InvalidResponse {
            response: "UserAuthenticate response",
            source,
        })
    }

    fn read(mut f: Fields) -> mdm_proto::Result<Self> {
        Ok(UserAuthenticateResponse {
            digest_challenge: f.optional("DigestChallenge")?,
            extra: f.rest(),
        })
    }

    /// Decodes a response body.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        read_response(bytes, "UserAuthenticate response", Self::read)
    }

    /// The response as a dictionary.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut out = DictWriter::new();
        out.put_opt("DigestChallenge", &self.digest_challenge);
        finish(out, &self.extra)
    }

    /// Encodes the response as an XML plist.
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode(self.to_dictionary())
    }
}

/// The answer to a [`GetBootstrapToken`](crate::GetBootstrapToken).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct GetBootstrapTokenResponse {
    /// `BootstrapToken`: the escrowed token (absent when the server holds none).
    pub bootstrap_token: Option<Data>,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl GetBootstrapTokenResponse {
    /// A response carrying `token`.
    pub fn new(token: impl Into<Vec<u8>>) -> Self {
        GetBootstrapTokenResponse {
            bootstrap_token: Some(Data(token.into())),
            extra: Dictionary::new(),
        }
    }

    /// Reads a response from a decoded dictionary.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        Self::read(Fields::new(dict, "")).map_err(|source| Error::InvalidResponse {
            response: "GetBootstrapToken response",
            source,
        })
    }

    fn read(mut f: Fields) -> mdm_proto::Result<Self> {
        Ok(GetBootstrapTokenResponse {
            bootstrap_token: f.optional("BootstrapToken")?,
            extra: f.rest(),
        })
    }

    /// Decodes a response body.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        read_response(bytes, "GetBootstrapToken response", Self::read)
    }

    /// The response as a dictionary.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut out = DictWriter::new();
        out.put_opt("BootstrapToken", &self.bootstrap_token);
        finish(out, &self.extra)
    }

    /// Encodes the response as an XML plist.
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode(self.to_dictionary())
    }
}

/// The answer to a [`GetToken`](crate::GetToken).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct GetTokenResponse {
    /// `TokenData`: the token (a string token as its UTF-8 bytes).
    pub token_data: Data,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl GetTokenResponse {
    /// A response carrying `token`.
    pub fn new(token: impl Into<Vec<u8>>) -> Self {
        GetTokenResponse {
            token_data: Data(token.into()),
            extra: Dictionary::new(),
        }
    }

    /// Reads a response from a decoded dictionary.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        Self::read(Fields::new(dict, "")).map_err(|source| Error::InvalidResponse {
            response: "GetToken response",
            source,
        })
    }

    fn read(mut f: Fields) -> mdm_proto::Result<Self> {
        Ok(GetTokenResponse {
            token_data: f.required("TokenData")?,
            extra: f.rest(),
        })
    }

    /// Decodes a response body.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        read_response(bytes, "GetToken response", Self::read)
    }

    /// The response as a dictionary.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut out = DictWriter::new();
        out.put("TokenData", &self.token_data);
        finish(out, &self.extra)
    }

    /// Encodes the response as an XML plist.
    pub fn encode(&self) -> Result<Vec<u8>> {
        encode(self.to_dictionary())
    }
}
