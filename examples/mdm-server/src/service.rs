//! The service layer: what the server does with each device message and admin request.
//!
//! HTTP handlers (`crate::http`, `crate::admin`) decode requests and call a [`Service`];
//! the service decides and calls a [`Storage`]; every change of state goes through it (and
//! is reported to [`ServiceObserver`]s). Wrappers (logging, webhooks, several services at once) implement
//! [`Service`] around another one without touching either layer.

pub mod ddm;
pub mod dep;
pub mod facts;
pub mod profile_lint;
pub mod return_to_service;

use crate::command::RawCommand;
use crate::device::{CheckinMessage, Undecodable};
use crate::identity::{AcceptAll, DeviceRequest, IdentityVerifier};
use crate::push::{LogPusher, PushFailure, PushTarget, Pusher};
use crate::queue;
use crate::storage::{
    self, BadReport, EnrollmentKey, EnrollmentToken, PushCert, PushInfo, ReportOutcome, Storage,
    StorageError,
};
use async_trait::async_trait;
use mdm_checkin::Message as _;
use mdm_ddm::{Declaration, DeclarationSet};
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{CommandReport, CommandStatus, Enrollment, Identity};
use return_to_service::Settings as ReturnToServiceSettings;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most user channels of one device that a `DeviceInformation` answer updates.
pub const MAX_USER_CHANNELS: u32 = 1_000;
/// The most bytes of a bad body kept in the bad-report log, from a known enrollment.
pub const BAD_BODY_KEPT: usize = 64 * 1024;
/// The most bytes of a bad body kept from a sender that is not a known enrollment.
pub const BAD_BODY_KEPT_ANONYMOUS: usize = 1024;

/// What the server answers a device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reply {
    /// `200 OK` with an empty body (no command, or nothing to say).
    Empty,
    /// `200 OK` with a plist body (a command, or a check-in's answer).
    Plist(Vec<u8>),
    /// `200 OK` with a JSON body (declarative management).
    Json(Vec<u8>),
}

/// Why a request was refused; each variant is one HTTP status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// 400: the request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// 401: the device's identity was refused (signature, certificate or binding).
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the caller may not do this (unknown enrollment, a certificate bound to another
    /// enrollment, an enrollment token that is not valid).
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing.
    #[error("{0}")]
    NotFound(String),
    /// 409: conflicts with what exists (a command UUID already used).
    #[error("{0}")]
    Conflict(String),
    /// 409: a destructive command is already waiting for this enrollment (see
    /// [`crate::queue::DESTRUCTIVE`]); queue with `replace` to replace it.
    #[error(
        "destructive command `{command_uuid}` ({request_type}) is already waiting for enrollment \
         `{enrollment_id}`: destructive commands do not stack (add replace=1 to cancel it and \
         queue this one instead)"
    )]
    DestructivePending {
        /// The enrollment.
        enrollment_id: String,
        /// The waiting command's `CommandUUID`.
        command_uuid: String,
        /// Its `RequestType`.
        request_type: String,
    },
    /// 409: a push certificate whose topic differs from the current one, which enrolled
    /// devices use: they could no longer be pushed.
    #[error(
        "the push certificate's topic `{new_topic}` is not the current `{current_topic}`: \
         {enrollments} enrolled device(s) use `{current_topic}` and would be cut off (they \
         can only be pushed on the topic they enrolled with); add ?replace_topic=1 to store \
         it anyway"
    )]
    TopicChange {
        /// The topic of the certificate stored last.
        current_topic: String,
        /// The uploaded certificate's topic.
        new_topic: String,
        /// How many enrolled enrollments use the current topic.
        enrollments: u64,
    },
    /// 400: the profile of a typed `InstallProfile` has lint errors for a target
    /// enrollment's device ([`profile_lint`]); the findings go with the problem details.
    #[error("{detail}")]
    ProfileRefused {
        /// What was wrong (the first error).
        detail: String,
        /// Every enrollment's findings ([`profile_lint::lints_json`]).
        findings: serde_json::Value,
    },
    /// 410: Apple's answer for a request the server does not support (UserAuthenticate).
    #[error("{0}")]
    Gone(String),
    /// 501: not implemented by this server (yet).
    #[error("{0}")]
    NotImplemented(String),
    /// 500: storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl ServiceError {
    /// The HTTP status code of this error.
    pub fn status(&self) -> u16 {
        match self {
            ServiceError::BadRequest(_) | ServiceError::ProfileRefused { .. } => 400,
            ServiceError::Unauthorized(_) => 401,
            ServiceError::Forbidden(_) => 403,
            ServiceError::NotFound(_) => 404,
            ServiceError::Conflict(_)
            | ServiceError::DestructivePending { .. }
            | ServiceError::TopicChange { .. } => 409,
            ServiceError::Gone(_) => 410,
            ServiceError::NotImplemented(_) => 501,
            ServiceError::Storage(
                StorageError::DuplicateCommand(_) | StorageError::DuplicateIdempotencyKey(_),
            ) => 409,
            ServiceError::Storage(_) => 500,
        }
    }
}

/// Result of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushOutcome {
    /// The enrollment.
    pub enrollment_id: String,
    /// The push ID, or why there was no push.
    pub result: Result<String, String>,
}

/// How to queue a command ([`Service::enqueue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnqueueOptions {
    /// Push the enrollments after queuing.
    pub push: bool,
    /// Queue for enrollment IDs that do not exist (yet); without it they are refused (404).
    pub create: bool,
    /// Refuse the command when an enrollment's stored device facts say it cannot run there.
    pub check_applicability: bool,
    /// A destructive command replaces (cancels) one already waiting for the same enrollment
    /// instead of being refused.
    pub replace: bool,
}

impl EnqueueOptions {
    /// Push after queuing, refuse unknown enrollments, no applicability check.
    pub fn new() -> Self {
        EnqueueOptions {
            push: true,
            create: false,
            check_applicability: false,
            replace: false,
        }
    }

    /// Sets whether a destructive command replaces one already waiting.
    pub fn with_replace(mut self, replace: bool) -> Self {
        self.replace = replace;
        self
    }

    /// Sets whether to push.
    pub fn with_push(mut self, push: bool) -> Self {
        self.push = push;
        self
    }

    /// Sets whether unknown enrollment IDs are accepted.
    pub fn with_create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Sets whether the applicability check runs.
    pub fn with_applicability_check(mut self, check: bool) -> Self {
        self.check_applicability = check;
        self
    }
}

impl Default for EnqueueOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Result of queuing a command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnqueueResult {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `RequestType`.
    pub request_type: String,
    /// Pushes sent (empty when asked not to push, or for a replay).
    pub pushes: Vec<PushOutcome>,
    /// True when the idempotency key was used before: this is that command, nothing new
    /// was queued.
    pub replayed: bool,
    /// Destructive commands cancelled because this one replaced them (`CommandUUID`s).
    pub replaced: Vec<String>,
}

/// Result of re-sending a command ([`Service::resend`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResendResult {
    /// How many in-flight (or stalled) targets were put back at the head of their queue.
    pub requeued: u64,
    /// Pushes sent to them.
    pub pushes: Vec<PushOutcome>,
}

/// Answers `GetToken` check-ins for one `TokenServiceType`.
#[async_trait]
pub trait TokenHandler: Send + Sync + std::fmt::Debug + 'static {
    /// The token (`TokenData`) for an enrollment's `GetToken` message.
    async fn token(&self, enrollment: &Enrollment, message: &Dictionary)
    -> Result<Vec<u8>, String>;
}

