//! `POST /mdm/ade/enroll`: Automated Device Enrollment. During Setup Assistant the device
//! POSTs its CMS-signed MachineInfo (`application/pkcs7-signature`) to the `url` of its DEP
//! profile; a device that [`crate::service::dep::Dep::ade_enroll`] accepts gets the
//! enrollment profile (as `GET /mdm/enroll` builds it, CMS-signed by the CA) carrying a
//! one-time SCEP challenge bound to it, a refused one Apple's 403 JSON error body.

use crate::service::ServiceError;
use crate::service::dep::AdeEnrollError;
use crate::state::{AppState, error_response};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// `POST /mdm/ade/enroll`.
pub(crate) async fn enroll(State(state): State<AppState>, body: Bytes) -> Response {
    let (Some(dep), Some(pki)) = (state.dep.clone(), state.pki.clone()) else {
        return error_response(&ServiceError::NotImplemented(
            "this server has no DEP or no CA configured".into(),
        ));
    };
    let grant = match dep.ade_enroll(&body).await {
        Ok(grant) => grant,
        Err(AdeEnrollError::Refused(refusal)) => {
            state
                .refusals
                .record(refusal.reason(), refusal.status(), &refusal);
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::FORBIDDEN);
            return (
                status,
                [(header::CONTENT_TYPE, "application/json")],
                refusal.body().to_string(),
            )
                .into_response();
        }
        Err(AdeEnrollError::Service(e)) => return error_response(&e),
    };
    let topic = match state.storage.latest_push_cert().await {
        Ok(Some(cert)) => cert.topic,
        Ok(None) => state.default_topic.clone(),
        Err(e) => return error_response(&ServiceError::Storage(e)),
    };
    let base = state.public_url.clone();
    let challenge = grant.challenge;
    let built = tokio::task::spawn_blocking(move || {
        let profile = pki.enrollment_profile(&base, &topic, &challenge)?;
        pki.sign_profile(&profile)
    })
    .await;
    let mut response = match built {
        Ok(Ok(body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, crate::pki::PROFILE_CONTENT_TYPE)],
            body,
        )
            .into_response(),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "building the ADE enrollment profile");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "building the ADE enrollment profile");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
        }
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
