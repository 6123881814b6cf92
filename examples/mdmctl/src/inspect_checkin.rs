//! `mdmctl inspect checkin`: decode a check-in message offline.

use crate::output::{CliResult, print_bytes, read_input};
use mdm_checkin::CheckinMessage;
use mdm_proto::Enrollment;
use mdm_proto::json::{data_to_base64, date_to_rfc3339, to_json};
use plist::{Dictionary, Value};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `inspect checkin`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The check-in body (XML or binary plist); `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    /// Print the message re-encoded from its typed value as an XML plist, instead of JSON.
    #[arg(long)]
    pub reencode: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> CliResult {
    let bytes = read_input(args.file.as_deref())?;
    let message = CheckinMessage::decode(&bytes)?;
    let enrollment = message.enrollment()?;
    let type_name = message.message_type().as_str().to_owned();
    let known = message.is_known();
    emit(
        "checkin",
        &type_name,
        known,
        &enrollment,
        message.into_dictionary(),
        args.reencode,
        None,
    )
}

/// Prints a decoded payload: the JSON object of the output contract, or with `reencode`
/// the payload as an XML plist.
pub(crate) fn emit(
    kind: &str,
    type_name: &str,
    known: bool,
    enrollment: &Enrollment,
    payload: Dictionary,
    reencode: bool,
    fit: Option<Fit>,
) -> CliResult {
    let value = Value::Dictionary(payload);
    if reencode {
        return print_bytes(&mdm_proto::to_xml(&value)?);
    }
    let inspection = Inspection {
        kind,
        type_name,
        known,
        enrollment: EnrollmentJson {
            kind: enrollment.kind.as_str(),
            id: &enrollment.id,
            device_id: &enrollment.device_id,
        },
        fit,
        value: JsonView(&value),
    };
    // Written straight from the plist value: large payloads are not copied into a
    // `serde_json::Value` first.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer(&mut out, &inspection)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// The JSON object of the output contract.
#[derive(Serialize)]
struct Inspection<'a> {
    kind: &'a str,
    #[serde(rename = "type")]
    type_name: &'a str,
    known: bool,
    enrollment: EnrollmentJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fit: Option<Fit>,
    value: JsonView<'a>,
}

/// Whether a report fits the command it was decoded as (`inspect report --request-type`).
#[derive(Serialize)]
pub(crate) struct Fit {
    /// The command the report was decoded as.
    pub request_type: String,
    /// True when every response key is one the command's schema has, with the type it
    /// gives (or the report has no response keys).
    pub fits: bool,
    /// Response keys the command's schema does not have.
    pub unexpected_keys: Vec<String>,
    /// Response keys the schema has, whose value has another type than it gives.
    pub mistyped_keys: Vec<String>,
    /// What is wrong, in a sentence, when it does not fit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Serialize)]
struct EnrollmentJson<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    device_id: &'a str,
}

/// A plist value serialized as [`mdm_proto::json::to_json`] maps it (containers walked in
/// place; data, dates and scalars through mdm-proto's own mapping).
struct JsonView<'a>(&'a Value);

impl Serialize for JsonView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Dictionary(dict) => {
                let mut map = s.serialize_map(Some(dict.len()))?;
                for (key, value) in dict {
                    map.serialize_entry(key, &JsonView(value))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&JsonView(item))?;
                }
                seq.end()
            }
            Value::String(text) => s.serialize_str(text),
            Value::Data(data) => s.serialize_str(&data_to_base64(data)),
            Value::Date(date) => s.serialize_str(&date_to_rfc3339(date)),
            scalar => to_json(scalar).serialize(s),
        }
    }
}