/// What the server does.
#[async_trait]
pub trait Service: Send + Sync + std::fmt::Debug + 'static {
    /// Handles a check-in message.
    async fn checkin(
        &self,
        request: &DeviceRequest,
        message: &CheckinMessage,
    ) -> Result<Reply, ServiceError>;

    /// Records a command report and answers with the next command, if any.
    async fn report(
        &self,
        request: &DeviceRequest,
        report: &CommandReport,
    ) -> Result<Reply, ServiceError>;

    /// Deals with a device body that could not be decoded.
    async fn undecodable(
        &self,
        request: &DeviceRequest,
        what: &Undecodable,
    ) -> Result<Reply, ServiceError>;

    /// Queues a command for enrollments (checked as `options` say), and pushes them unless
    /// `options.push` is false.
    async fn enqueue(
        &self,
        enrollment_ids: &[String],
        command: &RawCommand,
        options: EnqueueOptions,
    ) -> Result<EnqueueResult, ServiceError>;

    /// Pushes enrollments.
    async fn push(&self, enrollment_ids: &[String]) -> Result<Vec<PushOutcome>, ServiceError>;

    /// Lints the profile of a typed `InstallProfile` (its `Payload`) for every enrollment
    /// of `enrollment_ids` (see [`profile_lint::check`]). This default knows nothing of the
    /// devices: only the checks that need no target run; [`MdmService`] uses the stored
    /// device facts.
    ///
    /// # Errors
    /// As [`profile_lint::check`].
    async fn lint_profile(
        &self,
        enrollment_ids: &[String],
        payload: &[u8],
    ) -> Result<Vec<profile_lint::EnrollmentLint>, ServiceError> {
        let none: Vec<_> = enrollment_ids.iter().map(|id| (id.clone(), None)).collect();
        profile_lint::check(payload, &none)
    }

    /// Cancels a command wherever it has not been answered: how many targets were
    /// cancelled (404 when there is no such command).
    async fn cancel_command(&self, uuid: &str) -> Result<u64, ServiceError>;

    /// Cancels everything waiting for an enrollment: how many commands were cancelled.
    async fn clear_queue(&self, enrollment_id: &str) -> Result<u64, ServiceError>;

    /// Cancels a command for one enrollment if it has not answered: 0 or 1 (404 when there
    /// is no such command for it).
    async fn cancel_target(&self, uuid: &str, enrollment_id: &str) -> Result<u64, ServiceError>;

    /// Puts a command handed to its device and not answered (in flight or stalled) back at
    /// the head of its queue, for every target or only `enrollment_id`, and pushes them
    /// unless `push` is false (404 when there is no such command).
    async fn resend(
        &self,
        uuid: &str,
        enrollment_id: Option<&str>,
        push: bool,
    ) -> Result<ResendResult, ServiceError>;

    /// Stores an APNs push certificate (its key already sealed as configured). A topic other
    /// than the current certificate's, while enrollments use that one, is refused (409,
    /// counting them) unless `replace_topic`.
    async fn store_push_cert(
        &self,
        cert: &PushCert,
        replace_topic: bool,
    ) -> Result<(), ServiceError>;

    /// Adds or replaces a declaration of a known enrollment; the enrollment's declaration
    /// set afterwards.
    async fn put_declaration(
        &self,
        enrollment_id: &str,
        declaration: &Declaration,
    ) -> Result<DeclarationSet, ServiceError>;

    /// Removes a declaration (404 when there is no such declaration).
    async fn delete_declaration(
        &self,
        enrollment_id: &str,
        identifier: &str,
    ) -> Result<(), ServiceError>;

    /// Sets (or, with `None`, removes) the return-to-service settings of a known enrollment.
    async fn set_return_to_service(
        &self,
        enrollment_id: &str,
        settings: Option<&ReturnToServiceSettings>,
    ) -> Result<(), ServiceError>;

    /// Stores a new enrollment token.
    async fn create_enrollment_token(&self, token: &EnrollmentToken) -> Result<(), ServiceError>;

    /// Revokes an enrollment token (404 when there is no such token).
    async fn revoke_enrollment_token(&self, id: &str) -> Result<(), ServiceError>;

    /// Takes one use of the enrollment token whose secret hashes to `secret_hash` for a
    /// profile carrying the one-time challenge that hashes to `challenge_hash` (403 when
    /// the token is not valid).
    async fn take_enrollment_token(
        &self,
        secret_hash: &str,
        challenge_hash: &str,
        challenge_expires_at: storage::Timestamp,
    ) -> Result<EnrollmentToken, ServiceError>;

    /// Consumes the one-time SCEP challenge that hashes to `challenge_hash` for the
    /// certificate `fingerprint` being issued, remembering its token; the token (403 with
    /// the reason when the challenge is unknown, used, expired or its token revoked).
    async fn consume_scep_challenge(
        &self,
        challenge_hash: &str,
        fingerprint: &str,
    ) -> Result<EnrollmentToken, ServiceError>;

    /// Records that the certificate `new` was issued over SCEP as a renewal signed by `old`
    /// (fingerprints).
    async fn record_renewal(&self, old: &str, new: &str) -> Result<(), ServiceError>;
}

/// A change of the server's state, as [`MdmService`] makes it (see [`ServiceObserver`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceEvent {
    /// A check-in arrived from a device whose identity was accepted (before it is handled).
    /// Activity, not a change of state (as [`ServiceEvent::PushResult`]): for metrics.
    CheckinReceived {
        /// The enrollment.
        enrollment_id: String,
        /// Its `MessageType`.
        message_type: String,
    },
    /// The result of one push.
    PushResult {
        /// The enrollment.
        enrollment_id: String,
        /// APNs accepted it.
        delivered: bool,
        /// APNs said the token is dead.
        token_dead: bool,
    },
    /// A device authenticated (`Authenticate`).
    Authenticated {
        /// The enrollment.
        enrollment_id: String,
    },
    /// A `TokenUpdate` was stored.
    TokenUpdated {
        /// The enrollment.
        enrollment_id: String,
    },
    /// An enrollment checked out.
    CheckedOut {
        /// The enrollment.
        enrollment_id: String,
    },
    /// A device escrowed its bootstrap token.
    BootstrapTokenSet {
        /// The device channel.
        device_id: String,
    },
    /// The declarative management status of an enrollment changed.
    DdmStatusChanged {
        /// The enrollment.
        enrollment_id: String,
    },
    /// The device facts of an enrollment were stored.
    FactsUpdated {
        /// The enrollment.
        enrollment_id: String,
    },
    /// A command report was recorded.
    ReportRecorded {
        /// The enrollment.
        enrollment_id: String,
        /// `CommandUUID`.
        command_uuid: String,
        /// The status recorded.
        status: String,
    },
    /// A device message was kept in the bad-report log.
    BadReportRecorded {
        /// The enrollment, when known.
        enrollment_id: Option<String>,
    },
    /// A command was queued.
    CommandQueued {
        /// `CommandUUID`.
        command_uuid: String,
        /// `RequestType`.
        request_type: String,
        /// The enrollments it was queued for.
        enrollment_ids: Vec<String>,
    },
    /// Enrollments were pushed.
    Pushed {
        /// The enrollments.
        enrollment_ids: Vec<String>,
    },
    /// APNs said an enrollment's push token is dead (`410 Unregistered`): it is not pushed
    /// again until its next TokenUpdate.
    PushTokenDead {
        /// The enrollment.
        enrollment_id: String,
    },
    /// A command was cancelled.
    CommandCancelled {
        /// `CommandUUID`.
        command_uuid: String,
        /// How many targets were cancelled.
        cancelled: u64,
    },
    /// A device answered `NotNow`: the command waits until `until` (its back-off).
    CommandDeferred {
        /// The enrollment.
        enrollment_id: String,
        /// `CommandUUID`.
        command_uuid: String,
        /// When it may be sent again.
        until: storage::Timestamp,
    },
    /// In-flight (or stalled) targets of a command were put back at the head of their queue.
    CommandRequeued {
        /// `CommandUUID`.
        command_uuid: String,
        /// How many targets.
        requeued: u64,
    },
    /// An enrollment's queue was cleared.
    QueueCleared {
        /// The enrollment.
        enrollment_id: String,
        /// How many commands were cancelled.
        cancelled: u64,
    },
    /// A push certificate was stored.
    PushCertStored {
        /// Its topic.
        topic: String,
    },
    /// A declaration was added or replaced.
    DeclarationPut {
        /// The enrollment.
        enrollment_id: String,
        /// The declaration's `Identifier`.
        identifier: String,
    },
    /// A declaration was removed.
    DeclarationDeleted {
        /// The enrollment.
        enrollment_id: String,
        /// The declaration's `Identifier`.
        identifier: String,
    },
    /// Return-to-service settings were set (`true`) or removed (`false`).
    ReturnToServiceSet {
        /// The enrollment.
        enrollment_id: String,
        /// Whether settings are now stored.
        present: bool,
    },
    /// An enrollment token was created.
    EnrollmentTokenCreated {
        /// The token's ID.
        token_id: String,
    },
    /// An enrollment token was revoked.
    EnrollmentTokenRevoked {
        /// The token's ID.
        token_id: String,
    },
    /// One use of an enrollment token was taken for an enrollment profile.
    EnrollmentTokenTaken {
        /// The token's ID.
        token_id: String,
    },
    /// A one-time SCEP challenge was consumed: a certificate is issued for its token.
    ScepChallengeConsumed {
        /// The token the challenge came from.
        token_id: String,
        /// Fingerprint (SHA-256 hex) of the certificate issued.
        fingerprint: String,
    },
    /// A certificate was issued over SCEP as a renewal of another.
    CertificateRenewed {
        /// Fingerprint of the certificate that signed the RenewalReq.
        old: String,
        /// Fingerprint of the certificate issued.
        new: String,
    },
}

