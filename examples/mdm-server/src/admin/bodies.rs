//! The JSON bodies of the admin API as Rust types: the handlers serialize these, and the
//! OpenAPI document's schemas are derived from the same types ([`schemars`]), so the
//! document cannot drift from what the server answers.
//!
//! Times are RFC 3339 strings ([`DateTime`]); plist values stored from devices are shown in
//! their JSON form ([`mdm_proto::json`]: data as base64, dates as RFC 3339).

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;
use serde_json::Value as Json;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// An RFC 3339 time, e.g. `2026-12-06T01:02:03Z`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DateTime(pub String);

impl JsonSchema for DateTime {
    fn schema_name() -> Cow<'static, str> {
        "DateTime".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "format": "date-time" })
    }
}

/// A problem details document (RFC 9457): the body of every admin error.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ProblemDetails {
    /// A URI naming the kind of problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What was wrong with this request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// `GET /version`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Version {
    /// The server's version.
    pub version: String,
}

/// `GET /health` and `GET /ready`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Health {
    /// `ok` (health) or `ready` (readiness).
    pub status: String,
    /// `ok` when the storage answered (readiness only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
}

/// `GET /v1/stats`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Stats {
    /// Refusals of device requests since start, by reason.
    pub refusals: BTreeMap<String, u64>,
    /// All refusals since start.
    pub refusals_total: u64,
    /// The memory all device bodies being read may take together.
    pub body_budget_bytes: u64,
    /// How much of it is free now.
    pub body_budget_free_bytes: u64,
}

/// The outcome of one push, by enrollment ID in [`Pushes`].
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PushStatus {
    /// The APNs ID of a push APNs accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_result: Option<String>,
    /// Why the push failed (no token, no certificate, APNs refused it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub push_error: Option<String>,
}

/// Push outcomes by enrollment ID.
pub type Pushes = BTreeMap<String, PushStatus>;

/// `PUT /v1/enqueue/{ids}` (NanoMDM).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Enqueued {
    /// The command's UUID.
    pub command_uuid: String,
    /// Its `RequestType`.
    pub request_type: String,
    /// Queued without pushing.
    pub no_push: bool,
    /// When it is no longer sent (shown as Expired).
    pub expires_at: Option<DateTime>,
    /// The idempotency key was seen: nothing new queued, this is the earlier command.
    pub replayed: bool,
    /// Destructive commands this one cancelled (`replace`).
    pub replaced: Vec<String>,
    /// Push outcomes.
    pub status: Pushes,
}

/// `POST /v1/commands` (201, or 200 when `replayed`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CommandQueued {
    /// The command's UUID.
    pub command_uuid: String,
    /// Its `RequestType`.
    pub request_type: String,
    /// When it is no longer sent (shown as Expired).
    pub expires_at: Option<DateTime>,
    /// The idempotency key was seen: nothing new queued, this is the earlier command.
    pub replayed: bool,
    /// Destructive commands this one cancelled (`replace`).
    pub replaced: Vec<String>,
    /// Push outcomes.
    pub pushes: Pushes,
    /// InstallProfile only: the warnings and information the profile lint found, per
    /// enrollment with findings: `[{enrollment_id, target, errors, warnings, findings:
    /// [{rule, name, severity, path, message, target}]}]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_findings: Option<Json>,
}

/// `GET /v1/push/{ids}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Pushed {
    /// Push outcomes.
    pub status: Pushes,
}

/// `GET /v1/commands/{uuid}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CommandDetail {
    /// The command's UUID.
    pub command_uuid: String,
    /// Its `RequestType`.
    pub request_type: String,
    /// When it was queued.
    pub created_at: Option<DateTime>,
    /// When it is no longer sent.
    pub expires_at: Option<DateTime>,
    /// Higher goes first.
    pub priority: i32,
    /// The idempotency key it was queued with.
    pub idempotency_key: Option<String>,
    /// The command plist, in JSON form.
    pub command: Json,
    /// Its status per enrollment.
    pub enrollments: Vec<CommandTarget>,
}

/// A command's status for one enrollment.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CommandTarget {
    /// The enrollment.
    pub enrollment_id: String,
    /// Queued, NotNow, Stalled, Acknowledged, Error, CommandFormatError, Expired, Cancelled
    /// or Undecodable.
    pub status: String,
    /// When it was last handed to the device.
    pub sent_at: Option<DateTime>,
    /// When it was first handed to the device.
    pub first_sent_at: Option<DateTime>,
    /// How often the device answered NotNow.
    pub not_now_count: u32,
    /// When the status last changed.
    pub updated_at: Option<DateTime>,
    /// The device's last report, in JSON form.
    pub report: Json,
    /// The typed report (mdm-commands), or `{error}` when it could not be decoded.
    pub response: Json,
}

