//! Enrollments: listing, detail, queue, and the bad-report log.

use super::bodies;
use super::{MAX_PAGE, opt_time, plist_json, respond, rfc3339};
use crate::service::ServiceError;
use crate::state::AppState;
use crate::storage::{self, EnrollmentFilter, EnrollmentRecord};
use axum::Json as JsonBody;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::Value as Json;

/// Which push topics have a stored certificate, for the enrollments shown.
async fn topics_with_certs(
    state: &AppState,
    records: &[EnrollmentRecord],
) -> Result<std::collections::BTreeMap<String, bool>, ServiceError> {
    let mut known = std::collections::BTreeMap::new();
    for topic in records
        .iter()
        .filter_map(|e| e.push.as_ref().map(|p| &p.topic))
    {
        if !known.contains_key(topic) {
            let has = state.storage.push_cert(topic).await?.is_some();
            known.insert(topic.clone(), has);
        }
    }
    Ok(known)
}

/// Why an enrollment cannot be pushed now, or `None` when it can.
fn push_problem(
    e: &EnrollmentRecord,
    topics: &std::collections::BTreeMap<String, bool>,
) -> Option<String> {
    if !e.enrolled {
        return Some("not enrolled".into());
    }
    let Some(push) = &e.push else {
        return Some("no push token (no TokenUpdate)".into());
    };
    if let Some(at) = e.push_dead_at {
        return Some(format!(
            "push token dead since {} (APNs: 410 Unregistered); waiting for a new TokenUpdate",
            rfc3339(at).map(|t| t.0).unwrap_or_default()
        ));
    }
    if !topics.get(&push.topic).copied().unwrap_or(false) {
        return Some(format!(
            "no push certificate for its topic `{}` (enrolled before one was uploaded, or \
             under another certificate): it cannot be pushed",
            push.topic
        ));
    }
    None
}

fn enrollment_json(
    e: &EnrollmentRecord,
    topics: &std::collections::BTreeMap<String, bool>,
) -> bodies::Enrollment {
    let problem = push_problem(e, topics);
    bodies::Enrollment {
        id: e.key.id.clone(),
        device_id: e.key.device_id.clone(),
        kind: e.key.kind.clone(),
        udid: e.key.udid.clone(),
        user_short_name: e.key.user_short_name.clone(),
        user_long_name: e.key.user_long_name.clone(),
        enrolled: e.enrolled,
        push: e.push.as_ref().map(|p| bodies::PushInfo {
            token: hex::encode(&p.token),
            push_magic: p.push_magic.clone(),
            topic: p.topic.clone(),
        }),
        push_usable: problem.is_none(),
        push_problem: problem,
        push_dead_at: opt_time(e.push_dead_at),
        has_unlock_token: e.unlock_token.is_some(),
        has_bootstrap_token: e.bootstrap_token.is_some(),
        created_at: rfc3339(e.created_at),
        last_seen_at: rfc3339(e.last_seen_at),
        enrolled_at: opt_time(e.enrolled_at),
        checked_out_at: opt_time(e.checked_out_at),
    }
}

/// Query of `GET /v1/enrollments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this device's enrollments.
    device_id: Option<String>,
    /// Only enrolled (`true`) or not enrolled (`false`) ones.
    enrolled: Option<bool>,
    /// Only this enrollment type.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// Paging: IDs after this one.
    after: Option<String>,
    /// Page size (default 100, at most 1000).
    limit: Option<u32>,
}

