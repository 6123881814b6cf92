//! The admin API handlers (behind the API key; see [`crate::http::router`]); every write goes through the
//! [`crate::service::Service`], reads go to storage.
//!
//! NanoMDM-compatible routes (`/v1/enqueue`, `/v1/push`, `/v1/pushcert`, `/version`) and
//! JSON routes for commands and enrollments. Plist values are shown in their JSON form
//! ([`mdm_proto::json`]: data as base64, dates as RFC 3339).

use crate::command::RawCommand;
use crate::service::{EnqueueOptions, PushOutcome, ServiceError};
use crate::state::{AppState, Routes, error_response};
use crate::storage::{self, EnrollmentFilter, EnrollmentRecord, PushCert, Timestamp};
pub mod escrow_key_unlock;
pub mod return_to_service;

use axum::Json as JsonBody;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::{Map, Value as Json, json};

/// The most enrollment IDs one request may name.
pub const MAX_IDS: usize = 10_000;
/// The most enrollments one page lists.
pub const MAX_PAGE: u32 = 1_000;

type ApiResult = Result<Response, ServiceError>;

fn respond(result: ApiResult) -> Response {
    result.unwrap_or_else(|e| error_response(&e))
}

fn rfc3339(ts: Timestamp) -> Json {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map_or(Json::Null, Json::String)
}

fn opt_time(ts: Option<Timestamp>) -> Json {
    ts.map_or(Json::Null, rfc3339)
}

/// The JSON form of a stored plist body, or its base64 when it is not a plist.
fn plist_json(bytes: &[u8]) -> Json {
    match mdm_proto::parse_value(bytes, &mdm_proto::Limits::MDM) {
        Ok(value) => mdm_proto::json::to_json(&value),
        Err(_) => {
            json!({ "undecodable_base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
        }
    }
}

fn split_ids(ids: &str) -> Result<Vec<String>, ServiceError> {
    let list: Vec<String> = ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if list.is_empty() {
        return Err(ServiceError::BadRequest("no enrollment IDs".into()));
    }
    if list.len() > MAX_IDS {
        return Err(ServiceError::BadRequest(format!(
            "{} enrollment IDs, more than the limit of {MAX_IDS}",
            list.len()
        )));
    }
    Ok(list)
}

fn pushes_json(pushes: &[PushOutcome]) -> Json {
    let mut status = Map::new();
    for p in pushes {
        let entry = match &p.result {
            Ok(id) => json!({ "push_result": id }),
            Err(e) => json!({ "push_error": e }),
        };
        status.insert(p.enrollment_id.clone(), entry);
    }
    Json::Object(status)
}

/// Admin routes answered without the API key: NanoMDM's tools call `/version` without one.
pub const PUBLIC_PATHS: &[&str] = &["/version"];

/// `GET /version` (no API key needed, see [`PUBLIC_PATHS`]).
pub async fn version() -> Response {
    JsonBody(json!({ "version": env!("CARGO_PKG_VERSION") })).into_response()
}

/// `GET /v1/stats`: refusals counted since start, by reason, and the body budget.
pub async fn stats(State(state): State<AppState>) -> Response {
    let refusals: Map<String, Json> = state
        .refusals
        .counts()
        .into_iter()
        .map(|(reason, n)| (reason.to_owned(), json!(n)))
        .collect();
    JsonBody(json!({
        "refusals": refusals,
        "refusals_total": state.refusals.total(),
        "body_budget_bytes": state.device_limits.budget_bytes(),
        "body_budget_free_bytes": state.device_limits.budget_available(),
    }))
    .into_response()
}

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Response {
    JsonBody(crate::openapi::document()).into_response()
}

/// Query of `/v1/enqueue`.
#[derive(Debug, Deserialize)]
pub struct EnqueueQuery {
    /// Any value but empty, `0` or `false` queues without pushing.
    nopush: Option<String>,
    /// Any value but empty, `0` or `false` queues for enrollment IDs that do not exist
    /// (yet); without it they are refused (404).
    create: Option<String>,
}

/// Query of `POST /v1/commands`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// As for `/v1/enqueue`: queue for enrollment IDs that do not exist.
    create: Option<String>,
}

fn truthy(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|v| !matches!(v, "" | "0" | "false"))
}