/// `DELETE /v1/commands/{uuid}` and `DELETE /v1/enrollments/{id}/queue`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Cancelled {
    /// How many queued entries were cancelled.
    pub cancelled: u64,
}

/// `POST /v1/commands/{uuid}/resend`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Requeued {
    /// How many entries were put back at the head of their queue.
    pub requeued: u64,
    /// Push outcomes.
    pub pushes: Pushes,
}

/// `GET /v1/stalled`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StalledList {
    /// The server's `--stall-after`.
    pub stall_after_seconds: i64,
    /// Stalled commands, oldest first.
    pub stalled: Vec<StalledCommand>,
}

/// A command handed to its device and not answered within `--stall-after`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StalledCommand {
    /// The enrollment.
    pub enrollment_id: String,
    /// The command's UUID.
    pub command_uuid: String,
    /// Its `RequestType`.
    pub request_type: String,
    /// When it was first handed to the device.
    pub first_sent_at: Option<DateTime>,
    /// When it was last handed to the device.
    pub sent_at: Option<DateTime>,
    /// Seconds since it was first handed to the device.
    pub stalled_for_seconds: i64,
}

/// An enrollment's push token.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PushInfo {
    /// The APNs device token, hex.
    pub token: String,
    /// The `PushMagic` pushes carry.
    pub push_magic: String,
    /// The APNs topic.
    pub topic: String,
}

/// An enrollment, as `GET /v1/enrollments` lists it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Enrollment {
    /// `<device>` or `<device>:<user>`.
    pub id: String,
    /// The device's ID (UDID or EnrollmentID).
    pub device_id: String,
    /// Device, User, UserEnrollmentDevice, UserEnrollment or SharediPad.
    #[serde(rename = "type")]
    pub kind: String,
    /// The device's UDID, when it sent one.
    pub udid: Option<String>,
    /// The user's short name (user channels).
    pub user_short_name: Option<String>,
    /// The user's long name (user channels).
    pub user_long_name: Option<String>,
    /// Enrolled now (not checked out).
    pub enrolled: bool,
    /// The push token (from TokenUpdate).
    pub push: Option<PushInfo>,
    /// It can be pushed now.
    pub push_usable: bool,
    /// Why it cannot be pushed now: no token, token dead after 410 Unregistered until the
    /// next TokenUpdate, no certificate for its topic.
    pub push_problem: Option<String>,
    /// When APNs said its token is dead.
    pub push_dead_at: Option<DateTime>,
    /// It escrowed an unlock token.
    pub has_unlock_token: bool,
    /// It escrowed a bootstrap token.
    pub has_bootstrap_token: bool,
    /// First seen.
    pub created_at: Option<DateTime>,
    /// Last request.
    pub last_seen_at: Option<DateTime>,
    /// Last TokenUpdate that enrolled it.
    pub enrolled_at: Option<DateTime>,
    /// Last CheckOut.
    pub checked_out_at: Option<DateTime>,
}

/// `GET /v1/enrollments`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnrollmentList {
    /// One page, in ID order.
    pub enrollments: Vec<Enrollment>,
    /// `after` for the next page (null on the last).
    pub next_after: Option<String>,
}

/// `GET /v1/enrollments/{id}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnrollmentDetail {
    /// As listed.
    #[serde(flatten)]
    pub enrollment: Enrollment,
    /// Its last Authenticate, in JSON form.
    pub authenticate: Json,
    /// Its last TokenUpdate, in JSON form, without the UnlockToken (a secret).
    pub token_update: Json,
    /// What the applicability check knows: `{platform, os_version, channel, supervised,
    /// user_enrollment, shared_ipad, dep}`, or null.
    pub facts: Json,
    /// Its device's bound certificate.
    pub certificate: BoundCertificate,
}

/// The identity certificate a device is bound to, and how the binding changed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BoundCertificate {
    /// SHA-256 fingerprint (hex) of the bound certificate.
    pub fingerprint: Option<String>,
    /// Binding changes, oldest first.
    pub history: Vec<BindingChange>,
}

/// One change of a device's certificate binding.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BindingChange {
    /// The fingerprint before.
    pub old_fingerprint: Option<String>,
    /// The fingerprint after.
    pub new_fingerprint: String,
    /// Why: first enrollment, renewal, re-enrollment with a token.
    pub reason: String,
    /// The enrollment token that allowed it.
    pub token_id: Option<String>,
    /// When.
    pub at: Option<DateTime>,
}

