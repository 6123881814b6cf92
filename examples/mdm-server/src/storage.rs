//! The storage layer: every piece of server state, behind one trait.
//!
//! Two implementations pass the same test suite (`tests/storage.rs`): [`sqlite::SqliteStorage`]
//! (an embedded file, the default) and [`postgres::PostgresStorage`] (for several server
//! instances behind one load balancer). Nothing the server needs lives only in memory, so
//! any instance can answer any device.
//!
//! # The queue
//!
//! A command is stored once ([`NewCommand`]) and targets one or more enrollments. Each
//! target has a status: pending (`None`), `NotNow`, or the final status the device reported
//! (`Acknowledged`, `Error`, `CommandFormatError`, anything else a device sends) or
//! [`STATUS_CANCELLED`] / [`STATUS_UNDECODABLE`]. Storage keeps the queue in order
//! ([`QueueStore::queue`]: priority, then the time a target is ready, then arrival) and offers
//! the primitives the queue rules need ([`QueueStore::take`], [`QueueStore::defer`],
//! [`QueueStore::requeue`], [`QueueStore::in_flight_since`]...); the rules themselves (what is
//! sent next, NotNow back-off, stalled commands, destructive commands, idempotency) are
//! written once, over these primitives, in [`crate::queue`] and the service.

use crate::events::{Event, StoredEvent};
use async_trait::async_trait;

#[cfg(feature = "storage-conformance")]
pub mod conformance;
mod enrollments;
pub use enrollments::EnrollmentStore;
mod queue;
pub use queue::{Chooser, QueueStore, TakenNext};
mod pushes;
pub use pushes::PushStore;
mod ddm;
pub use ddm::DdmStore;
mod events;
pub use events::EventStore;
pub mod dep;
pub use dep::DepStore;
pub mod facts;
pub mod postgres;
pub mod sqlite;

/// The status recorded for a target whose command was cancelled before it finished.
pub const STATUS_CANCELLED: &str = "Cancelled";
/// The status recorded for a target whose report could not be decoded.
pub const STATUS_UNDECODABLE: &str = "Undecodable";
/// The precision of `last_seen_at`, in seconds (see [`EnrollmentStore::touch`]).
pub const TOUCH_GRANULARITY: Timestamp = 60;
/// How many bad reports storage keeps; older ones are dropped as new ones arrive.
pub const MAX_BAD_REPORTS: i64 = 10_000;
/// The status shown (not stored) for a pending target whose command has expired.
pub const STATUS_EXPIRED: &str = "Expired";
/// The status shown (not stored) for a target not yet answered.
pub const STATUS_QUEUED: &str = "Queued";
/// The status stored for a target the device answered with `NotNow`.
pub const STATUS_NOT_NOW: &str = "NotNow";

/// Errors of a storage backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A command with this UUID already exists.
    #[error("a command with UUID `{0}` already exists")]
    DuplicateCommand(String),
    /// A command with this idempotency key already exists.
    #[error("a command with idempotency key `{0}` already exists")]
    DuplicateIdempotencyKey(String),
    /// The storage URL or options were not understood.
    #[error("storage configuration: {0}")]
    Config(String),
    /// The database failed. The message names the causes (the error's source chain).
    #[error("database error: {}", error_chain(.0.as_ref()))]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// An error and its sources, `: `-separated, each message once (drivers often repeat
/// their source's text in their own).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

impl StorageError {
    /// Wraps a backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        StorageError::Backend(Box::new(e))
    }
}

/// Shorthand for storage results.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Seconds since the Unix epoch: every timestamp in storage.
pub type Timestamp = i64;

/// The identity of an enrollment as a check-in names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnrollmentKey {
    /// The normalised enrollment ID (`<device>` or `<device>:<user>`).
    pub id: String,
    /// The normalised ID of the device channel.
    pub device_id: String,
    /// The enrollment type (`Device`, `User`, `UserEnrollmentDevice`...).
    pub kind: String,
    /// `UDID`, when sent.
    pub udid: Option<String>,
    /// `UserShortName`, when sent.
    pub user_short_name: Option<String>,
    /// `UserLongName`, when sent.
    pub user_long_name: Option<String>,
}

