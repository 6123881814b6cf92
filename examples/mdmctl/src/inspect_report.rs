//! `mdmctl inspect report`: decode a command report offline, optionally as the typed
//! response of a given command.

use crate::inspect_checkin::{Fit, emit};
use crate::output::{CliResult, read_input};
use mdm_commands::AnyResponse;
use mdm_proto::CommandReport;
use mdm_proto::plist::Value;
use std::path::PathBuf;

/// Arguments of `inspect report`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The report body (XML or binary plist); `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    /// Decode the report as the response of this command (its RequestType); `known` then
    /// says whether the library types that command, and `fit` whether the report's keys
    /// are that command's response keys.
    #[arg(long)]
    pub request_type: Option<String>,
    /// Print the report re-encoded from its typed value as an XML plist, instead of JSON.
    #[arg(long)]
    pub reencode: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> CliResult {
    let bytes = read_input(args.file.as_deref())?;
    let mut report = CommandReport::decode(&bytes).map_err(|e| format!("command report: {e}"))?;
    let enrollment = report
        .enrollment()
        .map_err(|e| format!("command report: {e}"))?;
    let mut fit = None;
    let known = match &args.request_type {
        None => report.status.is_known(),
        Some(request_type) => {
            fit = Some(fit_of(request_type, &report.response));
            let typed = mdm_commands::decode_response(request_type, &report)
                .map_err(|e| format!("{request_type} response: {e}"))?;
            // Re-encode from the typed response, so that `--reencode` shows what the
            // typed value holds (every key, unknown ones included).
            if let Value::Dictionary(keys) = typed.to_value() {
                report.response = keys;
            }
            !matches!(typed, AnyResponse::Unknown { .. })
        }
    };
    emit(
        "report",
        report.status.as_str(),
        known,
        &enrollment,
        report.to_dictionary(),
        args.reencode,
        fit,
    )
}

/// Compares the report's response keys with the command's response keys in the schema.
fn fit_of(request_type: &str, keys: &mdm_proto::plist::Dictionary) -> Fit {
    use mdm_commands::schema::{Kind, find_key};
    let mut unexpected = Vec::new();
    let mut mistyped = Vec::new();
    let spec = mdm_commands::schema::spec(request_type);
    for (key, value) in keys {
        match spec.and_then(|s| find_key(s.response, key)) {
            None => unexpected.push(key.clone()),
            Some(k) => {
                let ok = match (k.kind, value) {
                    (Kind::String, Value::String(_))
                    | (Kind::Boolean, Value::Boolean(_))
                    | (Kind::Integer, Value::Integer(_))
                    | (Kind::Real, Value::Real(_) | Value::Integer(_))
                    | (Kind::Data, Value::Data(_))
                    | (Kind::Date, Value::Date(_))
                    | (Kind::Dictionary, Value::Dictionary(_))
                    | (Kind::Array, Value::Array(_)) => true,
                    (Kind::String | Kind::Boolean | Kind::Integer | Kind::Real, _)
                    | (Kind::Data | Kind::Date | Kind::Dictionary | Kind::Array, _) => false,
                    _ => true,
                };
                if !ok {
                    mistyped.push(key.clone());
                }
            }
        }
    }
    let reason = if spec.is_none() {
        Some(format!("{request_type} is not a command of the schema"))
    } else if !unexpected.is_empty() {
        Some(format!(
            "the report has keys {request_type} does not answer with: {}",
            unexpected.join(", ")
        ))
    } else if !mistyped.is_empty() {
        Some(format!(
            "keys with another type than {request_type}'s schema gives: {}",
            mistyped.join(", ")
        ))
    } else {
        None
    };
    Fit {
        request_type: request_type.to_owned(),
        fits: reason.is_none(),
        unexpected_keys: unexpected,
        mistyped_keys: mistyped,
        reason,
    }
}
