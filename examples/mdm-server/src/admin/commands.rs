//! Commands: NanoMDM `PUT /v1/enqueue/{ids}` and `GET /v1/push/{ids}`, and the JSON
//! routes `POST /v1/commands`, `GET|DELETE /v1/commands/{uuid}`.

use super::{MAX_IDS, opt_time, plist_json, pushes_json, respond, rfc3339, split_ids};
use crate::command::RawCommand;
use crate::service::{EnqueueOptions, ServiceError};
use crate::state::AppState;
use crate::storage;
use axum::Json as JsonBody;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
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
