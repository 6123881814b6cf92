//! DEP organisations: `/v1/dep/{name}/...` (certificate, server token, profile, sync,
//! devices). The work is done by [`crate::service::dep::Dep`].

use super::{bodies, opt_time, respond};
use crate::service::ServiceError;
use crate::service::dep::{Dep, DepError};
use crate::state::AppState;
use axum::Json as JsonBody;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::sync::Arc;

fn dep(state: &AppState) -> Result<Arc<Dep>, ServiceError> {
    state
        .dep
        .clone()
        .ok_or_else(|| ServiceError::NotImplemented("this server has no DEP configured".into()))
}

/// `GET /v1/dep/{name}/certificate`: the PEM certificate to upload to Apple Business
/// Manager for this organisation (its key pair is made on the first call).
pub async fn get_dep_certificate(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    respond(
        async {
            let pem = dep(&state)?.certificate(&name).await?;
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/x-pem-file"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"dep-certificate.pem\"",
                    ),
                ],
                pem,
            )
                .into_response())
        }
        .await,
    )
}

/// `PUT /v1/dep/{name}/token`: the token file Apple gave (`.p7m`), opened with the
/// organisation's key and stored.
pub async fn put_dep_token(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            let token = dep(&state)?.put_token(&name, &body).await?;
            Ok(JsonBody(bodies::DepTokenStored {
                name,
                consumer_key: token.consumer_key.clone(),
                access_token_expiry: token.access_token_expiry.clone(),
            })
            .into_response())
        }
        .await,
    )
}

/// `PUT /v1/dep/{name}/profile`: the DEP profile (JSON, as Apple's `POST /profile` takes
/// it) assigned to the organisation's devices at each sync round.
pub async fn put_dep_profile(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            let profile = dep(&state)?
                .set_profile(&name, Some(&body), &state.public_url)
                .await?;
            let profile = profile
                .map(|p| serde_json::to_value(&p))
                .transpose()
                .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
            Ok(JsonBody(bodies::DepProfileStored {
                name,
                profile,
                pending: true,
            })
            .into_response())
        }
        .await,
    )
}

/// `DELETE /v1/dep/{name}/profile`: stop assigning a profile.
pub async fn delete_dep_profile(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Response {
    respond(
        async {
            dep(&state)?
                .set_profile(&name, None, &state.public_url)
                .await?;
            Ok(JsonBody(bodies::DepProfileStored {
                name,
                profile: None,
                pending: false,
            })
            .into_response())
        }
        .await,
    )
}

/// `POST /v1/dep/{name}/sync`: one sync round now (then the profile assignment).
pub async fn sync_dep(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let dep = match dep(&state) {
        Ok(dep) => dep,
        Err(e) => return respond(Err(e)),
    };
    match dep.sync(&name).await {
        Ok(r) => JsonBody(bodies::DepSyncReport {
            name,
            pages: r.pages,
            devices: r.devices,
            refetches: r.refetches,
            echoed_cursor: r.echoed_cursor,
            added: r.added,
            removed: r.removed,
            profiles_assigned: r.profiles_assigned,
        })
        .into_response(),
        Err(DepError::Service(e)) => respond(Err(e)),
        Err(DepError::Apple(e)) => {
            tracing::warn!(org = %name, error = %e, "DEP sync round failed");
            crate::problem::response(
                StatusCode::BAD_GATEWAY,
                Some(&format!("DEP service: {e}")),
                Some(&format!("/v1/dep/{name}/sync")),
            )
        }
    }
}

/// Query of `GET /v1/dep/{name}/devices`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepDevicesQuery {
    /// Paging: serial numbers after this one.
    after: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<u32>,
    /// Also devices removed from the organisation.
    all: Option<bool>,
}

/// `GET /v1/dep/{name}/devices`: the organisation's devices as the sync stored them,
/// enrolled or not, in serial order.
pub async fn list_dep_devices(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<DepDevicesQuery>,
) -> Response {
    respond(
        async {
            dep(&state)?.organisation(&name).await?;
            let limit = query
                .limit
                .unwrap_or(100)
                .clamp(1, crate::storage::dep::MAX_DEP_PAGE);
            let list = state
                .storage
                .dep_devices(
                    &name,
                    query.after.as_deref(),
                    limit,
                    !query.all.unwrap_or(false),
                )
                .await?;
            let next_after = (list.len() == limit as usize)
                .then(|| list.last().map(|d| d.serial.clone()))
                .flatten();
            let devices = list
                .into_iter()
                .map(|d| bodies::DepDevice {
                    serial_number: d.serial,
                    present: d.present,
                    assigned_profile: d.assigned_profile,
                    first_seen_at: opt_time(Some(d.first_seen_at)),
                    updated_at: opt_time(Some(d.updated_at)),
                    device: serde_json::from_str(&d.json).unwrap_or(serde_json::Value::Null),
                })
                .collect();
            Ok(JsonBody(bodies::DepDevices {
                name,
                devices,
                next_after,
            })
            .into_response())
        }
        .await,
    )
}