/// Sees every change [`MdmService`] makes, after it is stored (audit logs, webhooks,
/// metrics). Called inline: keep it quick, hand slow work to a task.
pub trait ServiceObserver: Send + Sync + std::fmt::Debug + 'static {
    /// One change.
    fn observe(&self, event: &ServiceEvent);
}

/// The server's own service: check-ins, the command queue and pushes over a [`Storage`].
#[derive(Debug, Clone)]
pub struct MdmService {
    storage: Arc<dyn Storage>,
    verifier: Arc<dyn IdentityVerifier>,
    pusher: Arc<dyn Pusher>,
    token_handlers: BTreeMap<String, Arc<dyn TokenHandler>>,
    observers: Vec<Arc<dyn ServiceObserver>>,
    policy: queue::Policy,
    /// Held from the destructive-command check to the enqueue, so two destructive commands
    /// queued at once through this service cannot both pass the check.
    destructive: Arc<tokio::sync::Mutex<()>>,
    /// When set, every device message and push failure is written to the event outbox (in
    /// the same transaction as its change) and this is notified (the webhook deliverers).
    outbox: Option<Arc<tokio::sync::Notify>>,
}

fn key_of(enrollment: &Enrollment, identity: &Identity) -> EnrollmentKey {
    let e = enrollment;
    let mut key = EnrollmentKey::new(e.id.clone(), e.device_id.clone(), e.kind.as_str());
    key.udid = identity.udid.clone();
    key.user_short_name = identity.user_short_name.clone();
    key.user_long_name = identity.user_long_name.clone();
    key
}

fn plist_reply(dict: Dictionary) -> Result<Reply, ServiceError> {
    mdm_proto::to_xml(&Value::Dictionary(dict))
        .map(Reply::Plist)
        .map_err(|e| ServiceError::BadRequest(e.to_string()))
}

/// A refused identity as the service's error: `403` when the sender proved who it is, else
/// `401`.
fn identity_refused(e: crate::identity::IdentityError) -> ServiceError {
    if e.forbidden {
        ServiceError::Forbidden(e.to_string())
    } else {
        ServiceError::Unauthorized(e.to_string())
    }
}

/// The answer that hands `command` (if any) to enrollment `id`.
fn sending(id: &str, command: Option<storage::QueuedCommand>) -> Reply {
    match command {
        Some(command) => {
            tracing::debug!(enrollment = id, uuid = %command.uuid,
                request_type = %command.request_type, "sending command");
            Reply::Plist(command.body)
        }
        None => Reply::Empty,
    }
}

/// The refusal of a request naming an enrollment that does not exist.
fn unknown_enrollment(enrollment: &Enrollment) -> ServiceError {
    ServiceError::Forbidden(format!("unknown enrollment `{}`", enrollment.id))
}

fn truncated(body: &[u8]) -> Vec<u8> {
    truncated_to(body, BAD_BODY_KEPT)
}

fn truncated_to(body: &[u8], keep: usize) -> Vec<u8> {
    body[..body.len().min(keep)].to_vec()
}

impl MdmService {
    /// A service over `storage` that accepts every device (see [`AcceptAll`]) and only logs
    /// pushes (see [`LogPusher`]).
    pub fn new(storage: Arc<dyn Storage>) -> Self {
        MdmService {
            storage,
            verifier: Arc::new(AcceptAll),
            pusher: Arc::new(LogPusher),
            token_handlers: BTreeMap::new(),
            observers: Vec::new(),
            policy: queue::Policy::default(),
            destructive: Arc::new(tokio::sync::Mutex::new(())),
            outbox: None,
        }
    }

    /// Writes events to the outbox ([`crate::events`]) and notifies `wake` after each write.
    pub fn with_outbox(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.outbox = Some(wake);
        self
    }

    /// The events to store with a change: `make()` when the outbox is on, else none.
    fn events(&self, make: impl FnOnce() -> crate::events::Event) -> Vec<crate::events::Event> {
        if self.outbox.is_some() {
            vec![make()]
        } else {
            Vec::new()
        }
    }

    /// Tells the deliverers that events were written.
    fn wake_outbox(&self, events: &[crate::events::Event]) {
        if let (Some(wake), false) = (&self.outbox, events.is_empty()) {
            wake.notify_waiters();
        }
    }

    /// Stores events that go with no change of their own.
    async fn append(&self, events: Vec<crate::events::Event>) -> Result<(), ServiceError> {
        if !events.is_empty() {
            self.storage.append_events(&events).await?;
            self.wake_outbox(&events);
        }
        Ok(())
    }

    /// Uses `policy` for the queue rules (stall limit, `NotNow` back-off).
    pub fn with_queue_policy(mut self, policy: queue::Policy) -> Self {
        self.policy = policy;
        self
    }

    /// The queue rules' policy.
    pub fn queue_policy(&self) -> &queue::Policy {
        &self.policy
    }

    /// Tells `observer` of every change this service makes.
    pub fn with_observer(mut self, observer: Arc<dyn ServiceObserver>) -> Self {
        self.observers.push(observer);
        self
    }

    fn emit(&self, event: ServiceEvent) {
        for observer in &self.observers {
            observer.observe(&event);
        }
    }

    /// Stores the facts of an enrollment.
    async fn set_facts(
        &self,
        enrollment_id: &str,
        facts: &mdm_commands::applicability::DeviceFacts,
    ) -> Result<(), ServiceError> {
        self.storage.set_facts(enrollment_id, facts).await?;
        self.emit(ServiceEvent::FactsUpdated {
            enrollment_id: enrollment_id.to_owned(),
        });
        Ok(())
    }

