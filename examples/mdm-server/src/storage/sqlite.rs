//! SQLite storage: one file, WAL mode, migrations tracked in `PRAGMA user_version`.
//!
//! rusqlite is synchronous: each call runs on tokio's blocking pool and takes the one
//! connection, which SQLite serialises anyway (one writer at a time).

use super::{
    BadReport, BindOutcome, BindingEvent, CommandRecord, EnrollmentFilter, EnrollmentKey,
    EnrollmentRecord, EnrollmentToken, InFlight, NewCommand, Pruned, PushCert, PushInfo,
    QueueEntry, QueueStats, QueuedCommand, Rebinding, Refusal, ReportOutcome, Result, Storage,
    StorageError, TargetStatus, Timestamp,
};
use crate::events::{Event, StoredEvent};
use async_trait::async_trait;
use mdm_commands::applicability::DeviceFacts;
use rusqlite::{Connection, OptionalExtension, params};
use std::sync::{Arc, Mutex};

mod dep;

/// The schema, one entry per version; a database at version N has run the first N.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE enrollments (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    udid TEXT,
    user_short_name TEXT,
    user_long_name TEXT,
    enrolled INTEGER NOT NULL DEFAULT 0,
    token BLOB,
    push_magic TEXT,
    topic TEXT,
    unlock_token BLOB,
    bootstrap_token BLOB,
    authenticate BLOB,
    token_update BLOB,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    enrolled_at INTEGER,
    checked_out_at INTEGER
);
CREATE INDEX enrollments_device ON enrollments (device_id);
CREATE TABLE commands (
    uuid TEXT PRIMARY KEY,
    request_type TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE TABLE queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    enrollment_id TEXT NOT NULL,
    command_uuid TEXT NOT NULL REFERENCES commands (uuid) ON DELETE CASCADE,
    status TEXT,
    report BLOB,
    sent_at INTEGER,
    updated_at INTEGER NOT NULL,
    UNIQUE (enrollment_id, command_uuid)
);
CREATE INDEX queue_command ON queue (command_uuid);
CREATE TABLE bad_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    enrollment_id TEXT,
    command_uuid TEXT,
    reason TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at INTEGER NOT NULL
);
CREATE TABLE push_certs (
    topic TEXT PRIMARY KEY,
    cert_pem TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE cert_bindings (
    device_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE cert_renewals (
    new_fingerprint TEXT PRIMARY KEY,
    old_fingerprint TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE declarations (
    enrollment_id TEXT NOT NULL,
    identifier TEXT NOT NULL,
    body BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (enrollment_id, identifier)
);
CREATE TABLE ddm_status (
    enrollment_id TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
"#,
    r#"
CREATE INDEX cert_bindings_fingerprint ON cert_bindings (fingerprint);
CREATE TABLE cert_binding_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    old_fingerprint TEXT,
    new_fingerprint TEXT NOT NULL,
    reason TEXT NOT NULL,
    token_id TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX cert_binding_history_device ON cert_binding_history (device_id);
CREATE INDEX cert_binding_history_fingerprint ON cert_binding_history (new_fingerprint);
CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL,
    device TEXT,
    user_name TEXT,
    may_reenroll TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE scep_challenges (
    challenge_hash TEXT PRIMARY KEY,
    token_id TEXT NOT NULL REFERENCES enrollment_tokens (id),
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    used_at INTEGER,
    cert_fingerprint TEXT
);
CREATE INDEX scep_challenges_token ON scep_challenges (token_id);
CREATE TABLE issued_certs (
    fingerprint TEXT PRIMARY KEY,
    token_id TEXT NOT NULL REFERENCES enrollment_tokens (id),
    issued_at INTEGER NOT NULL
);
"#,
    r#"
CREATE TABLE return_to_service (
    enrollment_id TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);
"#,
    // The device facts of the applicability check (JSON, see `super::facts`), derived when
    // the device tells them; NULL until then.
    r#"
ALTER TABLE enrollments ADD COLUMN facts TEXT;
"#,
    // The queue contract (`crate::queue`): priority and idempotency key per command; per
    // target the time it is ready (enqueue time, or the end of a NotNow back-off), when it
    // was first handed to the device (in flight) and how many NotNow answers it had.
    // Additive: existing rows keep everything, ready at 0 (so in their old order, first).
    r#"
ALTER TABLE commands ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
ALTER TABLE commands ADD COLUMN idempotency_key TEXT;
CREATE UNIQUE INDEX commands_idempotency_key ON commands (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
ALTER TABLE queue ADD COLUMN ready_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE queue ADD COLUMN first_sent_at INTEGER;
ALTER TABLE queue ADD COLUMN not_now_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX queue_in_flight ON queue (first_sent_at) WHERE first_sent_at IS NOT NULL;
"#,
    // Pushes: when APNs answered 410 Unregistered for the enrollment's token (dead until the
    // next TokenUpdate).
    r#"
ALTER TABLE enrollments ADD COLUMN push_dead_at INTEGER;
-- The order certificates were stored in ("the latest" when two share a second).
ALTER TABLE push_certs ADD COLUMN stored_seq INTEGER NOT NULL DEFAULT 0;
"#,
    // The push backstop: when an enrollment was last re-pushed, and the waiting targets
    // indexed on their own so a run costs what is pending, not the queue's history.
    r#"
ALTER TABLE enrollments ADD COLUMN repushed_at INTEGER;
CREATE INDEX queue_pending ON queue (enrollment_id) WHERE status IS NULL OR status = 'NotNow';
"#,
    // Events: the outbox webhooks are delivered from, and each endpoint's place in it.
    r#"
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    enrollment_id TEXT,
    created_at INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE webhook_cursors (
    endpoint TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"#, // DEP organisations and their devices (issue 16).
    dep::MIGRATION,
];

/// Writes `events` to the outbox inside the caller's transaction.
fn insert_events(c: &Connection, events: &[Event]) -> rusqlite::Result<()> {
    for e in events {
        c.execute(
            "INSERT INTO events (id, topic, enrollment_id, created_at, body) \
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![e.id, e.topic, e.enrollment_id, e.created_at, e.body],
        )?;
    }
    Ok(())
}

/// The columns of a [`QueueEntry`], over `queue q JOIN commands c`.
const ENTRY_COLUMNS: &str = "c.uuid, c.request_type, q.status, c.created_at, c.expires_at, \
     q.sent_at, c.priority, q.ready_at, q.first_sent_at, q.not_now_count";

fn entry_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueueEntry> {
    Ok(QueueEntry {
        uuid: r.get(0)?,
        request_type: r.get(1)?,
        status: super::shown_status(r.get(2)?, None, 0),
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        sent_at: r.get(5)?,
        priority: r.get(6)?,
        ready_at: r.get(7)?,
        first_sent_at: r.get(8)?,
        not_now_count: r.get(9)?,
    })
}

const TOKEN_COLUMNS: &str = "id, secret_hash, max_uses, uses, expires_at, device, user_name, \
     may_reenroll, created_at, revoked_at";

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EnrollmentToken> {
    Ok(EnrollmentToken {
        id: r.get(0)?,
        secret_hash: r.get(1)?,
        max_uses: r.get(2)?,
        uses: r.get(3)?,
        expires_at: r.get(4)?,
        device: r.get(5)?,
        user: r.get(6)?,
        may_reenroll: r.get(7)?,
        created_at: r.get(8)?,
        revoked_at: r.get(9)?,
    })
}

fn token_by(
    tx: &rusqlite::Transaction<'_>,
    column: &str,
    value: &str,
) -> rusqlite::Result<Option<EnrollmentToken>> {
    tx.query_row(
        &format!("SELECT {TOKEN_COLUMNS} FROM enrollment_tokens WHERE {column} = ?1"),
        params![value],
        token_from_row,
    )
    .optional()
}

const ENROLLMENT_COLUMNS: &str = "id, device_id, kind, udid, user_short_name, user_long_name, \
     enrolled, token, push_magic, topic, unlock_token, bootstrap_token, authenticate, \
     token_update, created_at, last_seen_at, enrolled_at, checked_out_at, facts, push_dead_at";

/// Storage in a SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStorage {
    conn: Arc<Mutex<Connection>>,
}

fn backend(e: rusqlite::Error) -> StorageError {
    StorageError::backend(e)
}

impl SqliteStorage {
    /// Opens (creating when missing) the database file and runs pending migrations.
    pub async fn open(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref().to_owned();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            // Created 0600 before SQLite opens it: SQLite gives its -wal and -shm files the
            // database file's mode.
            if !path.as_os_str().is_empty() && path.as_os_str() != ":memory:" {
                crate::secrets::create_private_file(&path).map_err(|e| {
                    StorageError::Config(format!("creating {}: {e}", path.display()))
                })?;
            }
            let mut conn = Connection::open(&path).map_err(backend)?;
            conn.busy_timeout(std::time::Duration::from_secs(10))
                .map_err(backend)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(backend)?;
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(backend)?;
            conn.pragma_update(None, "foreign_keys", "ON")
                .map_err(backend)?;
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(StorageError::backend)??;
        Ok(SqliteStorage {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    async fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StorageError::Config("SQLite connection lock poisoned".into()))?;
            f(&mut guard).map_err(backend)
        })
        .await
        .map_err(StorageError::backend)?
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    let done = usize::try_from(version).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.execute_batch(sql).map_err(backend)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)
            .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

fn enrollment_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EnrollmentRecord> {
    let token: Option<Vec<u8>> = r.get(7)?;
    let push_magic: Option<String> = r.get(8)?;
    let topic: Option<String> = r.get(9)?;
    let push = match (token, push_magic, topic) {
        (Some(token), Some(push_magic), Some(topic)) => Some(PushInfo {
            token,
            push_magic,
            topic,
        }),
        _ => None,
    };
    Ok(EnrollmentRecord {
        key: EnrollmentKey {
            id: r.get(0)?,
            device_id: r.get(1)?,
            kind: r.get(2)?,
            udid: r.get(3)?,
            user_short_name: r.get(4)?,
            user_long_name: r.get(5)?,
        },
        enrolled: r.get(6)?,
        push,
        unlock_token: r.get(10)?,
        bootstrap_token: r.get(11)?,
        authenticate: r.get(12)?,
        token_update: r.get(13)?,
        created_at: r.get(14)?,
        last_seen_at: r.get(15)?,
        enrolled_at: r.get(16)?,
        checked_out_at: r.get(17)?,
        facts: r
            .get::<_, Option<String>>(18)?
            .as_deref()
            .and_then(super::facts::from_json),
        push_dead_at: r.get(19)?,
    })
}

fn upsert_key(
    tx: &rusqlite::Transaction<'_>,
    key: &EnrollmentKey,
    now: Timestamp,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO enrollments (id, device_id, kind, udid, user_short_name, user_long_name, \
         created_at, last_seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
         ON CONFLICT (id) DO UPDATE SET device_id = excluded.device_id, kind = excluded.kind, \
         udid = COALESCE(excluded.udid, udid), \
         user_short_name = COALESCE(excluded.user_short_name, user_short_name), \
         user_long_name = COALESCE(excluded.user_long_name, user_long_name), \
         last_seen_at = excluded.last_seen_at",
        params![
            key.id,
            key.device_id,
            key.kind,
            key.udid,
            key.user_short_name,
            key.user_long_name,
            now
        ],
    )?;
    Ok(())
}

#[async_trait]
impl Storage for SqliteStorage {
    async fn authenticate_with_events(
        &self,
        key: &EnrollmentKey,
        raw: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let (key, raw, events) = (key.clone(), raw.to_vec(), events.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            upsert_key(&tx, &key, now)?;
            tx.execute(
                "UPDATE enrollments SET enrolled = 0, authenticate = ?2 WHERE id = ?1",
                params![key.id, raw],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()
        })
        .await
    }

    async fn token_update_with_events(
        &self,
        key: &EnrollmentKey,
        push: &PushInfo,
        unlock_token: Option<&[u8]>,
        raw: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<bool> {
        let (key, push, unlock, raw, events) = (
            key.clone(),
            push.clone(),
            unlock_token.map(<[u8]>::to_vec),
            raw.to_vec(),
            events.to_vec(),
        );
        self.with(move |c| {
            let tx = c.transaction()?;
            upsert_key(&tx, &key, now)?;
            let was: bool = tx.query_row(
                "SELECT enrolled FROM enrollments WHERE id = ?1",
                params![key.id],
                |r| r.get(0),
            )?;
            tx.execute(
                "UPDATE enrollments SET enrolled = 1, token = ?2, push_magic = ?3, topic = ?4, \
                 unlock_token = COALESCE(?5, unlock_token), token_update = ?6, \
                 enrolled_at = CASE WHEN enrolled = 1 THEN enrolled_at ELSE ?7 END, \
                 checked_out_at = NULL, push_dead_at = NULL WHERE id = ?1",
                params![
                    key.id,
                    push.token,
                    push.push_magic,
                    push.topic,
                    unlock,
                    raw,
                    now
                ],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()?;
            Ok(!was)
        })
        .await
    }

    async fn check_out_with_events(
        &self,
        id: &str,
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let (id, events) = (id.to_owned(), events.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE enrollments SET enrolled = 0, checked_out_at = ?2, last_seen_at = ?2 \
                 WHERE id = ?1",
                params![id, now],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()
        })
        .await
    }

    async fn touch(&self, id: &str, now: Timestamp) -> Result<bool> {
        let id = id.to_owned();
        self.with(move |c| {
            let last: Option<i64> = c
                .query_row(
                    "SELECT last_seen_at FROM enrollments WHERE id = ?1",
                    params![id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(last) = last else {
                return Ok(false);
            };
            if last <= now - super::TOUCH_GRANULARITY {
                c.execute(
                    "UPDATE enrollments SET last_seen_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
            }
            Ok(true)
        })
        .await
    }

    async fn set_bootstrap_token_with_events(
        &self,
        id: &str,
        token: Option<&[u8]>,
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let (id, token, events) = (id.to_owned(), token.map(<[u8]>::to_vec), events.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE enrollments SET bootstrap_token = ?2, last_seen_at = ?3 WHERE id = ?1",
                params![id, token, now],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()
        })
        .await
    }

    async fn set_facts(&self, id: &str, facts: &DeviceFacts) -> Result<()> {
        let (id, json) = (id.to_owned(), super::facts::to_json(facts));
        self.with(move |c| {
            c.execute(
                "UPDATE enrollments SET facts = ?2 WHERE id = ?1",
                params![id, json],
            )
            .map(drop)
        })
        .await
    }

    async fn enrollment(&self, id: &str) -> Result<Option<EnrollmentRecord>> {
        let id = id.to_owned();
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE id = ?1"),
                params![id],
                enrollment_from_row,
            )
            .optional()
        })
        .await
    }

    async fn list_enrollments(&self, filter: &EnrollmentFilter) -> Result<Vec<EnrollmentRecord>> {
        let filter = filter.clone();
        self.with(move |c| {
            use rusqlite::types::Value;
            let mut sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE 1 = 1");
            let mut args: Vec<Value> = Vec::new();
            if let Some(d) = filter.device_id {
                args.push(Value::Text(d));
                sql.push_str(&format!(" AND device_id = ?{}", args.len()));
            }
            if let Some(e) = filter.enrolled {
                args.push(Value::Integer(i64::from(e)));
                sql.push_str(&format!(" AND enrolled = ?{}", args.len()));
            }
            if let Some(k) = filter.kind {
                args.push(Value::Text(k));
                sql.push_str(&format!(" AND kind = ?{}", args.len()));
            }
            if let Some(a) = filter.after {
                args.push(Value::Text(a));
                sql.push_str(&format!(" AND id > ?{}", args.len()));
            }
            args.push(Value::Integer(i64::from(filter.limit)));
            sql.push_str(&format!(" ORDER BY id LIMIT ?{}", args.len()));
            let mut stmt = c.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), enrollment_from_row)?;
            rows.collect()
        })
        .await
    }

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
            {
                let mut stmt = tx.prepare(
                    "INSERT INTO queue (enrollment_id, command_uuid, updated_at, ready_at) \
                         VALUES (?1, ?2, ?3, ?3) ON CONFLICT DO NOTHING",
                )?;
                for t in &targets {
                    stmt.execute(params![t, command.uuid, now])?;
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
            let changed = tx.execute(
                "UPDATE queue SET sent_at = ?3, first_sent_at = COALESCE(first_sent_at, ?3) \
                 WHERE enrollment_id = ?1 AND command_uuid = ?2 \
                 AND (status IS NULL OR status = 'NotNow') \
                 AND EXISTS (SELECT 1 FROM commands c WHERE c.uuid = ?2 \
                 AND (c.expires_at IS NULL OR c.expires_at > ?3))",
                params![id, uuid, now],
            )?;
            let found = if changed == 0 {
                None
            } else {
                tx.query_row(
                    "SELECT uuid, request_type, body FROM commands WHERE uuid = ?1",
                    params![uuid],
                    |r| {
                        Ok(QueuedCommand {
                            uuid: r.get(0)?,
                            request_type: r.get(1)?,
                            body: r.get(2)?,
                        })
                    },
                )
                .optional()?
            };
            tx.commit()?;
            Ok(found)
        })
        .await
    }

    async fn defer(&self, id: &str, uuid: &str, ready_at: Timestamp) -> Result<bool> {
        let (id, uuid) = (id.to_owned(), uuid.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE queue SET ready_at = ?3, first_sent_at = NULL, \
                 not_now_count = not_now_count + 1 \
                 WHERE enrollment_id = ?1 AND command_uuid = ?2 \
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
                    "SELECT {ENTRY_COLUMNS} FROM queue q JOIN commands c ON c.uuid = q.command_uuid \
                     WHERE q.enrollment_id = ?1 AND q.command_uuid = ?2 \
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
                 WHERE command_uuid = ?1 AND (?2 IS NULL OR enrollment_id = ?2) \
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
                "SELECT q.enrollment_id, c.uuid, c.request_type, q.first_sent_at, q.sent_at \
                 FROM queue q JOIN commands c ON c.uuid = q.command_uuid \
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
            let takes_cancelled = status != super::STATUS_NOT_NOW;
            let changed = tx.execute(
                "UPDATE queue SET status = ?3, report = ?4, updated_at = ?5 \
                 WHERE enrollment_id = ?1 AND command_uuid = ?2 \
                 AND (status IS NULL OR status = 'NotNow' OR (status = 'Cancelled' AND ?6))",
                params![id, uuid, status, report, now, takes_cancelled],
            )?;
            let outcome = if changed > 0 {
                ReportOutcome::Recorded
            } else {
                let exists = tx
                    .query_row(
                        "SELECT 1 FROM queue WHERE enrollment_id = ?1 AND command_uuid = ?2",
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
            insert_events(&tx, &events)?;
            tx.commit()?;
            Ok(outcome)
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
                params![id - super::MAX_BAD_REPORTS],
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
                 OR NOT EXISTS (SELECT 1 FROM queue q WHERE q.command_uuid = commands.uuid \
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
                "SELECT enrollment_id, status, report, sent_at, updated_at, first_sent_at, \
                 not_now_count FROM queue WHERE command_uuid = ?1 ORDER BY enrollment_id",
            )?;
            let expires_at = record.expires_at;
            let rows = stmt.query_map(params![uuid], |r| {
                Ok(TargetStatus {
                    enrollment_id: r.get(0)?,
                    status: super::shown_status(r.get(1)?, expires_at, now),
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
                "SELECT {ENTRY_COLUMNS} FROM queue q JOIN commands c ON c.uuid = q.command_uuid \
                 WHERE q.enrollment_id = ?1 AND (q.status IS NULL OR q.status = 'NotNow') \
                 AND (c.expires_at IS NULL OR c.expires_at > ?2) \
                 ORDER BY c.priority DESC, q.ready_at, q.seq LIMIT ?3"
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
                 WHERE enrollment_id = ?1 AND (status IS NULL OR status = 'NotNow')",
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
                 WHERE command_uuid = ?1 AND (status IS NULL OR status = 'NotNow')",
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
                 FROM queue q JOIN commands c ON c.uuid = q.command_uuid \
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
                "SELECT DISTINCT q.enrollment_id FROM queue q \
                 JOIN commands c ON c.uuid = q.command_uuid \
                 JOIN enrollments e ON e.id = q.enrollment_id \
                 WHERE (q.status IS NULL OR q.status = 'NotNow') AND q.ready_at <= ?2 \
                 AND (c.expires_at IS NULL OR c.expires_at > ?2) \
                 AND e.enrolled = 1 AND e.token IS NOT NULL AND e.push_dead_at IS NULL \
                 AND e.last_seen_at < ?1 AND (e.repushed_at IS NULL OR e.repushed_at < ?1) \
                 ORDER BY q.enrollment_id LIMIT ?3",
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

    async fn cancel_target(&self, id: &str, uuid: &str, now: Timestamp) -> Result<u64> {
        let (id, uuid) = (id.to_owned(), uuid.to_owned());
        self.with(move |c| {
            c.execute(
                "UPDATE queue SET status = 'Cancelled', updated_at = ?3 \
                 WHERE enrollment_id = ?1 AND command_uuid = ?2 \
                 AND (status IS NULL OR status = 'NotNow')",
                params![id, uuid, now],
            )
            .map(|n| n as u64)
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

    async fn cert_binding(&self, device_id: &str) -> Result<Option<String>> {
        let device_id = device_id.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT fingerprint FROM cert_bindings WHERE device_id = ?1",
                params![device_id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn cert_owner(&self, fingerprint: &str) -> Result<Option<String>> {
        let fingerprint = fingerprint.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT device_id FROM cert_bindings WHERE fingerprint = ?1 \
                 ORDER BY updated_at DESC LIMIT 1",
                params![fingerprint],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn rebind_cert(&self, change: &Rebinding, now: Timestamp) -> Result<BindOutcome> {
        let change = change.clone();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let other: Option<String> = tx
                .query_row(
                    "SELECT device_id FROM cert_bindings WHERE fingerprint = ?1 \
                     AND device_id <> ?2 LIMIT 1",
                    params![change.fingerprint, change.device_id],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(other) = other {
                return Ok(BindOutcome::TakenBy(other));
            }
            let current: Option<String> = tx
                .query_row(
                    "SELECT fingerprint FROM cert_bindings WHERE device_id = ?1",
                    params![change.device_id],
                    |r| r.get(0),
                )
                .optional()?;
            if current != change.previous {
                return Ok(BindOutcome::Changed);
            }
            tx.execute(
                "INSERT INTO cert_bindings (device_id, fingerprint, updated_at) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (device_id) DO UPDATE SET \
                 fingerprint = excluded.fingerprint, updated_at = excluded.updated_at",
                params![change.device_id, change.fingerprint, now],
            )?;
            tx.execute(
                "INSERT INTO cert_binding_history (device_id, old_fingerprint, \
                 new_fingerprint, reason, token_id, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    change.device_id,
                    change.previous,
                    change.fingerprint,
                    change.reason,
                    change.token_id,
                    now
                ],
            )?;
            tx.commit()?;
            Ok(BindOutcome::Bound)
        })
        .await
    }

    async fn cert_was_bound(&self, fingerprint: &str) -> Result<bool> {
        let fingerprint = fingerprint.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT 1 FROM cert_binding_history WHERE new_fingerprint = ?1 LIMIT 1",
                params![fingerprint],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
        })
        .await
    }

    async fn binding_history(&self, device_id: &str) -> Result<Vec<BindingEvent>> {
        let device_id = device_id.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT old_fingerprint, new_fingerprint, reason, token_id, at FROM \
                 (SELECT * FROM cert_binding_history WHERE device_id = ?1 \
                  ORDER BY id DESC LIMIT 100) ORDER BY id",
            )?;
            let rows = stmt.query_map(params![device_id], |r| {
                Ok(BindingEvent {
                    old_fingerprint: r.get(0)?,
                    new_fingerprint: r.get(1)?,
                    reason: r.get(2)?,
                    token_id: r.get(3)?,
                    at: r.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    async fn create_enrollment_token(&self, token: &EnrollmentToken) -> Result<()> {
        let t = token.clone();
        self.with(move |c| {
            c.execute(
                &format!(
                    "INSERT INTO enrollment_tokens ({TOKEN_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                params![
                    t.id,
                    t.secret_hash,
                    t.max_uses,
                    t.uses,
                    t.expires_at,
                    t.device,
                    t.user,
                    t.may_reenroll,
                    t.created_at,
                    t.revoked_at
                ],
            )
            .map(drop)
        })
        .await
    }

    async fn enrollment_tokens(&self, limit: u32) -> Result<Vec<EnrollmentToken>> {
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {TOKEN_COLUMNS} FROM enrollment_tokens \
                 ORDER BY created_at DESC, id LIMIT ?1"
            ))?;
            let rows = stmt.query_map(params![i64::from(limit)], token_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn revoke_enrollment_token(&self, id: &str, now: Timestamp) -> Result<bool> {
        let id = id.to_owned();
        self.with(move |c| {
            let n = c.execute(
                "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?2) \
                 WHERE id = ?1",
                params![id, now],
            )?;
            Ok(n > 0)
        })
        .await
    }

    async fn take_enrollment_token(
        &self,
        secret_hash: &str,
        challenge_hash: &str,
        challenge_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>> {
        let (secret_hash, challenge_hash) = (secret_hash.to_owned(), challenge_hash.to_owned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let Some(mut token) = token_by(&tx, "secret_hash", &secret_hash)? else {
                return Ok(Err(Refusal::Unknown));
            };
            if token.revoked_at.is_some() {
                return Ok(Err(Refusal::Revoked));
            }
            if token.expires_at <= now {
                return Ok(Err(Refusal::Expired));
            }
            if token.uses >= token.max_uses {
                return Ok(Err(Refusal::UsedUp));
            }
            tx.execute(
                "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = ?1",
                params![token.id],
            )?;
            tx.execute(
                "INSERT INTO scep_challenges (challenge_hash, token_id, expires_at, created_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                params![challenge_hash, token.id, challenge_expires_at, now],
            )?;
            tx.commit()?;
            token.uses += 1;
            Ok(Ok(token))
        })
        .await
    }

    async fn consume_challenge(
        &self,
        challenge_hash: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>> {
        let (challenge_hash, fingerprint) = (challenge_hash.to_owned(), fingerprint.to_owned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let found: Option<(String, Timestamp, Option<Timestamp>)> = tx
                .query_row(
                    "SELECT token_id, expires_at, used_at FROM scep_challenges \
                     WHERE challenge_hash = ?1",
                    params![challenge_hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((token_id, expires_at, used_at)) = found else {
                return Ok(Err(Refusal::Unknown));
            };
            if used_at.is_some() {
                return Ok(Err(Refusal::UsedUp));
            }
            if expires_at <= now {
                return Ok(Err(Refusal::Expired));
            }
            let Some(token) = token_by(&tx, "id", &token_id)? else {
                return Ok(Err(Refusal::Unknown));
            };
            if token.revoked_at.is_some() {
                return Ok(Err(Refusal::Revoked));
            }
            tx.execute(
                "UPDATE scep_challenges SET used_at = ?2, cert_fingerprint = ?3 \
                 WHERE challenge_hash = ?1",
                params![challenge_hash, now, fingerprint],
            )?;
            tx.execute(
                "INSERT INTO issued_certs (fingerprint, token_id, issued_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (fingerprint) DO NOTHING",
                params![fingerprint, token.id, now],
            )?;
            tx.commit()?;
            Ok(Ok(token))
        })
        .await
    }

    async fn issued_token(&self, fingerprint: &str) -> Result<Option<EnrollmentToken>> {
        let fingerprint = fingerprint.to_owned();
        self.with(move |c| {
            c.query_row(
                &format!(
                    "SELECT {} FROM issued_certs i JOIN enrollment_tokens t ON t.id = i.token_id \
                     WHERE i.fingerprint = ?1",
                    TOKEN_COLUMNS
                        .split(", ")
                        .map(|col| format!("t.{col}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                params![fingerprint],
                token_from_row,
            )
            .optional()
        })
        .await
    }

    async fn record_renewal(&self, old: &str, new: &str, now: Timestamp) -> Result<()> {
        let (old, new) = (old.to_owned(), new.to_owned());
        self.with(move |c| {
            c.execute(
                "INSERT INTO cert_renewals (new_fingerprint, old_fingerprint, created_at) \
                 VALUES (?1, ?2, ?3) ON CONFLICT (new_fingerprint) DO NOTHING",
                params![new, old, now],
            )
            .map(drop)
        })
        .await
    }

    async fn renewed_from(&self, new: &str) -> Result<Option<String>> {
        let new = new.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT old_fingerprint FROM cert_renewals WHERE new_fingerprint = ?1",
                params![new],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn put_declaration(
        &self,
        id: &str,
        identifier: &str,
        json: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        let (id, identifier, json) = (id.to_owned(), identifier.to_owned(), json.to_vec());
        self.with(move |c| {
            c.execute(
                "INSERT INTO declarations (enrollment_id, identifier, body, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (enrollment_id, identifier) DO UPDATE \
                 SET body = excluded.body, updated_at = excluded.updated_at",
                params![id, identifier, json, now],
            )
            .map(drop)
        })
        .await
    }

    async fn declarations(&self, id: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let id = id.to_owned();
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT identifier, body FROM declarations WHERE enrollment_id = ?1 \
                 ORDER BY identifier",
            )?;
            let rows = stmt.query_map(params![id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    async fn delete_declaration(&self, id: &str, identifier: &str) -> Result<bool> {
        let (id, identifier) = (id.to_owned(), identifier.to_owned());
        self.with(move |c| {
            c.execute(
                "DELETE FROM declarations WHERE enrollment_id = ?1 AND identifier = ?2",
                params![id, identifier],
            )
            .map(|n| n > 0)
        })
        .await
    }

    async fn ddm_status(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let id = id.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT body FROM ddm_status WHERE enrollment_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn set_ddm_status_with_events(
        &self,
        id: &str,
        json: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let (id, json, events) = (id.to_owned(), json.to_vec(), events.to_vec());
        self.with(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO ddm_status (enrollment_id, body, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (enrollment_id) DO UPDATE SET body = excluded.body, \
                 updated_at = excluded.updated_at",
                params![id, json, now],
            )?;
            insert_events(&tx, &events)?;
            tx.commit()
        })
        .await
    }

    async fn return_to_service(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let id = id.to_owned();
        self.with(move |c| {
            c.query_row(
                "SELECT body FROM return_to_service WHERE enrollment_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    async fn set_return_to_service(
        &self,
        id: &str,
        json: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<()> {
        let (id, json) = (id.to_owned(), json.map(<[u8]>::to_vec));
        self.with(move |c| match json {
            Some(json) => c
                .execute(
                    "INSERT INTO return_to_service (enrollment_id, body, updated_at) \
                     VALUES (?1, ?2, ?3) ON CONFLICT (enrollment_id) DO UPDATE SET \
                     body = excluded.body, updated_at = excluded.updated_at",
                    params![id, json, now],
                )
                .map(drop),
            None => c
                .execute(
                    "DELETE FROM return_to_service WHERE enrollment_id = ?1",
                    params![id],
                )
                .map(drop),
        })
        .await
    }
}
