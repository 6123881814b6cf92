//! Telling apart what a device sends to an MDM server's two URLs (sans I/O).
//!
//! A device sends check-ins to the profile's `CheckInURL` and command reports to its
//! `ServerURL`; when the profile has no `CheckInURL`, check-ins go to `ServerURL` too. A body
//! with `MessageType` is a check-in, any other body that reaches `ServerURL` is a command
//! report. [`decode`] reads either, checks that its identity keys name an enrollment, and
//! never fails: what cannot be used comes back as [`Undecodable`], with the enrollment and
//! `CommandUUID` when they could still be read (so a server can answer a malformed report
//! for a known device instead of dropping it).
//!
//! ```
//! use mdm_checkin::device_body::{decode, DeviceMessage, Endpoint};
//! use mdm_checkin::{CheckinMessage, Limits};
//!
//! let body = br#"<?xml version="1.0"?><plist version="1.0"><dict>
//!   <key>MessageType</key><string>Authenticate</string>
//!   <key>UDID</key><string>0000-1111</string><key>Topic</key><string>com.apple.mgmt.X</string>
//! </dict></plist>"#;
//! match decode(body, Endpoint::Server, &Limits::MDM) {
//!     DeviceMessage::Checkin(CheckinMessage::Authenticate(a)) => {
//!         assert_eq!(a.identity.udid.as_deref(), Some("0000-1111"))
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```

use crate::CheckinMessage;
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{CommandReport, Enrollment, Identity, Limits};

/// Which of the server's URLs a body arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `CheckInURL`: check-ins only.
    Checkin,
    /// `ServerURL`: command reports, and check-ins when the profile has no `CheckInURL`.
    Server,
}

/// A decoded device body. Exhaustive: a device sends check-ins and command reports only.
#[derive(Debug)]
pub enum DeviceMessage {
    /// A check-in whose identity keys name an enrollment.
    Checkin(CheckinMessage),
    /// A command report whose identity keys name an enrollment.
    Report(CommandReport),
    /// Something that could not be used.
    Undecodable(Undecodable),
}

/// Why a device body could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Not a plist dictionary within the limits.
    #[error("device body: {0}")]
    Plist(#[source] mdm_proto::Error),
    /// A check-in that does not decode as its `MessageType`, or names no enrollment.
    #[error(transparent)]
    Checkin(crate::Error),
    /// A body without `MessageType` sent to the check-in URL.
    #[error("check-in without `MessageType`")]
    NoMessageType,
    /// A command report that does not decode, or names no enrollment.
    #[error("command report: {0}")]
    Report(#[source] mdm_proto::Error),
}

/// A body that could not be used, with whatever could still be read from it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Undecodable {
    /// True when it is taken for a command report: it came to `ServerURL` without
    /// `MessageType`.
    pub is_report: bool,
    /// The enrollment, when the identity keys could be read.
    pub enrollment: Option<Enrollment>,
    /// `CommandUUID`, when it is a string.
    pub command_uuid: Option<String>,
    /// What was wrong.
    pub error: BodyError,
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

fn undecodable(dict: &Dictionary, is_report: bool, error: BodyError) -> DeviceMessage {
    DeviceMessage::Undecodable(Undecodable {
        is_report,
        enrollment: lenient_identity(dict),
        command_uuid: dict
            .get("CommandUUID")
            .and_then(Value::as_string)
            .map(str::to_owned),
        error,
    })
}

/// Decodes a body that arrived on `endpoint`, within `limits`. Never fails: what cannot be
/// used comes back as [`DeviceMessage::Undecodable`] with the reason.
pub fn decode(body: &[u8], endpoint: Endpoint, limits: &Limits) -> DeviceMessage {
    let dict = match mdm_proto::parse_dictionary(body, limits) {
        Ok(dict) => dict,
        Err(e) => {
            return DeviceMessage::Undecodable(Undecodable {
                is_report: endpoint == Endpoint::Server,
                enrollment: None,
                command_uuid: None,
                error: BodyError::Plist(e),
            });
        }
    };
    if dict.contains_key("MessageType") {
        let decoded = CheckinMessage::from_dictionary(dict.clone())
            .and_then(|message| message.enrollment().map(|_| message));
        return match decoded {
            Ok(message) => DeviceMessage::Checkin(message),
            Err(e) => undecodable(&dict, false, BodyError::Checkin(e)),
        };
    }
    if endpoint == Endpoint::Checkin {
        return undecodable(&dict, false, BodyError::NoMessageType);
    }
    match CommandReport::from_dictionary(dict.clone())
        .and_then(|report| report.enrollment().map(|_| report))
    {
        Ok(report) => DeviceMessage::Report(report),
        Err(e) => undecodable(&dict, true, BodyError::Report(e)),
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
            DeviceMessage::Undecodable(Undecodable {
                is_report: false,
                error: BodyError::NoMessageType,
                ..
            })
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
                assert!(matches!(u.error, BodyError::Report(_)));
                assert!(u.error.to_string().contains("Status"), "{}", u.error);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(b"\x00garbage", Endpoint::Server, &Limits::MDM),
            DeviceMessage::Undecodable(Undecodable {
                enrollment: None,
                error: BodyError::Plist(_),
                ..
            })
        ));
    }

    #[test]
    fn a_checkin_that_names_no_enrollment_is_undecodable() {
        let anonymous = plist(
            "<key>MessageType</key><string>Authenticate</string><key>Topic</key><string>T</string>",
        );
        assert!(matches!(
            decode(&anonymous, Endpoint::Checkin, &Limits::MDM),
            DeviceMessage::Undecodable(Undecodable {
                is_report: false,
                enrollment: None,
                error: BodyError::Checkin(_),
                ..
            })
        ));
    }
}
