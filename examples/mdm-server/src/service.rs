//! The service layer: what the server does with each device message and admin request.
//!
//! HTTP handlers decode requests and call a [`Service`]; the service decides and calls a
//! [`Storage`]. Wrappers (logging, webhooks, several services at once) implement
//! [`Service`] around another one without touching either layer.

use crate::command::RawCommand;
use crate::device::{CheckinMessage, Undecodable};
use crate::identity::{AcceptAll, DeviceRequest, IdentityVerifier};
use crate::push::{LogPusher, PushTarget, Pusher};
use crate::storage::{
    self, BadReport, EnrollmentKey, PushInfo, ReportOutcome, Storage, StorageError,
};
use async_trait::async_trait;
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{CommandReport, CommandStatus, Enrollment};
use std::collections::BTreeMap;
use std::sync::Arc;

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
            ServiceError::BadRequest(_) => 400,
            ServiceError::Unauthorized(_) => 401,
            ServiceError::Forbidden(_) => 403,
            ServiceError::NotFound(_) => 404,
            ServiceError::Conflict(_) => 409,
            ServiceError::Gone(_) => 410,
            ServiceError::NotImplemented(_) => 501,
            ServiceError::Storage(StorageError::DuplicateCommand(_)) => 409,
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

/// Result of queuing a command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnqueueResult {
    /// `CommandUUID`.
    pub command_uuid: String,
    /// `RequestType`.
    pub request_type: String,
    /// Pushes sent (empty when asked not to push).
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

    /// Queues a command for enrollments, and pushes them unless `push` is false.
    async fn enqueue(
        &self,
        enrollment_ids: &[String],
        command: &RawCommand,
        push: bool,
    ) -> Result<EnqueueResult, ServiceError>;

    /// Pushes enrollments.
    async fn push(&self, enrollment_ids: &[String]) -> Result<Vec<PushOutcome>, ServiceError>;
}

/// The server's own service: check-ins, the command queue and pushes over a [`Storage`].
#[derive(Debug, Clone)]
pub struct MdmService {
    storage: Arc<dyn Storage>,
    verifier: Arc<dyn IdentityVerifier>,
    pusher: Arc<dyn Pusher>,
    token_handlers: BTreeMap<String, Arc<dyn TokenHandler>>,
}

fn key_of(message: &CheckinMessage) -> EnrollmentKey {
    let e = &message.enrollment;
    let mut key = EnrollmentKey::new(e.id.clone(), e.device_id.clone(), e.kind.as_str());
    key.udid = message.identity.udid.clone();
    key.user_short_name = message.identity.user_short_name.clone();
    key.user_long_name = message.identity.user_long_name.clone();
    key
}

fn plist_reply(dict: Dictionary) -> Result<Reply, ServiceError> {
    mdm_proto::to_xml(&Value::Dictionary(dict))
        .map(Reply::Plist)
        .map_err(|e| ServiceError::BadRequest(e.to_string()))
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
            .map_err(|e| {
                if e.forbidden {
                    ServiceError::Forbidden(e.to_string())
                } else {
                    ServiceError::Unauthorized(e.to_string())
                }
            })
    }

    /// Refuses unknown enrollments, and notes that a known one was seen.
    async fn known(&self, enrollment: &Enrollment) -> Result<(), ServiceError> {
        match self.storage.touch(&enrollment.id, storage::now()).await? {
            true => Ok(()),
            false => Err(ServiceError::Forbidden(format!(
                "unknown enrollment `{}`",
                enrollment.id
            ))),
        }
    }

    async fn next(&self, id: &str, idle: bool) -> Result<Reply, ServiceError> {
        Ok(
            match self.storage.next_command(id, idle, storage::now()).await? {
                Some(command) => {
                    tracing::debug!(enrollment = id, uuid = %command.uuid,
                        request_type = %command.request_type, "sending command");
                    Reply::Plist(command.body)
                }
                None => Reply::Empty,
            },
        )
    }
}