/// `PUT /v1/enqueue/{ids}`: queue a raw command plist (NanoMDM).
pub async fn enqueue(
    State(state): State<AppState>,
    Path(ids): Path<String>,
    Query(query): Query<EnqueueQuery>,
    body: Bytes,
) -> Response {
    respond(
        async {
            let ids = split_ids(&ids)?;
            let command =
                RawCommand::from_plist(&body, &state.limits).map_err(ServiceError::BadRequest)?;
            let no_push = truthy(&query.nopush);
            let options = EnqueueOptions::new()
                .with_push(!no_push)
                .with_create(truthy(&query.create));
            let result = state.service.enqueue(&ids, &command, options).await?;
            Ok(JsonBody(json!({
                "command_uuid": result.command_uuid,
                "request_type": result.request_type,
                "no_push": no_push,
                "status": pushes_json(&result.pushes),
            }))
            .into_response())
        }
        .await,
    )
}

/// `GET /v1/push/{ids}`.
pub async fn push(State(state): State<AppState>, Path(ids): Path<String>) -> Response {
    respond(
        async {
            let ids = split_ids(&ids)?;
            let pushes = state.service.push(&ids).await?;
            Ok(JsonBody(json!({ "status": pushes_json(&pushes) })).into_response())
        }
        .await,
    )
}

/// The PEM blocks of a text, read by the workspace's one PEM reader (`mdm_pki::pem`).
pub fn pem_blocks(text: &str) -> Result<Vec<scep_proto::mdm_pki::pem::PemBlock>, String> {
    scep_proto::mdm_pki::pem::parse(text.as_bytes()).map_err(|e| e.to_string())
}

/// The `UID` attribute (OID 0.9.2342.19200300.100.1.1) of a certificate's subject: the APNs
/// topic. It is the last UID in the DER (the subject follows the issuer).
pub fn topic_from_cert_der(der: &[u8]) -> Option<String> {
    const UID_OID: &[u8] = &[
        0x06, 0x0A, 0x09, 0x92, 0x26, 0x89, 0x93, 0xF2, 0x2C, 0x64, 0x01, 0x01,
    ];
    let mut found = None;
    let mut i = 0;
    while let Some(pos) = der
        .get(i..)
        .and_then(|s| s.windows(UID_OID.len()).position(|w| w == UID_OID))
    {
        let at = i + pos + UID_OID.len();
        if let (Some(&tag), Some(&len)) = (der.get(at), der.get(at + 1)) {
            let len = usize::from(len);
            if matches!(tag, 0x0C | 0x13 | 0x16)
                && len < 0x80
                && let Some(value) = der.get(at + 2..at + 2 + len)
            {
                found = std::str::from_utf8(value).ok().map(str::to_owned);
            }
        }
        i = at;
    }
    found
}

/// `PUT /v1/pushcert`: store the APNs certificate (and chain) and its private key (PEM, one
/// after the other), checked by `apns-client`: an MDM push certificate, valid now, whose key
/// matches; its topic is its subject's UID.
pub async fn push_cert(State(state): State<AppState>, body: Bytes) -> Response {
    respond(
        async {
            let text = std::str::from_utf8(&body)
                .map_err(|_| ServiceError::BadRequest("the body is not UTF-8 PEM text".into()))?;
            let blocks = pem_blocks(text).map_err(ServiceError::BadRequest)?;
            if !blocks.iter().any(|b| b.label == "CERTIFICATE") {
                return Err(ServiceError::BadRequest("no PEM CERTIFICATE block".into()));
            }
            let key = blocks
                .iter()
                .find(|b| b.label.ends_with("PRIVATE KEY"))
                .ok_or_else(|| ServiceError::BadRequest("no PEM PRIVATE KEY block".into()))?;
            let wrap = |b: &scep_proto::mdm_pki::pem::PemBlock| {
                scep_proto::mdm_pki::pem::encode(&b.label, &b.der)
            };
            // The leaf first, then any chain, as sent.
            let cert_pem: String = blocks
                .iter()
                .filter(|b| b.label == "CERTIFICATE")
                .map(wrap)
                .collect();
            let key_pem = wrap(key);
            let identity = crate::apns::load_push_identity(&cert_pem, &key_pem)
                .map_err(|e| ServiceError::BadRequest(format!("push certificate: {e}")))?;
            let topic = identity.topic().to_owned();
            let not_after = identity
                .info()
                .not_after
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok());
            let key_stored = crate::secrets::seal_text(
                state.secrets.as_deref(),
                &key_pem,
                &crate::apns::push_key_context(&topic),
            );
            let record = PushCert::new(topic.clone(), cert_pem, key_stored);
            state.service.store_push_cert(&record).await?;
            Ok(
                JsonBody(json!({ "topic": topic, "not_after": opt_time(not_after) }))
                    .into_response(),
            )
        }
        .await,
    )
}

