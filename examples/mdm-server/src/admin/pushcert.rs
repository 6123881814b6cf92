//! The APNs push certificate: `PUT /v1/pushcert`.

use super::{opt_time, respond};
use crate::service::ServiceError;
use crate::state::AppState;
use crate::storage::PushCert;
use axum::Json as JsonBody;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The PEM blocks of a text, read by the workspace's one PEM reader (`mdm_pki::pem`).
pub fn pem_blocks(text: &str) -> Result<Vec<scep_proto::mdm_pki::pem::PemBlock>, String> {
    scep_proto::mdm_pki::pem::parse(text.as_bytes()).map_err(|e| e.to_string())
}

/// `PUT /v1/pushcert`: store the APNs certificate (and chain) and its private key (PEM, one
/// after the other), checked by `apns-client`: an MDM push certificate, valid now, whose key
/// matches; its topic is its subject's UID.
pub async fn push_cert(State(state): State<AppState>, body: Bytes) -> Response {
    respond(
        async {
            let text = std::str::from_utf8(&body)
                .map_err(|_| ServiceError::BadRequest("the body is not UTF-8 PEM text".into()))?;
            let blocks = pem_blocks(text).map_err(ServiceError::BadRequest)?;
            if !blocks.iter().any(|b| b.label == "CERTIFICATE") {
                return Err(ServiceError::BadRequest("no PEM CERTIFICATE block".into()));
            }
            let key = blocks
                .iter()
                .find(|b| b.label.ends_with("PRIVATE KEY"))
                .ok_or_else(|| ServiceError::BadRequest("no PEM PRIVATE KEY block".into()))?;
            let wrap = |b: &scep_proto::mdm_pki::pem::PemBlock| {
                scep_proto::mdm_pki::pem::encode(&b.label, &b.der)
            };
            // The leaf first, then any chain, as sent.
            let cert_pem: String = blocks
                .iter()
                .filter(|b| b.label == "CERTIFICATE")
                .map(wrap)
                .collect();
            let key_pem = wrap(key);
            let identity = crate::apns::load_push_identity(&cert_pem, &key_pem)
                .map_err(|e| ServiceError::BadRequest(format!("push certificate: {e}")))?;
            let topic = identity.topic().to_owned();
            let not_after = identity
                .info()
                .not_after
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok());
            let key_stored = crate::secrets::seal_text(
                state.secrets.as_deref(),
                &key_pem,
                &crate::apns::push_key_context(&topic),
            );
            let record = PushCert::new(topic.clone(), cert_pem, key_stored);
            state.service.store_push_cert(&record).await?;
            Ok(
                JsonBody(json!({ "topic": topic, "not_after": opt_time(not_after) }))
                    .into_response(),
            )
        }
        .await,
    )
}
