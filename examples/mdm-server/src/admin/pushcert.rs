//! The APNs push certificate: `PUT|GET /v1/pushcert`.

use super::{bodies, opt_time, respond, rfc3339};
use crate::service::ServiceError;
use crate::state::AppState;
use crate::storage::PushCert;
use axum::Json as JsonBody;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// The PEM blocks of a text, read by the workspace's one PEM reader (`mdm_pki::pem`).
pub fn pem_blocks(text: &str) -> Result<Vec<scep_proto::mdm_pki::pem::PemBlock>, String> {
    scep_proto::mdm_pki::pem::parse(text.as_bytes()).map_err(|e| e.to_string())
}

/// Query of `PUT /v1/pushcert`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushCertQuery {
    /// Any value but empty, `0` or `false`: store a certificate whose topic differs from the
    /// current one even though enrolled devices use the current one.
    replace_topic: Option<String>,
}

/// The end of validity of a stored certificate (PEM), as a timestamp.
fn not_after_of(cert_pem: &str) -> Option<i64> {
    apns_client::cert::CertificateInfo::from_pem(cert_pem.as_bytes())
        .ok()?
        .not_after
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// `GET /v1/pushcert`: the current push certificate (the one stored last: its topic goes
/// into enrollment profiles), its expiry and how many enrolled devices use its topic, and
/// the other topics enrolled devices use (whether a certificate is stored for each).
pub async fn get_push_cert(State(state): State<AppState>) -> Response {
    respond(
        async {
            let current = state.storage.latest_push_cert().await?;
            let topics = state.storage.enrolled_topics().await?;
            let current_topic = current.as_ref().map(|c| c.topic.clone());
            let using = |topic: &str| {
                topics
                    .iter()
                    .find(|(t, _)| t == topic)
                    .map_or(0, |(_, n)| *n)
            };
            let mut others = Vec::new();
            for (topic, n) in &topics {
                if Some(topic) == current_topic.as_ref() {
                    continue;
                }
                let has_certificate = state.storage.push_cert(topic).await?.is_some();
                others.push(bodies::OtherTopic {
                    topic: topic.clone(),
                    enrollments: *n,
                    has_certificate,
                });
            }
            let now = crate::storage::now();
            let body = match &current {
                Some(c) => {
                    let not_after = not_after_of(&c.cert_pem);
                    bodies::PushCertStatus {
                        topic: Some(c.topic.clone()),
                        not_after: opt_time(not_after),
                        expired: Some(not_after.is_some_and(|t| t <= now)),
                        updated_at: rfc3339(c.updated_at),
                        enrollments: using(&c.topic),
                        other_topics: others,
                    }
                }
                None => bodies::PushCertStatus {
                    topic: None,
                    not_after: None,
                    expired: None,
                    updated_at: None,
                    enrollments: 0,
                    other_topics: others,
                },
            };
            Ok(JsonBody(body).into_response())
        }
        .await,
    )
}

/// `PUT /v1/pushcert`: store the APNs certificate (and chain) and its private key (PEM, one
/// after the other), checked by `apns-client`: an MDM push certificate, valid now, whose key
/// matches; its topic is its subject's UID. A topic change that would cut enrolled
/// devices off is refused (409) unless `?replace_topic=1`.
pub async fn push_cert(
    State(state): State<AppState>,
    Query(query): Query<PushCertQuery>,
    body: Bytes,
) -> Response {
    let replace_topic = query
        .replace_topic
        .as_deref()
        .is_some_and(|v| !matches!(v, "" | "0" | "false"));
    push_cert_with(state, body, replace_topic).await
}

async fn push_cert_with(state: AppState, body: Bytes, replace_topic: bool) -> Response {
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
            state
                .service
                .store_push_cert(&record, replace_topic)
                .await?;
            Ok(JsonBody(bodies::PushCertStored {
                topic,
                not_after: opt_time(not_after),
            })
            .into_response())
        }
        .await,
    )
}
