//! `ReturnToService` (iOS/visionOS 26): a supervised ADE device asks for the Wi-Fi and MDM
//! profile data it needs to re-enroll on its own after an erase. The message and its
//! response are generated; this adds the response's decoding and encoding.

use crate::error::{Error, Result};
use mdm_proto::ToValue;
use plist::{Dictionary, Value};

pub use crate::generated::checkin::{
    ReturnToService, ReturnToServiceResponse, ReturnToServiceSettings,
};

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
