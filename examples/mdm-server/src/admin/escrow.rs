//! NanoMDM's `POST /v1/escrowkeyunlock`: the handler (the form's checks are in
//! [`mod@super::escrow_key_unlock`], the call to Apple in [`crate::escrow`]).

use super::escrow_key_unlock::UnlockForm;
use crate::service::ServiceError;
use crate::state::{AppState, error_response};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// `POST /v1/escrowkeyunlock` (NanoMDM): the form checked (400 problem details naming the
/// field), sent to Apple's escrow-key-unlock endpoint with the push certificate of `topic`
/// as TLS client certificate; Apple's status and body are returned (502 when Apple cannot
/// be reached).
pub async fn escrow_key_unlock(
    State(state): State<AppState>,
    axum::extract::Form(form): axum::extract::Form<UnlockForm>,
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