impl EnrollmentKey {
    /// A key for an enrollment ID, its device ID and its type.
    pub fn new(
        id: impl Into<String>,
        device_id: impl Into<String>,
        kind: impl Into<String>,
    ) -> Self {
        EnrollmentKey {
            id: id.into(),
            device_id: device_id.into(),
            kind: kind.into(),
            ..EnrollmentKey::default()
        }
    }
}

/// Where and how to push an enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushInfo {
    /// The device token (`Token`), raw bytes.
    pub token: Vec<u8>,
    /// `PushMagic`.
    pub push_magic: String,
    /// `Topic`: the push certificate's topic.
    pub topic: String,
}

impl PushInfo {
    /// Push information.
    pub fn new(token: Vec<u8>, push_magic: impl Into<String>, topic: impl Into<String>) -> Self {
        PushInfo {
            token,
            push_magic: push_magic.into(),
            topic: topic.into(),
        }
    }
}

/// Everything stored about one enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnrollmentRecord {
    /// Identity.
    pub key: EnrollmentKey,
    /// True from the first TokenUpdate until CheckOut (or a new Authenticate).
    pub enrolled: bool,
    /// Push information from the last TokenUpdate.
    pub push: Option<PushInfo>,
    /// `UnlockToken` from a TokenUpdate.
    pub unlock_token: Option<Vec<u8>>,
    /// The escrowed bootstrap token of the device (device channel only).
    pub bootstrap_token: Option<Vec<u8>>,
    /// The raw body (XML plist) of the last Authenticate.
    pub authenticate: Option<Vec<u8>>,
    /// The raw body (XML plist) of the last TokenUpdate.
    pub token_update: Option<Vec<u8>>,
    /// When the enrollment was first seen.
    pub created_at: Timestamp,
    /// When it last sent anything.
    pub last_seen_at: Timestamp,
    /// When it was first marked enrolled (kept across re-enrollment until the next one).
    pub enrolled_at: Option<Timestamp>,
    /// When it checked out.
    pub checked_out_at: Option<Timestamp>,
    /// What the server knows of the device for the applicability check (see
    /// [`crate::service::facts`]); `None` until the device has told.
    pub facts: Option<mdm_commands::applicability::DeviceFacts>,
    /// When APNs answered `410 Unregistered` for its push token: not pushed again until its
    /// next TokenUpdate (which clears this).
    pub push_dead_at: Option<Timestamp>,
}

/// Filters and paging for [`EnrollmentStore::list_enrollments`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnrollmentFilter {
    /// Only enrollments of this device.
    pub device_id: Option<String>,
    /// Only enrolled (or only not enrolled) ones.
    pub enrolled: Option<bool>,
    /// Only this enrollment type.
    pub kind: Option<String>,
    /// Keyset paging: only IDs sorting after this one.
    pub after: Option<String>,
    /// At most this many (the caller caps it).
    pub limit: u32,
}

/// A command to store and queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NewCommand {
    /// `CommandUUID`.
    pub uuid: String,
    /// `Command.RequestType`.
    pub request_type: String,
    /// The full command plist as sent to devices (`{CommandUUID, Command}`).
    pub body: Vec<u8>,
    /// When the command stops being sent.
    pub expires_at: Option<Timestamp>,
    /// Higher goes first; equal priorities keep arrival order (0 by default).
    pub priority: i32,
    /// The client's idempotency key: a second command with the same key is refused
    /// ([`StorageError::DuplicateIdempotencyKey`]).
    pub idempotency_key: Option<String>,
}

