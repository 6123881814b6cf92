//! `DeclarativeManagement`: a Declarative Device Management request over check-in.

use crate::error::Result;
use crate::message::{Message, read_message, write_message};
use crate::message_type::MessageType;
use mdm_proto::{Data, Identity};
use plist::Dictionary;

/// `DeclarativeManagement`: the device fetches tokens, the declaration manifest or one
/// declaration, or sends a status report. `Endpoint` must be present: it says which.
///
/// The server answers with the JSON the endpoint asks for (`mdm-ddm` models it).
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct DeclarativeManagement {
    /// `Endpoint`: `tokens`, `declaration-items`, `status` or
    /// `declaration/<type>/<identifier>`.
    pub endpoint: String,
    /// `Data`: the JSON body of the request (the status report for `status`).
    pub data: Option<Data>,
    /// The identity keys of the channel.
    pub identity: Identity,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl DeclarativeManagement {
    /// A `DeclarativeManagement` request from `identity` to `endpoint`.
    pub fn new(identity: Identity, endpoint: impl Into<String>) -> Self {
        DeclarativeManagement {
            endpoint: endpoint.into(),
            identity,
            ..DeclarativeManagement::default()
        }
    }

    /// For a `declaration/<type>/<identifier>` endpoint, its type and identifier.
    pub fn declaration(&self) -> Option<(&str, &str)> {
        self.endpoint.strip_prefix("declaration/")?.split_once('/')
    }
}

impl Message for DeclarativeManagement {
    const MESSAGE_TYPE: MessageType = MessageType::DeclarativeManagement;

    fn from_dictionary(dict: Dictionary) -> Result<Self> {
        read_message(dict, &Self::MESSAGE_TYPE, |mut f| {
            Ok(DeclarativeManagement {
                endpoint: f.required("Endpoint")?,
                data: f.optional("Data")?,
                identity: Identity::take(&mut f)?,
                extra: f.rest(),
            })
        })
    }

    fn into_dictionary(self) -> Dictionary {
        write_message(&Self::MESSAGE_TYPE, &self.identity, self.extra, |out| {
            out.put("Endpoint", &self.endpoint)
                .put_opt("Data", &self.data);
        })
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}