    async fn bad_report(&self, report: &BadReport) -> Result<(), ServiceError> {
        self.storage.record_bad_report(report).await?;
        self.emit(ServiceEvent::BadReportRecorded {
            enrollment_id: report.enrollment_id.clone(),
        });
        Ok(())
    }

    /// Refuses an enrollment that does not exist (404).
    async fn require_enrollment(&self, id: &str) -> Result<(), ServiceError> {
        match self.storage.enrollment(id).await? {
            Some(_) => Ok(()),
            None => Err(ServiceError::NotFound(format!("no enrollment `{id}`"))),
        }
    }

    /// Uses `verifier` to check device identities.
    pub fn with_verifier(mut self, verifier: Arc<dyn IdentityVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// Uses `pusher` to wake devices.
    pub fn with_pusher(mut self, pusher: Arc<dyn Pusher>) -> Self {
        self.pusher = pusher;
        self
    }

    /// Answers `GetToken` for `service_type` with `handler`.
    pub fn with_token_handler(
        mut self,
        service_type: impl Into<String>,
        handler: Arc<dyn TokenHandler>,
    ) -> Self {
        self.token_handlers.insert(service_type.into(), handler);
        self
    }

    /// The storage this service uses.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    async fn verify(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message: Option<&CheckinMessage>,
    ) -> Result<(), ServiceError> {
        self.verifier
            .verify(request, enrollment, message)
            .await
            .map_err(identity_refused)
    }

    /// Refuses unknown enrollments, and notes that a known one was seen.
    async fn known(&self, enrollment: &Enrollment) -> Result<(), ServiceError> {
        match self.storage.touch(&enrollment.id, storage::now()).await? {
            true => Ok(()),
            false => Err(unknown_enrollment(enrollment)),
        }
    }

    /// Records a non-idle report, and keeps the device facts a `DeviceInformation` answer
    /// tells. Returns the answer when it picked the next command with the report (in one
    /// storage call: every status but `NotNow`, whose back-off comes first).
    async fn record(
        &self,
        request: &DeviceRequest,
        report: &CommandReport,
        enrollment: &Enrollment,
        status: &CommandStatus,
        now: storage::Timestamp,
    ) -> Result<Option<Reply>, ServiceError> {
        let id = enrollment.id.as_str();
        let Some(uuid) = &report.command_uuid else {
            self.bad_report(&BadReport::new(
                Some(id.to_owned()),
                None,
                format!("`{}` report without CommandUUID", status.as_str()),
                truncated(&request.body),
                now,
            ))
            .await?;
            return Ok(None);
        };
        let events = self.events(|| {
            crate::events::connect(enrollment, status.as_str(), Some(uuid), &request.body, now)
        });
        let (outcome, next) = if *status == CommandStatus::NotNow {
            let outcome = self
                .storage
                .record_report_with_events(id, uuid, status.as_str(), &request.body, now, &events)
                .await?;
            (outcome, None)
        } else {
            // The next command is in flight from here: should what follows fail, it is sent
            // again at the device's next request.
            let recorded =
                queue::Report::new(id, uuid, status.as_str(), &request.body).with_events(&events);
            let (outcome, next) =
                queue::record_and_next(self.storage.as_ref(), &recorded, now, &self.policy).await?;
            (outcome, Some(next))
        };
        self.wake_outbox(&events);
        tracing::info!(enrollment = id, uuid = %uuid,
            status = status.as_str(), ?outcome, "command report");
        if outcome == ReportOutcome::Recorded {
            self.emit(ServiceEvent::ReportRecorded {
                enrollment_id: id.to_owned(),
                command_uuid: uuid.clone(),
                status: status.as_str().to_owned(),
            });
            if *status == CommandStatus::NotNow
                && let Some(until) =
                    queue::not_now(self.storage.as_ref(), id, uuid, now, &self.policy).await?
            {
                tracing::info!(enrollment = id, uuid = %uuid, until, "NotNow: backed off");
                self.emit(ServiceEvent::CommandDeferred {
                    enrollment_id: id.to_owned(),
                    command_uuid: uuid.clone(),
                    until,
                });
            }
        }
        match outcome {
            ReportOutcome::UnknownCommand => {
                self.bad_report(&BadReport::new(
                    Some(id.to_owned()),
                    Some(uuid.clone()),
                    "report on a command not queued for this enrollment",
                    truncated(&request.body),
                    now,
                ))
                .await?;
            }
            ReportOutcome::Recorded if *status == CommandStatus::Acknowledged => {
                self.device_information_facts(report, enrollment).await?;
            }
            _ => {}
        }
        Ok(next.map(|command| sending(id, command)))
    }

    /// Keeps the facts of an acknowledged `DeviceInformation` answer (the one command whose
    /// answer carries `QueryResponses`) for the enrollment and, from its device channel, for
    /// the device's user channels.
    async fn device_information_facts(
        &self,
        report: &CommandReport,
        enrollment: &Enrollment,
    ) -> Result<(), ServiceError> {
        if !report.response.contains_key("QueryResponses") {
            return Ok(());
        }
        let Ok(mdm_commands::AnyResponse::DeviceInformation(answer)) =
            mdm_commands::decode_response("DeviceInformation", report)
        else {
            return Ok(());
        };
        let Some(answer) = answer.query_responses else {
            return Ok(());
        };
        // A device channel reads its own facts and its user channels' in one query.
        let device_channel = enrollment.id == enrollment.device_id;
        let mut channels = if device_channel {
            self.storage
                .channel_facts(&enrollment.device_id, MAX_USER_CHANNELS)
                .await?
        } else {
            Vec::new()
        };
        let previous = match channels.iter().position(|(key, _)| key.id == enrollment.id) {
            Some(at) => channels.remove(at).1,
            None => self
                .storage
                .enrollment(&enrollment.id)
                .await?
                .and_then(|r| r.facts),
        };
        let Some(facts) = facts::from_device_information(&answer, enrollment, previous.as_ref())
        else {
            return Ok(());
        };
        if previous.as_ref() != Some(&facts) {
            self.set_facts(&enrollment.id, &facts).await?;
        }
        if !device_channel {
            return Ok(());
        }
        for (key, stored) in channels {
            let channel = facts::for_channel(facts.clone(), &key.id, &key.device_id, &key.kind);
            if stored.as_ref() != Some(&channel) {
                self.set_facts(&key.id, &channel).await?;
            }
        }
        Ok(())
    }

    /// A user channel takes its device channel's facts at its first TokenUpdate.
    async fn user_channel_facts(&self, enrollment: &Enrollment) -> Result<(), ServiceError> {
        if enrollment.id == enrollment.device_id {
            return Ok(());
        }
        let own = self.storage.enrollment(&enrollment.id).await?;
        if own.is_none_or(|r| r.facts.is_some()) {
            return Ok(());
        }
        let device = self.storage.enrollment(&enrollment.device_id).await?;
        if let Some(facts) = device.and_then(|d| d.facts) {
            let facts = facts::for_enrollment(facts, enrollment);
            self.set_facts(&enrollment.id, &facts).await?;
        }
        Ok(())
    }

