//! Commands: NanoMDM `PUT /v1/enqueue/{ids}` and `GET /v1/push/{ids}`, and the JSON
//! routes `POST /v1/commands`, `GET|DELETE /v1/commands/{uuid}`,
//! `POST /v1/commands/{uuid}/resend` and `GET /v1/stalled` (the queue contract: see
//! [`crate::queue`]).

use super::bodies;
use super::{MAX_IDS, opt_time, plist_json, pushes_json, respond, rfc3339, split_ids};
use crate::command::RawCommand;
use crate::service::{EnqueueOptions, EnqueueResult, ServiceError};
use crate::state::AppState;
use crate::storage;
use axum::Json as JsonBody;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// Query of `/v1/enqueue`.
#[derive(Debug, Deserialize)]
pub struct EnqueueQuery {
    /// Any value but empty, `0` or `false` queues without pushing.
    nopush: Option<String>,
    /// Any value but empty, `0` or `false` queues for enrollment IDs that do not exist
    /// (yet); without it they are refused (404).
    create: Option<String>,
    /// Higher goes first (default 0).
    priority: Option<i32>,
    /// Stop sending it after this many seconds.
    ttl: Option<u32>,
    /// Stop sending it at this time (RFC 3339).
    expires_at: Option<String>,
    /// Queuing again with the same key gives the same command (also the
    /// `Idempotency-Key` header).
    idempotency_key: Option<String>,
    /// A destructive command replaces one already waiting instead of being refused.
    replace: Option<String>,
}

/// Query of `POST /v1/commands`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateQuery {
    /// As for `/v1/enqueue`: queue for enrollment IDs that do not exist.
    create: Option<String>,
    /// As `replace` in the body.
    replace: Option<String>,
}

fn truthy(v: &Option<String>) -> bool {
    v.as_deref()
        .is_some_and(|v| !matches!(v, "" | "0" | "false"))
}

/// The expiry of a command from `ttl` (seconds from now) or `expires_at` (RFC 3339): not
/// both.
fn expiry(
    ttl: Option<u32>,
    expires_at: Option<&str>,
) -> Result<Option<storage::Timestamp>, ServiceError> {
    match (ttl, expires_at) {
        (Some(_), Some(_)) => Err(ServiceError::BadRequest(
            "give `ttl` (or `expires_in`) or `expires_at`, not both".into(),
        )),
        (Some(s), None) => Ok(Some(storage::now().saturating_add(i64::from(s)))),
        (None, Some(at)) => {
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                .map(|t| Some(t.unix_timestamp()))
                .map_err(|e| {
                    ServiceError::BadRequest(format!(
                        "`expires_at` `{at}` is not an RFC 3339 time: {e}"
                    ))
                })
        }
        (None, None) => Ok(None),
    }
}

/// The idempotency key of a request: the `Idempotency-Key` header or the given one (both:
/// they must agree).
fn idempotency_key(
    headers: &HeaderMap,
    given: Option<String>,
) -> Result<Option<String>, ServiceError> {
    let header = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .map_err(|_| {
                    ServiceError::BadRequest("the `Idempotency-Key` header is not text".into())
                })?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    match (header, given) {
        (Some(h), Some(g)) if h != g => Err(ServiceError::BadRequest(
            "the `Idempotency-Key` header and `idempotency_key` differ".into(),
        )),
        (Some(h), _) => Ok(Some(h)),
        (None, g) => Ok(g),
    }
}

fn enqueue_json(
    result: &EnqueueResult,
    expires_at: Option<storage::Timestamp>,
) -> bodies::CommandQueued {
    bodies::CommandQueued {
        command_uuid: result.command_uuid.clone(),
        request_type: result.request_type.clone(),
        expires_at: opt_time(expires_at),
        replayed: result.replayed,
        replaced: result.replaced.clone(),
        pushes: pushes_json(&result.pushes),
        profile_findings: None,
    }
}

