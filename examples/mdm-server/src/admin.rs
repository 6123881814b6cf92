//! The admin API handlers (behind the API key; see [`crate::http::router`]); every write goes through the
//! [`crate::service::Service`], reads go to storage.
//!
//! NanoMDM-compatible routes (`/v1/enqueue`, `/v1/push`, `/v1/pushcert`, `/version`) and
//! JSON routes for commands and enrollments. Plist values are shown in their JSON form
//! ([`mdm_proto::json`]: data as base64, dates as RFC 3339).

use crate::service::{PushOutcome, ServiceError};
use crate::state::{AppState, Routes, error_response};
use crate::storage::Timestamp;

// One module per resource; their handlers are re-exported here.
pub mod bodies;
pub mod commands;
pub mod declarations;
pub mod dep;
pub mod enrollments;
pub mod escrow;
pub mod escrow_key_unlock;
pub mod events;
pub mod pushcert;
pub mod return_to_service;
pub mod tokens;

pub use commands::*;
pub use declarations::*;
pub use enrollments::*;
pub use escrow::*;
pub use events::*;
pub use pushcert::*;
pub use tokens::*;

use axum::Json as JsonBody;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value as Json, json};

/// The most enrollment IDs one request may name.
pub const MAX_IDS: usize = 10_000;
/// The most enrollments one page lists.
pub const MAX_PAGE: u32 = 1_000;

type ApiResult = Result<Response, ServiceError>;

fn respond(result: ApiResult) -> Response {
    result.unwrap_or_else(|e| error_response(&e))
}

fn rfc3339(ts: Timestamp) -> Option<bodies::DateTime> {
    crate::storage::rfc3339(ts).map(bodies::DateTime)
}

fn opt_time(ts: Option<Timestamp>) -> Option<bodies::DateTime> {
    ts.and_then(rfc3339)
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

fn pushes_json(pushes: &[PushOutcome]) -> bodies::Pushes {
    pushes
        .iter()
        .map(|p| {
            let status = match &p.result {
                Ok(id) => bodies::PushStatus {
                    push_result: Some(id.clone()),
                    push_error: None,
                },
                Err(e) => bodies::PushStatus {
                    push_result: None,
                    push_error: Some(e.clone()),
                },
            };
            (p.enrollment_id.clone(), status)
        })
        .collect()
}

/// Admin routes answered without the API key: NanoMDM's tools call `/version` without one;
/// `/health`, `/ready` and `/metrics` are for load balancers and Prometheus.
pub const PUBLIC_PATHS: &[&str] = &["/version", "/health", "/ready", "/metrics"];

/// `GET /health`: the process answers (no API key needed).
pub async fn health() -> Response {
    JsonBody(bodies::Health {
        status: "ok".into(),
        storage: None,
    })
    .into_response()
}

/// `GET /ready`: the storage answers (503 when it does not; no API key needed).
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.storage.enrollment("").await {
        Ok(_) => JsonBody(bodies::Health {
            status: "ready".into(),
            storage: Some("ok".into()),
        })
        .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: storage unreachable");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "storage unreachable",
            )
                .into_response()
        }
    }
}

/// `GET /metrics`: Prometheus metrics in the OpenMetrics text format (no API key needed).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let now = crate::storage::now();
    match state
        .metrics
        .render(
            state.storage.as_ref(),
            &state.refusals,
            &state.queue_policy,
            now,
        )
        .await
    {
        Ok(text) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => error_response(&ServiceError::Storage(e)),
    }
}

/// `GET /version` (no API key needed, see [`PUBLIC_PATHS`]).
pub async fn version() -> Response {
    JsonBody(bodies::Version {
        version: env!("CARGO_PKG_VERSION").into(),
    })
    .into_response()
}

/// `GET /v1/stats`: refusals counted since start, by reason, and the body budget.
pub async fn stats(State(state): State<AppState>) -> Response {
    let refusals = state
        .refusals
        .counts()
        .into_iter()
        .map(|(reason, n)| (reason.to_owned(), n))
        .collect();
    JsonBody(bodies::Stats {
        refusals,
        refusals_total: state.refusals.total(),
        body_budget_bytes: state.device_limits.budget_bytes() as u64,
        body_budget_free_bytes: state.device_limits.budget_available() as u64,
    })
    .into_response()
}

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Response {
    JsonBody(crate::openapi::document()).into_response()
}

pub(crate) async fn known_enrollment(state: &AppState, id: &str) -> Result<(), ServiceError> {
    match state.storage.enrollment(id).await? {
        Some(_) => Ok(()),
        None => Err(ServiceError::NotFound(format!("no enrollment `{id}`"))),
    }
}

/// The admin API's routes (behind the API key, but for [`PUBLIC_PATHS`]).
pub fn admin_routes() -> Routes {
    use axum::routing::{get, post, put};
    Routes::new()
        .add("/version", &["GET"], get(version))
        .add("/health", &["GET"], get(health))
        .add("/ready", &["GET"], get(ready))
        .add("/metrics", &["GET"], get(metrics))
        .add("/v1/openapi.json", &["GET"], get(openapi))
        .add("/v1/stats", &["GET"], get(stats))
        .add("/v1/enqueue/{ids}", &["PUT"], put(enqueue))
        .add("/v1/push/{ids}", &["GET"], get(push))
        .add(
            "/v1/pushcert",
            &["GET", "PUT"],
            get(get_push_cert).put(push_cert),
        )
        .add("/v1/escrowkeyunlock", &["POST"], post(escrow_key_unlock))
        .add("/v1/commands", &["POST"], post(create_command))
        .add(
            "/v1/commands/{uuid}",
            &["GET", "DELETE"],
            get(command_status).delete(cancel_command),
        )
        .add(
            "/v1/commands/{uuid}/resend",
            &["POST"],
            post(resend_command),
        )
        .add("/v1/stalled", &["GET"], get(stalled))
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
        .add("/v1/events", &["GET"], get(list_events))
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
        .add(
            "/v1/dep/{name}/certificate",
            &["GET"],
            get(dep::get_dep_certificate),
        )
        .add("/v1/dep/{name}/token", &["PUT"], put(dep::put_dep_token))
        .add(
            "/v1/dep/{name}/profile",
            &["PUT", "DELETE"],
            put(dep::put_dep_profile).delete(dep::delete_dep_profile),
        )
        .add("/v1/dep/{name}/sync", &["POST"], post(dep::sync_dep))
        .add(
            "/v1/dep/{name}/devices",
            &["GET"],
            get(dep::list_dep_devices),
        )
}