/// Body of `POST /v1/commands`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// Where to queue it.
    enrollment_ids: Vec<String>,
    /// The `Command` dictionary, with `RequestType`.
    command: Json,
    /// A `CommandUUID` to use (a new one otherwise).
    #[serde(default)]
    command_uuid: Option<String>,
    /// Queue without pushing.
    #[serde(default)]
    no_push: bool,
    /// Stop sending it after this many seconds.
    #[serde(default)]
    expires_in: Option<u32>,
}

/// `POST /v1/commands`: queue a command given as JSON.
pub async fn create_command(
    State(state): State<AppState>,
    Query(query): Query<CreateQuery>,
    JsonBody(request): JsonBody<CommandRequest>,
) -> Response {
    respond(
        async {
            if request.enrollment_ids.is_empty() || request.enrollment_ids.len() > MAX_IDS {
                return Err(ServiceError::BadRequest(format!(
                    "`enrollment_ids` must name 1 to {MAX_IDS} enrollments"
                )));
            }
            let expires_at = request
                .expires_in
                .map(|s| storage::now().saturating_add(i64::from(s)));
            let (command, typed) =
                RawCommand::from_typed_json(&request.command, request.command_uuid)
                    .map_err(ServiceError::BadRequest)?;
            let command = command.with_expiry(expires_at);
            let options = EnqueueOptions::new()
                .with_push(!request.no_push)
                .with_create(truthy(&query.create))
                .with_applicability_check(typed.is_known());
            let result = state
                .service
                .enqueue(&request.enrollment_ids, &command, options)
                .await?;
            Ok((
                StatusCode::CREATED,
                JsonBody(json!({
                    "command_uuid": result.command_uuid,
                    "request_type": result.request_type,
                    "expires_at": opt_time(expires_at),
                    "pushes": pushes_json(&result.pushes),
                })),
            )
                .into_response())
        }
        .await,
    )
}

/// The typed JSON form of a stored report on a command of `request_type`
/// (`mdm_commands::decode_response`), or why it could not be decoded.
fn typed_response_json(request_type: &str, report: &[u8]) -> Json {
    let decoded = mdm_proto::parse_dictionary(report, &mdm_proto::Limits::MDM)
        .map_err(|e| e.to_string())
        .and_then(|d| mdm_proto::CommandReport::from_dictionary(d).map_err(|e| e.to_string()))
        .and_then(|r| mdm_commands::decode_response(request_type, &r).map_err(|e| e.to_string()));
    match decoded {
        Ok(response) => mdm_commands::json::response_to_json(&response),
        Err(e) => json!({ "error": e }),
    }
}

/// `GET /v1/commands/{uuid}`: the command and its status per enrollment.
pub async fn command_status(State(state): State<AppState>, Path(uuid): Path<String>) -> Response {
    respond(
        async {
            let record = state
                .storage
                .command(&uuid, storage::now())
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("no command `{uuid}`")))?;
            let targets: Vec<Json> = record
                .targets
                .iter()
                .map(|t| {
                    json!({
                        "enrollment_id": t.enrollment_id,
                        "status": t.status,
                        "sent_at": opt_time(t.sent_at),
                        "updated_at": rfc3339(t.updated_at),
                        "report": t.report.as_deref().map_or(Json::Null, plist_json),
                        "response": t.report.as_deref().map_or(Json::Null, |r| {
                            typed_response_json(&record.request_type, r)
                        }),
                    })
                })
                .collect();
            Ok(JsonBody(json!({
                "command_uuid": record.uuid,
                "request_type": record.request_type,
                "created_at": rfc3339(record.created_at),
                "expires_at": opt_time(record.expires_at),
                "command": plist_json(&record.body),
                "enrollments": targets,
            }))
            .into_response())
        }
        .await,
    )
}

/// `DELETE /v1/commands/{uuid}`: cancel a command wherever it has not been answered.
pub async fn cancel_command(State(state): State<AppState>, Path(uuid): Path<String>) -> Response {
    respond(
        async {
            let n = state.service.cancel_command(&uuid).await?;
            Ok(JsonBody(json!({ "cancelled": n })).into_response())
        }
        .await,
    )
}