/// `PUT /v1/enqueue/{ids}`: queue a raw command plist (NanoMDM).
pub async fn enqueue(
    State(state): State<AppState>,
    Path(ids): Path<String>,
    Query(query): Query<EnqueueQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    respond(
        async {
            let ids = split_ids(&ids)?;
            let expires_at = expiry(query.ttl, query.expires_at.as_deref())?;
            let command = RawCommand::from_plist(&body, &state.limits)
                .map_err(ServiceError::BadRequest)?
                .with_expiry(expires_at)
                .with_priority(query.priority.unwrap_or(0))
                .with_idempotency_key(idempotency_key(&headers, query.idempotency_key)?)
                .map_err(ServiceError::BadRequest)?;
            let no_push = truthy(&query.nopush);
            let options = EnqueueOptions::new()
                .with_push(!no_push)
                .with_create(truthy(&query.create))
                .with_replace(truthy(&query.replace));
            let result = state.service.enqueue(&ids, &command, options).await?;
            Ok(JsonBody(bodies::Enqueued {
                status: pushes_json(&result.pushes),
                command_uuid: result.command_uuid,
                request_type: result.request_type,
                no_push,
                expires_at: opt_time(expires_at),
                replayed: result.replayed,
                replaced: result.replaced,
            })
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
            Ok(JsonBody(bodies::Pushed {
                status: pushes_json(&pushes),
            })
            .into_response())
        }
        .await,
    )
}

/// Body of `POST /v1/commands`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandRequest {
    /// Where to queue it.
    enrollment_ids: Vec<String>,
    /// The `Command` dictionary with `RequestType` and Apple's key names; data as base64,
    /// dates as RFC 3339.
    #[schemars(with = "serde_json::Map<String, Json>")]
    command: Json,
    /// A `CommandUUID` to use (a new one otherwise).
    #[serde(default)]
    command_uuid: Option<String>,
    /// Queue without pushing.
    #[serde(default)]
    no_push: bool,
    /// Stop sending it after this many seconds.
    #[serde(default, alias = "ttl")]
    expires_in: Option<u32>,
    /// Stop sending it at this time (RFC 3339).
    #[serde(default)]
    expires_at: Option<String>,
    /// Higher goes first (default 0).
    #[serde(default)]
    priority: i32,
    /// Queuing again with the same key gives the same command (also the
    /// `Idempotency-Key` header).
    #[serde(default)]
    idempotency_key: Option<String>,
    /// A destructive command replaces one already waiting instead of being refused.
    #[serde(default)]
    replace: bool,
}

/// `POST /v1/commands`: queue a command given as JSON.
pub async fn create_command(
    State(state): State<AppState>,
    Query(query): Query<CreateQuery>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<CommandRequest>,
) -> Response {
    respond(
        async {
            if request.enrollment_ids.is_empty() || request.enrollment_ids.len() > MAX_IDS {
                return Err(ServiceError::BadRequest(format!(
                    "`enrollment_ids` must name 1 to {MAX_IDS} enrollments"
                )));
            }
            let expires_at = expiry(request.expires_in, request.expires_at.as_deref())?;
            let key = idempotency_key(&headers, request.idempotency_key)?;
            let (command, typed) =
                RawCommand::from_typed_json(&request.command, request.command_uuid)
                    .map_err(ServiceError::BadRequest)?;
            // A typed InstallProfile: its profile is linted for every target's device.
            let profile_lint = match &typed {
                mdm_commands::AnyCommand::InstallProfile(install) => Some(
                    state
                        .service
                        .lint_profile(&request.enrollment_ids, &install.payload.0)
                        .await?,
                ),
                _ => None,
            };
            let command = command
                .with_expiry(expires_at)
                .with_priority(request.priority)
                .with_idempotency_key(key)
                .map_err(ServiceError::BadRequest)?;
            let options = EnqueueOptions::new()
                .with_push(!request.no_push)
                .with_create(truthy(&query.create))
                .with_applicability_check(typed.is_known())
                .with_replace(request.replace || truthy(&query.replace));
            let result = state
                .service
                .enqueue(&request.enrollment_ids, &command, options)
                .await?;
            let status = if result.replayed {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            let mut body = enqueue_json(&result, expires_at);
            body.profile_findings = profile_lint
                .as_ref()
                .map(|l| crate::service::profile_lint::lints_json(l));
            Ok((status, JsonBody(body)).into_response())
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
            let now = storage::now();
            let policy = state.queue_policy;
            let targets: Vec<bodies::CommandTarget> = record
                .targets
                .iter()
                .map(|t| {
                    let stalled =
                        t.status == storage::STATUS_QUEUED || t.status == storage::STATUS_NOT_NOW;
                    let stalled = stalled
                        && t.first_sent_at
                            .is_some_and(|f| now.saturating_sub(f) >= policy.stall_after);
                    bodies::CommandTarget {
                        enrollment_id: t.enrollment_id.clone(),
                        status: if stalled {
                            crate::queue::STATUS_STALLED.to_owned()
                        } else {
                            t.status.clone()
                        },
                        sent_at: opt_time(t.sent_at),
                        first_sent_at: opt_time(t.first_sent_at),
                        not_now_count: t.not_now_count,
                        updated_at: rfc3339(t.updated_at),
                        report: t.report.as_deref().map_or(Json::Null, plist_json),
                        response: t
                            .report
                            .as_deref()
                            .map_or(Json::Null, |r| typed_response_json(&record.request_type, r)),
                    }
                })
                .collect();
            Ok(JsonBody(bodies::CommandDetail {
                created_at: rfc3339(record.created_at),
                expires_at: opt_time(record.expires_at),
                priority: record.priority,
                command: plist_json(&record.body),
                command_uuid: record.uuid,
                request_type: record.request_type,
                idempotency_key: record.idempotency_key,
                enrollments: targets,
            })
            .into_response())
        }
        .await,
    )
}

/// Query of `DELETE /v1/commands/{uuid}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelQuery {
    /// Only for this enrollment.
    enrollment_id: Option<String>,
}

