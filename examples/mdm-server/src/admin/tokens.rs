//! Enrollment tokens: `/v1/enrollment-tokens`.

use super::{MAX_PAGE, bodies, opt_time, respond, rfc3339};
use crate::service::ServiceError;
use crate::state::AppState;
use crate::storage::{self, Timestamp};
use axum::Json as JsonBody;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The most uses one enrollment token may have.
pub const MAX_TOKEN_USES: i64 = 100_000;
/// The default lifetime of an enrollment token, in seconds (seven days).
pub const DEFAULT_TOKEN_LIFETIME: u32 = 7 * 86_400;
/// The longest lifetime of an enrollment token, in seconds (a year).
pub const MAX_TOKEN_LIFETIME: u32 = 365 * 86_400;

/// Body of `POST /v1/enrollment-tokens`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
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

fn token_json(t: &storage::EnrollmentToken, now: Timestamp) -> bodies::EnrollmentToken {
    let status = if t.revoked_at.is_some() {
        "revoked"
    } else if t.expires_at <= now {
        "expired"
    } else if t.uses >= t.max_uses {
        "used_up"
    } else {
        "active"
    };
    bodies::EnrollmentToken {
        id: t.id.clone(),
        status: status.into(),
        uses: t.uses,
        max_uses: t.max_uses,
        expires_at: rfc3339(t.expires_at),
        device: t.device.clone(),
        user: t.user.clone(),
        may_reenroll: t.may_reenroll.clone(),
        created_at: rfc3339(t.created_at),
        revoked_at: opt_time(t.revoked_at),
    }
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
            let out = bodies::NewEnrollmentToken {
                token: token_json(&token, now),
                url: format!("{}/mdm/enroll?token={secret}", state.public_url),
                secret,
            };
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
            let enrollment_tokens = list.iter().map(|t| token_json(t, now)).collect();
            Ok(JsonBody(bodies::EnrollmentTokens { enrollment_tokens }).into_response())
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
            Ok(JsonBody(bodies::TokenRevoked { revoked: id }).into_response())
        }
        .await,
    )
}
