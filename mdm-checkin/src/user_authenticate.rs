//! `UserAuthenticate`: a macOS network or mobile user logs in.

use crate::error::Result;
use crate::message::{Message, read_message, write_message};
use crate::message_type::MessageType;
use mdm_proto::{Identity, fields::DictWriter};
use plist::Dictionary;

/// `UserAuthenticate`: sent on a macOS user channel before the user's first `TokenUpdate`.
///
/// The exchange has two rounds. The first message has no `DigestResponse`; the server
/// answers with a [`UserAuthenticateResponse`](crate::UserAuthenticateResponse) holding a
/// `DigestChallenge` (or refuses with a 410 to decline managing the user). The second
/// message carries the `DigestResponse`. `UserID` must be present: it names the user.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct UserAuthenticate {
    /// `DigestResponse`: the answer to the server's challenge (second round only).
    pub digest_response: Option<String>,
    /// The identity keys (`UDID`, `UserID`, and usually the user's names).
    pub identity: Identity,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl UserAuthenticate {
    /// A first-round `UserAuthenticate` from a user channel.
    pub fn new(identity: Identity) -> Self {
        UserAuthenticate {
            identity,
            ..UserAuthenticate::default()
        }
    }
}

impl Message for UserAuthenticate {
    const MESSAGE_TYPE: MessageType = MessageType::UserAuthenticate;

    fn from_dictionary(dict: Dictionary) -> Result<Self> {
        read_message(dict, &Self::MESSAGE_TYPE, |mut f| {
            let message = UserAuthenticate {
                digest_response: f.optional("DigestResponse")?,
                identity: Identity::take(&mut f)?,
                extra: f.rest(),
            };
            if message.identity.user_id.is_none() {
                return Err(mdm_proto::Error::MissingKey {
                    path: "UserID".to_owned(),
                });
            }
            Ok(message)
        })
    }

    fn into_dictionary(self) -> Dictionary {
        write_message(
            &Self::MESSAGE_TYPE,
            &self.identity,
            self.extra,
            |out: &mut DictWriter| {
                out.put_opt("DigestResponse", &self.digest_response);
            },
        )
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}
