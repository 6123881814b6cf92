//! The device endpoints `PUT /mdm/checkin` and `PUT /mdm`: the body decoded
//! ([`crate::device`]), handed to the [`Service`](crate::service::Service), its answer encoded.

use crate::device::{self, DeviceMessage, Endpoint};
use crate::identity::DeviceRequest;
use crate::service::{Reply, ServiceError};
use crate::state::{AppState, Peer, error_response, is_trusted};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

fn reply_response(state: &AppState, result: Result<Reply, ServiceError>) -> Response {
    match result {
        Ok(Reply::Empty) => StatusCode::OK.into_response(),
        Ok(Reply::Plist(body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            body,
        )
            .into_response(),
        Ok(Reply::Json(body)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => {
            if (400..500).contains(&e.status()) {
                state.refusals.record(refusal_reason(&e), e.status(), &e);
            }
            error_response(&e)
        }
    }
}

async fn device_request(
    state: &AppState,
    peer: Peer,
    headers: &HeaderMap,
    body: Bytes,
    endpoint: Endpoint,
) -> Response {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut request = DeviceRequest::new(body.to_vec());
    request.mdm_signature = text("Mdm-Signature");
    if let Some(name) = &state.client_cert_header
        && let Some(value) = text(name.as_str())
    {
        // Only a trusted proxy may say which certificate the device presented: from
        // anyone else the header is a forgery (or a proxy missing from --trusted-proxy).
        let peer = peer.map(|p| p.0.0);
        if !is_trusted(&state.trusted_proxies, peer) {
            tracing::warn!(?peer, header = %name, "client-certificate header from an untrusted address");
            return error_response(&ServiceError::Forbidden(format!(
                "the `{name}` header is accepted only from a trusted proxy (--trusted-proxy)"
            )));
        }
        request.client_cert = Some(value);
    }
    let result = match device::decode(&body, endpoint, &state.limits) {
        DeviceMessage::Checkin(message) => state.service.checkin(&request, &message).await,
        DeviceMessage::Report(report) => state.service.report(&request, &report).await,
        DeviceMessage::Undecodable(what) => state.service.undecodable(&request, &what).await,
    };
    reply_response(state, result)
}

/// The refusal counter a service error counts under.
fn refusal_reason(error: &ServiceError) -> &'static str {
    match error.status() {
        401 => "identity",
        403 => "forbidden",
        404 => "not-found",
        410 => "gone",
        _ => "bad-request",
    }
}

pub(crate) async fn checkin(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    device_request(&state, peer, &headers, body, Endpoint::Checkin).await
}

pub(crate) async fn server_url(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    device_request(&state, peer, &headers, body, Endpoint::Server).await
}