impl NewCommand {
    /// A command that does not expire, priority 0, no idempotency key.
    pub fn new(uuid: impl Into<String>, request_type: impl Into<String>, body: Vec<u8>) -> Self {
        NewCommand {
            uuid: uuid.into(),
            request_type: request_type.into(),
            body,
            expires_at: None,
            priority: 0,
            idempotency_key: None,
        }
    }
}

/// A command picked for a device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueuedCommand {
    /// `CommandUUID`.
    pub uuid: String,
    /// `Command.RequestType`.
    pub request_type: String,
    /// The plist to send.
    pub body: Vec<u8>,
}

/// What [`QueueStore::record_report`] did with a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReportOutcome {
    /// The report was recorded.
    Recorded,
    /// The target already had a final status: the report was a repeat and changed nothing.
    Repeated,
    /// No such command targets this enrollment.
    UnknownCommand,
}

/// The status of one command for one enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TargetStatus {
    /// The enrollment.
    pub enrollment_id: String,
    /// `Queued`, `NotNow`, `Expired`, `Cancelled`, `Undecodable` or the reported status.
    pub status: String,
    /// The raw report body, when one was recorded.
    pub report: Option<Vec<u8>>,
    /// When the command was last handed to the device.
    pub sent_at: Option<Timestamp>,
    /// When it was first handed to the device since it was last queued or answered
    /// `NotNow` (`None`: not in flight).
    pub first_sent_at: Option<Timestamp>,
    /// How many times the device answered `NotNow`.
    pub not_now_count: u32,
    /// When the status last changed.
    pub updated_at: Timestamp,
}

/// A stored command and its targets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CommandRecord {
    /// `CommandUUID`.
    pub uuid: String,
    /// `Command.RequestType`.
    pub request_type: String,
    /// The command plist.
    pub body: Vec<u8>,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// When it expires.
    pub expires_at: Option<Timestamp>,
    /// Its priority (higher goes first).
    pub priority: i32,
    /// The idempotency key it was queued with.
    pub idempotency_key: Option<String>,
    /// Its targets, in enrollment ID order.
    pub targets: Vec<TargetStatus>,
}

/// One command still waiting in an enrollment's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueEntry {
    /// `CommandUUID`.
    pub uuid: String,
    /// `Command.RequestType`.
    pub request_type: String,
    /// `Queued` or `NotNow`.
    pub status: String,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// When it expires.
    pub expires_at: Option<Timestamp>,
    /// When it was last handed to the device.
    pub sent_at: Option<Timestamp>,
    /// Its priority (higher goes first).
    pub priority: i32,
    /// Not sent before this time (its enqueue time, or the end of a `NotNow` back-off).
    pub ready_at: Timestamp,
    /// When it was first handed to the device since it was queued or last answered
    /// `NotNow` (`None`: not in flight).
    pub first_sent_at: Option<Timestamp>,
    /// How many times the device answered `NotNow`.
    pub not_now_count: u32,
}

/// A target handed to its device and not answered since a given time
/// ([`QueueStore::in_flight_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InFlight {
    /// The enrollment.
    pub enrollment_id: String,
    /// `CommandUUID`.
    pub uuid: String,
    /// `Command.RequestType`.
    pub request_type: String,
    /// When it was first handed to the device (since queued or last `NotNow`).
    pub first_sent_at: Timestamp,
    /// When it was last handed to the device.
    pub sent_at: Option<Timestamp>,
}

/// The whole queue at a glance ([`QueueStore::queue_stats`]), for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueStats {
    /// Targets waiting (queued or `NotNow`, not expired), all enrollments.
    pub depth: u64,
    /// When the oldest of them was queued.
    pub oldest_created_at: Option<Timestamp>,
    /// Those in flight since the stall limit or earlier.
    pub stalled: u64,
}

/// A report the server could not decode or match, kept for inspection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BadReport {
    /// The enrollment, when it could be told.
    pub enrollment_id: Option<String>,
    /// The `CommandUUID`, when it could be read.
    pub command_uuid: Option<String>,
    /// Why it was not used.
    pub reason: String,
    /// The raw body (possibly truncated by the caller).
    pub body: Vec<u8>,
    /// When it arrived.
    pub received_at: Timestamp,
}

