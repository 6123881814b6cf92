//! The outbox of events ([`crate::events`]) and the webhook deliverers' cursors.

use super::*;

/// The outbox of events ([`crate::events`]) and the webhook deliverers' cursors.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Writes events that report no stored change (a check-in that only reads, a push
    /// outcome) to the outbox.
    async fn append_events(&self, events: &[Event]) -> Result<()>;

    /// Events after sequence number `after` (of one topic, when given), oldest first, at
    /// most `limit`.
    async fn events_after(
        &self,
        after: i64,
        topic: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>>;

    /// The sequence number of the newest event (0 when there is none).
    async fn last_event_seq(&self) -> Result<i64>;

    /// Where webhook endpoint `endpoint` is in the outbox: the last event it was given (or
    /// skipped by its topic filter); `None` for an endpoint never seen.
    async fn webhook_cursor(&self, endpoint: &str) -> Result<Option<i64>>;

    /// Moves webhook endpoint `endpoint` to `seq`.
    async fn set_webhook_cursor(&self, endpoint: &str, seq: i64, now: Timestamp) -> Result<()>;
}