fn enrollment_json(e: &EnrollmentRecord, detail: bool) -> Json {
    let mut out = json!({
        "id": e.key.id,
        "device_id": e.key.device_id,
        "type": e.key.kind,
        "udid": e.key.udid,
        "user_short_name": e.key.user_short_name,
        "user_long_name": e.key.user_long_name,
        "enrolled": e.enrolled,
        "push": e.push.as_ref().map(|p| json!({
            "token": hex::encode(&p.token),
            "push_magic": p.push_magic,
            "topic": p.topic,
        })),
        "has_unlock_token": e.unlock_token.is_some(),
        "has_bootstrap_token": e.bootstrap_token.is_some(),
        "created_at": rfc3339(e.created_at),
        "last_seen_at": rfc3339(e.last_seen_at),
        "enrolled_at": opt_time(e.enrolled_at),
        "checked_out_at": opt_time(e.checked_out_at),
    });
    if detail && let Json::Object(map) = &mut out {
        map.insert(
            "authenticate".into(),
            e.authenticate.as_deref().map_or(Json::Null, plist_json),
        );
        let mut token_update = e.token_update.as_deref().map_or(Json::Null, plist_json);
        if let Json::Object(tu) = &mut token_update {
            // A secret: never shown.
            tu.remove("UnlockToken");
        }
        map.insert("token_update".into(), token_update);
        map.insert(
            "facts".into(),
            e.facts
                .as_ref()
                .map_or(Json::Null, crate::storage::facts::to_value),
        );
    }
    out
}

/// Query of `GET /v1/enrollments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this device's enrollments.
    device_id: Option<String>,
    /// Only enrolled (`true`) or not enrolled (`false`) ones.
    enrolled: Option<bool>,
    /// Only this enrollment type.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Paging: IDs after this one.
    after: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<u32>,
}

/// `GET /v1/enrollments`.
pub async fn list_enrollments(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Response {
    respond(
        async {
            let filter = EnrollmentFilter {
                device_id: query.device_id,
                enrolled: query.enrolled,
                kind: query.kind,
                after: query.after,
                limit: query.limit.unwrap_or(100).clamp(1, MAX_PAGE),
            };
            let page = state.storage.list_enrollments(&filter).await?;
            let next = if page.len() == filter.limit as usize {
                page.last().map(|e| e.key.id.clone())
            } else {
                None
            };
            Ok(JsonBody(json!({
                "enrollments": page.iter().map(|e| enrollment_json(e, false)).collect::<Vec<_>>(),
                "next_after": next,
            }))
            .into_response())
        }
        .await,
    )
}

/// `GET /v1/enrollments/{id}`.
pub async fn enrollment(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            let record = state
                .storage
                .enrollment(&id)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("no enrollment `{id}`")))?;
            let mut out = enrollment_json(&record, true);
            let device = record.key.device_id.as_str();
            let bound = state.storage.cert_binding(device).await?;
            let history: Vec<Json> = state
                .storage
                .binding_history(device)
                .await?
                .iter()
                .map(|h| {
                    json!({
                        "old_fingerprint": h.old_fingerprint,
                        "new_fingerprint": h.new_fingerprint,
                        "reason": h.reason,
                        "token_id": h.token_id,
                        "at": rfc3339(h.at),
                    })
                })
                .collect();
            if let Json::Object(map) = &mut out {
                map.insert(
                    "certificate".into(),
                    json!({ "fingerprint": bound, "history": history }),
                );
            }
            Ok(JsonBody(out).into_response())
        }
        .await,
    )
}

/// `GET /v1/enrollments/{id}/queue`: commands still waiting, oldest first.
pub async fn queue(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            let entries = state.storage.queue(&id, storage::now()).await?;
            let commands: Vec<Json> = entries
                .iter()
                .map(|q| {
                    json!({
                        "command_uuid": q.uuid,
                        "request_type": q.request_type,
                        "status": q.status,
                        "created_at": rfc3339(q.created_at),
                        "expires_at": opt_time(q.expires_at),
                        "sent_at": opt_time(q.sent_at),
                    })
                })
                .collect();
            Ok(JsonBody(json!({ "enrollment_id": id, "commands": commands })).into_response())
        }
        .await,
    )
}