impl BadReport {
    /// A bad report that arrived at `received_at`.
    pub fn new(
        enrollment_id: Option<String>,
        command_uuid: Option<String>,
        reason: impl Into<String>,
        body: Vec<u8>,
        received_at: Timestamp,
    ) -> Self {
        BadReport {
            enrollment_id,
            command_uuid,
            reason: reason.into(),
            body,
            received_at,
        }
    }
}

/// The APNs push certificate and key, as PEM.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushCert {
    /// The certificate's topic.
    pub topic: String,
    /// PEM certificate.
    pub cert_pem: String,
    /// PEM private key.
    pub key_pem: String,
    /// When it was stored.
    pub updated_at: Timestamp,
}

impl PushCert {
    /// A push certificate for a topic.
    pub fn new(
        topic: impl Into<String>,
        cert_pem: impl Into<String>,
        key_pem: impl Into<String>,
    ) -> Self {
        PushCert {
            topic: topic.into(),
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
            updated_at: 0,
        }
    }
}

impl std::fmt::Debug for PushCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushCert")
            .field("topic", &self.topic)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// An enrollment token as stored: who may download an enrollment profile (`GET
/// /mdm/enroll?token=...`). Its secret is kept only as a SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnrollmentToken {
    /// The token's public ID (for listing and revoking).
    pub id: String,
    /// SHA-256 (hex) of the secret that goes in the enrollment URL.
    pub secret_hash: String,
    /// How many profiles it may hand out.
    pub max_uses: i64,
    /// How many it has handed out.
    pub uses: i64,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// The device it is meant for (UDID or serial number), when restricted.
    pub device: Option<String>,
    /// The user it is meant for (user short name or ID), when restricted.
    pub user: Option<String>,
    /// An existing device ID that a device enrolling with it may take over (re-enrollment
    /// an administrator authorised).
    pub may_reenroll: Option<String>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
}

impl EnrollmentToken {
    /// A token with no restrictions, not yet used.
    pub fn new(
        id: impl Into<String>,
        secret_hash: impl Into<String>,
        max_uses: i64,
        expires_at: Timestamp,
        created_at: Timestamp,
    ) -> Self {
        EnrollmentToken {
            id: id.into(),
            secret_hash: secret_hash.into(),
            max_uses,
            uses: 0,
            expires_at,
            device: None,
            user: None,
            may_reenroll: None,
            created_at,
            revoked_at: None,
        }
    }
}

/// Why an enrollment token or a SCEP challenge was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No such token or challenge.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked (a challenge: its token was).
    Revoked,
    /// Every use taken (a challenge: already used once).
    UsedUp,
}

impl Refusal {
    /// A short reason, for the answer and the log.
    pub fn reason(self, what: &str) -> String {
        match self {
            Refusal::Unknown => format!("unknown {what}"),
            Refusal::Expired => format!("the {what} has expired"),
            Refusal::Revoked => format!("the {what} was revoked"),
            Refusal::UsedUp => format!("the {what} has been used up"),
        }
    }
}

/// A change of the certificate bound to a device channel, for [`EnrollmentStore::rebind_cert`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rebinding {
    /// The device channel.
    pub device_id: String,
    /// The fingerprint the caller saw bound (`None`: nothing bound); the change is made
    /// only if it is still so.
    pub previous: Option<String>,
    /// The fingerprint to bind.
    pub fingerprint: String,
    /// Why (`new enrollment`, `renewal`, `re-enrollment`...).
    pub reason: String,
    /// The enrollment token that authorised it, when one did.
    pub token_id: Option<String>,
}

impl Rebinding {
    /// A rebinding of `device_id` from `previous` to `fingerprint`.
    pub fn new(
        device_id: impl Into<String>,
        previous: Option<String>,
        fingerprint: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Rebinding {
            device_id: device_id.into(),
            previous,
            fingerprint: fingerprint.into(),
            reason: reason.into(),
            token_id: None,
        }
    }
}

