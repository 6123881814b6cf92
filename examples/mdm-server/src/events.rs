//! Events: what devices did, as MicroMDM's and NanoMDM's webhooks describe it, kept in an
//! outbox table and delivered by [`crate::webhook`].
//!
//! Each [`Event`] is built while the device's request is handled and written to storage in
//! the same transaction as the change it reports (the check-in, the command report), so an
//! event exists exactly when its change does; a crash loses neither. Its body is the JSON a
//! webhook receives, fixed when it is made, with a stable `event_id` for de-duplication:
//!
//! ```json
//! {"topic": "mdm.Connect", "event_id": "…", "created_at": "2026-12-06T01:02:03Z",
//!  "acknowledge_event": {"udid": "…", "status": "Acknowledged", "command_uuid": "…",
//!                        "url_params": {}, "raw_payload": "<base64 plist>"}}
//! ```

use crate::storage::Timestamp;
use base64::Engine;
use mdm_proto::{Enrollment, EnrollmentType};
use serde::Serialize;
use std::collections::BTreeMap;

/// `mdm.Authenticate`.
pub const AUTHENTICATE: &str = "mdm.Authenticate";
/// `mdm.TokenUpdate`.
pub const TOKEN_UPDATE: &str = "mdm.TokenUpdate";
/// `mdm.CheckOut`.
pub const CHECK_OUT: &str = "mdm.CheckOut";
/// `mdm.Connect`: a command report (Idle included), with the command's result.
pub const CONNECT: &str = "mdm.Connect";
/// `mdm.UserAuthenticate`.
pub const USER_AUTHENTICATE: &str = "mdm.UserAuthenticate";
/// `mdm.SetBootstrapToken`.
pub const SET_BOOTSTRAP_TOKEN: &str = "mdm.SetBootstrapToken";
/// `mdm.GetBootstrapToken`.
pub const GET_BOOTSTRAP_TOKEN: &str = "mdm.GetBootstrapToken";
/// `mdm.DeclarativeManagement`.
pub const DECLARATIVE_MANAGEMENT: &str = "mdm.DeclarativeManagement";
/// `mdm.GetToken`.
pub const GET_TOKEN: &str = "mdm.GetToken";
/// `ddm.StatusChanged`: the declaration status a device reported changed (not in MicroMDM).
pub const DDM_STATUS_CHANGED: &str = "ddm.StatusChanged";
/// `push.Failed`: a push was not delivered (not in MicroMDM).
pub const PUSH_FAILED: &str = "push.Failed";

/// Every topic the server emits.
pub const TOPICS: &[&str] = &[
    AUTHENTICATE,
    TOKEN_UPDATE,
    CHECK_OUT,
    CONNECT,
    USER_AUTHENTICATE,
    SET_BOOTSTRAP_TOKEN,
    GET_BOOTSTRAP_TOKEN,
    DECLARATIVE_MANAGEMENT,
    GET_TOKEN,
    DDM_STATUS_CHANGED,
    PUSH_FAILED,
];

/// One event, ready to store and deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its stable ID (a UUID): receivers de-duplicate by it.
    pub id: String,
    /// Its topic ([`TOPICS`]).
    pub topic: String,
    /// The enrollment it is about.
    pub enrollment_id: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
    /// The JSON a webhook receives.
    pub body: Vec<u8>,
}

/// An event as stored, with its place in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its sequence number: events are delivered in this order.
    pub seq: i64,
    /// The event.
    pub event: Event,
}

#[derive(Serialize)]
struct Envelope<'a> {
    topic: &'a str,
    event_id: &'a str,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    acknowledge_event: Option<Acknowledge>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkin_event: Option<Checkin>,
    #[serde(skip_serializing_if = "Option::is_none")]
    push_event: Option<Push>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ddm_event: Option<Ddm>,
}

#[derive(Serialize)]
struct Checkin {
    #[serde(skip_serializing_if = "Option::is_none")]
    udid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrollment_id: Option<String>,
    url_params: BTreeMap<String, String>,
    raw_payload: String,
}

