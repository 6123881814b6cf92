//! SQLite storage: one file, WAL mode, migrations tracked in `PRAGMA user_version`.
//!
//! rusqlite is synchronous: each call runs on the one thread that owns the one connection
//! (`worker`), which SQLite serialises anyway (one writer at a time).

mod ddm;
mod enrollments;
mod events;
mod pushes;
mod queue;
mod worker;

use super::{
    BadReport, BindOutcome, BindingEvent, CommandRecord, EnrollmentFilter, EnrollmentKey,
    EnrollmentRecord, EnrollmentToken, InFlight, NewCommand, Pruned, PushCert, PushInfo,
    QueueEntry, QueueStats, QueuedCommand, Rebinding, Refusal, ReportOutcome, Result, StorageError,
    TargetStatus, Timestamp,
};
use crate::events::{Event, StoredEvent};
use async_trait::async_trait;
use mdm_commands::applicability::DeviceFacts;
use rusqlite::{Connection, OptionalExtension, params};

mod dep;

/// The page cache of the connection, in KiB.
const CACHE_KIB: i64 = 64 * 1024;

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
    // Compact queue (issue 18, item 3): a queued row names its enrollment and command by
    // integer (the enrollment IDs interned in `queue_targets`, the command by `commands.seq`)
    // instead of two text columns repeated in two indexes, so a row costs a third of what it
    // did; the waiting rows are indexed in queue order (priority copied into the row), so the
    // next-command lookup reads only the head of the device's queue and never its answered
    // rows. Rebuilds both tables, keeping every row and its order. `target` has no foreign
    // key: it is always read from `queue_targets` by the statement that writes it, and
    // interned IDs are never deleted.
    r#"
CREATE TABLE queue_targets (
    ref INTEGER PRIMARY KEY,
    enrollment_id TEXT NOT NULL UNIQUE
);
INSERT INTO queue_targets (enrollment_id)
    SELECT DISTINCT enrollment_id FROM queue ORDER BY enrollment_id;
CREATE TABLE commands_compact (
    seq INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    request_type TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    priority INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT
);
INSERT INTO commands_compact (uuid, request_type, body, created_at, expires_at, priority,
        idempotency_key)
    SELECT uuid, request_type, body, created_at, expires_at, priority, idempotency_key
    FROM commands ORDER BY created_at, rowid;
CREATE TABLE queue_compact (
    seq INTEGER PRIMARY KEY,
    target INTEGER NOT NULL,
    command INTEGER NOT NULL REFERENCES commands_compact (seq) ON DELETE CASCADE,
    priority INTEGER NOT NULL DEFAULT 0,
    status TEXT,
    report BLOB,
    sent_at INTEGER,
    updated_at INTEGER NOT NULL,
    ready_at INTEGER NOT NULL DEFAULT 0,
    first_sent_at INTEGER,
    not_now_count INTEGER NOT NULL DEFAULT 0
);
INSERT INTO queue_compact (seq, target, command, priority, status, report, sent_at, updated_at,
        ready_at, first_sent_at, not_now_count)
    SELECT q.seq, t.ref, c.seq, c.priority, q.status, q.report, q.sent_at, q.updated_at,
        q.ready_at, q.first_sent_at, q.not_now_count
    FROM queue q JOIN queue_targets t ON t.enrollment_id = q.enrollment_id
    JOIN commands_compact c ON c.uuid = q.command_uuid ORDER BY q.seq;
DROP TABLE queue;
DROP TABLE commands;
ALTER TABLE commands_compact RENAME TO commands;
ALTER TABLE queue_compact RENAME TO queue;
CREATE UNIQUE INDEX commands_idempotency_key ON commands (idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX queue_command_target ON queue (command, target);
CREATE INDEX queue_waiting ON queue (target, priority DESC, ready_at, seq)
    WHERE status IS NULL OR status = 'NotNow';
CREATE INDEX queue_in_flight ON queue (first_sent_at) WHERE first_sent_at IS NOT NULL;
"#,
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
     q.sent_at, q.priority, q.ready_at, q.first_sent_at, q.not_now_count";

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
    conn: worker::Worker,
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
            // Up to 64 MiB of pages cached (SQLite's default is 2 MiB): at a million queued
            // rows the command-UUID index alone is larger than that, and every enqueue
            // touches one of its pages at random.
            conn.pragma_update(None, "cache_size", -CACHE_KIB)
                .map_err(backend)?;
            // Room for every statement a device request runs (rusqlite keeps 16).
            conn.set_prepared_statement_cache_capacity(64);
            // Plans that do not depend on bound values: without this SQLite reads the value
            // bound to a `LIMIT ?` while planning and parses the statement again at every
            // run (cached or not), which was a tenth of the server's CPU per device request.
            conn.set_db_config(
                rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                true,
            )
            .map_err(backend)?;
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(StorageError::backend)??;
        Ok(SqliteStorage {
            conn: worker::Worker::start(conn)?,
        })
    }

    async fn with<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.conn.run(f).await
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

/// The enrollment key in columns 0 to 5 (`id, device_id, kind, udid, user_short_name,
/// user_long_name`).
fn key_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EnrollmentKey> {
    Ok(EnrollmentKey {
        id: r.get(0)?,
        device_id: r.get(1)?,
        kind: r.get(2)?,
        udid: r.get(3)?,
        user_short_name: r.get(4)?,
        user_long_name: r.get(5)?,
    })
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
        key: key_from_row(r)?,
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