/// What [`EnrollmentStore::rebind_cert`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BindOutcome {
    /// Bound, and recorded in the history.
    Bound,
    /// The certificate is bound to this other device channel: nothing changed.
    TakenBy(String),
    /// The binding is no longer `previous` (a concurrent change): nothing changed.
    Changed,
}

/// One entry of a device channel's binding history.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BindingEvent {
    /// The fingerprint bound before (`None`: nothing).
    pub old_fingerprint: Option<String>,
    /// The fingerprint bound.
    pub new_fingerprint: String,
    /// Why.
    pub reason: String,
    /// The enrollment token that authorised it.
    pub token_id: Option<String>,
    /// When.
    pub at: Timestamp,
}

/// Every piece of server state: the role traits together, so one backend value serves the
/// whole server (`Arc<dyn Storage>`). A backend implements each role; this follows.
///
/// All methods take the time (`now`) from the caller, so tests control the clock. Bring the
/// role traits into scope with `use mdm_server::storage::prelude::*`.
pub trait Storage:
    EnrollmentStore
    + QueueStore
    + PushStore
    + DdmStore
    + EventStore
    + DepStore
    + std::fmt::Debug
    + 'static
{
}

impl<T> Storage for T where
    T: EnrollmentStore
        + QueueStore
        + PushStore
        + DdmStore
        + EventStore
        + DepStore
        + std::fmt::Debug
        + 'static
{
}

/// The storage traits, for `use ...::storage::prelude::*`.
pub mod prelude {
    pub use super::{
        DdmStore, DepStore, EnrollmentStore, EventStore, PushStore, QueueStore, Storage,
    };
}

/// What [`QueueStore::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pruned {
    /// Commands deleted (their targets and reports with them).
    pub commands: u64,
    /// Bad reports deleted.
    pub bad_reports: u64,
}

/// The current time as a [`Timestamp`].
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A [`Timestamp`] as RFC 3339 (`2026-12-06T18:47:13Z`); `None` past the year 9999.
pub fn rfc3339(ts: Timestamp) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(ts).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// How [`open_with`] connects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenOptions {
    /// PEM file of the CA of the PostgreSQL server's certificate (libpq's `sslrootcert`).
    pub postgres_ca_file: Option<std::path::PathBuf>,
}

impl OpenOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// These options with a PostgreSQL CA file.
    pub fn with_postgres_ca_file(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.postgres_ca_file = path;
        self
    }
}

/// Opens the storage a URL names: `sqlite:PATH` / a plain path (SQLite), or
/// `postgres://...` / `postgresql://...` (PostgreSQL).
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Storage>> {
    open_with(url, &OpenOptions::new()).await
}

/// Like [`open`], with options (a CA file for PostgreSQL over TLS).
pub async fn open_with(url: &str, options: &OpenOptions) -> Result<std::sync::Arc<dyn Storage>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            postgres::PostgresStorage::connect_with(url, options.postgres_ca_file.as_deref())
                .await?,
        ))
    } else {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if path.is_empty() {
            return Err(StorageError::Config("empty SQLite path".into()));
        }
        Ok(std::sync::Arc::new(
            sqlite::SqliteStorage::open(path).await?,
        ))
    }
}

/// The status shown for a stored target status: `Queued` for pending, `Expired` for a
/// pending (or `NotNow`) target past its command's expiry, else the stored status.
pub fn shown_status(
    stored: Option<String>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> String {
    let expired = expires_at.is_some_and(|e| e <= now);
    match stored {
        None if expired => STATUS_EXPIRED.to_owned(),
        None => STATUS_QUEUED.to_owned(),
        Some(s) if expired && s == STATUS_NOT_NOW => STATUS_EXPIRED.to_owned(),
        Some(s) => s,
    }
}