/// `GET /v1/enrollments`.
pub async fn list_enrollments(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Response {
    respond(
        async {
            let filter = EnrollmentFilter {
                device_id: query.device_id,
                enrolled: query.enrolled,
                kind: query.kind,
                after: query.after,
                limit: query.limit.unwrap_or(100).clamp(1, MAX_PAGE),
            };
            let page = state.storage.list_enrollments(&filter).await?;
            let next = if page.len() == filter.limit as usize {
                page.last().map(|e| e.key.id.clone())
            } else {
                None
            };
            let topics = topics_with_certs(&state, &page).await?;
            Ok(JsonBody(bodies::EnrollmentList {
                enrollments: page.iter().map(|e| enrollment_json(e, &topics)).collect(),
                next_after: next,
            })
            .into_response())
        }
        .await,
    )
}

/// `GET /v1/enrollments/{id}`.
pub async fn enrollment(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            let record = state
                .storage
                .enrollment(&id)
                .await?
                .ok_or_else(|| ServiceError::NotFound(format!("no enrollment `{id}`")))?;
            let topics = topics_with_certs(&state, std::slice::from_ref(&record)).await?;
            let device = record.key.device_id.as_str();
            let fingerprint = state.storage.cert_binding(device).await?;
            let history = state
                .storage
                .binding_history(device)
                .await?
                .iter()
                .map(|h| bodies::BindingChange {
                    old_fingerprint: h.old_fingerprint.clone(),
                    new_fingerprint: h.new_fingerprint.clone(),
                    reason: h.reason.clone(),
                    token_id: h.token_id.clone(),
                    at: rfc3339(h.at),
                })
                .collect();
            let mut token_update = record
                .token_update
                .as_deref()
                .map_or(Json::Null, plist_json);
            if let Json::Object(tu) = &mut token_update {
                // A secret: never shown.
                tu.remove("UnlockToken");
            }
            let out = bodies::EnrollmentDetail {
                enrollment: enrollment_json(&record, &topics),
                authenticate: record
                    .authenticate
                    .as_deref()
                    .map_or(Json::Null, plist_json),
                token_update,
                facts: record
                    .facts
                    .as_ref()
                    .map_or(Json::Null, crate::storage::facts::to_value),
                certificate: bodies::BoundCertificate {
                    fingerprint,
                    history,
                },
            };
            Ok(JsonBody(out).into_response())
        }
        .await,
    )
}

/// `GET /v1/enrollments/{id}/queue`: commands still waiting, in queue order (priority,
/// then ready time, then arrival; at most [`MAX_PAGE`]).
pub async fn queue(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            let now = storage::now();
            let policy = state.queue_policy;
            let entries = state.storage.queue(&id, now, MAX_PAGE).await?;
            let commands = entries
                .iter()
                .map(|q| {
                    let state = match crate::queue::state(q, now, &policy) {
                        crate::queue::State::Ready => "ready",
                        crate::queue::State::BackedOff { .. } => "backed_off",
                        crate::queue::State::InFlight => "in_flight",
                        crate::queue::State::Stalled => "stalled",
                        _ => "expired",
                    };
                    bodies::QueuedCommand {
                        command_uuid: q.uuid.clone(),
                        request_type: q.request_type.clone(),
                        status: crate::queue::shown_status(q, now, &policy),
                        state: state.to_owned(),
                        priority: q.priority,
                        ready_at: rfc3339(q.ready_at),
                        not_now_count: q.not_now_count,
                        created_at: rfc3339(q.created_at),
                        expires_at: opt_time(q.expires_at),
                        sent_at: opt_time(q.sent_at),
                        first_sent_at: opt_time(q.first_sent_at),
                    }
                })
                .collect();
            Ok(JsonBody(bodies::Queue {
                enrollment_id: id,
                commands,
            })
            .into_response())
        }
        .await,
    )
}

/// `DELETE /v1/enrollments/{id}/queue`: cancel everything waiting.
pub async fn clear_queue(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    respond(
        async {
            let n = state.service.clear_queue(&id).await?;
            Ok(JsonBody(bodies::Cancelled { cancelled: n }).into_response())
        }
        .await,
    )
}

/// Query of `GET /v1/bad-reports`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BadReportsQuery {
    /// How many (default 100, at most 1000).
    limit: Option<u32>,
}

/// `GET /v1/bad-reports`: device messages that could not be decoded or matched, newest first.
pub async fn bad_reports(
    State(state): State<AppState>,
    Query(query): Query<BadReportsQuery>,
) -> Response {
    respond(
        async {
            let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
            let list = state.storage.bad_reports(limit).await?;
            let bad_reports = list
                .iter()
                .map(|b| bodies::BadReport {
                    enrollment_id: b.enrollment_id.clone(),
                    command_uuid: b.command_uuid.clone(),
                    reason: b.reason.clone(),
                    received_at: rfc3339(b.received_at),
                    body_base64: base64::engine::general_purpose::STANDARD.encode(&b.body),
                })
                .collect();
            Ok(JsonBody(bodies::BadReports { bad_reports }).into_response())
        }
        .await,
    )
}
