//! `CheckOut`: the MDM profile was removed.

use crate::error::Result;
use crate::message::{Message, read_message, write_message};
use crate::message_type::MessageType;
use mdm_proto::Identity;
use plist::Dictionary;

/// `CheckOut`: the device tells the server it is leaving management (sent only when the
/// enrollment profile has `CheckOutWhenRemoved`).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct CheckOut {
    /// `Topic`: the push topic the device was subscribed to.
    pub topic: Option<String>,
    /// The identity keys.
    pub identity: Identity,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl CheckOut {
    /// A `CheckOut` from `identity`.
    pub fn new(identity: Identity) -> Self {
        CheckOut {
            identity,
            ..CheckOut::default()
        }
    }
}

impl Message for CheckOut {
    const MESSAGE_TYPE: MessageType = MessageType::CheckOut;

    fn from_dictionary(dict: Dictionary) -> Result<Self> {
        read_message(dict, &Self::MESSAGE_TYPE, |mut f| {
            Ok(CheckOut {
                topic: f.optional("Topic")?,
                identity: Identity::take(&mut f)?,
                extra: f.rest(),
            })
        })
    }

    fn into_dictionary(self) -> Dictionary {
        write_message(&Self::MESSAGE_TYPE, &self.identity, self.extra, |out| {
            out.put_opt("Topic", &self.topic);
        })
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}
