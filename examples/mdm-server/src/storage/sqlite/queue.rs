//! SqliteStorage: the command queue: the storage primitives the queue rules of [`crate::queue`] are written over (enqueue, take, defer, requeue, reports, cancel, retention).

use super::*;
use crate::storage::prelude::*;
use crate::storage::{Chooser, TakenNext};

#[async_trait]
impl QueueStore for SqliteStorage {
    async fn enqueue(
        &self,
        command: &NewCommand,
        targets: &[String],
        now: Timestamp,
    ) -> Result<()> {
        let (command, targets) = (command.clone(), targets.to_vec());
        let uuid = command.uuid.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            if let Some(key) = &command.idempotency_key {
                let taken = tx
                    .query_row(
                        "SELECT 1 FROM commands WHERE idempotency_key = ?1",
                        params![key],
                        |_| Ok(()),
                    )
                    .optional()?;
                if taken.is_some() {
                    return Ok(Err(StorageError::DuplicateIdempotencyKey(key.clone())));
                }
            }
            let inserted = tx.execute(
                "INSERT INTO commands (uuid, request_type, body, created_at, expires_at, \
                     priority, idempotency_key) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (uuid) DO NOTHING",
                params![
                    command.uuid,
                    command.request_type,
                    command.body,
                    now,
                    command.expires_at,
                    command.priority,
                    command.idempotency_key,
                ],
            )?;
            if inserted == 0 {
                return Ok(Err(StorageError::DuplicateCommand(uuid)));
            }
            let seq = tx.last_insert_rowid();
            {
                let mut intern = tx.prepare_cached(
                    "INSERT INTO queue_targets (enrollment_id) VALUES (?1) ON CONFLICT DO NOTHING",
                )?;
                let mut add = tx.prepare_cached(
                    "INSERT INTO queue (target, command, priority, updated_at, ready_at) \
                     SELECT ref, ?2, ?3, ?4, ?4 FROM queue_targets WHERE enrollment_id = ?1 \
                     ON CONFLICT DO NOTHING",
                )?;
                for t in &targets {
                    intern.execute(params![t])?;
                    add.execute(params![t, seq, command.priority, now])?;
                }
            }
            tx.commit()?;
            Ok(Ok(()))
        })
        .await?
    }

    async fn take(&self, id: &str, uuid: &str, now: Timestamp) -> Result<Option<QueuedCommand>> {
        let (id, uuid) = (id.to_owned(), uuid.to_owned());
        self.with(move |c| {
            let tx = c.transaction()?;
            let changed = tx
                .prepare_cached(
                    "UPDATE queue SET sent_at = ?3, first_sent_at = COALESCE(first_sent_at, ?3) \
                     WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?1) \
                     AND command = (SELECT seq FROM commands WHERE uuid = ?2 \
                     AND (expires_at IS NULL OR expires_at > ?3)) \
                     AND (status IS NULL OR status = 'NotNow')",
                )?
                .execute(params![id, uuid, now])?;
            let found = if changed == 0 {
                None
            } else {
                tx.prepare_cached("SELECT uuid, request_type, body FROM commands WHERE uuid = ?1")?
                    .query_row(params![uuid], |r| {
                        Ok(QueuedCommand {
                            uuid: r.get(0)?,
                            request_type: r.get(1)?,
                            body: r.get(2)?,
                        })
                    })
                    .optional()?
            };
            tx.commit()?;
            Ok(found)
        })
        .await
    }

    async fn take_next(
        &self,
        id: &str,
        now: Timestamp,
        limit: u32,
        mut choose: Chooser,
    ) -> Result<TakenNext> {
        let id = id.to_owned();
        // One job on the connection's thread.
        self.with(move |c| take_next_on(c, &id, now, limit, &mut choose))
            .await
    }

    async fn defer(&self, id: &str, uuid: &str, ready_at: Timestamp) -> Result<bool> {
        let (id, uuid) = (id.to_owned(), uuid.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE queue SET ready_at = ?3, first_sent_at = NULL, \
                 not_now_count = not_now_count + 1 \
                 WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?1) \
                 AND command = (SELECT seq FROM commands WHERE uuid = ?2) \
                 AND (status IS NULL OR status = 'NotNow')",
                params![id, uuid, ready_at],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn waiting_target(&self, id: &str, uuid: &str) -> Result<Option<QueueEntry>> {
        let (id, uuid) = (id.to_owned(), uuid.to_owned());
        self.with(move |c| {
            c.query_row(
                &format!(
                    "SELECT {ENTRY_COLUMNS} FROM queue q JOIN commands c ON c.seq = q.command \
                     WHERE c.uuid = ?2 \
                     AND q.target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?1) \
                     AND (q.status IS NULL OR q.status = 'NotNow')"
                ),
                params![id, uuid],
                entry_from_row,
            )
            .optional()
        })
        .await
    }

    async fn requeue(&self, uuid: &str, id: Option<&str>, now: Timestamp) -> Result<u64> {
        let (uuid, id) = (uuid.to_owned(), id.map(str::to_owned));
        self.with(move |c| {
            c.execute(
                "UPDATE queue SET first_sent_at = NULL, ready_at = ?3, updated_at = ?3 \
                 WHERE command = (SELECT seq FROM commands WHERE uuid = ?1) \
                 AND (?2 IS NULL OR target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?2)) \
                 AND first_sent_at IS NOT NULL AND (status IS NULL OR status = 'NotNow')",
                params![uuid, id, now],
            )
            .map(|n| n as u64)
        })
        .await
    }

    async fn in_flight_since(&self, before: Timestamp, limit: u32) -> Result<Vec<InFlight>> {
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT t.enrollment_id, c.uuid, c.request_type, q.first_sent_at, q.sent_at \
                 FROM queue q JOIN commands c ON c.seq = q.command \
                 JOIN queue_targets t ON t.ref = q.target \
                 WHERE q.first_sent_at IS NOT NULL AND q.first_sent_at <= ?1 \
                 AND (q.status IS NULL OR q.status = 'NotNow') \
                 AND (c.expires_at IS NULL OR c.expires_at > ?1) \
                 ORDER BY q.first_sent_at, q.seq LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![before, limit], |r| {
                Ok(InFlight {
                    enrollment_id: r.get(0)?,
                    uuid: r.get(1)?,
                    request_type: r.get(2)?,
                    first_sent_at: r.get(3)?,
                    sent_at: r.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn command_for_key(&self, key: &str) -> Result<Option<String>> {
        let key = key.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT uuid FROM commands WHERE idempotency_key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
        })
        .await
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
        let (id, uuid, status, report, events) = (
            id.to_owned(),
            uuid.to_owned(),
            status.to_owned(),
            report.to_vec(),
            events.to_vec(),
        );
        self.with(move |c| {
            let tx = c.transaction()?;
            let outcome = record_on(&tx, &id, &uuid, &status, &report, now, &events)?;
            tx.commit()?;
            Ok(outcome)
        })
        .await
    }

    async fn record_report_and_take_next(
        &self,
        id: &str,
        uuid: &str,
        status: &str,
        report: &[u8],
        now: Timestamp,
        events: &[Event],
        limit: u32,
        mut choose: Chooser,
    ) -> Result<(ReportOutcome, TakenNext)> {
        let (id, uuid, status, report, events) = (
            id.to_owned(),
            uuid.to_owned(),
            status.to_owned(),
            report.to_vec(),
            events.to_vec(),
        );
        // One job, one transaction: the report's write and the next command's commit once.
        self.with(move |c| {
            let tx = c.transaction()?;
            let outcome = record_on(&tx, &id, &uuid, &status, &report, now, &events)?;
            let next = take_next_on(&tx, &id, now, limit, &mut choose)?;
            tx.commit()?;
            Ok((outcome, next))
        })
        .await
    }

    async fn record_bad_report(&self, report: &BadReport) -> Result<()> {
        let r = report.clone();
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO bad_reports (enrollment_id, command_uuid, reason, body, received_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    r.enrollment_id,
                    r.command_uuid,
                    r.reason,
                    r.body,
                    r.received_at
                ],
            )?;
            let id = tx.last_insert_rowid();
            tx.execute(
                "DELETE FROM bad_reports WHERE id <= ?1",
                params![id - crate::storage::MAX_BAD_REPORTS],
            )?;
            tx.commit()
        })
        .await
    }

    async fn prune(&self, before: Timestamp) -> Result<Pruned> {
        self.with(move |c| {
            let tx = c.transaction()?;
            let commands = tx.execute(
                "DELETE FROM commands WHERE created_at < ?1 AND ((expires_at IS NOT NULL AND expires_at < ?1) \
                 OR NOT EXISTS (SELECT 1 FROM queue q WHERE q.command = commands.seq \
                 AND (q.status IS NULL OR q.status = 'NotNow' OR q.updated_at >= ?1)))",
                params![before],
            )?;
            let bad_reports =
                tx.execute("DELETE FROM bad_reports WHERE received_at < ?1", params![before])?;
            // Events past their retention that every webhook endpoint is past too.
            tx.execute(
                "DELETE FROM events WHERE created_at < ?1 AND seq <= \
                 (SELECT COALESCE(MIN(seq), 9223372036854775807) FROM webhook_cursors)",
                params![before],
            )?;
            tx.commit()?;
            Ok(Pruned {
                commands: commands as u64,
                bad_reports: bad_reports as u64,
            })
        })
        .await
    }

    async fn bad_reports(&self, limit: u32) -> Result<Vec<BadReport>> {
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT enrollment_id, command_uuid, reason, body, received_at FROM bad_reports \
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit], |r| {
                Ok(BadReport {
                    enrollment_id: r.get(0)?,
                    command_uuid: r.get(1)?,
                    reason: r.get(2)?,
                    body: r.get(3)?,
                    received_at: r.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn command(&self, uuid: &str, now: Timestamp) -> Result<Option<CommandRecord>> {
        let uuid = uuid.to_owned();
        self.with(move |c| {
            let Some(mut record) = c
                .query_row(
                    "SELECT uuid, request_type, body, created_at, expires_at, priority, \
                     idempotency_key FROM commands WHERE uuid = ?1",
                    params![uuid],
                    |r| {
                        Ok(CommandRecord {
                            uuid: r.get(0)?,
                            request_type: r.get(1)?,
                            body: r.get(2)?,
                            created_at: r.get(3)?,
                            expires_at: r.get(4)?,
                            priority: r.get(5)?,
                            idempotency_key: r.get(6)?,
                            targets: Vec::new(),
                        })
                    },
                )
                .optional()?
            else {
                return Ok(None);
            };
            let mut stmt = c.prepare(
                "SELECT t.enrollment_id, q.status, q.report, q.sent_at, q.updated_at, \
                 q.first_sent_at, q.not_now_count FROM queue q \
                 JOIN queue_targets t ON t.ref = q.target \
                 WHERE q.command = (SELECT seq FROM commands WHERE uuid = ?1) \
                 ORDER BY t.enrollment_id",
            )?;
            let expires_at = record.expires_at;
            let rows = stmt.query_map(params![uuid], |r| {
                Ok(TargetStatus {
                    enrollment_id: r.get(0)?,
                    status: crate::storage::shown_status(r.get(1)?, expires_at, now),
                    report: r.get(2)?,
                    sent_at: r.get(3)?,
                    first_sent_at: r.get(5)?,
                    not_now_count: r.get(6)?,
                    updated_at: r.get(4)?,
                })
            })?;
            record.targets = rows.collect::<rusqlite::Result<_>>()?;
            Ok(Some(record))
        })
        .await
    }

    async fn queue(&self, id: &str, now: Timestamp, limit: u32) -> Result<Vec<QueueEntry>> {
        let id = id.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM queue q JOIN commands c ON c.seq = q.command \
                 WHERE q.target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?1) \
                 AND (q.status IS NULL OR q.status = 'NotNow') \
                 AND (c.expires_at IS NULL OR c.expires_at > ?2) \
                 ORDER BY q.priority DESC, q.ready_at, q.seq LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![id, now, limit], entry_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn clear_queue(&self, id: &str, now: Timestamp) -> Result<u64> {
        let id = id.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE queue SET status = 'Cancelled', updated_at = ?2 \
                 WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?1) \
                 AND (status IS NULL OR status = 'NotNow')",
                params![id, now],
            )
            .map(|n| n as u64)
        })
        .await
    }

    async fn cancel_command(&self, uuid: &str, now: Timestamp) -> Result<u64> {
        let uuid = uuid.to_owned();
        self.with(move |c| {
            c.execute(
                "UPDATE queue SET status = 'Cancelled', updated_at = ?2 \
                 WHERE command = (SELECT seq FROM commands WHERE uuid = ?1) \
                 AND (status IS NULL OR status = 'NotNow')",
                params![uuid, now],
            )
            .map(|n| n as u64)
        })
        .await
    }

    async fn queue_stats(&self, now: Timestamp, stalled_before: Timestamp) -> Result<QueueStats> {
        self.with(move |c| {
            c.query_row(
                "SELECT COUNT(*), MIN(c.created_at), \
                 COALESCE(SUM(CASE WHEN q.first_sent_at IS NOT NULL AND q.first_sent_at <= ?2 \
                 THEN 1 ELSE 0 END), 0) \
                 FROM queue q JOIN commands c ON c.seq = q.command \
                 WHERE (q.status IS NULL OR q.status = 'NotNow') \
                 AND (c.expires_at IS NULL OR c.expires_at > ?1)",
                params![now, stalled_before],
                |r| {
                    Ok(QueueStats {
                        depth: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                        oldest_created_at: r.get(1)?,
                        stalled: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    })
                },
            )
        })
        .await
    }

    async fn cancel_target(&self, id: &str, uuid: &str, now: Timestamp) -> Result<u64> {
        let (id, uuid) = (id.to_owned(), uuid.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE queue SET status = 'Cancelled', updated_at = ?3 \
                 WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?1) \
                 AND command = (SELECT seq FROM commands WHERE uuid = ?2) \
                 AND (status IS NULL OR status = 'NotNow')",
                params![id, uuid, now],
            )
            .map(|n| n as u64)
        })
        .await
    }
}

