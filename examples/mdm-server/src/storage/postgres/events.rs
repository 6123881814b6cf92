//! PostgresStorage: the outbox of events ([`crate::events`]) and the webhook deliverers' cursors.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl EventStore for PostgresStorage {
    async fn append_events(&self, events: &[Event]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)
    }

    async fn events_after(
        &self,
        after: i64,
        topic: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT seq, id, topic, enrollment_id, created_at, body FROM events \
                 WHERE seq > $1 AND ($2::TEXT IS NULL OR topic = $2) ORDER BY seq LIMIT $3",
                &[&after, &topic, &i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| StoredEvent {
                seq: r.get(0),
                event: Event {
                    id: r.get(1),
                    topic: r.get(2),
                    enrollment_id: r.get(3),
                    created_at: r.get(4),
                    body: r.get(5),
                },
            })
            .collect())
    }

    async fn last_event_seq(&self) -> Result<i64> {
        let row = self
            .client()
            .await?
            .query_one("SELECT COALESCE(MAX(seq), 0)::BIGINT FROM events", &[])
            .await
            .map_err(backend)?;
        Ok(row.get(0))
    }

    async fn webhook_cursor(&self, endpoint: &str) -> Result<Option<i64>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT seq FROM webhook_cursors WHERE endpoint = $1",
                &[&endpoint],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_webhook_cursor(&self, endpoint: &str, seq: i64, now: Timestamp) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO webhook_cursors (endpoint, seq, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (endpoint) DO UPDATE SET seq = excluded.seq, \
                 updated_at = excluded.updated_at",
                &[&endpoint, &seq, &now],
            )
            .await
            .map(drop)
            .map_err(backend)
    }
}