    /// Refuses (404, naming them) enrollment IDs that do not exist.
    async fn require_known(&self, ids: &[String]) -> Result<(), ServiceError> {
        let mut missing = Vec::new();
        for id in ids {
            if self.storage.enrollment(id).await?.is_none() {
                missing.push(id.as_str());
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = missing.iter().take(20).copied().collect();
        let more = missing.len() - shown.len();
        Err(ServiceError::NotFound(format!(
            "no enrollment {}{} (add ?create=1 to queue for enrollments that do not exist yet)",
            shown
                .iter()
                .map(|id| format!("`{id}`"))
                .collect::<Vec<_>>()
                .join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        )))
    }

    /// The facts of an enrollment stored before facts were kept, derived from its stored
    /// Authenticate (a user channel: from its device channel's), and stored now; `None`
    /// when nothing tells them.
    async fn backfill_facts(
        &self,
        record: &storage::EnrollmentRecord,
    ) -> Result<Option<mdm_commands::applicability::DeviceFacts>, ServiceError> {
        let key = &record.key;
        let from_auth =
            |raw: &[u8]| facts::from_stored_authenticate(raw, &key.id, &key.device_id, &key.kind);
        let mut derived = record.authenticate.as_deref().and_then(from_auth);
        if derived.is_none()
            && key.id != key.device_id
            && let Some(device) = self.storage.enrollment(&key.device_id).await?
        {
            derived = device
                .facts
                .or_else(|| {
                    device.authenticate.as_deref().and_then(|raw| {
                        facts::from_stored_authenticate(
                            raw,
                            &device.key.id,
                            &device.key.device_id,
                            &device.key.kind,
                        )
                    })
                })
                .map(|f| facts::for_channel(f, &key.id, &key.device_id, &key.kind));
        }
        if let Some(facts) = &derived {
            tracing::info!(enrollment = %key.id, platform = %facts.platform,
                "device facts backfilled from the stored Authenticate");
            self.set_facts(&key.id, facts).await?;
        }
        Ok(derived)
    }

    /// Refuses a command that cannot run on one of the enrollments, from their stored
    /// device facts (unknown facts allow it).
    async fn check_applicable(
        &self,
        ids: &[String],
        request_type: &str,
    ) -> Result<(), ServiceError> {
        for id in ids {
            let Some(record) = self.storage.enrollment(id).await? else {
                continue;
            };
            let facts = match record.facts.clone() {
                Some(facts) => facts,
                None => match self.backfill_facts(&record).await? {
                    Some(facts) => facts,
                    None => continue,
                },
            };
            match mdm_commands::applicability::check(request_type, &facts) {
                Ok(()) | Err(mdm_commands::applicability::NotApplicable::UnknownCommand(_)) => {}
                Err(reason) => {
                    return Err(ServiceError::BadRequest(format!(
                        "`{request_type}` cannot run on enrollment `{id}`: {reason}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The command already queued with idempotency key `key`, as an enqueue result
    /// (`replayed`); 409 when that command is of another request type.
    async fn replay(
        &self,
        key: &str,
        command: &RawCommand,
    ) -> Result<Option<EnqueueResult>, ServiceError> {
        let Some(uuid) = self.storage.command_for_key(key).await? else {
            return Ok(None);
        };
        let Some(existing) = self.storage.command(&uuid, storage::now()).await? else {
            return Ok(None);
        };
        if existing.request_type != command.request_type {
            return Err(ServiceError::Conflict(format!(
                "idempotency key `{key}` was used for command `{uuid}` ({}), not a {}",
                existing.request_type, command.request_type
            )));
        }
        tracing::info!(key, uuid = %uuid, "idempotency key seen before: same command");
        Ok(Some(EnqueueResult {
            command_uuid: existing.uuid,
            request_type: existing.request_type,
            pushes: Vec::new(),
            replayed: true,
            replaced: Vec::new(),
        }))
    }

    /// Refuses a destructive command for enrollments that have one waiting, or with
    /// `replace` cancels those (returning their UUIDs).
    async fn clear_destructive(
        &self,
        ids: &[String],
        replace: bool,
    ) -> Result<Vec<String>, ServiceError> {
        let now = storage::now();
        let mut replaced = Vec::new();
        for id in ids {
            let Some(first) = queue::pending_destructive(self.storage.as_ref(), id, now).await?
            else {
                continue;
            };
            if !replace {
                return Err(ServiceError::DestructivePending {
                    enrollment_id: id.clone(),
                    command_uuid: first.uuid,
                    request_type: first.request_type,
                });
            }
        }
        if !replace {
            return Ok(replaced);
        }
        for id in ids {
            while let Some(first) =
                queue::pending_destructive(self.storage.as_ref(), id, now).await?
            {
                let n = self.storage.cancel_target(id, &first.uuid, now).await?;
                tracing::info!(enrollment = %id, uuid = %first.uuid, "destructive command replaced");
                self.emit(ServiceEvent::CommandCancelled {
                    command_uuid: first.uuid.clone(),
                    cancelled: n,
                });
                replaced.push(first.uuid);
                if n == 0 {
                    break;
                }
            }
        }
        Ok(replaced)
    }

    async fn next(&self, id: &str) -> Result<Reply, ServiceError> {
        let now = storage::now();
        let command = queue::next(self.storage.as_ref(), id, now, &self.policy).await?;
        Ok(sending(id, command))
    }
}

#[async_trait]
impl Service for MdmService {
    async fn checkin(
        &self,
        request: &DeviceRequest,
        message: &CheckinMessage,
    ) -> Result<Reply, ServiceError> {
        let enrollment = message
            .enrollment()
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let enrollment = &enrollment;
        self.verify(request, enrollment, Some(message)).await?;
        tracing::Span::current().record("enrollment", tracing::field::display(&enrollment.id));
        let now = storage::now();
        tracing::info!(enrollment = %enrollment.id,
            message_type = message.message_type().as_str(), "check-in");
        self.emit(ServiceEvent::CheckinReceived {
            enrollment_id: enrollment.id.clone(),
            message_type: message.message_type().as_str().to_owned(),
        });
        match message {
            CheckinMessage::Authenticate(auth) => {
                let previous = self
                    .storage
                    .enrollment(&enrollment.id)
                    .await?
                    .and_then(|r| r.facts);
                let events = self.events(|| {
                    crate::events::checkin(
                        crate::events::AUTHENTICATE,
                        enrollment,
                        &request.body,
                        now,
                    )
                });
                self.storage
                    .authenticate_with_events(
                        &key_of(enrollment, &auth.identity),
                        &request.body,
                        now,
                        &events,
                    )
                    .await?;
                self.wake_outbox(&events);
                self.emit(ServiceEvent::Authenticated {
                    enrollment_id: enrollment.id.clone(),
                });
                if let Some(facts) = facts::from_authenticate(auth, enrollment, previous.as_ref()) {
                    self.set_facts(&enrollment.id, &facts).await?;
                }
                Ok(Reply::Empty)
            }
            CheckinMessage::TokenUpdate(update) => {
                let push = PushInfo::new(
                    update.token.0.clone(),
                    update.push_magic.clone(),
                    update.topic.clone(),
                );
                let events = self.events(|| {
                    crate::events::checkin(
                        crate::events::TOKEN_UPDATE,
                        enrollment,
                        &request.body,
                        now,
                    )
                });
                let enrolled = self
                    .storage
                    .token_update_with_events(
                        &key_of(enrollment, &update.identity),
                        &push,
                        update.unlock_token.as_ref().map(|t| t.0.as_slice()),
                        &request.body,
                        now,
                        &events,
                    )
                    .await?;
                self.wake_outbox(&events);
                if enrolled {
                    tracing::info!(enrollment = %enrollment.id, "enrolled");
                }
                self.emit(ServiceEvent::TokenUpdated {
                    enrollment_id: enrollment.id.clone(),
                });
                self.user_channel_facts(enrollment).await?;
                Ok(Reply::Empty)
            }
            CheckinMessage::CheckOut(_) => {
                let events = self.events(|| {
                    crate::events::checkin(crate::events::CHECK_OUT, enrollment, &request.body, now)
                });
                self.storage
                    .check_out_with_events(&enrollment.id, now, &events)
                    .await?;
                self.wake_outbox(&events);
                self.emit(ServiceEvent::CheckedOut {
                    enrollment_id: enrollment.id.clone(),
                });
                Ok(Reply::Empty)
            }
            CheckinMessage::UserAuthenticate(_) => {
                let events = self.events(|| {
                    crate::events::checkin(
                        crate::events::USER_AUTHENTICATE,
                        enrollment,
                        &request.body,
                        now,
                    )
                });
                self.append(events).await?;
                Err(ServiceError::Gone(
                    "UserAuthenticate is not supported: users are not authenticated by this \
                     server"
                        .into(),
                ))
            }
            CheckinMessage::SetBootstrapToken(set) => {
                self.known(enrollment).await?;
                let events = self.events(|| {
                    crate::events::checkin(
                        crate::events::SET_BOOTSTRAP_TOKEN,
                        enrollment,
                        &request.body,
                        now,
                    )
                });
                self.storage
                    .set_bootstrap_token_with_events(
                        &enrollment.device_id,
                        set.bootstrap_token.as_ref().map(|t| t.0.as_slice()),
                        now,
                        &events,
                    )
                    .await?;
                self.wake_outbox(&events);
                self.emit(ServiceEvent::BootstrapTokenSet {
                    device_id: enrollment.device_id.clone(),
                });
                Ok(Reply::Empty)
            }
            CheckinMessage::GetBootstrapToken(_) => {
                self.known(enrollment).await?;
                let events = self.events(|| {
                    crate::events::checkin(
                        crate::events::GET_BOOTSTRAP_TOKEN,
                        enrollment,
                        &request.body,
                        now,
                    )
                });
                self.append(events).await?;
                let record = self.storage.enrollment(&enrollment.device_id).await?;
                let mut dict = Dictionary::new();
                if let Some(token) = record.and_then(|r| r.bootstrap_token) {
                    dict.insert("BootstrapToken".into(), Value::Data(token));
                }
                plist_reply(dict)
            }
            CheckinMessage::GetToken(get) => {
                self.known(enrollment).await?;
                let events = self.events(|| {
                    crate::events::checkin(crate::events::GET_TOKEN, enrollment, &request.body, now)
                });
                self.append(events).await?;
                let service_type = get.token_service_type.as_str();
                let handler = self.token_handlers.get(service_type).ok_or_else(|| {
                    ServiceError::BadRequest(format!(
                        "no token handler for TokenServiceType `{service_type}`"
                    ))
                })?;
                let token = handler
                    .token(enrollment, &get.to_dictionary())
                    .await
                    .map_err(ServiceError::BadRequest)?;
                let mut dict = Dictionary::new();
                dict.insert("TokenData".into(), Value::Data(token));
                plist_reply(dict)
            }
            CheckinMessage::DeclarativeManagement(ddm) => {
                self.known(enrollment).await?;
                let events = self.events(|| {
                    crate::events::checkin(
                        crate::events::DECLARATIVE_MANAGEMENT,
                        enrollment,
                        &request.body,
                        now,
                    )
                });
                self.append(events).await?;
                let set = ddm::declaration_set(self.storage.as_ref(), &enrollment.id).await?;
                let mut status: mdm_ddm::EnrollmentStatus =
                    match self.storage.ddm_status(&enrollment.id).await? {
                        Some(json) => serde_json::from_slice(&json).unwrap_or_default(),
                        None => mdm_ddm::EnrollmentStatus::default(),
                    };
                let before = status.clone();
                let reply = set
                    .handle(
                        &ddm.endpoint,
                        ddm.data.as_ref().map(|d| d.0.as_slice()),
                        &mut status,
                        std::time::SystemTime::now(),
                    )
                    .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
                if status != before {
                    let json = serde_json::to_vec(&status)
                        .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
                    let events = self
                        .events(|| crate::events::ddm_status_changed(&enrollment.id, &json, now));
                    self.storage
                        .set_ddm_status_with_events(&enrollment.id, &json, now, &events)
                        .await?;
                    self.wake_outbox(&events);
                    self.emit(ServiceEvent::DdmStatusChanged {
                        enrollment_id: enrollment.id.clone(),
                    });
                }
                match reply {
                    mdm_ddm::DdmReply::Json(body) => Ok(Reply::Json(body)),
                    mdm_ddm::DdmReply::NoContent => Ok(Reply::Empty),
                    mdm_ddm::DdmReply::NotFound => Err(ServiceError::NotFound(
                        "no such declaration for this enrollment".into(),
                    )),
                    _ => Err(ServiceError::BadRequest(
                        "unsupported declarative management answer".into(),
                    )),
                }
            }
            CheckinMessage::ReturnToService(_) => {
                self.known(enrollment).await?;
                return_to_service::answer(self.storage.as_ref(), &enrollment.id).await
            }
            other => Err(ServiceError::BadRequest(format!(
                "unsupported check-in MessageType `{}`",
                other.message_type().as_str()
            ))),
        }
    }

    async fn report(
        &self,
        request: &DeviceRequest,
        report: &CommandReport,
    ) -> Result<Reply, ServiceError> {
        let enrollment = report
            .enrollment()
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        // The identity check and the touch in one storage call when the verifier can.
        let touched = self
            .verifier
            .verify_and_touch(request, &enrollment, None, storage::now())
            .await
            .map_err(identity_refused)?;
        let span = tracing::Span::current();
        span.record("enrollment", tracing::field::display(&enrollment.id));
        if let Some(uuid) = &report.command_uuid {
            span.record("command_uuid", tracing::field::display(uuid));
        }
        match touched {
            Some(true) => {}
            Some(false) => return Err(unknown_enrollment(&enrollment)),
            None => self.known(&enrollment).await?,
        }
        let now = storage::now();
        let id = enrollment.id.as_str();
        if report.status == CommandStatus::Idle {
            let events = self.events(|| {
                crate::events::connect(
                    &enrollment,
                    report.status.as_str(),
                    report.command_uuid.as_deref(),
                    &request.body,
                    now,
                )
            });
            self.append(events).await?;
        } else if let Some(reply) = self
            .record(request, report, &enrollment, &report.status, now)
            .await?
        {
            return Ok(reply);
        }
        self.next(id).await
    }

    async fn undecodable(
        &self,
        request: &DeviceRequest,
        what: &Undecodable,
    ) -> Result<Reply, ServiceError> {
        let now = storage::now();
        tracing::warn!(reason = %what.error, enrollment = ?what.enrollment.as_ref().map(|e| &e.id),
            "undecodable device message");
        let bad = |keep: usize| {
            BadReport::new(
                what.enrollment.as_ref().map(|e| e.id.clone()),
                what.command_uuid.clone(),
                what.error.to_string(),
                truncated_to(&request.body, keep),
                now,
            )
        };
        let (Some(enrollment), true) = (&what.enrollment, what.is_report) else {
            self.bad_report(&bad(BAD_BODY_KEPT_ANONYMOUS)).await?;
            return Err(ServiceError::BadRequest(what.error.to_string()));
        };
        // A report from a known device that cannot be decoded: keep it, close the command
        // it answers so it is not sent again, and carry on with the queue.
        self.verify(request, enrollment, None).await?;
        if self.known(enrollment).await.is_err() {
            self.bad_report(&bad(BAD_BODY_KEPT_ANONYMOUS)).await?;
            return Err(ServiceError::BadRequest(what.error.to_string()));
        }
        self.bad_report(&bad(BAD_BODY_KEPT)).await?;
        if let Some(uuid) = &what.command_uuid {
            self.storage
                .record_report(
                    &enrollment.id,
                    uuid,
                    storage::STATUS_UNDECODABLE,
                    &request.body,
                    now,
                )
                .await?;
            self.emit(ServiceEvent::ReportRecorded {
                enrollment_id: enrollment.id.clone(),
                command_uuid: uuid.clone(),
                status: storage::STATUS_UNDECODABLE.to_owned(),
            });
        }
        self.next(&enrollment.id).await
    }

    async fn enqueue(
        &self,
        enrollment_ids: &[String],
        command: &RawCommand,
        options: EnqueueOptions,
    ) -> Result<EnqueueResult, ServiceError> {
        if enrollment_ids.is_empty() {
            return Err(ServiceError::BadRequest("no enrollment IDs".into()));
        }
        if !options.create {
            self.require_known(enrollment_ids).await?;
        }
        if options.check_applicability {
            self.check_applicable(enrollment_ids, &command.request_type)
                .await?;
        }
        if let Some(key) = &command.idempotency_key
            && let Some(result) = self.replay(key, command).await?
        {
            return Ok(result);
        }
        let destructive = queue::is_destructive(&command.request_type);
        let _guard = if destructive {
            Some(self.destructive.lock().await)
        } else {
            None
        };
        let mut replaced = Vec::new();
        if destructive {
            replaced = self
                .clear_destructive(enrollment_ids, options.replace)
                .await?;
        }
        let mut new = storage::NewCommand::new(
            command.uuid.clone(),
            command.request_type.clone(),
            command.body.clone(),
        );
        new.expires_at = command.expires_at;
        new.priority = command.priority;
        new.idempotency_key = command.idempotency_key.clone();
        match self
            .storage
            .enqueue(&new, enrollment_ids, storage::now())
            .await
        {
            Ok(()) => {}
            Err(StorageError::DuplicateIdempotencyKey(key)) => {
                // Queued at the same moment by another request with the same key.
                if let Some(result) = self.replay(&key, command).await? {
                    return Ok(result);
                }
                return Err(StorageError::DuplicateIdempotencyKey(key).into());
            }
            Err(StorageError::DuplicateCommand(u)) => {
                return Err(ServiceError::Conflict(format!(
                    "a command with UUID `{u}` already exists"
                )));
            }
            Err(other) => return Err(other.into()),
        }
        drop(_guard);
        self.emit(ServiceEvent::CommandQueued {
            command_uuid: command.uuid.clone(),
            request_type: command.request_type.clone(),
            enrollment_ids: enrollment_ids.to_vec(),
        });
        let pushes = if options.push {
            self.push(enrollment_ids).await?
        } else {
            Vec::new()
        };
        Ok(EnqueueResult {
            command_uuid: command.uuid.clone(),
            request_type: command.request_type.clone(),
            pushes,
            replayed: false,
            replaced,
        })
    }

    async fn lint_profile(
        &self,
        enrollment_ids: &[String],
        payload: &[u8],
    ) -> Result<Vec<profile_lint::EnrollmentLint>, ServiceError> {
        let mut devices = Vec::with_capacity(enrollment_ids.len());
        for id in enrollment_ids {
            let facts = match self.storage.enrollment(id).await? {
                Some(record) => match record.facts.clone() {
                    Some(facts) => Some(facts),
                    None => self.backfill_facts(&record).await?,
                },
                None => None,
            };
            devices.push((id.clone(), facts));
        }
        profile_lint::check(payload, &devices)
    }

    async fn push(&self, enrollment_ids: &[String]) -> Result<Vec<PushOutcome>, ServiceError> {
        let mut outcomes = Vec::with_capacity(enrollment_ids.len());
        let mut targets = Vec::new();
        let mut slots = Vec::new();
        for id in enrollment_ids {
            match self.storage.enrollment(id).await? {
                Some(record) if record.enrolled && record.push_dead_at.is_some() => {
                    outcomes.push(PushOutcome {
                        enrollment_id: id.clone(),
                        result: Err(format!(
                            "the push token is dead (APNs answered 410 Unregistered at {}): \
                             not pushed until the device sends a new TokenUpdate",
                            record.push_dead_at.unwrap_or_default()
                        )),
                    });
                }
                Some(record) => match (record.enrolled, record.push) {
                    (true, Some(push)) => {
                        slots.push(outcomes.len());
                        targets.push(PushTarget::new(id.clone(), push));
                        outcomes.push(PushOutcome {
                            enrollment_id: id.clone(),
                            result: Err(String::new()),
                        });
                    }
                    _ => outcomes.push(PushOutcome {
                        enrollment_id: id.clone(),
                        result: Err(
                            "not enrolled (no TokenUpdate since Authenticate or CheckOut)".into(),
                        ),
                    }),
                },
                None => outcomes.push(PushOutcome {
                    enrollment_id: id.clone(),
                    result: Err("unknown enrollment".into()),
                }),
            }
        }
        if !targets.is_empty() {
            let results = self.pusher.push_detailed(&targets).await;
            self.emit(ServiceEvent::Pushed {
                enrollment_ids: targets.iter().map(|t| t.enrollment_id.clone()).collect(),
            });
            let now = storage::now();
            for (i, slot) in slots.into_iter().enumerate() {
                let result = results
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| Err(PushFailure::new("the pusher returned no result")));
                if let (Err(failure), Some(target)) = (&result, targets.get(i))
                    && failure.token_dead
                {
                    self.storage
                        .set_push_dead(&target.enrollment_id, now)
                        .await?;
                    tracing::warn!(enrollment = %target.enrollment_id,
                        "push token dead (410 Unregistered): not pushed until the next TokenUpdate");
                    self.emit(ServiceEvent::PushTokenDead {
                        enrollment_id: target.enrollment_id.clone(),
                    });
                }
                if let (Err(failure), Some(target)) = (&result, targets.get(i)) {
                    let events = self.events(|| {
                        crate::events::push_failed(
                            &target.enrollment_id,
                            &failure.message,
                            failure.token_dead,
                            now,
                        )
                    });
                    self.append(events).await?;
                }
                if let Some(target) = targets.get(i) {
                    self.emit(ServiceEvent::PushResult {
                        enrollment_id: target.enrollment_id.clone(),
                        delivered: result.is_ok(),
                        token_dead: result.as_ref().is_err_and(|f| f.token_dead),
                    });
                }
                if let Some(outcome) = outcomes.get_mut(slot) {
                    outcome.result = result.map_err(|f| f.message);
                }
            }
        }
        Ok(outcomes)
    }

    async fn cancel_command(&self, uuid: &str) -> Result<u64, ServiceError> {
        let now = storage::now();
        if self.storage.command(uuid, now).await?.is_none() {
            return Err(ServiceError::NotFound(format!("no command `{uuid}`")));
        }
        let cancelled = self.storage.cancel_command(uuid, now).await?;
        self.emit(ServiceEvent::CommandCancelled {
            command_uuid: uuid.to_owned(),
            cancelled,
        });
        Ok(cancelled)
    }

    async fn clear_queue(&self, enrollment_id: &str) -> Result<u64, ServiceError> {
        let cancelled = self
            .storage
            .clear_queue(enrollment_id, storage::now())
            .await?;
        self.emit(ServiceEvent::QueueCleared {
            enrollment_id: enrollment_id.to_owned(),
            cancelled,
        });
        Ok(cancelled)
    }

    async fn cancel_target(&self, uuid: &str, enrollment_id: &str) -> Result<u64, ServiceError> {
        let now = storage::now();
        let exists = self
            .storage
            .command(uuid, now)
            .await?
            .is_some_and(|c| c.targets.iter().any(|t| t.enrollment_id == enrollment_id));
        if !exists {
            return Err(ServiceError::NotFound(format!(
                "no command `{uuid}` for enrollment `{enrollment_id}`"
            )));
        }
        let cancelled = self.storage.cancel_target(enrollment_id, uuid, now).await?;
        self.emit(ServiceEvent::CommandCancelled {
            command_uuid: uuid.to_owned(),
            cancelled,
        });
        Ok(cancelled)
    }

    async fn resend(
        &self,
        uuid: &str,
        enrollment_id: Option<&str>,
        push: bool,
    ) -> Result<ResendResult, ServiceError> {
        let now = storage::now();
        let Some(record) = self.storage.command(uuid, now).await? else {
            return Err(ServiceError::NotFound(format!("no command `{uuid}`")));
        };
        let targets: Vec<String> = record
            .targets
            .iter()
            .filter(|t| enrollment_id.is_none_or(|id| t.enrollment_id == id))
            .filter(|t| t.first_sent_at.is_some())
            .map(|t| t.enrollment_id.clone())
            .collect();
        if let Some(id) = enrollment_id
            && !record.targets.iter().any(|t| t.enrollment_id == id)
        {
            return Err(ServiceError::NotFound(format!(
                "no command `{uuid}` for enrollment `{id}`"
            )));
        }
        let requeued = self.storage.requeue(uuid, enrollment_id, now).await?;
        tracing::info!(uuid, requeued, "command re-sent");
        self.emit(ServiceEvent::CommandRequeued {
            command_uuid: uuid.to_owned(),
            requeued,
        });
        let pushes = if push && requeued > 0 {
            self.push(&targets).await?
        } else {
            Vec::new()
        };
        Ok(ResendResult { requeued, pushes })
    }

    async fn store_push_cert(
        &self,
        cert: &PushCert,
        replace_topic: bool,
    ) -> Result<(), ServiceError> {
        if let Some(current) = self.storage.latest_push_cert().await?
            && current.topic != cert.topic
            && !replace_topic
        {
            let enrollments = self
                .storage
                .enrolled_topics()
                .await?
                .into_iter()
                .find(|(t, _)| *t == current.topic)
                .map_or(0, |(_, n)| n);
            if enrollments > 0 {
                return Err(ServiceError::TopicChange {
                    current_topic: current.topic,
                    new_topic: cert.topic.clone(),
                    enrollments,
                });
            }
        }
        self.storage.store_push_cert(cert, storage::now()).await?;
        self.emit(ServiceEvent::PushCertStored {
            topic: cert.topic.clone(),
        });
        Ok(())
    }

    async fn put_declaration(
        &self,
        enrollment_id: &str,
        declaration: &Declaration,
    ) -> Result<DeclarationSet, ServiceError> {
        self.require_enrollment(enrollment_id).await?;
        self.storage
            .put_declaration(
                enrollment_id,
                &declaration.identifier,
                &declaration.encode(),
                storage::now(),
            )
            .await?;
        self.emit(ServiceEvent::DeclarationPut {
            enrollment_id: enrollment_id.to_owned(),
            identifier: declaration.identifier.clone(),
        });
        ddm::declaration_set(self.storage.as_ref(), enrollment_id).await
    }

    async fn delete_declaration(
        &self,
        enrollment_id: &str,
        identifier: &str,
    ) -> Result<(), ServiceError> {
        if !self
            .storage
            .delete_declaration(enrollment_id, identifier)
            .await?
        {
            return Err(ServiceError::NotFound(format!(
                "no declaration `{identifier}` for `{enrollment_id}`"
            )));
        }
        self.emit(ServiceEvent::DeclarationDeleted {
            enrollment_id: enrollment_id.to_owned(),
            identifier: identifier.to_owned(),
        });
        Ok(())
    }

    async fn set_return_to_service(
        &self,
        enrollment_id: &str,
        settings: Option<&ReturnToServiceSettings>,
    ) -> Result<(), ServiceError> {
        self.require_enrollment(enrollment_id).await?;
        let json = settings
            .map(|s| {
                s.response(None)?;
                serde_json::to_vec(s).map_err(|e| ServiceError::BadRequest(e.to_string()))
            })
            .transpose()?;
        self.storage
            .set_return_to_service(enrollment_id, json.as_deref(), storage::now())
            .await?;
        self.emit(ServiceEvent::ReturnToServiceSet {
            enrollment_id: enrollment_id.to_owned(),
            present: settings.is_some(),
        });
        Ok(())
    }

    async fn create_enrollment_token(&self, token: &EnrollmentToken) -> Result<(), ServiceError> {
        if let Some(id) = &token.may_reenroll
            && self.storage.enrollment(id).await?.is_none()
        {
            return Err(ServiceError::NotFound(format!(
                "no enrollment `{id}` to re-enroll"
            )));
        }
        self.storage.create_enrollment_token(token).await?;
        tracing::info!(token = %token.id, uses = token.max_uses, device = ?token.device,
            may_reenroll = ?token.may_reenroll, "enrollment token created");
        self.emit(ServiceEvent::EnrollmentTokenCreated {
            token_id: token.id.clone(),
        });
        Ok(())
    }

    async fn revoke_enrollment_token(&self, id: &str) -> Result<(), ServiceError> {
        if !self
            .storage
            .revoke_enrollment_token(id, storage::now())
            .await?
        {
            return Err(ServiceError::NotFound(format!(
                "no enrollment token `{id}`"
            )));
        }
        tracing::info!(token = %id, "enrollment token revoked");
        self.emit(ServiceEvent::EnrollmentTokenRevoked {
            token_id: id.to_owned(),
        });
        Ok(())
    }

    async fn take_enrollment_token(
        &self,
        secret_hash: &str,
        challenge_hash: &str,
        challenge_expires_at: storage::Timestamp,
    ) -> Result<EnrollmentToken, ServiceError> {
        match self
            .storage
            .take_enrollment_token(
                secret_hash,
                challenge_hash,
                challenge_expires_at,
                storage::now(),
            )
            .await?
        {
            Ok(token) => {
                tracing::info!(token = %token.id, uses = token.uses, max_uses = token.max_uses,
                    "enrollment profile handed out");
                self.emit(ServiceEvent::EnrollmentTokenTaken {
                    token_id: token.id.clone(),
                });
                Ok(token)
            }
            Err(refusal) => {
                let reason = refusal.reason("enrollment token");
                tracing::warn!(%reason, "enrollment profile refused");
                Err(ServiceError::Forbidden(reason))
            }
        }
    }

    async fn consume_scep_challenge(
        &self,
        challenge_hash: &str,
        fingerprint: &str,
    ) -> Result<EnrollmentToken, ServiceError> {
        match self
            .storage
            .consume_challenge(challenge_hash, fingerprint, storage::now())
            .await?
        {
            Ok(token) => {
                tracing::info!(token = %token.id, %fingerprint, "SCEP challenge consumed");
                self.emit(ServiceEvent::ScepChallengeConsumed {
                    token_id: token.id.clone(),
                    fingerprint: fingerprint.to_owned(),
                });
                Ok(token)
            }
            Err(refusal) => Err(ServiceError::Forbidden(refusal.reason("challengePassword"))),
        }
    }

    async fn record_renewal(&self, old: &str, new: &str) -> Result<(), ServiceError> {
        self.storage
            .record_renewal(old, new, storage::now())
            .await?;
        tracing::info!(%old, %new, "SCEP renewal recorded");
        self.emit(ServiceEvent::CertificateRenewed {
            old: old.to_owned(),
            new: new.to_owned(),
        });
        Ok(())
    }
}
