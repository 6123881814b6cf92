//! The stored (JSON) form of an enrollment's device facts (`mdm-commands`'
//! [`DeviceFacts`]; derived by [`crate::service::facts`]).

use mdm_commands::applicability::DeviceFacts;
use mdm_proto::Channel;
use serde_json::{Value as Json, json};

/// The stored (JSON) form of facts.
pub fn to_json(facts: &DeviceFacts) -> String {
    to_value(facts).to_string()
}

/// The JSON form of facts (stored, and shown by `GET /v1/enrollments/{id}`).
pub fn to_value(facts: &DeviceFacts) -> Json {
    json!({
        "platform": facts.platform,
        "os_version": facts.os_version,
        "channel": match facts.channel {
            Channel::User => "User",
            _ => "Device",
        },
        "supervised": facts.supervised,
        "user_enrollment": facts.user_enrollment,
        "shared_ipad": facts.shared_ipad,
        "dep": facts.dep,
    })
}

/// Facts read back from their stored form; `None` when it is not what [`to_json`] writes.
pub fn from_json(text: &str) -> Option<DeviceFacts> {
    let value: Json = serde_json::from_str(text).ok()?;
    let mut facts = DeviceFacts::new(value.get("platform")?.as_str()?);
    if let Some(version) = value.get("os_version").and_then(Json::as_str) {
        facts = facts.with_os_version(version);
    }
    if value.get("channel").and_then(Json::as_str) == Some("User") {
        facts = facts.with_channel(Channel::User);
    }
    if let Some(supervised) = value.get("supervised").and_then(Json::as_bool) {
        facts = facts.with_supervised(supervised);
    }
    if let Some(dep) = value.get("dep").and_then(Json::as_bool) {
        facts = facts.with_dep(dep);
    }
    let flag = |k: &str| value.get(k).and_then(Json::as_bool).unwrap_or(false);
    Some(
        facts
            .with_user_enrollment(flag("user_enrollment"))
            .with_shared_ipad(flag("shared_ipad")),
    )
}