/// `DELETE /v1/enrollments/{id}/queue`: cancel everything waiting.
pub async fn clear_queue(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            let n = state.service.clear_queue(&id).await?;
            Ok(JsonBody(json!({ "cancelled": n })).into_response())
        }
        .await,
    )
}

/// Query of `GET /v1/bad-reports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadReportsQuery {
    /// How many (default 100, at most 1000).
    limit: Option<u32>,
}

/// `GET /v1/bad-reports`: device messages that could not be decoded or matched, newest first.
pub async fn bad_reports(
    State(state): State<AppState>,
    Query(query): Query<BadReportsQuery>,
) -> Response {
    respond(
        async {
            let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
            let list = state.storage.bad_reports(limit).await?;
            let items: Vec<Json> = list
                .iter()
                .map(|b| {
                    json!({
                        "enrollment_id": b.enrollment_id,
                        "command_uuid": b.command_uuid,
                        "reason": b.reason,
                        "received_at": rfc3339(b.received_at),
                        "body_base64": base64::engine::general_purpose::STANDARD.encode(&b.body),
                    })
                })
                .collect();
            Ok(JsonBody(json!({ "bad_reports": items })).into_response())
        }
        .await,
    )
}

pub(crate) async fn known_enrollment(state: &AppState, id: &str) -> Result<(), ServiceError> {
    match state.storage.enrollment(id).await? {
        Some(_) => Ok(()),
        None => Err(ServiceError::NotFound(format!("no enrollment `{id}`"))),
    }
}

/// `GET /v1/enrollments/{id}/declarations`: the enrollment's declarations (with their
/// server tokens), the declarations token and the last status the device reported.
pub async fn list_declarations(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            known_enrollment(&state, &id).await?;
            let set = crate::service::ddm::declaration_set(state.storage.as_ref(), &id).await?;
            let status = state
                .storage
                .ddm_status(&id)
                .await?
                .and_then(|j| serde_json::from_slice::<Json>(&j).ok())
                .unwrap_or(Json::Null);
            let declarations: Vec<Json> = set.iter().map(|d| Json::Object(d.to_json())).collect();
            Ok(JsonBody(json!({
                "enrollment_id": id,
                "declarations_token": set.declarations_token(),
                "declarations": declarations,
                "status": status,
            }))
            .into_response())
        }
        .await,
    )
}

/// `PUT /v1/enrollments/{id}/declarations`: add or replace a declaration (JSON with
/// `Type`, `Identifier`, `Payload`; the server computes `ServerToken`).
pub async fn put_declaration(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            known_enrollment(&state, &id).await?;
            let declaration =
                crate::service::ddm::parse_declaration(&body).map_err(ServiceError::BadRequest)?;
            let set = state.service.put_declaration(&id, &declaration).await?;
            let server_token = set
                .get(&declaration.identifier)
                .map(|d| d.server_token.clone());
            Ok(JsonBody(json!({
                "identifier": declaration.identifier,
                "server_token": server_token,
                "declarations_token": set.declarations_token(),
            }))
            .into_response())
        }
        .await,
    )
}

/// `GET /v1/enrollments/{id}/declarations/{identifier}`.
pub async fn get_declaration(
    State(state): State<AppState>,
    Path((id, identifier)): Path<(String, String)>,
) -> Response {
    respond(
        async {
            let set = crate::service::ddm::declaration_set(state.storage.as_ref(), &id).await?;
            let d = set.get(&identifier).ok_or_else(|| {
                ServiceError::NotFound(format!("no declaration `{identifier}` for `{id}`"))
            })?;
            Ok(JsonBody(Json::Object(d.to_json())).into_response())
        }
        .await,
    )
}

/// `DELETE /v1/enrollments/{id}/declarations/{identifier}`.
pub async fn delete_declaration(
    State(state): State<AppState>,
    Path((id, identifier)): Path<(String, String)>,
) -> Response {
    respond(
        async {
            state.service.delete_declaration(&id, &identifier).await?;
            Ok(JsonBody(json!({ "deleted": identifier })).into_response())
        }
        .await,
    )
}

/// The most uses one enrollment token may have.
pub const MAX_TOKEN_USES: i64 = 100_000;
/// The default lifetime of an enrollment token, in seconds (seven days).
pub const DEFAULT_TOKEN_LIFETIME: u32 = 7 * 86_400;
/// The longest lifetime of an enrollment token, in seconds (a year).
pub const MAX_TOKEN_LIFETIME: u32 = 365 * 86_400;