/// [`QueueStore::take_next`] on the connection: the head read, then the chosen row updated
/// by its key (re-checking that it still waits, as `take` does) and its body read.
fn take_next_on(
    c: &Connection,
    id: &str,
    now: Timestamp,
    limit: u32,
    choose: &mut Chooser,
) -> rusqlite::Result<TakenNext> {
    let mut head = Vec::new();
    let mut keys = Vec::new();
    {
        let mut stmt = c.prepare_cached(&format!(
            "SELECT {ENTRY_COLUMNS}, q.seq, q.command \
             FROM queue q JOIN commands c ON c.seq = q.command \
             WHERE q.target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?1) \
             AND (q.status IS NULL OR q.status = 'NotNow') \
             AND (c.expires_at IS NULL OR c.expires_at > ?2) \
             ORDER BY q.priority DESC, q.ready_at, q.seq LIMIT ?3"
        ))?;
        let mut rows = stmt.query(params![id, now, limit])?;
        while let Some(r) = rows.next()? {
            head.push(entry_from_row(r)?);
            keys.push((r.get::<_, i64>(10)?, r.get::<_, i64>(11)?));
        }
    }
    let mut from = 0;
    while let Some(at) = head.get(from..).and_then(&mut *choose) {
        let at = from + at;
        let (Some(entry), Some(&(seq, command))) = (head.get(at), keys.get(at)) else {
            break;
        };
        let changed = c
            .prepare_cached(
                "UPDATE queue SET sent_at = ?2, \
                 first_sent_at = COALESCE(first_sent_at, ?2) \
                 WHERE seq = ?1 AND (status IS NULL OR status = 'NotNow')",
            )?
            .execute(params![seq, now])?;
        if changed > 0 {
            let body = c
                .prepare_cached("SELECT body FROM commands WHERE seq = ?1")?
                .query_row(params![command], |r| r.get(0))
                .optional()?;
            if let Some(body) = body {
                let command = QueuedCommand {
                    uuid: entry.uuid.clone(),
                    request_type: entry.request_type.clone(),
                    body,
                };
                return Ok(TakenNext::new(Some(command), head.len()));
            }
        }
        from = at + 1;
    }
    Ok(TakenNext::new(None, head.len()))
}

