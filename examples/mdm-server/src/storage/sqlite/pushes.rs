//! SqliteStorage: pushes: push certificates, dead tokens, and who needs a push (the backstop) or cannot get one.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl PushStore for SqliteStorage {
    async fn set_push_dead(&self, id: &str, at: Timestamp) -> Result<()> {
        let id = id.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE enrollments SET push_dead_at = ?2 WHERE id = ?1",
                params![id, at],
            )
            .map(|_| ())
        })
        .await
    }

    async fn enrolled_topics(&self) -> Result<Vec<(String, u64)>> {
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT topic, COUNT(*) FROM enrollments WHERE enrolled = 1 \
                 AND topic IS NOT NULL GROUP BY topic ORDER BY topic",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?)))?;
            rows.map(|r| r.map(|(t, n)| (t, u64::try_from(n).unwrap_or(0))))
                .collect()
        })
        .await
    }

    async fn silent_with_pending(
        &self,
        before: Timestamp,
        now: Timestamp,
        limit: u32,
    ) -> Result<Vec<String>> {
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT DISTINCT t.enrollment_id FROM queue q \
                 JOIN queue_targets t ON t.ref = q.target \
                 JOIN commands c ON c.seq = q.command \
                 JOIN enrollments e ON e.id = t.enrollment_id \
                 WHERE (q.status IS NULL OR q.status = 'NotNow') AND q.ready_at <= ?2 \
                 AND (c.expires_at IS NULL OR c.expires_at > ?2) \
                 AND e.enrolled = 1 AND e.token IS NOT NULL AND e.push_dead_at IS NULL \
                 AND e.last_seen_at < ?1 AND (e.repushed_at IS NULL OR e.repushed_at < ?1) \
                 ORDER BY t.enrollment_id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![before, now, limit], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    async fn mark_repushed(&self, ids: &[String], now: Timestamp) -> Result<()> {
        let ids = ids.to_vec();
        self.with(move |c| {
            let tx = c.transaction()?;
            for id in &ids {
                tx.execute(
                    "UPDATE enrollments SET repushed_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
            }
            tx.commit()
        })
        .await
    }

    async fn unpushable_count(&self) -> Result<u64> {
        self.with(move |c| {
            c.query_row(
                "SELECT COUNT(*) FROM enrollments e WHERE e.enrolled = 1 AND (e.token IS NULL \
                 OR e.topic IS NULL OR e.push_dead_at IS NOT NULL OR NOT EXISTS \
                 (SELECT 1 FROM push_certs p WHERE p.topic = e.topic))",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| u64::try_from(n).unwrap_or(0))
        })
        .await
    }

    async fn store_push_cert(&self, cert: &PushCert, now: Timestamp) -> Result<()> {
        let cert = cert.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO push_certs (topic, cert_pem, key_pem, updated_at, stored_seq) \
                 VALUES (?1, ?2, ?3, ?4, \
                 (SELECT COALESCE(MAX(stored_seq), 0) + 1 FROM push_certs)) \
                 ON CONFLICT (topic) DO UPDATE SET \
                 cert_pem = excluded.cert_pem, key_pem = excluded.key_pem, \
                 updated_at = excluded.updated_at, stored_seq = excluded.stored_seq",
                params![cert.topic, cert.cert_pem, cert.key_pem, now],
            )
            .map(drop)
        })
        .await
    }

    async fn push_cert(&self, topic: &str) -> Result<Option<PushCert>> {
        let topic = topic.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT topic, cert_pem, key_pem, updated_at FROM push_certs WHERE topic = ?1",
                params![topic],
                |r| {
                    Ok(PushCert {
                        topic: r.get(0)?,
                        cert_pem: r.get(1)?,
                        key_pem: r.get(2)?,
                        updated_at: r.get(3)?,
                    })
                },
            )
            .optional()
        })
        .await
    }

    async fn latest_push_cert(&self) -> Result<Option<PushCert>> {
        self.with(move |c| {
            c.query_row(
                "SELECT topic, cert_pem, key_pem, updated_at FROM push_certs \
                 ORDER BY updated_at DESC, stored_seq DESC, topic LIMIT 1",
                [],
                |r| {
                    Ok(PushCert {
                        topic: r.get(0)?,
                        cert_pem: r.get(1)?,
                        key_pem: r.get(2)?,
                        updated_at: r.get(3)?,
                    })
                },
            )
            .optional()
        })
        .await
    }
}
