//! `mdmctl inspect checkin`: decode a check-in message offline.

use crate::output::{CliResult, print_bytes, print_json, read_input};
use mdm_checkin::CheckinMessage;
use mdm_proto::Enrollment;
use plist::{Dictionary, Value};
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
    emit(
        "checkin",
        message.message_type().as_str(),
        message.is_known(),
        &enrollment,
        message.to_dictionary(),
        args.reencode,
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
) -> CliResult {
    let value = Value::Dictionary(payload);
    if reencode {
        return print_bytes(&mdm_proto::to_xml(&value)?);
    }
    print_json(&serde_json::json!({
        "kind": kind,
        "type": type_name,
        "known": known,
        "enrollment": {
            "type": enrollment.kind.as_str(),
            "id": enrollment.id,
            "device_id": enrollment.device_id,
        },
        "value": mdm_proto::json::to_json(&value),
    }))
}
