//! `TokenUpdate`: a channel's push token, new or changed.

use crate::error::Result;
use crate::message::{Message, read_message, write_message};
use crate::message_type::MessageType;
use mdm_proto::{Data, Identity};
use plist::Dictionary;

/// `TokenUpdate`: the device (or a user channel) gives the server what it needs to send
/// pushes. The first one after `Authenticate` completes the enrollment.
///
/// `Topic`, `Token` and `PushMagic` must be present and non-empty: without them the server
/// cannot reach the device. `NotOnConsole` and `UserLongName`, marked required by the
/// schema, are optional here since only macOS user channels send them.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct TokenUpdate {
    /// `Topic`: the push topic the device subscribes to.
    pub topic: String,
    /// `Token`: the APNs device token (32 bytes on real devices).
    pub token: Data,
    /// `PushMagic`: the string to send in every push to this channel.
    pub push_magic: String,
    /// `UnlockToken`: a keybag that lets the server clear the passcode (iOS).
    pub unlock_token: Option<Data>,
    /// `AwaitingConfiguration`: the device waits in Setup Assistant for
    /// `DeviceConfigured` (device channel) or `UserConfigured` (Shared iPad user channel).
    pub awaiting_configuration: Option<bool>,
    /// `NotOnConsole`: the macOS user is not logged in at the console.
    pub not_on_console: Option<bool>,
    /// The identity keys of the channel.
    pub identity: Identity,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl TokenUpdate {
    /// A `TokenUpdate` for a channel.
    pub fn new(
        identity: Identity,
        topic: impl Into<String>,
        token: impl Into<Vec<u8>>,
        push_magic: impl Into<String>,
    ) -> Self {
        TokenUpdate {
            topic: topic.into(),
            token: Data(token.into()),
            push_magic: push_magic.into(),
            identity,
            ..TokenUpdate::default()
        }
    }
}

impl Message for TokenUpdate {
    const MESSAGE_TYPE: MessageType = MessageType::TokenUpdate;

    fn from_dictionary(dict: Dictionary) -> Result<Self> {
        read_message(dict, &Self::MESSAGE_TYPE, |mut f| {
            let token: Data = f.required("Token")?;
            if token.0.is_empty() {
                return Err(empty("Token"));
            }
            let push_magic: String = f.required("PushMagic")?;
            if push_magic.is_empty() {
                return Err(empty("PushMagic"));
            }
            Ok(TokenUpdate {
                topic: f.required("Topic")?,
                token,
                push_magic,
                unlock_token: f.optional("UnlockToken")?,
                awaiting_configuration: f.optional("AwaitingConfiguration")?,
                not_on_console: f.optional("NotOnConsole")?,
                identity: Identity::take(&mut f)?,
                extra: f.rest(),
            })
        })
    }

    fn into_dictionary(self) -> Dictionary {
        write_message(&Self::MESSAGE_TYPE, &self.identity, self.extra, |out| {
            out.put("Topic", &self.topic)
                .put("Token", &self.token)
                .put("PushMagic", &self.push_magic)
                .put_opt("UnlockToken", &self.unlock_token)
                .put_opt("AwaitingConfiguration", &self.awaiting_configuration)
                .put_opt("NotOnConsole", &self.not_on_console);
        })
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}

fn empty(key: &str) -> mdm_proto::Error {
    mdm_proto::Error::InvalidValue {
        path: key.to_owned(),
        reason: "it is empty".to_owned(),
    }
}