#[derive(Serialize)]
struct Acknowledge {
    #[serde(skip_serializing_if = "Option::is_none")]
    udid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrollment_id: Option<String>,
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    command_uuid: Option<String>,
    url_params: BTreeMap<String, String>,
    raw_payload: String,
}

#[derive(Serialize)]
struct Push {
    enrollment_id: String,
    error: String,
    token_dead: bool,
}

#[derive(Serialize)]
struct Ddm {
    enrollment_id: String,
    status: serde_json::Value,
}

/// The `udid` and `enrollment_id` fields of a device's event: User Enrollments are known by
/// their EnrollmentID, everything else by the device's UDID (as MicroMDM and NanoMDM do).
fn ids(enrollment: &Enrollment) -> (Option<String>, Option<String>) {
    let id = Some(enrollment.device_id.clone());
    match enrollment.kind {
        EnrollmentType::UserEnrollment | EnrollmentType::UserEnrollmentDevice => (None, id),
        _ => (id, None),
    }
}

fn make(
    topic: &str,
    enrollment_id: Option<&str>,
    now: Timestamp,
    fill: impl FnOnce(&mut Envelope<'_>),
) -> Event {
    let id = uuid::Uuid::new_v4().to_string();
    let mut envelope = Envelope {
        topic,
        event_id: &id,
        created_at: crate::storage::rfc3339(now).unwrap_or_default(),
        acknowledge_event: None,
        checkin_event: None,
        push_event: None,
        ddm_event: None,
    };
    fill(&mut envelope);
    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    Event {
        topic: topic.to_owned(),
        enrollment_id: enrollment_id.map(str::to_owned),
        created_at: now,
        body,
        id,
    }
}

/// A check-in event (`topic` is one of the `mdm.*` check-in topics) with the raw message.
pub fn checkin(topic: &str, enrollment: &Enrollment, raw: &[u8], now: Timestamp) -> Event {
    let (udid, enrollment_id) = ids(enrollment);
    make(topic, Some(&enrollment.id), now, |e| {
        e.checkin_event = Some(Checkin {
            udid,
            enrollment_id,
            url_params: BTreeMap::new(),
            raw_payload: base64::engine::general_purpose::STANDARD.encode(raw),
        });
    })
}

/// An `mdm.Connect` event: a command report with its status and CommandUUID.
pub fn connect(
    enrollment: &Enrollment,
    status: &str,
    command_uuid: Option<&str>,
    raw: &[u8],
    now: Timestamp,
) -> Event {
    let (udid, enrollment_id) = ids(enrollment);
    make(CONNECT, Some(&enrollment.id), now, |e| {
        e.acknowledge_event = Some(Acknowledge {
            udid,
            enrollment_id,
            status: status.to_owned(),
            command_uuid: command_uuid.map(str::to_owned),
            url_params: BTreeMap::new(),
            raw_payload: base64::engine::general_purpose::STANDARD.encode(raw),
        });
    })
}

/// A `push.Failed` event.
pub fn push_failed(enrollment_id: &str, error: &str, token_dead: bool, now: Timestamp) -> Event {
    make(PUSH_FAILED, Some(enrollment_id), now, |e| {
        e.push_event = Some(Push {
            enrollment_id: enrollment_id.to_owned(),
            error: error.to_owned(),
            token_dead,
        });
    })
}

/// A `ddm.StatusChanged` event with the device's status as the server now keeps it.
pub fn ddm_status_changed(enrollment_id: &str, status_json: &[u8], now: Timestamp) -> Event {
    let status = serde_json::from_slice(status_json).unwrap_or(serde_json::Value::Null);
    make(DDM_STATUS_CHANGED, Some(enrollment_id), now, |e| {
        e.ddm_event = Some(Ddm {
            enrollment_id: enrollment_id.to_owned(),
            status,
        });
    })
}
