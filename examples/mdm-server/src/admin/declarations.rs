//! Declarative management: `/v1/enrollments/{id}/declarations`.

use super::{bodies, known_enrollment, respond};
use crate::service::ServiceError;
use crate::state::AppState;
use axum::Json as JsonBody;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

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
            let declarations = set
                .iter()
                .map(|d| bodies::Declaration(d.to_json()))
                .collect();
            Ok(JsonBody(bodies::Declarations {
                declarations_token: set.declarations_token(),
                enrollment_id: id,
                declarations,
                status,
            })
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
            Ok(JsonBody(bodies::DeclarationStored {
                declarations_token: set.declarations_token(),
                identifier: declaration.identifier,
                server_token,
            })
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
            Ok(JsonBody(bodies::Declaration(d.to_json())).into_response())
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
            Ok(JsonBody(bodies::DeclarationDeleted {
                deleted: identifier,
            })
            .into_response())
        }
        .await,
    )
}
