//! `mdmctl inspect ddm-declaration` and `ddm-status`.
//!
//! Success: exit 0 and one JSON object on stdout,
//! `{"kind":"ddm-declaration"|"ddm-status","type":..,"known":..,"value":{..}}`, where
//! `value` is the whole document (lossless: unknown keys and items included). Bad input:
//! exit 1, nothing on stdout, one `error:` line on stderr naming what was wrong.

use crate::output::{CliResult, print_json, read_input};
use mdm_ddm::{Declaration, StatusReport};
use serde_json::{Value, json};
use std::path::PathBuf;

/// Arguments of `inspect ddm-declaration`.
#[derive(Debug, clap::Args)]
pub struct DeclarationArgs {
    /// The declaration (JSON); `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
}

/// Arguments of `inspect ddm-status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The status report (JSON), as a device sends it to the `status` endpoint; `-` or
    /// nothing reads standard input.
    pub file: Option<PathBuf>,
}

/// Runs `inspect ddm-declaration`.
pub fn run_declaration(args: DeclarationArgs) -> CliResult {
    let bytes = read_input(args.file.as_deref())?;
    let declaration =
        Declaration::decode(&bytes).map_err(|e| format!("not a valid DDM declaration: {e}"))?;
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
    print_json(&json!({
        "kind": "ddm-status",
        "type": "StatusReport",
        "known": true,
        "value": Value::Object(report.to_json()),
    }))
}
