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
//! [`STATUS_CANCELLED`] / [`STATUS_UNDECODABLE`]. [`Storage::next_command`] returns the oldest
//! pending target that has not expired; `NotNow` targets are included only when the caller
//! says the device is idle (NanoMDM's rule): a `NotNow`'d command is not sent again until the
//! device reports `Idle`, which starts a new round, so the rest of the queue keeps moving
//! and nothing loops.

use async_trait::async_trait;

pub mod postgres;
pub mod sqlite;

/// The status recorded for a target whose command was cancelled before it finished.
pub const STATUS_CANCELLED: &str = "Cancelled";
/// The status recorded for a target whose report could not be decoded.
pub const STATUS_UNDECODABLE: &str = "Undecodable";
/// The precision of `last_seen_at`, in seconds (see [`Storage::touch`]).
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
    /// The storage URL or options were not understood.
    #[error("storage configuration: {0}")]
    Config(String),
    /// The database failed.
    #[error("database error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
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
}

/// Filters and paging for [`Storage::list_enrollments`].
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
}

impl NewCommand {
    /// A command that does not expire.
    pub fn new(uuid: impl Into<String>, request_type: impl Into<String>, body: Vec<u8>) -> Self {
        NewCommand {
            uuid: uuid.into(),
            request_type: request_type.into(),
            body,
            expires_at: None,
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

/// What [`Storage::record_report`] did with a report.
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

/// Every piece of server state.
///
/// All methods take the time (`now`) from the caller, so tests control the clock.
#[async_trait]
pub trait Storage: Send + Sync + std::fmt::Debug + 'static {
    /// Records an Authenticate: creates or updates the enrollment, marks it not enrolled
    /// until its next TokenUpdate, and keeps the raw message.
    async fn authenticate(&self, key: &EnrollmentKey, raw: &[u8], now: Timestamp) -> Result<()>;

    /// Records a TokenUpdate: stores push information (and the unlock token when sent),
    /// creates the enrollment when it is new (user channels start here) and marks it
    /// enrolled. Returns true when this TokenUpdate enrolled it.
    async fn token_update(
        &self,
        key: &EnrollmentKey,
        push: &PushInfo,
        unlock_token: Option<&[u8]>,
        raw: &[u8],
        now: Timestamp,
    ) -> Result<bool>;

    /// Records a CheckOut: the enrollment is no longer enrolled.
    async fn check_out(&self, id: &str, now: Timestamp) -> Result<()>;

    /// Notes that an enrollment sent something, and says whether it exists. To spare a
    /// write on every message, `last_seen_at` moves only when it is at least
    /// [`TOUCH_GRANULARITY`] seconds old.
    async fn touch(&self, id: &str, now: Timestamp) -> Result<bool>;

    /// Escrows (or, with `None`, clears) a device's bootstrap token.
    async fn set_bootstrap_token(
        &self,
        id: &str,
        token: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<()>;

    /// One enrollment.
    async fn enrollment(&self, id: &str) -> Result<Option<EnrollmentRecord>>;

    /// Enrollments matching a filter, in ID order.
    async fn list_enrollments(&self, filter: &EnrollmentFilter) -> Result<Vec<EnrollmentRecord>>;

    /// Stores a command and queues it for every enrollment in `targets` (duplicates ignored).
    async fn enqueue(&self, command: &NewCommand, targets: &[String], now: Timestamp)
    -> Result<()>;

    /// The oldest pending, unexpired command of an enrollment, marked as sent. `NotNow`'d
    /// commands count only when `include_not_now` (the device reported `Idle`).
    async fn next_command(
        &self,
        id: &str,
        include_not_now: bool,
        now: Timestamp,
    ) -> Result<Option<QueuedCommand>>;

    /// Records a device's report on a command. A target that already has a final status
    /// is left as it is ([`ReportOutcome::Repeated`]); cancelled targets take the report.
    async fn record_report(
        &self,
        id: &str,
        uuid: &str,
        status: &str,
        report: &[u8],
        now: Timestamp,
    ) -> Result<ReportOutcome>;

    /// Keeps a report that could not be decoded or matched (only the newest
    /// [`MAX_BAD_REPORTS`] are kept).
    async fn record_bad_report(&self, report: &BadReport) -> Result<()>;

    /// The most recent bad reports, newest first.
    async fn bad_reports(&self, limit: u32) -> Result<Vec<BadReport>>;

    /// A command and the status of each target.
    async fn command(&self, uuid: &str, now: Timestamp) -> Result<Option<CommandRecord>>;

    /// The commands still waiting for an enrollment, oldest first (expired ones left out).
    async fn queue(&self, id: &str, now: Timestamp) -> Result<Vec<QueueEntry>>;

    /// Cancels everything waiting for an enrollment; returns how many targets.
    async fn clear_queue(&self, id: &str, now: Timestamp) -> Result<u64>;

    /// Cancels a command for every target that has not answered; returns how many.
    async fn cancel_command(&self, uuid: &str, now: Timestamp) -> Result<u64>;

    /// Stores the APNs certificate for its topic (replacing an older one).
    async fn store_push_cert(&self, cert: &PushCert, now: Timestamp) -> Result<()>;

    /// The APNs certificate of a topic.
    async fn push_cert(&self, topic: &str) -> Result<Option<PushCert>>;

    /// The APNs certificate stored last, if any.
    async fn latest_push_cert(&self) -> Result<Option<PushCert>>;

    /// The SHA-256 fingerprint (hex) of the identity certificate bound to a device channel.
    async fn cert_binding(&self, device_id: &str) -> Result<Option<String>>;

    /// Binds an identity certificate (SHA-256 fingerprint, hex) to a device channel,
    /// replacing the one bound before.
    async fn bind_cert(&self, device_id: &str, fingerprint: &str, now: Timestamp) -> Result<()>;

    /// Records that the certificate `new` was issued as a renewal signed by `old`.
    async fn record_renewal(&self, old: &str, new: &str, now: Timestamp) -> Result<()>;

    /// The certificate that `new` renewed, when it was issued as a renewal.
    async fn renewed_from(&self, new: &str) -> Result<Option<String>>;

    /// Stores (or replaces) a declaration of an enrollment: its JSON as given.
    async fn put_declaration(
        &self,
        id: &str,
        identifier: &str,
        json: &[u8],
        now: Timestamp,
    ) -> Result<()>;

    /// The declarations of an enrollment, as `(identifier, JSON)`, in identifier order.
    async fn declarations(&self, id: &str) -> Result<Vec<(String, Vec<u8>)>>;

    /// Removes a declaration; says whether it existed.
    async fn delete_declaration(&self, id: &str, identifier: &str) -> Result<bool>;

    /// The last declarative-management status of an enrollment (JSON).
    async fn ddm_status(&self, id: &str) -> Result<Option<Vec<u8>>>;

    /// Stores the declarative-management status of an enrollment (JSON).
    async fn set_ddm_status(&self, id: &str, json: &[u8], now: Timestamp) -> Result<()>;

    /// The return-to-service settings of an enrollment (JSON), if any.
    async fn return_to_service(&self, id: &str) -> Result<Option<Vec<u8>>>;

    /// Stores (or with `None` removes) the return-to-service settings of an enrollment.
    async fn set_return_to_service(
        &self,
        id: &str,
        json: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<()>;
}

/// The current time as a [`Timestamp`].
pub fn now() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Opens the storage a URL names: `sqlite:PATH` / a plain path (SQLite), or
/// `postgres://...` / `postgresql://...` (PostgreSQL).
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Storage>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(std::sync::Arc::new(
            postgres::PostgresStorage::connect(url).await?,
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
