//! PostgresStorage: pushes: push certificates, dead tokens, and who needs a push (the backstop) or cannot get one.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl PushStore for PostgresStorage {
    async fn set_push_dead(&self, id: &str, at: Timestamp) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE enrollments SET push_dead_at = $2 WHERE id = $1",
                &[&id, &at],
            )
            .await
            .map(|_| ())
            .map_err(backend)
    }

    async fn enrolled_topics(&self) -> Result<Vec<(String, u64)>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT topic, COUNT(*) FROM enrollments WHERE enrolled \
                 AND topic IS NOT NULL GROUP BY topic ORDER BY topic",
                &[],
            )
            .await
            .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), u64::try_from(r.get::<_, i64>(1)).unwrap_or(0)))
            .collect())
    }

    async fn silent_with_pending(
        &self,
        before: Timestamp,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<String>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT DISTINCT t.enrollment_id FROM queue q \
                 JOIN queue_targets t ON t.ref = q.target \
                 JOIN commands c ON c.seq = q.command \
                 JOIN enrollments e ON e.id = t.enrollment_id \
                 WHERE (q.status IS NULL OR q.status = 'NotNow') AND q.ready_at <= $2 \
                 AND (c.expires_at IS NULL OR c.expires_at > $2) \
                 AND e.enrolled AND e.token IS NOT NULL AND e.push_dead_at IS NULL \
                 AND e.last_seen_at < $1 AND (e.repushed_at IS NULL OR e.repushed_at < $1) \
                 ORDER BY t.enrollment_id LIMIT $3",
                &[&before, &now, &i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn mark_repushed(&self, ids: &[String], now: Timestamp) -> Result<()> {
        self.client()
            .await?
            .execute(
                "UPDATE enrollments SET repushed_at = $2 WHERE id = ANY($1)",
                &[&ids, &now],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn unpushable_count(&self) -> Result<u64> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT COUNT(*) FROM enrollments e WHERE e.enrolled AND (e.token IS NULL \
                 OR e.topic IS NULL OR e.push_dead_at IS NOT NULL OR NOT EXISTS \
                 (SELECT 1 FROM push_certs p WHERE p.topic = e.topic))",
                &[],
            )
            .await
            .map_err(backend)?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    async fn store_push_cert(&self, cert: &PushCert, now: Timestamp) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO push_certs (topic, cert_pem, key_pem, updated_at, stored_seq) \
                 VALUES ($1, $2, $3, $4, \
                 (SELECT COALESCE(MAX(stored_seq), 0) + 1 FROM push_certs)) \
                 ON CONFLICT (topic) DO UPDATE SET \
                 cert_pem = excluded.cert_pem, key_pem = excluded.key_pem, \
                 updated_at = excluded.updated_at, stored_seq = excluded.stored_seq",
                &[&cert.topic, &cert.cert_pem, &cert.key_pem, &now],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn push_cert(&self, topic: &str) -> Result<Option<PushCert>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT topic, cert_pem, key_pem, updated_at FROM push_certs WHERE topic = $1",
                &[&topic],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| PushCert {
            topic: r.get(0),
            cert_pem: r.get(1),
            key_pem: r.get(2),
            updated_at: r.get(3),
        }))
    }

    async fn latest_push_cert(&self) -> Result<Option<PushCert>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT topic, cert_pem, key_pem, updated_at FROM push_certs \
                 ORDER BY updated_at DESC, stored_seq DESC, topic LIMIT 1",
                &[],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| PushCert {
            topic: r.get(0),
            cert_pem: r.get(1),
            key_pem: r.get(2),
            updated_at: r.get(3),
        }))
    }
}