/// Body of `POST /v1/enrollment-tokens`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// How many enrollment profiles it may hand out (default 1).
    #[serde(default)]
    uses: Option<i64>,
    /// Seconds until it expires (default seven days, at most a year).
    #[serde(default)]
    expires_in: Option<u32>,
    /// Only this device (UDID or serial number) may enroll with it.
    #[serde(default)]
    device: Option<String>,
    /// The user it is meant for (user short name or ID).
    #[serde(default)]
    user: Option<String>,
    /// An existing device ID that a device enrolling with it may take over.
    #[serde(default)]
    may_reenroll: Option<String>,
}

fn token_json(t: &storage::EnrollmentToken, now: Timestamp) -> Json {
    let status = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at <= now {
        "expired"
    } else if t.uses >= t.max_uses {
        "used_up"
    } else {
        "active"
    };
    json!({
        "id": t.id,
        "status": status,
        "uses": t.uses,
        "max_uses": t.max_uses,
        "expires_at": rfc3339(t.expires_at),
        "device": t.device,
        "user": t.user,
        "may_reenroll": t.may_reenroll,
        "created_at": rfc3339(t.created_at),
        "revoked_at": opt_time(t.revoked_at),
    })
}

fn optional_text(value: Option<String>, what: &str) -> Result<Option<String>, ServiceError> {
    match value.map(|v| v.trim().to_owned()) {
        None => Ok(None),
        Some(v) if v.is_empty() || v.len() > 256 => Err(ServiceError::BadRequest(format!(
            "`{what}` must be 1 to 256 characters"
        ))),
        Some(v) => Ok(Some(v)),
    }
}

/// `POST /v1/enrollment-tokens`: a new enrollment token; the answer is the only time its
/// secret (`token`) and the enrollment URL (`url`) are shown.
pub async fn create_enrollment_token(State(state): State<AppState>, body: Bytes) -> Response {
    respond(
        async {
            let request: TokenRequest = if body.iter().all(u8::is_ascii_whitespace) {
                TokenRequest::default()
            } else {
                serde_json::from_slice(&body)
                    .map_err(|e| ServiceError::BadRequest(format!("enrollment token: {e}")))?
            };
            let uses = request.uses.unwrap_or(1);
            if !(1..=MAX_TOKEN_USES).contains(&uses) {
                return Err(ServiceError::BadRequest(format!(
                    "`uses` must be 1 to {MAX_TOKEN_USES}"
                )));
            }
            let lifetime = request.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME);
            if !(1..=MAX_TOKEN_LIFETIME).contains(&lifetime) {
                return Err(ServiceError::BadRequest(format!(
                    "`expires_in` must be 1 to {MAX_TOKEN_LIFETIME} seconds"
                )));
            }
            let may_reenroll = optional_text(request.may_reenroll, "may_reenroll")?;
            let now = storage::now();
            let secret = crate::pki::random_secret();
            let mut token = storage::EnrollmentToken::new(
                uuid::Uuid::new_v4().to_string(),
                crate::pki::secret_hash(&secret),
                uses,
                now.saturating_add(i64::from(lifetime)),
                now,
            );
            token.device = optional_text(request.device, "device")?;
            token.user = optional_text(request.user, "user")?;
            token.may_reenroll = may_reenroll;
            state.service.create_enrollment_token(&token).await?;
            let mut out = token_json(&token, now);
            if let Json::Object(map) = &mut out {
                map.insert("token".into(), Json::String(secret.clone()));
                map.insert(
                    "url".into(),
                    Json::String(format!("{}/mdm/enroll?token={secret}", state.public_url)),
                );
            }
            Ok((StatusCode::CREATED, JsonBody(out)).into_response())
        }
        .await,
    )
}

/// `GET /v1/enrollment-tokens`: the tokens (never their secrets), newest first.
pub async fn list_enrollment_tokens(State(state): State<AppState>) -> Response {
    respond(
        async {
            let now = storage::now();
            let list = state.storage.enrollment_tokens(MAX_PAGE).await?;
            let tokens: Vec<Json> = list.iter().map(|t| token_json(t, now)).collect();
            Ok(JsonBody(json!({ "enrollment_tokens": tokens })).into_response())
        }
        .await,
    )
}

