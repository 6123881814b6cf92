//! The JSON form of commands, with Apple's key names: data as standard base64, dates as
//! RFC 3339. Reading JSON needs the schema to know which strings are data or dates, so
//! [`command_from_json`] walks the command's key specs while converting.

use crate::command::CommandEnvelope;
use crate::error::{Error, Result};
use crate::generated::registry::AnyCommand;
use crate::schema::{KeySpec, Kind, find_key};
use base64::Engine;
use mdm_proto::fields::join_path;
use mdm_proto::plist::{Dictionary, Value};
use serde_json::Value as Json;

/// The JSON form of a command envelope: `{"CommandUUID": …, "Command": {…}}`.
pub fn envelope_to_json(envelope: &CommandEnvelope) -> Json {
    mdm_proto::json::to_json(&Value::Dictionary(envelope.to_dictionary()))
}

/// The JSON form of a command: `{"RequestType": …, …}`.
pub fn command_to_json(command: &AnyCommand) -> Json {
    mdm_proto::json::to_json(&Value::Dictionary(command.to_dictionary()))
}

/// Reads an envelope from its JSON form.
pub fn envelope_from_json(json: &Json) -> Result<CommandEnvelope> {
    let Json::Object(map) = json else {
        return Err(Error::json("", "expected an object"));
    };
    let mut dict = Dictionary::new();
    for (key, value) in map {
        let converted = if key == "Command" {
            Value::Dictionary(command_dictionary_from_json(value, "Command", None)?)
        } else {
            untyped(value, key)?
        };
        dict.insert(key.clone(), converted);
    }
    CommandEnvelope::from_dictionary(dict)
}

/// Reads a command from its JSON form (`{"RequestType": …, …}`).
pub fn command_from_json(json: &Json) -> Result<AnyCommand> {
    let dict = command_dictionary_from_json(json, "Command", None)?;
    AnyCommand::from_dictionary(dict, "Command")
}

/// Reads the keys of a command of type `request_type` from JSON that does not carry its
/// RequestType (as `mdmctl command new --json` takes them).
pub fn payload_from_json(request_type: &str, json: &Json) -> Result<AnyCommand> {
    let mut dict = command_dictionary_from_json(json, "Command", Some(request_type))?;
    dict.insert(
        "RequestType".to_owned(),
        Value::String(request_type.to_owned()),
    );
    AnyCommand::from_dictionary(dict, "Command")
}

fn command_dictionary_from_json(
    json: &Json,
    path: &str,
    request_type: Option<&str>,
) -> Result<Dictionary> {
    let Json::Object(map) = json else {
        return Err(Error::json(path, "expected an object"));
    };
    let request_type = request_type.or_else(|| map.get("RequestType").and_then(Json::as_str));
    let keys: &'static [KeySpec] = request_type
        .and_then(crate::schema::spec)
        .map_or(&[], |s| s.payload);
    let mut dict = Dictionary::new();
    for (key, value) in map {
        let key_path = join_path(path, key);
        let converted = match find_key(keys, key) {
            Some(spec) if key != "RequestType" => typed(value, spec, &key_path)?,
            _ => untyped(value, &key_path)?,
        };
        dict.insert(key.clone(), converted);
    }
    Ok(dict)
}

fn untyped(json: &Json, path: &str) -> Result<Value> {
    mdm_proto::json::from_json(json).map_err(|e| Error::json(path, e))
}

fn typed(json: &Json, spec: &'static KeySpec, path: &str) -> Result<Value> {
    Ok(match (spec.kind, json) {
        (_, Json::Null) => return Err(Error::json(path, "null has no plist form")),
        (Kind::Data, Json::String(s)) => Value::Data(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| Error::json(path, format!("not base64 data: {e}")))?,
        ),
        (Kind::Date, Json::String(s)) => Value::Date(
            mdm_proto::json::date_from_rfc3339(s)
                .ok_or_else(|| Error::json(path, "not an RFC 3339 date"))?,
        ),
        (Kind::Real, Json::Number(n)) => Value::Real(
            n.as_f64()
                .ok_or_else(|| Error::json(path, "not a number"))?,
        ),
        (Kind::Dictionary, Json::Object(map)) => {
            let mut dict = Dictionary::new();
            for (key, value) in map {
                let key_path = join_path(path, key);
                let converted = match find_key(spec.children, key) {
                    Some(child) => typed(value, child, &key_path)?,
                    None => untyped(value, &key_path)?,
                };
                dict.insert(key.clone(), converted);
            }
            Value::Dictionary(dict)
        }
        (Kind::Array, Json::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                let child = match spec.children {
                    [one] => Some(one),
                    alternatives => alternative(alternatives, item),
                };
                out.push(match child {
                    Some(child) => typed(item, child, &item_path)?,
                    None => untyped(item, &item_path)?,
                });
            }
            Value::Array(out)
        }
        _ => untyped(json, path)?,
    })
}

/// The alternative of a tagged array (Settings) that an item's tag names.
fn alternative(alternatives: &'static [KeySpec], item: &Json) -> Option<&'static KeySpec> {
    let Json::Object(map) = item else {
        return None;
    };
    alternatives.iter().find(|alt| {
        alt.children.iter().any(|tag| {
            matches!(tag.values, [one] if map.get(tag.key).and_then(Json::as_str) == Some(*one))
        })
    })
}

/// The JSON form of a typed response (every key kept).
pub fn response_to_json(response: &crate::AnyResponse) -> Json {
    mdm_proto::json::to_json(&response.to_value())
}
