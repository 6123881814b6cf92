//! `GetBootstrapToken`: the Mac asks for its escrowed bootstrap token.

use crate::error::Result;
use crate::message::{Message, read_message, write_message};
use crate::message_type::MessageType;
use mdm_proto::Identity;
use plist::Dictionary;

/// `GetBootstrapToken`: a supervised Mac asks for the bootstrap token it escrowed with
/// [`SetBootstrapToken`](crate::SetBootstrapToken). The server answers with a
/// [`GetBootstrapTokenResponse`](crate::GetBootstrapTokenResponse).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct GetBootstrapToken {
    /// `AwaitingConfiguration`: the Mac waits in Setup Assistant for `DeviceConfigured`.
    pub awaiting_configuration: Option<bool>,
    /// The identity keys.
    pub identity: Identity,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl GetBootstrapToken {
    /// A `GetBootstrapToken` from `identity`.
    pub fn new(identity: Identity) -> Self {
        GetBootstrapToken {
            identity,
            ..GetBootstrapToken::default()
        }
    }
}

impl Message for GetBootstrapToken {
    const MESSAGE_TYPE: MessageType = MessageType::GetBootstrapToken;

    fn from_dictionary(dict: Dictionary) -> Result<Self> {
        read_message(dict, &Self::MESSAGE_TYPE, |mut f| {
            Ok(GetBootstrapToken {
                awaiting_configuration: f.optional("AwaitingConfiguration")?,
                identity: Identity::take(&mut f)?,
                extra: f.rest(),
            })
        })
    }

    fn into_dictionary(self) -> Dictionary {
        write_message(&Self::MESSAGE_TYPE, &self.identity, self.extra, |out| {
            out.put_opt("AwaitingConfiguration", &self.awaiting_configuration);
        })
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}
