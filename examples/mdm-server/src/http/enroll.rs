//! `GET /mdm/enroll` (the enrollment profile, behind an enrollment token) and `/scep`.

use crate::pki::Pki;
use crate::service::ServiceError;
use crate::state::{AppState, error_response};
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Query of `GET /mdm/enroll`.
#[derive(Debug, serde::Deserialize)]
pub struct EnrollQuery {
    /// Any value but empty, `0` or `false`: the plain plist, not signed.
    unsigned: Option<String>,
    /// The enrollment token (required unless `--open-enrollment`).
    token: Option<String>,
}

fn no_pki() -> Response {
    error_response(&ServiceError::NotImplemented(
        "this server has no CA configured".into(),
    ))
}

/// How long the one-time SCEP challenge of a downloaded profile stays valid, in seconds.
pub const CHALLENGE_VALIDITY: i64 = 24 * 3600;

/// The SCEP challenge for a profile: a new one-time challenge for the token (one use of
/// it taken), or the static one with `--open-enrollment` and no token.
async fn profile_challenge(
    state: &AppState,
    pki: &Pki,
    token: Option<&str>,
) -> Result<String, ServiceError> {
    let token = match token.map(str::trim) {
        Some(t) if !t.is_empty() => t,
        _ if state.open_enrollment => return Ok(pki.challenge().to_owned()),
        _ => {
            return Err(ServiceError::Forbidden(
                "an enrollment token is required: /mdm/enroll?token=... (POST \
                 /v1/enrollment-tokens, or mdmctl enroll-link)"
                    .into(),
            ));
        }
    };
    if token.len() > 256 {
        return Err(ServiceError::Forbidden("unknown enrollment token".into()));
    }
    let challenge = crate::pki::random_secret();
    let now = crate::storage::now();
    state
        .service
        .take_enrollment_token(
            &crate::pki::secret_hash(token),
            &crate::pki::secret_hash(&challenge),
            now.saturating_add(CHALLENGE_VALIDITY),
        )
        .await?;
    Ok(challenge)
}

/// `GET /mdm/enroll?token=...`: the enrollment profile, CMS-signed by the CA
/// (`&unsigned=1`: plain), with a one-time SCEP challenge. Never cacheable.
pub(crate) async fn enroll(
    State(state): State<AppState>,
    Query(query): Query<EnrollQuery>,
) -> Response {
    let no_store = |mut r: Response| {
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    };
    let Some(pki) = state.pki.clone() else {
        return no_pki();
    };
    let topic = match state.storage.latest_push_cert().await {
        Ok(Some(cert)) => cert.topic,
        Ok(None) => state.default_topic.clone(),
        Err(e) => return error_response(&ServiceError::Storage(e)),
    };
    let challenge = match profile_challenge(&state, &pki, query.token.as_deref()).await {
        Ok(c) => c,
        Err(e) => return no_store(error_response(&e)),
    };
    let unsigned = query
        .unsigned
        .as_deref()
        .is_some_and(|v| !matches!(v, "" | "0" | "false"));
    let base = state.public_url.clone();
    let built = tokio::task::spawn_blocking(move || {
        let profile = pki.enrollment_profile(&base, &topic, &challenge)?;
        if unsigned {
            Ok(profile)
        } else {
            pki.sign_profile(&profile)
        }
    })
    .await;
    no_store(match built {
        Ok(Ok(body)) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, crate::pki::PROFILE_CONTENT_TYPE),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"enroll.mobileconfig\"",
                ),
            ],
            body,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "building the enrollment profile");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "building the enrollment profile");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
    })
}

/// `GET|POST /scep`: SCEP (GetCACaps, GetCACert, PKIOperation), see
/// [`crate::pki::answer_scep`].
pub(crate) async fn scep(
    State(state): State<AppState>,
    method: Method,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(pki) = state.pki.clone() else {
        return no_pki();
    };
    let answer = crate::pki::answer_scep(
        &pki,
        &state.service,
        state.open_enrollment,
        method.as_str().to_owned(),
        query.unwrap_or_default(),
        body.to_vec(),
    )
    .await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, answer.content_type)],
        answer.body,
    )
        .into_response()
}