/// `DELETE /v1/enrollment-tokens/{id}`: revokes a token: no more profiles, its unused
/// challenges refused, and certificates issued for it can no longer enroll a device.
pub async fn revoke_enrollment_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Response {
    respond(
        async {
            state.service.revoke_enrollment_token(&id).await?;
            Ok(JsonBody(json!({ "revoked": id })).into_response())
        }
        .await,
    )
}

/// `POST /v1/escrowkeyunlock` (NanoMDM): the form checked (400 problem details naming the
/// field), sent to Apple's escrow-key-unlock endpoint with the push certificate of `topic`
/// as TLS client certificate; Apple's status and body are returned (502 when Apple cannot
/// be reached).
pub async fn escrow_key_unlock(
    State(state): State<AppState>,
    axum::extract::Form(form): axum::extract::Form<escrow_key_unlock::UnlockForm>,
) -> Response {
    let request = match form.into_request() {
        Ok(r) => r,
        Err(e) => return error_response(&ServiceError::BadRequest(e.to_string())),
    };
    let Some(client) = state.escrow.clone() else {
        return error_response(&ServiceError::NotImplemented(
            "no escrow-key-unlock endpoint configured".into(),
        ));
    };
    let topic = request.topic.clone();
    let identity = async {
        let cert = state.storage.push_cert(&topic).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no push certificate for topic `{topic}` (upload one: PUT /v1/pushcert)"
            ))
        })?;
        let key_pem = crate::secrets::open_text(
            state.secrets.as_deref(),
            &cert.key_pem,
            &crate::apns::push_key_context(&topic),
            &format!("the push key of `{topic}`"),
        )
        .map_err(|e| ServiceError::Conflict(e.to_string()))?;
        crate::apns::load_push_identity(&cert.cert_pem, &key_pem).map_err(ServiceError::Conflict)
    }
    .await;
    let identity = match identity {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    match client.send(&identity, &request).await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
            let mut response = (status, answer.body).into_response();
            response.extensions_mut().insert(crate::problem::PassedOn);
            if let Some(ct) = answer.content_type {
                response
                    .headers_mut()
                    .insert(axum::http::header::CONTENT_TYPE, ct);
            }
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "escrow key unlock");
            crate::problem::response(
                StatusCode::BAD_GATEWAY,
                Some(&format!("escrow key unlock: {e}")),
                Some("/v1/escrowkeyunlock"),
            )
        }
    }
}

/// The admin API's routes (behind the API key, but for [`PUBLIC_PATHS`]).
pub fn admin_routes() -> Routes {
    use axum::routing::{get, post, put};
    Routes::new()
        .add("/version", &["GET"], get(version))
        .add("/v1/openapi.json", &["GET"], get(openapi))
        .add("/v1/stats", &["GET"], get(stats))
        .add("/v1/enqueue/{ids}", &["PUT"], put(enqueue))
        .add("/v1/push/{ids}", &["GET"], get(push))
        .add("/v1/pushcert", &["PUT"], put(push_cert))
        .add("/v1/escrowkeyunlock", &["POST"], post(escrow_key_unlock))
        .add("/v1/commands", &["POST"], post(create_command))
        .add(
            "/v1/commands/{uuid}",
            &["GET", "DELETE"],
            get(command_status).delete(cancel_command),
        )
        .add("/v1/enrollments", &["GET"], get(list_enrollments))
        .add("/v1/enrollments/{id}", &["GET"], get(enrollment))
        .add(
            "/v1/enrollments/{id}/queue",
            &["GET", "DELETE"],
            get(queue).delete(clear_queue),
        )
        .add(
            "/v1/enrollments/{id}/declarations",
            &["GET", "PUT"],
            get(list_declarations).put(put_declaration),
        )
        .add(
            "/v1/enrollments/{id}/declarations/{identifier}",
            &["GET", "DELETE"],
            get(get_declaration).delete(delete_declaration),
        )
        .add(
            "/v1/enrollments/{id}/return-to-service",
            &["GET", "PUT", "DELETE"],
            get(return_to_service::get_settings)
                .put(return_to_service::put_settings)
                .delete(return_to_service::delete_settings),
        )
        .add("/v1/bad-reports", &["GET"], get(bad_reports))
        .add(
            "/v1/enrollment-tokens",
            &["GET", "POST"],
            get(list_enrollment_tokens).post(create_enrollment_token),
        )
        .add(
            "/v1/enrollment-tokens/{id}",
            &["DELETE"],
            axum::routing::delete(revoke_enrollment_token),
        )
}
