//! `/v1/enrollments/{id}/return-to-service`: an enrollment's return-to-service settings
//! (served to the device by [`crate::service::return_to_service`]).

use super::{bodies, known_enrollment};
use crate::service::ServiceError;
use crate::service::return_to_service::Settings;
use crate::state::{AppState, error_response};
use axum::Json as JsonBody;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

fn respond(result: Result<Response, ServiceError>) -> Response {
    result.unwrap_or_else(|e| error_response(&e))
}

/// `GET /v1/enrollments/{id}/return-to-service`: the enrollment's settings.
pub async fn get_settings(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            known_enrollment(&state, &id).await?;
            let json = state.storage.return_to_service(&id).await?.ok_or_else(|| {
                ServiceError::NotFound(format!("no return-to-service settings for `{id}`"))
            })?;
            let settings: Settings = serde_json::from_slice(&json)
                .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
            Ok(JsonBody(bodies::ReturnToService {
                enrollment_id: id,
                settings,
            })
            .into_response())
        }
        .await,
    )
}

/// `PUT /v1/enrollments/{id}/return-to-service`: sets the enrollment's settings.
pub async fn put_settings(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    respond(
        async {
            known_enrollment(&state, &id).await?;
            let settings: Settings = serde_json::from_slice(&body).map_err(|e| {
                ServiceError::BadRequest(format!("return-to-service settings: {e}"))
            })?;
            state
                .service
                .set_return_to_service(&id, Some(&settings))
                .await?;
            Ok(JsonBody(bodies::ReturnToService {
                enrollment_id: id,
                settings,
            })
            .into_response())
        }
        .await,
    )
}

/// `DELETE /v1/enrollments/{id}/return-to-service`: removes the settings (the server then
/// refuses the device's `ReturnToService`).
pub async fn delete_settings(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            known_enrollment(&state, &id).await?;
            state.service.set_return_to_service(&id, None).await?;
            Ok(JsonBody(bodies::SettingsDeleted { deleted: true }).into_response())
        }
        .await,
    )
}