/// [`QueueStore::record_report_with_events`] in the caller's transaction.
fn record_on(
    tx: &Connection,
    id: &str,
    uuid: &str,
    status: &str,
    report: &[u8],
    now: Timestamp,
    events: &[Event],
) -> rusqlite::Result<ReportOutcome> {
    let takes_cancelled = status != crate::storage::STATUS_NOT_NOW;
    let changed = tx
        .prepare_cached(
            "UPDATE queue SET status = ?3, report = ?4, updated_at = ?5 \
             WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?1) \
             AND command = (SELECT seq FROM commands WHERE uuid = ?2) \
             AND (status IS NULL OR status = 'NotNow' OR (status = 'Cancelled' AND ?6))",
        )?
        .execute(params![id, uuid, status, report, now, takes_cancelled])?;
    let outcome = if changed > 0 {
        ReportOutcome::Recorded
    } else {
        let exists = tx
            .query_row(
                "SELECT 1 FROM queue \
                 WHERE target = (SELECT ref FROM queue_targets WHERE enrollment_id = ?1) \
                 AND command = (SELECT seq FROM commands WHERE uuid = ?2)",
                params![id, uuid],
                |_| Ok(()),
            )
            .optional()?;
        if exists.is_some() {
            ReportOutcome::Repeated
        } else {
            ReportOutcome::UnknownCommand
        }
    };
    insert_events(tx, events)?;
    Ok(outcome)
}