/// `GET /v1/enrollments/{id}/queue`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Queue {
    /// The enrollment.
    pub enrollment_id: String,
    /// Waiting commands, in queue order.
    pub commands: Vec<QueuedCommand>,
}

/// A command waiting for an enrollment.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QueuedCommand {
    /// The command's UUID.
    pub command_uuid: String,
    /// Its `RequestType`.
    pub request_type: String,
    /// Queued, NotNow or Stalled.
    pub status: String,
    /// ready, backed_off, in_flight, stalled or expired.
    pub state: String,
    /// Higher goes first.
    pub priority: i32,
    /// When it may be sent (after a NotNow back-off).
    pub ready_at: Option<DateTime>,
    /// How often the device answered NotNow.
    pub not_now_count: u32,
    /// When it was queued.
    pub created_at: Option<DateTime>,
    /// When it is no longer sent.
    pub expires_at: Option<DateTime>,
    /// When it was last handed to the device.
    pub sent_at: Option<DateTime>,
    /// When it was first handed to the device.
    pub first_sent_at: Option<DateTime>,
}

/// `GET /v1/bad-reports`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BadReports {
    /// Newest first.
    pub bad_reports: Vec<BadReport>,
}

/// A device message that could not be decoded or matched.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct BadReport {
    /// The enrollment it came from, when known.
    pub enrollment_id: Option<String>,
    /// The CommandUUID it named, when readable.
    pub command_uuid: Option<String>,
    /// What was wrong.
    pub reason: String,
    /// When it arrived.
    pub received_at: Option<DateTime>,
    /// The body as sent, base64.
    pub body_base64: String,
}

/// A declaration as the server serves it: `Type`, `Identifier`, `ServerToken`, `Payload`
/// and any other keys it was given (`GET /v1/enrollments/{id}/declarations/{identifier}`).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Declaration(pub serde_json::Map<String, Json>);

impl JsonSchema for Declaration {
    fn schema_name() -> Cow<'static, str> {
        "Declaration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "description": "A declaration (Apple's declarative device management): its type, identifier, the server token the server computed, and its payload.",
            "required": ["Type", "Identifier", "ServerToken", "Payload"],
            "properties": {
                "Type": { "type": "string" },
                "Identifier": { "type": "string" },
                "ServerToken": { "type": "string" },
                "Payload": { "type": "object" },
            },
            "additionalProperties": true,
        })
    }
}

/// `GET /v1/enrollments/{id}/declarations`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Declarations {
    /// The enrollment.
    pub enrollment_id: String,
    /// The token of the whole set (DeclarationsToken).
    pub declarations_token: String,
    /// The declarations.
    pub declarations: Vec<Declaration>,
    /// The device's last status report, or null.
    pub status: Json,
}

/// `PUT /v1/enrollments/{id}/declarations`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeclarationStored {
    /// The declaration's Identifier.
    pub identifier: String,
    /// The ServerToken computed for it.
    pub server_token: Option<String>,
    /// The new token of the whole set.
    pub declarations_token: String,
}

/// `DELETE /v1/enrollments/{id}/declarations/{identifier}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DeclarationDeleted {
    /// The Identifier removed.
    pub deleted: String,
}

/// `GET|PUT /v1/enrollments/{id}/return-to-service`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ReturnToService {
    /// The enrollment.
    pub enrollment_id: String,
    /// Its settings.
    pub settings: crate::service::return_to_service::Settings,
}

/// `DELETE /v1/enrollments/{id}/return-to-service`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SettingsDeleted {
    /// Always true.
    pub deleted: bool,
}

/// An enrollment token (never its secret but once, in [`NewEnrollmentToken`]).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnrollmentToken {
    /// Its ID.
    pub id: String,
    /// active, expired, revoked or used_up.
    pub status: String,
    /// Profiles handed out.
    pub uses: i64,
    /// Profiles it may hand out.
    pub max_uses: i64,
    /// When it expires.
    pub expires_at: Option<DateTime>,
    /// Only this device (UDID or serial number) may enroll with it.
    pub device: Option<String>,
    /// The user it is meant for.
    pub user: Option<String>,
    /// A device ID a device enrolling with it may take over.
    pub may_reenroll: Option<String>,
    /// When it was made.
    pub created_at: Option<DateTime>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime>,
}

/// `POST /v1/enrollment-tokens` (201): the only answer that shows the secret.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct NewEnrollmentToken {
    /// The token.
    #[serde(flatten)]
    pub token: EnrollmentToken,
    /// Its secret (`GET /mdm/enroll?token=...`).
    #[serde(rename = "token")]
    pub secret: String,
    /// The enrollment profile's URL with the secret.
    pub url: String,
}

