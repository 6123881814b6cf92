//! Typed responses from a device's command report.

use crate::command::Command;
use crate::error::Result;
use crate::generated::registry::AnyResponse;
use mdm_proto::CommandReport;
use mdm_proto::fields::FromValue;
use mdm_proto::plist::Value;

/// Decodes a report's response keys as the response of command `C`.
///
/// Response fields are all optional and a value of an unexpected type is kept in the
/// response's `extra` keys, so real devices' reports decode; every key is kept.
pub fn decode_report<C: Command>(report: &CommandReport) -> Result<C::Response> {
    Ok(C::Response::from_value(
        Value::Dictionary(report.response.clone()),
        "",
    )?)
}

/// Decodes a report's response keys as the response of the command named `request_type`.
/// An unknown RequestType gives [`AnyResponse::Unknown`] with every key.
pub fn decode_response(request_type: &str, report: &CommandReport) -> Result<AnyResponse> {
    Ok(crate::generated::registry::decode_response(
        request_type,
        Value::Dictionary(report.response.clone()),
    )?)
}
