//! `GetToken`: the device asks the server for a service token.

use crate::error::Result;
use crate::message::{Message, read_message, write_message};
use crate::message_type::MessageType;
use mdm_proto::{DictWriter, Fields, FromValue, Identity, ToValue};
use plist::{Dictionary, Value};

mdm_proto::open_enum! {
    /// `TokenServiceType` of a [`GetToken`].
    pub enum TokenServiceType {
        /// A Managed Apple Account token.
        Maid = "com.apple.maid",
        /// Pairing a watch with a managed phone.
        WatchPairing = "com.apple.watch.pairing",
    }
}

/// `TokenParameters` of a [`GetToken`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct TokenParameters {
    /// `SecurityToken` (`com.apple.watch.pairing`).
    pub security_token: Option<String>,
    /// `PhoneUDID`: the phone paired to the watch (`com.apple.watch.pairing`).
    pub phone_udid: Option<String>,
    /// `WatchUDID`: the watch paired to the phone (`com.apple.watch.pairing`).
    pub watch_udid: Option<String>,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl FromValue for TokenParameters {
    fn from_value(value: Value, path: &str) -> mdm_proto::Result<Self> {
        let mut f = Fields::new(Dictionary::from_value(value, path)?, path);
        Ok(TokenParameters {
            security_token: f.optional("SecurityToken")?,
            phone_udid: f.optional("PhoneUDID")?,
            watch_udid: f.optional("WatchUDID")?,
            extra: f.rest(),
        })
    }
}

impl ToValue for TokenParameters {
    fn to_value(&self) -> Value {
        let mut out = DictWriter::new();
        out.put_opt("SecurityToken", &self.security_token)
            .put_opt("PhoneUDID", &self.phone_udid)
            .put_opt("WatchUDID", &self.watch_udid)
            .extend(&self.extra);
        let mut dict = out.finish();
        dict.sort_keys();
        Value::Dictionary(dict)
    }
}

/// `GetToken`: the device asks for a token of a service (a Managed Apple Account token,
/// or watch pairing). `TokenServiceType` must be present. The server answers with a
/// [`GetTokenResponse`](crate::GetTokenResponse).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct GetToken {
    /// `TokenServiceType`: the service the token is for.
    pub token_service_type: TokenServiceType,
    /// `TokenParameters`: what the service needs to make the token.
    pub token_parameters: Option<TokenParameters>,
    /// The identity keys of the channel.
    pub identity: Identity,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl GetToken {
    /// A `GetToken` from `identity` for a service.
    pub fn new(identity: Identity, token_service_type: TokenServiceType) -> Self {
        GetToken {
            token_service_type,
            token_parameters: None,
            identity,
            extra: Dictionary::new(),
        }
    }
}

impl Message for GetToken {
    const MESSAGE_TYPE: MessageType = MessageType::GetToken;

    fn from_dictionary(dict: Dictionary) -> Result<Self> {
        read_message(dict, &Self::MESSAGE_TYPE, |mut f| {
            Ok(GetToken {
                token_service_type: f.required("TokenServiceType")?,
                token_parameters: f.optional("TokenParameters")?,
                identity: Identity::take(&mut f)?,
                extra: f.rest(),
            })
        })
    }

    fn into_dictionary(self) -> Dictionary {
        write_message(&Self::MESSAGE_TYPE, &self.identity, self.extra, |out| {
            out.put("TokenServiceType", &self.token_service_type)
                .put_opt("TokenParameters", &self.token_parameters);
        })
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}