/// `DELETE /v1/commands/{uuid}`: cancel (drop) a command wherever it has not been answered,
/// or only for `?enrollment_id=`.
pub async fn cancel_command(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    Query(query): Query<CancelQuery>,
) -> Response {
    respond(
        async {
            let n = match &query.enrollment_id {
                Some(id) => state.service.cancel_target(&uuid, id).await?,
                None => state.service.cancel_command(&uuid).await?,
            };
            Ok(JsonBody(bodies::Cancelled { cancelled: n }).into_response())
        }
        .await,
    )
}

/// Query of `POST /v1/commands/{uuid}/resend`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResendQuery {
    /// Only for this enrollment.
    enrollment_id: Option<String>,
    /// Any value but empty, `0` or `false`: do not push.
    nopush: Option<String>,
}

/// `POST /v1/commands/{uuid}/resend`: put a command handed to its device and not answered
/// (in flight or stalled) back at the head of the queue, and push.
pub async fn resend_command(
    State(state): State<AppState>,
    Path(uuid): Path<String>,
    Query(query): Query<ResendQuery>,
) -> Response {
    respond(
        async {
            let result = state
                .service
                .resend(
                    &uuid,
                    query.enrollment_id.as_deref(),
                    !truthy(&query.nopush),
                )
                .await?;
            Ok(JsonBody(bodies::Requeued {
                requeued: result.requeued,
                pushes: pushes_json(&result.pushes),
            })
            .into_response())
        }
        .await,
    )
}

/// Query of `GET /v1/stalled`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StalledQuery {
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// `GET /v1/stalled`: commands handed to a device and not answered within
/// `--stall-after`, oldest first.
pub async fn stalled(State(state): State<AppState>, Query(query): Query<StalledQuery>) -> Response {
    respond(
        async {
            let now = storage::now();
            let policy = state.queue_policy;
            let limit = query.limit.unwrap_or(100).clamp(1, super::MAX_PAGE);
            let before = now.saturating_sub(policy.stall_after);
            let list = state.storage.in_flight_since(before, limit).await?;
            let stalled = list
                .iter()
                .map(|t| bodies::StalledCommand {
                    enrollment_id: t.enrollment_id.clone(),
                    command_uuid: t.uuid.clone(),
                    request_type: t.request_type.clone(),
                    first_sent_at: rfc3339(t.first_sent_at),
                    sent_at: opt_time(t.sent_at),
                    stalled_for_seconds: now.saturating_sub(t.first_sent_at),
                })
                .collect();
            Ok(JsonBody(bodies::StalledList {
                stall_after_seconds: policy.stall_after,
                stalled,
            })
            .into_response())
        }
        .await,
    )
}