#[async_trait]
impl Service for MdmService {
    async fn checkin(
        &self,
        request: &DeviceRequest,
        message: &CheckinMessage,
    ) -> Result<Reply, ServiceError> {
        let enrollment = &message.enrollment;
        let kind = message.message_type.as_str();
        self.verify(request, enrollment, Some(message)).await?;
        let now = storage::now();
        tracing::info!(enrollment = %enrollment.id, message_type = kind, "check-in");
        match kind {
            "Authenticate" => {
                self.storage
                    .authenticate(&key_of(message), &request.body, now)
                    .await?;
                Ok(Reply::Empty)
            }
            "TokenUpdate" => {
                let update = match message.typed.as_deref() {
                    Ok(mdm_checkin::CheckinMessage::TokenUpdate(update)) => update,
                    Ok(_) => {
                        return Err(ServiceError::BadRequest(
                            "TokenUpdate did not decode as a TokenUpdate".into(),
                        ));
                    }
                    Err(e) => return Err(ServiceError::BadRequest(e.to_owned())),
                };
                let push = PushInfo::new(
                    update.token.0.clone(),
                    update.push_magic.clone(),
                    update.topic.clone(),
                );
                let enrolled = self
                    .storage
                    .token_update(
                        &key_of(message),
                        &push,
                        update.unlock_token.as_ref().map(|t| t.0.as_slice()),
                        &request.body,
                        now,
                    )
                    .await?;
                if enrolled {
                    tracing::info!(enrollment = %enrollment.id, "enrolled");
                }
                Ok(Reply::Empty)
            }
            "CheckOut" => {
                self.storage.check_out(&enrollment.id, now).await?;
                Ok(Reply::Empty)
            }
            "UserAuthenticate" => Err(ServiceError::Gone(
                "UserAuthenticate is not supported: users are not authenticated by this server"
                    .into(),
            )),
            "SetBootstrapToken" => {
                self.known(enrollment).await?;
                self.storage
                    .set_bootstrap_token(&enrollment.device_id, message.data("BootstrapToken"), now)
                    .await?;
                Ok(Reply::Empty)
            }
            "GetBootstrapToken" => {
                self.known(enrollment).await?;
                let record = self.storage.enrollment(&enrollment.device_id).await?;
                let mut dict = Dictionary::new();
                if let Some(token) = record.and_then(|r| r.bootstrap_token) {
                    dict.insert("BootstrapToken".into(), Value::Data(token));
                }
                plist_reply(dict)
            }
            "GetToken" => {
                self.known(enrollment).await?;
                let service_type = message.string("TokenServiceType").ok_or_else(|| {
                    ServiceError::BadRequest("GetToken without `TokenServiceType` string".into())
                })?;
                let handler = self.token_handlers.get(service_type).ok_or_else(|| {
                    ServiceError::BadRequest(format!(
                        "no token handler for TokenServiceType `{service_type}`"
                    ))
                })?;
                let token = handler
                    .token(enrollment, &message.raw)
                    .await
                    .map_err(ServiceError::BadRequest)?;
                let mut dict = Dictionary::new();
                dict.insert("TokenData".into(), Value::Data(token));
                plist_reply(dict)
            }
            "DeclarativeManagement" => {
                self.known(enrollment).await?;
                let set =
                    crate::ddm::declaration_set(self.storage.as_ref(), &enrollment.id).await?;
                let mut status: mdm_ddm::EnrollmentStatus =
                    match self.storage.ddm_status(&enrollment.id).await? {
                        Some(json) => serde_json::from_slice(&json).unwrap_or_default(),
                        None => mdm_ddm::EnrollmentStatus::default(),
                    };
                let before = status.clone();
                let reply = set
                    .handle_checkin(&message.raw, &mut status, std::time::SystemTime::now())
                    .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
                if status != before {
                    let json = serde_json::to_vec(&status)
                        .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
                    self.storage
                        .set_ddm_status(&enrollment.id, &json, now)
                        .await?;
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
            "ReturnToService" => {
                self.known(enrollment).await?;
                crate::return_to_service::answer(self.storage.as_ref(), &enrollment.id).await
            }
            other => Err(ServiceError::BadRequest(format!(
                "unsupported check-in MessageType `{other}`"
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
        self.verify(request, &enrollment, None).await?;
        self.known(&enrollment).await?;
        let now = storage::now();
        let id = enrollment.id.as_str();
        let idle = report.status == CommandStatus::Idle;
        if !idle {
            match &report.command_uuid {
                Some(uuid) => {
                    let outcome = self
                        .storage
                        .record_report(id, uuid, report.status.as_str(), &request.body, now)
                        .await?;
                    tracing::info!(enrollment = id, uuid = %uuid,
                        status = report.status.as_str(), ?outcome, "command report");
                    if outcome == ReportOutcome::UnknownCommand {
                        self.storage
                            .record_bad_report(&BadReport::new(
                                Some(id.to_owned()),
                                Some(uuid.clone()),
                                "report on a command not queued for this enrollment",
                                truncated(&request.body),
                                now,
                            ))
                            .await?;
                    }
                }
                None => {
                    self.storage
                        .record_bad_report(&BadReport::new(
                            Some(id.to_owned()),
                            None,
                            format!("`{}` report without CommandUUID", report.status.as_str()),
                            truncated(&request.body),
                            now,
                        ))
                        .await?;
                }
            }
        }
        self.next(id, idle).await
    }

    async fn undecodable(
        &self,
        request: &DeviceRequest,
        what: &Undecodable,
    ) -> Result<Reply, ServiceError> {
        let now = storage::now();
        tracing::warn!(reason = %what.reason, enrollment = ?what.enrollment.as_ref().map(|e| &e.id),
            "undecodable device message");
        let bad = |keep: usize| {
            BadReport::new(
                what.enrollment.as_ref().map(|e| e.id.clone()),
                what.command_uuid.clone(),
                what.reason.clone(),
                truncated_to(&request.body, keep),
                now,
            )
        };
        let (Some(enrollment), true) = (&what.enrollment, what.is_report) else {
            self.storage
                .record_bad_report(&bad(BAD_BODY_KEPT_ANONYMOUS))
                .await?;
            return Err(ServiceError::BadRequest(what.reason.clone()));
        };
        // A report from a known device that cannot be decoded: keep it, close the command
        // it answers so it is not sent again, and carry on with the queue.
        self.verify(request, enrollment, None).await?;
        if self.known(enrollment).await.is_err() {
            self.storage
                .record_bad_report(&bad(BAD_BODY_KEPT_ANONYMOUS))
                .await?;
            return Err(ServiceError::BadRequest(what.reason.clone()));
        }
        self.storage.record_bad_report(&bad(BAD_BODY_KEPT)).await?;
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
        }
        self.next(&enrollment.id, false).await
    }

    async fn enqueue(
        &self,
        enrollment_ids: &[String],
        command: &RawCommand,
        push: bool,
    ) -> Result<EnqueueResult, ServiceError> {
        if enrollment_ids.is_empty() {
            return Err(ServiceError::BadRequest("no enrollment IDs".into()));
        }
        let mut new = storage::NewCommand::new(
            command.uuid.clone(),
            command.request_type.clone(),
            command.body.clone(),
        );
        new.expires_at = command.expires_at;
        self.storage
            .enqueue(&new, enrollment_ids, storage::now())
            .await
            .map_err(|e| match e {
                StorageError::DuplicateCommand(u) => {
                    ServiceError::Conflict(format!("a command with UUID `{u}` already exists"))
                }
                other => other.into(),
            })?;
        let pushes = if push {
            self.push(enrollment_ids).await?
        } else {
            Vec::new()
        };
        Ok(EnqueueResult {
            command_uuid: command.uuid.clone(),
            request_type: command.request_type.clone(),
            pushes,
        })
    }

    async fn push(&self, enrollment_ids: &[String]) -> Result<Vec<PushOutcome>, ServiceError> {
        let mut outcomes = Vec::with_capacity(enrollment_ids.len());
        let mut targets = Vec::new();
        let mut slots = Vec::new();
        for id in enrollment_ids {
            match self.storage.enrollment(id).await? {
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
            let results = self.pusher.push(&targets).await;
            for (i, slot) in slots.into_iter().enumerate() {
                if let Some(outcome) = outcomes.get_mut(slot) {
                    outcome.result = results
                        .get(i)
                        .cloned()
                        .unwrap_or_else(|| Err("the pusher returned no result".into()));
                }
            }
        }
        Ok(outcomes)
    }
}
