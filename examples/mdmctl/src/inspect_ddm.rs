//! `mdmctl inspect ddm-declaration` and `ddm-status`.
//!
//! Success: exit 0 and one JSON object on stdout,
//! `{"kind":"ddm-declaration"|"ddm-status","type":..,"known":..,"value":{..}}`, where
//! `value` is the whole document (lossless: unknown keys and items included). Bad input:
//! exit 1, nothing on stdout, one `error:` line on stderr naming what was wrong. With
//! `--reencode`, the document re-encoded from its typed value (JSON, as a server sends or
//! a device reports it) instead, as `inspect checkin --reencode` does for plists.

use crate::output::{CliResult, print_bytes, print_json, read_input};
use mdm_ddm::{Declaration, StatusReport};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Arguments of `inspect ddm-declaration`.
#[derive(Debug, clap::Args)]
pub struct DeclarationArgs {
    /// The declaration (JSON); `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    /// Print the declaration re-encoded from its typed value (JSON), instead of the
    /// inspection object.
    #[arg(long)]
    pub reencode: bool,
}

/// Arguments of `inspect ddm-status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The status report (JSON), as a device sends it to the `status` endpoint; `-` or
    /// nothing reads standard input.
    pub file: Option<PathBuf>,
    /// Print the report re-encoded from its typed value (JSON), instead of the inspection
    /// object.
    #[arg(long)]
    pub reencode: bool,
}

/// Runs `inspect ddm-declaration`.
pub fn run_declaration(args: DeclarationArgs) -> CliResult {
    let bytes = read_input(args.file.as_deref())?;
    let declaration =
        Declaration::decode(&bytes).map_err(|e| format!("not a valid DDM declaration: {e}"))?;
    if args.reencode {
        return reencode(Value::Object(declaration.to_json()));
    }
    print_json(&json!({
        "kind": "ddm-declaration",
        "type": declaration.declaration_type.as_str(),
        "known": declaration.declaration_type.is_known(),
        "value": Value::Object(declaration.to_json()),
    }))
}

/// Runs `inspect ddm-status`.
pub fn run_status(args: StatusArgs) -> CliResult {
    let bytes = read_input(args.file.as_deref())?;
    let report =
        StatusReport::decode(&bytes).map_err(|e| format!("not a valid DDM status report: {e}"))?;
    if args.reencode {
        return reencode(Value::Object(report.to_json()));
    }
    print_json(&json!({
        "kind": "ddm-status",
        "type": "StatusReport",
        "known": true,
        "value": Value::Object(report.to_json()),
    }))
}

/// Prints a re-encoded document: pretty JSON and a final newline.
fn reencode(value: Value) -> CliResult {
    let mut bytes = serde_json::to_vec_pretty(&value)?;
    bytes.push(b'\n');
    print_bytes(&bytes)
}
