//! Decoding what devices send to `/mdm/checkin` and `/mdm` (sans I/O).
//!
//! The server URL takes both kinds of message: a body with `MessageType` is a check-in, a
//! body with `Status` a command report. A check-in is `mdm-checkin`'s typed message; one
//! that does not decode as its `MessageType` (or whose identity keys name no enrollment)
//! is [`Undecodable`].

use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{CommandReport, Enrollment, Identity, Limits};

/// Which endpoint a body arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `CheckInURL` (`/mdm/checkin`): check-ins only.
    Checkin,
    /// `ServerURL` (`/mdm`): command reports, and check-ins too.
    Server,
}

/// A check-in message: `mdm-checkin`'s typed message, one variant per `MessageType`
/// (its identity keys already checked to name an enrollment by [`decode`]).
pub use mdm_checkin::CheckinMessage;

/// A body the server could not use, with whatever could still be read from it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Undecodable {
    /// True when it looks like a command report (it has `Status`, or came to the server
    /// URL without `MessageType`).
    pub is_report: bool,
    /// The enrollment, when the identity keys could be read.
    pub enrollment: Option<Enrollment>,
    /// `CommandUUID`, when it is a string.
    pub command_uuid: Option<String>,
    /// What was wrong.
    pub reason: String,
}

/// A decoded device body.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum DeviceMessage {
    /// A check-in.
    Checkin(CheckinMessage),
    /// A command report.
    Report(CommandReport),
    /// Something that could not be decoded.
    Undecodable(Undecodable),
}

fn lenient_identity(dict: &Dictionary) -> Option<Enrollment> {
    let mut identity = Identity::default();
    let get = |k: &str| dict.get(k).and_then(Value::as_string).map(str::to_owned);
    identity.udid = get("UDID");
    identity.enrollment_id = get("EnrollmentID");
    identity.user_id = get("UserID");
    identity.user_short_name = get("UserShortName");
    identity.enrollment_user_id = get("EnrollmentUserID");
    identity.resolve().ok()
}

/// Decodes a device body that arrived on `endpoint`. Never fails: what cannot be decoded
/// comes back as [`DeviceMessage::Undecodable`] with the reason.
pub fn decode(body: &[u8], endpoint: Endpoint, limits: &Limits) -> DeviceMessage {
    let dict = match mdm_proto::parse_dictionary(body, limits) {
        Ok(dict) => dict,
        Err(e) => {
            return DeviceMessage::Undecodable(Undecodable {
                is_report: endpoint == Endpoint::Server,
                enrollment: None,
                command_uuid: None,
                reason: e.to_string(),
            });
        }
    };
    let undecodable = |dict: &Dictionary, is_report: bool, reason: String| {
        DeviceMessage::Undecodable(Undecodable {
            is_report,
            enrollment: lenient_identity(dict),
            command_uuid: dict
                .get("CommandUUID")
                .and_then(Value::as_string)
                .map(str::to_owned),
            reason,
        })
    };
    if dict.contains_key("MessageType") {
        let decoded = mdm_checkin::CheckinMessage::from_dictionary(dict.clone())
            .map_err(|e| e.to_string())
            .and_then(|message| match message.enrollment() {
                Ok(_) => Ok(message),
                Err(e) => Err(e.to_string()),
            });
        return match decoded {
            Ok(message) => DeviceMessage::Checkin(message),
            Err(reason) => undecodable(&dict, false, reason),
        };
    }
    if endpoint == Endpoint::Checkin {
        return undecodable(&dict, false, "check-in without `MessageType`".to_owned());
    }
    match CommandReport::from_dictionary(dict.clone()) {
        Ok(report) => match report.enrollment() {
            Ok(_) => DeviceMessage::Report(report),
            Err(e) => undecodable(&dict, true, e.to_string()),
        },
        Err(e) => undecodable(&dict, true, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plist(inner: &str) -> Vec<u8> {
        format!(r#"<?xml version="1.0"?><plist version="1.0"><dict>{inner}</dict></plist>"#)
            .into_bytes()
    }

    #[test]
    fn tells_checkins_reports_and_garbage_apart() {
        let checkin = plist(
            "<key>MessageType</key><string>Authenticate</string><key>UDID</key><string>U</string>\
             <key>Topic</key><string>T</string>",
        );
        assert!(matches!(
            decode(&checkin, Endpoint::Server, &Limits::MDM),
            DeviceMessage::Checkin(CheckinMessage::Authenticate(a))
                if a.identity.udid.as_deref() == Some("U")
        ));
        let report =
            plist("<key>Status</key><string>Idle</string><key>UDID</key><string>U</string>");
        assert!(matches!(
            decode(&report, Endpoint::Server, &Limits::MDM),
            DeviceMessage::Report(_)
        ));
        assert!(matches!(
            decode(&report, Endpoint::Checkin, &Limits::MDM),
            DeviceMessage::Undecodable(u) if !u.is_report
        ));
        let bad = plist(
            "<key>Status</key><integer>3</integer><key>UDID</key><string>U</string>\
             <key>CommandUUID</key><string>C</string>",
        );
        match decode(&bad, Endpoint::Server, &Limits::MDM) {
            DeviceMessage::Undecodable(u) => {
                assert!(u.is_report);
                assert_eq!(u.enrollment.map(|e| e.id).as_deref(), Some("U"));
                assert_eq!(u.command_uuid.as_deref(), Some("C"));
                assert!(u.reason.contains("Status"), "{}", u.reason);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(b"\x00garbage", Endpoint::Server, &Limits::MDM),
            DeviceMessage::Undecodable(u) if u.enrollment.is_none()
        ));
    }
}
