//! `ReturnToService` (iOS/visionOS 26): a supervised ADE device asks for the Wi-Fi and MDM
//! profile data it needs to re-enroll on its own after an erase.

use crate::error::{Error, Result};
use crate::message::{Message, read_message, write_message};
use crate::message_type::MessageType;
use mdm_proto::{Identity, ToValue};
use plist::{Dictionary, Value};

pub use crate::generated::checkin::{ReturnToServiceResponse, ReturnToServiceSettings};

/// `ReturnToService`: a supervised device enrolled through Automated Device Enrollment,
/// in the return-to-service mode its enrollment profile sets, asks the server for the
/// return-to-service configuration (when the user triggers a return to service, or its
/// idle timeout expires). The server answers with a [`ReturnToServiceResponse`].
///
/// The schema's facts (iOS and visionOS 26.0, supervised, DEP, not on User Enrollment) are
/// [`crate::facts::RETURN_TO_SERVICE`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ReturnToService {
    /// The identity keys (`UDID`).
    pub identity: Identity,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl ReturnToService {
    /// A `ReturnToService` from `identity`.
    pub fn new(identity: Identity) -> Self {
        ReturnToService {
            identity,
            extra: Dictionary::new(),
        }
    }
}

impl Message for ReturnToService {
    const MESSAGE_TYPE: MessageType = MessageType::ReturnToService;

    fn from_dictionary(dict: Dictionary) -> Result<Self> {
        read_message(dict, &Self::MESSAGE_TYPE, |mut f| {
            Ok(ReturnToService {
                identity: Identity::take(&mut f)?,
                extra: f.rest(),
            })
        })
    }

    fn into_dictionary(self) -> Dictionary {
        write_message(&Self::MESSAGE_TYPE, &self.identity, self.extra, |_| {})
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}

const RESPONSE: &str = "ReturnToService response";

impl ReturnToServiceResponse {
    /// Reads a response from a decoded dictionary.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        crate::response::typed_body(dict, RESPONSE)
    }

    /// Decodes an untrusted response body (as a device or a simulator reads it).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        crate::response::decode_typed_body(bytes, RESPONSE)
    }

    /// The response as a dictionary, its keys sorted.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut dict = match self.to_value() {
            Value::Dictionary(d) => d,
            _ => Dictionary::new(),
        };
        dict.sort_keys();
        dict
    }

    /// Encodes the response as an XML plist, the body of the server's 200.
    pub fn encode(&self) -> Result<Vec<u8>> {
        mdm_proto::to_xml(&Value::Dictionary(self.to_dictionary())).map_err(Error::Encode)
    }
}
