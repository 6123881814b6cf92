//! Error bodies: what a server answers with a 403 when a device may not enroll yet
//! (`com.apple.softwareupdate.required`, `com.apple.psso.required`…), as JSON or as a plist
//! (the `Content-Type` says which). Generated from `mdm/errors`; unknown codes are kept.

use crate::error::{Error, Result};
use mdm_proto::ToValue;
use mdm_proto::schema::{KeySpec, Kind};
use plist::{Dictionary, Value};

pub use crate::generated::errors::*;

const BODY: &str = "error body";

impl ErrorBody {
    /// Reads an error body from a decoded dictionary, typed by its `code`.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        crate::response::typed_body(dict, BODY)
    }

    /// Decodes an untrusted plist body.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        crate::response::decode_typed_body(bytes, BODY)
    }

    /// Decodes a JSON body (`{"code": …, "details": {…}}`); certificates in `PinningCerts`
    /// are base64 strings there.
    pub fn decode_json(bytes: &[u8]) -> Result<Self> {
        let json: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::Json(e.to_string()))?;
        let value = mdm_proto::json::from_json(&json).map_err(Error::Json)?;
        let Value::Dictionary(mut dict) = value else {
            return Err(Error::Json("an error body is a JSON object".to_owned()));
        };
        // JSON has no data type: the keys the schema types `<data>` come as base64 strings.
        let code = match dict.get("code") {
            Some(Value::String(c)) => Some(c.clone()),
            _ => None,
        };
        if let Some(spec) = ALL.iter().find(|s| Some(s.id) == code.as_deref()) {
            coerce_dict(&mut dict, spec.payload);
        }
        Self::from_dictionary(dict)
    }

    /// The body's `code`.
    pub fn code(&self) -> ErrorCode {
        match self.to_dictionary().get("code") {
            Some(Value::String(c)) => ErrorCode::from(c.as_str()),
            _ => ErrorCode::from(""),
        }
    }

    /// The body as a dictionary, its keys sorted.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut dict = match self.to_value() {
            Value::Dictionary(d) => d,
            _ => Dictionary::new(),
        };
        dict.sort_keys();
        dict
    }

    /// Encodes the body as an XML plist (`Content-Type: application/xml`).
    pub fn encode(&self) -> Result<Vec<u8>> {
        mdm_proto::to_xml(&Value::Dictionary(self.to_dictionary())).map_err(Error::Encode)
    }

    /// Encodes the body as JSON (`Content-Type: application/json`).
    pub fn encode_json(&self) -> Vec<u8> {
        mdm_proto::json::to_json(&Value::Dictionary(self.to_dictionary()))
            .to_string()
            .into_bytes()
    }
}

fn coerce_dict(dict: &mut Dictionary, keys: &'static [KeySpec]) {
    for (key, value) in dict.iter_mut() {
        if let Some(spec) = mdm_proto::schema::find_key(keys, key) {
            coerce(value, spec);
        }
    }
}

fn coerce(value: &mut Value, spec: &'static KeySpec) {
    match (spec.kind, &mut *value) {
        (Kind::Data, Value::String(s)) => {
            if let Some(bytes) = mdm_proto::json::data_from_base64(s) {
                *value = Value::Data(bytes);
            }
        }
        (Kind::Dictionary, Value::Dictionary(d)) => coerce_dict(d, spec.children),
        (Kind::Array, Value::Array(items)) => {
            if let [item] = spec.children {
                items.iter_mut().for_each(|v| coerce(v, item));
            }
        }
        _ => {}
    }
}
