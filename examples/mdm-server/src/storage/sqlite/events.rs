//! SqliteStorage: the outbox of events ([`crate::events`]) and the webhook deliverers' cursors.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl EventStore for SqliteStorage {
    async fn append_events(&self, events: &[Event]) -> Result<()> {
        let events = events.to_vec();
        self.with(move |c| {
            let tx = c.transaction()?;
            insert_events(&tx, &events)?;
            tx.commit()
        })
        .await
    }

    async fn events_after(
        &self,
        after: i64,
        topic: Option<&str>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        let topic = topic.map(str::to_owned);
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT seq, id, topic, enrollment_id, created_at, body FROM events \
                 WHERE seq > ?1 AND (?2 IS NULL OR topic = ?2) ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![after, topic, limit], |r| {
                Ok(StoredEvent {
                    seq: r.get(0)?,
                    event: Event {
                        id: r.get(1)?,
                        topic: r.get(2)?,
                        enrollment_id: r.get(3)?,
                        created_at: r.get(4)?,
                        body: r.get(5)?,
                    },
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn last_event_seq(&self) -> Result<i64> {
        self.with(move |c| {
            c.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
        })
        .await
    }

    async fn webhook_cursor(&self, endpoint: &str) -> Result<Option<i64>> {
        let endpoint = endpoint.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT seq FROM webhook_cursors WHERE endpoint = ?1",
                params![endpoint],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn set_webhook_cursor(&self, endpoint: &str, seq: i64, now: Timestamp) -> Result<()> {
        let endpoint = endpoint.to_owned();
        self.with(move |c| {
            c.execute(
                "INSERT INTO webhook_cursors (endpoint, seq, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (endpoint) DO UPDATE SET seq = excluded.seq, \
                 updated_at = excluded.updated_at",
                params![endpoint, seq, now],
            )
            .map(drop)
        })
        .await
    }
}