/// `GET /v1/enrollment-tokens`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EnrollmentTokens {
    /// Newest first.
    pub enrollment_tokens: Vec<EnrollmentToken>,
}

/// `DELETE /v1/enrollment-tokens/{id}`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct TokenRevoked {
    /// The token's ID.
    pub revoked: String,
}

/// `GET /v1/events`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Events {
    /// Oldest first.
    pub events: Vec<EventRecord>,
    /// `after` for the next page (null on the last).
    pub next_after: Option<i64>,
}

/// One event of the outbox.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct EventRecord {
    /// Its place in the outbox (webhooks deliver in this order).
    pub seq: i64,
    /// Its stable ID (receivers de-duplicate by it).
    pub event_id: String,
    /// mdm.Authenticate, mdm.TokenUpdate, mdm.CheckOut, mdm.Connect, mdm.UserAuthenticate,
    /// mdm.SetBootstrapToken, mdm.GetBootstrapToken, mdm.DeclarativeManagement, mdm.GetToken,
    /// ddm.StatusChanged or push.Failed.
    pub topic: String,
    /// The enrollment it is about.
    pub enrollment_id: Option<String>,
    /// When it was made.
    pub created_at: Option<DateTime>,
    /// The JSON its webhooks receive (MicroMDM/NanoMDM shape).
    pub event: Json,
}

/// `GET /v1/pushcert`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PushCertStatus {
    /// The current certificate's topic (null when none is stored).
    pub topic: Option<String>,
    /// When it expires.
    pub not_after: Option<DateTime>,
    /// It has expired.
    pub expired: Option<bool>,
    /// When it was stored.
    pub updated_at: Option<DateTime>,
    /// Enrolled devices that use its topic.
    pub enrollments: u64,
    /// Other topics enrolled devices use.
    pub other_topics: Vec<OtherTopic>,
}

/// A topic enrolled devices use that is not the current certificate's.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OtherTopic {
    /// The topic.
    pub topic: String,
    /// Enrolled devices that use it.
    pub enrollments: u64,
    /// A certificate is stored for it (its devices can still be pushed).
    pub has_certificate: bool,
}

/// `PUT /v1/pushcert`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PushCertStored {
    /// The certificate's topic.
    pub topic: String,
    /// When it expires.
    pub not_after: Option<DateTime>,
}

/// `PUT /v1/dep/{name}/token`: the server token stored (never its secrets).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DepTokenStored {
    /// The organisation.
    pub name: String,
    /// The token's OAuth consumer key (`CK_...`).
    pub consumer_key: String,
    /// When Apple says the token expires (as in the token).
    pub access_token_expiry: Option<String>,
}

/// `PUT /v1/dep/{name}/profile`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DepProfileStored {
    /// The organisation.
    pub name: String,
    /// The profile as stored (`url` filled in), null when removed.
    pub profile: Option<Json>,
    /// Defined with Apple and assigned to new devices at the next sync round.
    pub pending: bool,
}

/// `POST /v1/dep/{name}/sync`: what the round did.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DepSyncReport {
    /// The organisation.
    pub name: String,
    /// Pages stored.
    pub pages: usize,
    /// Device entries in those pages.
    pub devices: usize,
    /// Times a refused cursor started the full fetch again.
    pub refetches: usize,
    /// The round ended on a cursor Apple echoed.
    pub echoed_cursor: bool,
    /// Devices new (or back) in the organisation.
    pub added: usize,
    /// Devices that left it.
    pub removed: usize,
    /// Devices the organisation's profile was assigned to.
    pub profiles_assigned: usize,
}

/// One device of `GET /v1/dep/{name}/devices`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DepDevice {
    /// Its serial number.
    pub serial_number: String,
    /// Still assigned to the organisation (false once Apple said it was removed).
    pub present: bool,
    /// The profile UUID this server assigned to it.
    pub assigned_profile: Option<String>,
    /// When it was first seen.
    pub first_seen_at: Option<DateTime>,
    /// When it last changed.
    pub updated_at: Option<DateTime>,
    /// The device as Apple last sent it (`model`, `os`, `profile_status`, `op_type`...).
    pub device: Json,
}

/// `GET /v1/dep/{name}/devices`.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DepDevices {
    /// The organisation.
    pub name: String,
    /// One page, in serial order.
    pub devices: Vec<DepDevice>,
    /// The `after` of the next page (null on the last page).
    pub next_after: Option<String>,
}
