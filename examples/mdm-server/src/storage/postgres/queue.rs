//! PostgresStorage: the command queue: the storage primitives the queue rules of [`crate::queue`] are written over (enqueue, take, defer, requeue, reports, cancel, retention).

use super::*;
use crate::storage::prelude::*;

/// The head of an enrollment's queue (`$1` its ID, `$2` now, `$3` how many entries), in
/// queue order, expired commands skipped: the `queue_head` function of the migrations, whose
/// plan walks `queue_waiting` and stops at the limit whatever the statistics say.
const HEAD_READ: &str = "SELECT * FROM queue_head($1, $2, $3)";

#[async_trait]
impl QueueStore for PostgresStorage {
    async fn enqueue(
        &self,
        command: &NewCommand,
        targets: &[String],
        now: Timestamp,
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // No conflict target: both the UUID and the idempotency key are unique.
        let inserted = tx
            .query_opt(
                "INSERT INTO commands (uuid, request_type, body, created_at, expires_at, \
                 priority, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING RETURNING seq",
                &[
                    &command.uuid,
                    &command.request_type,
                    &command.body,
                    &now,
                    &command.expires_at,
                    &command.priority,
                    &command.idempotency_key,
                ],
            )
            .await
            .map_err(backend)?;
        let Some(inserted) = inserted else {
            if let Some(key) = &command.idempotency_key {
                let taken = tx
                    .query_opt("SELECT 1 FROM commands WHERE idempotency_key = $1", &[key])
                    .await
                    .map_err(backend)?;
                if taken.is_some() {
                    return Err(StorageError::DuplicateIdempotencyKey(key.clone()));
                }
            }
            return Err(StorageError::DuplicateCommand(command.uuid.clone()));
        };
        let seq: i64 = inserted.get(0);
        // Only the IDs not interned yet are inserted (an insert that conflicts would still
        // use up a value of the identity), in one order so concurrent enqueues never deadlock.
        let intern = tx
            .prepare_cached(
                "INSERT INTO queue_targets (enrollment_id) \
                 SELECT DISTINCT t.id FROM unnest($1::text[]) AS t(id) \
                 WHERE NOT EXISTS (SELECT 1 FROM queue_targets q WHERE q.enrollment_id = t.id) \
                 ORDER BY t.id ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(backend)?;
        tx.execute(&intern, &[&targets]).await.map_err(backend)?;
        let add = tx
            .prepare_cached(
                "INSERT INTO queue (target, command, priority, updated_at, ready_at) \
                 SELECT qt.ref, $2, $3, $4, $4 FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n) \
                 JOIN queue_targets qt ON qt.enrollment_id = t.id \
                 ORDER BY t.n ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(backend)?;
        tx.execute(&add, &[&targets, &seq, &command.priority, &now])
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn take(&self, id: &str, uuid: &str, now: Timestamp) -> Result<Option<QueuedCommand>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "WITH upd AS (UPDATE queue SET sent_at = $3, \
                 first_sent_at = COALESCE(first_sent_at, $3) \
                 WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = $1) \
                 AND command = (SELECT seq FROM commands WHERE uuid = $2 \
                 AND (expires_at IS NULL OR expires_at > $3)) \
                 AND (status IS NULL OR status = 'NotNow') RETURNING command) \
                 SELECT c.uuid, c.request_type, c.body FROM commands c JOIN upd \
                 ON upd.command = c.seq",
            )
            .await
            .map_err(backend)?;
        let row = client
            .query_opt(&statement, &[&id, &uuid, &now])
            .await
            .map_err(backend)?;
        Ok(row.map(|r| QueuedCommand {
            uuid: r.get(0),
            request_type: r.get(1),
            body: r.get(2),
        }))
    }

    async fn defer(&self, id: &str, uuid: &str, ready_at: Timestamp) -> Result<bool> {
        self.client()
            .await?
            .execute(
                "UPDATE queue SET ready_at = $3, first_sent_at = NULL, \
                 not_now_count = not_now_count + 1 \
                 WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = $1) \
                 AND command = (SELECT seq FROM commands WHERE uuid = $2) \
                 AND (status IS NULL OR status = 'NotNow')",
                &[&id, &uuid, &ready_at],
            )
            .await
            .map(|n| n > 0)
            .map_err(backend)
    }

    async fn waiting_target(&self, id: &str, uuid: &str) -> Result<Option<QueueEntry>> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM queue q JOIN commands c ON c.seq = q.command \
                     WHERE c.uuid = $2 \
                     AND q.target = (SELECT ref FROM queue_targets WHERE enrollment_id = $1) \
                     AND (q.status IS NULL OR q.status = 'NotNow')"
                ),
                &[&id, &uuid],
            )
            .await
            .map_err(backend)?;
        Ok(row.as_ref().map(entry_from_row))
    }

    async fn requeue(&self, uuid: &str, id: Option<&str>, now: Timestamp) -> Result<u64> {
        self.client()
            .await?
            .execute(
                "UPDATE queue SET first_sent_at = NULL, ready_at = $3, updated_at = $3 \
                 WHERE command = (SELECT seq FROM commands WHERE uuid = $1) \
                 AND ($2::text IS NULL \
                 OR target = (SELECT ref FROM queue_targets WHERE enrollment_id = $2)) \
                 AND first_sent_at IS NOT NULL AND (status IS NULL OR status = 'NotNow')",
                &[&uuid, &id, &now],
            )
            .await
            .map(to_u64)
            .map_err(backend)
    }

    async fn in_flight_since(&self, before: Timestamp, limit: u32) -> Result<Vec<InFlight>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT t.enrollment_id, c.uuid, c.request_type, q.first_sent_at, q.sent_at \
                 FROM queue q JOIN commands c ON c.seq = q.command \
                 JOIN queue_targets t ON t.ref = q.target \
                 WHERE q.first_sent_at IS NOT NULL AND q.first_sent_at <= $1 \
                 AND (q.status IS NULL OR q.status = 'NotNow') \
                 AND (c.expires_at IS NULL OR c.expires_at > $1) \
                 ORDER BY q.first_sent_at, q.command LIMIT $2",
                &[&before, &i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| InFlight {
                enrollment_id: r.get(0),
                uuid: r.get(1),
                request_type: r.get(2),
                first_sent_at: r.get(3),
                sent_at: r.get(4),
            })
            .collect())
    }

    async fn command_for_key(&self, key: &str) -> Result<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT uuid FROM commands WHERE idempotency_key = $1",
                &[&key],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn record_report_with_events(
        &self,
        id: &str,
        uuid: &str,
        status: &str,
        report: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<ReportOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let takes_cancelled = status != crate::storage::STATUS_NOT_NOW;
        let update = tx
            .prepare_cached(
                "UPDATE queue SET status = $3, report = $4, updated_at = $5 \
                 WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = $1) \
                 AND command = (SELECT seq FROM commands WHERE uuid = $2) \
                 AND (status IS NULL OR status = 'NotNow' OR (status = 'Cancelled' AND $6))",
            )
            .await
            .map_err(backend)?;
        let changed = tx
            .execute(
                &update,
                &[&id, &uuid, &status, &report, &now, &takes_cancelled],
            )
            .await
            .map_err(backend)?;
        let outcome = if changed > 0 {
            ReportOutcome::Recorded
        } else {
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM queue \
                     WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = $1) \
                     AND command = (SELECT seq FROM commands WHERE uuid = $2)",
                    &[&id, &uuid],
                )
                .await
                .map_err(backend)?;
            if exists.is_some() {
                ReportOutcome::Repeated
            } else {
                ReportOutcome::UnknownCommand
            }
        };
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)?;
        Ok(outcome)
    }

    async fn record_bad_report(&self, r: &BadReport) -> Result<()> {
        let client = self.client().await?;
        let id: i64 = client
            .query_one(
                "INSERT INTO bad_reports (enrollment_id, command_uuid, reason, body, received_at) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &r.enrollment_id,
                    &r.command_uuid,
                    &r.reason,
                    &r.body,
                    &r.received_at,
                ],
            )
            .await
            .map_err(backend)?
            .get(0);
        client
            .execute(
                "DELETE FROM bad_reports WHERE id <= $1",
                &[&(id - crate::storage::MAX_BAD_REPORTS)],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn prune(&self, before: Timestamp) -> Result<Pruned> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let commands = tx
            .execute(
                "DELETE FROM commands WHERE created_at < $1 AND ((expires_at IS NOT NULL AND expires_at < $1) \
                 OR NOT EXISTS (SELECT 1 FROM queue q WHERE q.command = commands.seq \
                 AND (q.status IS NULL OR q.status = 'NotNow' OR q.updated_at >= $1)))",
                &[&before],
            )
            .await
            .map_err(backend)?;
        let bad_reports = tx
            .execute("DELETE FROM bad_reports WHERE received_at < $1", &[&before])
            .await
            .map_err(backend)?;
        // Events past their retention that every webhook endpoint is past too.
        tx.execute(
            "DELETE FROM events WHERE created_at < $1 AND seq <= \
             (SELECT COALESCE(MIN(seq), 9223372036854775807) FROM webhook_cursors)",
            &[&before],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Pruned {
            commands,
            bad_reports,
        })
    }

    async fn bad_reports(&self, limit: u32) -> Result<Vec<BadReport>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT enrollment_id, command_uuid, reason, body, received_at FROM bad_reports \
                 ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        Ok(rows
            .iter()
            .map(|r| BadReport {
                enrollment_id: r.get(0),
                command_uuid: r.get(1),
                reason: r.get(2),
                body: r.get(3),
                received_at: r.get(4),
            })
            .collect())
    }

    async fn command(&self, uuid: &str, now: Timestamp) -> Result<Option<CommandRecord>> {
        let client = self.client().await?;
        let Some(r) = client
            .query_opt(
                "SELECT uuid, request_type, body, created_at, expires_at, priority, \
                 idempotency_key FROM commands WHERE uuid = $1",
                &[&uuid],
            )
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let expires_at: Option<i64> = r.get(4);
        let targets = client
            .query(
                "SELECT t.enrollment_id, q.status, q.report, q.sent_at, q.updated_at, \
                 q.first_sent_at, q.not_now_count FROM queue q \
                 JOIN queue_targets t ON t.ref = q.target \
                 WHERE q.command = (SELECT seq FROM commands WHERE uuid = $1) \
                 ORDER BY t.enrollment_id COLLATE \"C\"",
                &[&uuid],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(|t| TargetStatus {
                enrollment_id: t.get(0),
                status: crate::storage::shown_status(t.get(1), expires_at, now),
                report: t.get(2),
                sent_at: t.get(3),
                first_sent_at: t.get(5),
                not_now_count: count(t.get(6)),
                updated_at: t.get(4),
            })
            .collect();
        Ok(Some(CommandRecord {
            uuid: r.get(0),
            request_type: r.get(1),
            body: r.get(2),
            created_at: r.get(3),
            expires_at,
            priority: r.get(5),
            idempotency_key: r.get(6),
            targets,
        }))
    }

    async fn queue(&self, id: &str, now: Timestamp, limit: u32) -> Result<Vec<QueueEntry>> {
        let client = self.client().await?;
        let statement = client.prepare_cached(HEAD_READ).await.map_err(backend)?;
        let rows = client
            .query(&statement, &[&id, &now, &i64::from(limit)])
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    async fn clear_queue(&self, id: &str, now: Timestamp) -> Result<u64> {
        self.client()
            .await?
            .execute(
                "UPDATE queue SET status = 'Cancelled', updated_at = $2 \
                 WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = $1) \
                 AND (status IS NULL OR status = 'NotNow')",
                &[&id, &now],
            )
            .await
            .map(to_u64)
            .map_err(backend)
    }

    async fn cancel_command(&self, uuid: &str, now: Timestamp) -> Result<u64> {
        self.client()
            .await?
            .execute(
                "UPDATE queue SET status = 'Cancelled', updated_at = $2 \
                 WHERE command = (SELECT seq FROM commands WHERE uuid = $1) \
                 AND (status IS NULL OR status = 'NotNow')",
                &[&uuid, &now],
            )
            .await
            .map(to_u64)
            .map_err(backend)
    }

    async fn queue_stats(&self, now: Timestamp, stalled_before: Timestamp) -> Result<QueueStats> {
        let r = self
            .client()
            .await?
            .query_one(
                "SELECT COUNT(*), MIN(c.created_at), \
                 COALESCE(SUM(CASE WHEN q.first_sent_at IS NOT NULL AND q.first_sent_at <= $2 \
                 THEN 1 ELSE 0 END), 0)::BIGINT \
                 FROM queue q JOIN commands c ON c.seq = q.command \
                 WHERE (q.status IS NULL OR q.status = 'NotNow') \
                 AND (c.expires_at IS NULL OR c.expires_at > $1)",
                &[&now, &stalled_before],
            )
            .await
            .map_err(backend)?;
        Ok(QueueStats {
            depth: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
            oldest_created_at: r.get(1),
            stalled: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
        })
    }

    async fn cancel_target(&self, id: &str, uuid: &str, now: Timestamp) -> Result<u64> {
        self.client()
            .await?
            .execute(
                "UPDATE queue SET status = 'Cancelled', updated_at = $3 \
                 WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = $1) \
                 AND command = (SELECT seq FROM commands WHERE uuid = $2) \
                 AND (status IS NULL OR status = 'NotNow')",
                &[&id, &uuid, &now],
            )
            .await
            .map(to_u64)
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use mdm_test_support::postgres::PgSchema;

    /// A device with 3,000 waiting commands among 100,000, in a table never analyzed (as on a
    /// server whose autovacuum has not run yet): the head read fetches the head of the
    /// device's queue and not the rest, in the prepared statement's custom plans (the first
    /// five runs) and after.
    #[tokio::test]
    async fn head_read_stops_at_the_head_of_a_long_queue() {
        let test = "head_read_stops_at_the_head_of_a_long_queue";
        let Some(schema) = PgSchema::create(test, "head_read").await else {
            return;
        };
        let storage = PostgresStorage::connect(&schema.url).await.unwrap();
        let mut client = storage.client().await.unwrap();
        client
            .batch_execute(
                "INSERT INTO queue_targets (enrollment_id) \
                     SELECT 'dev-' || i FROM generate_series(1, 5000) i; \
                 INSERT INTO commands (uuid, request_type, body, created_at) \
                     SELECT 'cmd-' || i, 'DeviceInformation', '\\x00'::bytea, i \
                     FROM generate_series(1, 100000) i; \
                 INSERT INTO queue (command, updated_at, target) \
                     SELECT i, i, CASE WHEN i <= 3000 THEN 1 ELSE 2 + i % 4999 END \
                     FROM generate_series(1, 100000) i;",
            )
            .await
            .unwrap();
        let fetched = "SELECT idx_tup_fetch FROM pg_stat_xact_user_tables \
             WHERE schemaname = current_schema() AND relname = 'queue'";
        for run in 1..=7 {
            let tx = client.transaction().await.unwrap();
            let before: i64 = tx.query_one(fetched, &[]).await.unwrap().get(0);
            let rows = tx
                .query(HEAD_READ, &[&"dev-1", &0_i64, &8_i64])
                .await
                .unwrap();
            let after: i64 = tx.query_one(fetched, &[]).await.unwrap().get(0);
            tx.commit().await.unwrap();
            assert_eq!(rows.len(), 8, "run {run}");
            let read = after - before;
            // At least one: a count that stays 0 (statistics off) would prove nothing.
            assert!(
                (1..=8).contains(&read),
                "run {run}: the head read fetched {read} queue rows of the device's 3,000"
            );
        }
        let head = storage.queue("dev-1", 0, 8).await.unwrap();
        let uuids: Vec<&str> = head.iter().map(|e| e.uuid.as_str()).collect();
        assert_eq!(
            uuids,
            [
                "cmd-1", "cmd-2", "cmd-3", "cmd-4", "cmd-5", "cmd-6", "cmd-7", "cmd-8"
            ]
        );
        drop(client);
        schema.drop_schema().await;
    }
}
