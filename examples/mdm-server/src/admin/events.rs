//! `GET /v1/events`: the event outbox ([`crate::events`]), to read or replay.

use super::{MAX_PAGE, bodies, respond, rfc3339};
use crate::service::ServiceError;
use crate::state::AppState;
use axum::Json as JsonBody;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// Query of `GET /v1/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Events after this sequence number (default 0: from the oldest kept).
    after: Option<i64>,
    /// Only this topic.
    topic: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// `GET /v1/events`: events after `after`, oldest first, each with the JSON its webhooks
/// receive.
pub async fn list_events(
    State(state): State<AppState>,
    Query(query): Query<EventsQuery>,
) -> Response {
    respond(
        async {
            if let Some(topic) = &query.topic
                && !crate::events::TOPICS.contains(&topic.as_str())
            {
                return Err(ServiceError::BadRequest(format!(
                    "unknown topic `{topic}` (known: {})",
                    crate::events::TOPICS.join(", ")
                )));
            }
            let limit = query.limit.unwrap_or(100).clamp(1, MAX_PAGE);
            let list = state
                .storage
                .events_after(query.after.unwrap_or(0), query.topic.as_deref(), limit)
                .await?;
            let next_after = (list.len() == limit as usize)
                .then(|| list.last().map(|e| e.seq))
                .flatten();
            let events = list
                .into_iter()
                .map(|e| bodies::EventRecord {
                    seq: e.seq,
                    event_id: e.event.id,
                    topic: e.event.topic,
                    enrollment_id: e.event.enrollment_id,
                    created_at: rfc3339(e.event.created_at),
                    event: serde_json::from_slice(&e.event.body).unwrap_or(serde_json::Value::Null),
                })
                .collect();
            Ok(JsonBody(bodies::Events { events, next_after }).into_response())
        }
        .await,
    )
}
