//! `SetBootstrapToken`: the Mac escrows its bootstrap token.

use crate::error::Result;
use crate::message::{Message, read_message, write_message};
use crate::message_type::MessageType;
use mdm_proto::{Data, Identity};
use plist::Dictionary;

/// `SetBootstrapToken`: a supervised Mac gives the server its bootstrap token to keep.
/// A missing or empty `BootstrapToken` asks the server to delete the one it holds
/// ([`SetBootstrapToken::removes_token`]). The server answers with an empty 200.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct SetBootstrapToken {
    /// `BootstrapToken`: the token to escrow.
    pub bootstrap_token: Option<Data>,
    /// `AwaitingConfiguration`: the Mac waits in Setup Assistant for `DeviceConfigured`.
    pub awaiting_configuration: Option<bool>,
    /// The identity keys.
    pub identity: Identity,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl SetBootstrapToken {
    /// A `SetBootstrapToken` from `identity` escrowing `token`.
    pub fn new(identity: Identity, token: impl Into<Vec<u8>>) -> Self {
        SetBootstrapToken {
            bootstrap_token: Some(Data(token.into())),
            identity,
            ..SetBootstrapToken::default()
        }
    }

    /// True when the message asks the server to delete the escrowed token.
    pub fn removes_token(&self) -> bool {
        self.bootstrap_token.as_ref().is_none_or(|t| t.0.is_empty())
    }
}

impl Message for SetBootstrapToken {
    const MESSAGE_TYPE: MessageType = MessageType::SetBootstrapToken;

    fn from_dictionary(dict: Dictionary) -> Result<Self> {
        read_message(dict, &Self::MESSAGE_TYPE, |mut f| {
            Ok(SetBootstrapToken {
                bootstrap_token: f.optional("BootstrapToken")?,
                awaiting_configuration: f.optional("AwaitingConfiguration")?,
                identity: Identity::take(&mut f)?,
                extra: f.rest(),
            })
        })
    }

    fn into_dictionary(self) -> Dictionary {
        write_message(&Self::MESSAGE_TYPE, &self.identity, self.extra, |out| {
            out.put_opt("BootstrapToken", &self.bootstrap_token)
                .put_opt("AwaitingConfiguration", &self.awaiting_configuration);
        })
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}
