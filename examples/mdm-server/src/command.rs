//! Commands as the admin API receives them: raw plists (NanoMDM's `/v1/enqueue`) or JSON.
//!
//! A raw command is checked for the envelope every device needs (a `CommandUUID` string and
//! a `Command` dictionary with a `RequestType` string, as `mdm_commands::CommandHeader`
//! reads them); a typed one is checked against its schema by `mdm-commands`.

use crate::storage::Timestamp;
use mdm_proto::Limits;
use mdm_proto::plist::{Dictionary, Value};

/// A command ready to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawCommand {
    /// `CommandUUID`.
    pub uuid: String,
    /// `Command.RequestType`.
    pub request_type: String,
    /// The plist sent to devices.
    pub body: Vec<u8>,
    /// When it stops being sent.
    pub expires_at: Option<Timestamp>,
    /// Higher goes first (0 by default).
    pub priority: i32,
    /// The client's idempotency key: queuing again with the same key gives this command
    /// back instead of a second one.
    pub idempotency_key: Option<String>,
}

/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

/// `CommandUUID` and `Command.RequestType`, read by `mdm-commands` without typing the
/// command (so unknown request types and keys pass, as NanoMDM's raw enqueue lets them).
fn check_envelope(dict: &Dictionary) -> Result<(String, String), String> {
    let header = mdm_commands::CommandHeader::from_dictionary(dict).map_err(|e| e.to_string())?;
    Ok((header.command_uuid, header.request_type))
}

impl RawCommand {
    /// Reads a command plist (`{CommandUUID, Command: {RequestType, ...}}`), XML or binary.
    /// The body is kept as sent.
    pub fn from_plist(bytes: &[u8], limits: &Limits) -> Result<Self, String> {
        let dict = mdm_proto::parse_dictionary(bytes, limits).map_err(|e| e.to_string())?;
        let (uuid, request_type) = check_envelope(&dict)?;
        Ok(RawCommand {
            uuid,
            request_type,
            body: bytes.to_vec(),
            expires_at: None,
            priority: 0,
            idempotency_key: None,
        })
    }

    /// Builds a command from the JSON form of its `Command` dictionary (which must hold
    /// `RequestType`), with a new random `CommandUUID` unless one is given.
    pub fn from_json(command: &serde_json::Value, uuid: Option<String>) -> Result<Self, String> {
        let command = match mdm_proto::json::from_json(command)? {
            Value::Dictionary(d) => d,
            _ => return Err("`command` must be a JSON object".into()),
        };
        let uuid = uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase());
        let mut dict = Dictionary::new();
        dict.insert("CommandUUID".into(), Value::String(uuid));
        dict.insert("Command".into(), Value::Dictionary(command));
        let (uuid, request_type) = check_envelope(&dict)?;
        let body = mdm_proto::to_xml(&Value::Dictionary(dict)).map_err(|e| e.to_string())?;
        Ok(RawCommand {
            uuid,
            request_type,
            body,
            expires_at: None,
            priority: 0,
            idempotency_key: None,
        })
    }

    /// Builds a typed command from the JSON form of its `Command` dictionary (Apple's key
    /// names; data as base64, dates as RFC 3339), checked against the command's schema by
    /// `mdm-commands`, with a new random `CommandUUID` unless one is given. Also returns
    /// the typed command, for the applicability check.
    pub fn from_typed_json(
        command: &serde_json::Value,
        uuid: Option<String>,
    ) -> Result<(Self, mdm_commands::AnyCommand), String> {
        if !command.is_object() {
            return Err("`command` must be a JSON object".into());
        }
        let typed = mdm_commands::json::command_from_json(command).map_err(|e| e.to_string())?;
        let uuid = uuid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string().to_uppercase());
        let envelope = mdm_commands::CommandEnvelope::new(uuid, typed.clone());
        let body = envelope.encode().map_err(|e| e.to_string())?;
        let dict = mdm_proto::parse_dictionary(&body, &Limits::MDM).map_err(|e| e.to_string())?;
        let (uuid, request_type) = check_envelope(&dict)?;
        Ok((
            RawCommand {
                uuid,
                request_type,
                body,
                expires_at: None,
                priority: 0,
                idempotency_key: None,
            },
            typed,
        ))
    }

    /// This command, expiring at `at`.
    pub fn with_expiry(mut self, at: Option<Timestamp>) -> Self {
        self.expires_at = at;
        self
    }

    /// This command with a priority (higher goes first).
    pub fn with_priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// This command with an idempotency key (1 to [`MAX_IDEMPOTENCY_KEY_LEN`] bytes).
    pub fn with_idempotency_key(mut self, key: Option<String>) -> Result<Self, String> {
        if let Some(k) = &key
            && (k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY_LEN)
        {
            return Err(format!(
                "an idempotency key must have 1 to {MAX_IDEMPOTENCY_KEY_LEN} bytes"
            ));
        }
        self.idempotency_key = key;
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_checked() {
        let ok = br#"<plist><dict><key>CommandUUID</key><string>C1</string>
            <key>Command</key><dict><key>RequestType</key><string>DeviceLock</string></dict>
            </dict></plist>"#;
        let c = RawCommand::from_plist(ok, &Limits::MDM).unwrap();
        assert_eq!(
            (c.uuid.as_str(), c.request_type.as_str()),
            ("C1", "DeviceLock")
        );
        let no_rt = br#"<plist><dict><key>CommandUUID</key><string>C1</string>
            <key>Command</key><dict/></dict></plist>"#;
        assert!(
            RawCommand::from_plist(no_rt, &Limits::MDM)
                .unwrap_err()
                .contains("Command.RequestType")
        );
        let json = serde_json::json!({"RequestType": "DeviceInformation", "Queries": ["UDID"]});
        let c = RawCommand::from_json(&json, Some("U".into())).unwrap();
        assert_eq!(c.request_type, "DeviceInformation");
        let back = RawCommand::from_plist(&c.body, &Limits::MDM).unwrap();
        assert_eq!(back.uuid, "U");
        assert!(RawCommand::from_json(&serde_json::json!({"Queries": []}), None).is_err());
        assert!(RawCommand::from_json(&serde_json::json!([1]), None).is_err());
    }

    #[test]
    fn typed_json_is_checked_against_the_schema() {
        let json = serde_json::json!({"RequestType": "DeviceInformation", "Queries": ["UDID"]});
        let (c, typed) = RawCommand::from_typed_json(&json, Some("T".into())).unwrap();
        assert_eq!(
            (c.uuid.as_str(), c.request_type.as_str()),
            ("T", "DeviceInformation")
        );
        assert!(typed.is_known());
        let back = RawCommand::from_plist(&c.body, &Limits::MDM).unwrap();
        assert_eq!(back.request_type, "DeviceInformation");
        let wrong = serde_json::json!({"RequestType": "DeviceInformation", "Queries": "UDID"});
        let err = RawCommand::from_typed_json(&wrong, None).unwrap_err();
        assert!(err.contains("Queries"), "{err}");
        assert!(RawCommand::from_typed_json(&serde_json::json!([1]), None).is_err());
    }
}
