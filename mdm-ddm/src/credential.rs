//! Credential documents: the JSON that a credential asset's `Reference.DataURL` serves.

pub use crate::generated::credentials::*;

use crate::error::Result;
use crate::limits::{Limits, parse_object};
use crate::schema::Keys;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A generated credential document type.
pub trait CredentialPayload: Keys + Serialize + DeserializeOwned + Clone {
    /// The credential type this document is.
    const TYPE: CredentialType;

    /// Decodes the document from untrusted JSON bytes, checking it against the schema.
    fn decode(bytes: &[u8]) -> Result<Self> {
        crate::schema::decode_object(parse_object(bytes, &Limits::DDM)?, "")
    }

    /// The document as JSON bytes.
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}
