//! The storage suite (`mdm_server::storage::conformance`) against SQLite and PostgreSQL, and
//! what is particular to each backend: migrations, TLS to PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/helpers.rs"]
mod support;

use mdm_server::queue::{self, Policy};
use mdm_server::storage::conformance::{Opener, run_suite};
use mdm_server::storage::{self, NewCommand, Storage};
use support::{PgSchema, TempDir};

const NOW: i64 = 1_700_000_000;

fn cmd(uuid: &str) -> NewCommand {
    NewCommand::new(
        uuid,
        "DeviceInformation",
        format!("<plist>{uuid}</plist>").into_bytes(),
    )
}

async fn next(s: &dyn Storage, id: &str, idle: bool) -> Option<String> {
    next_at(s, id, idle, NOW).await
}

async fn next_at(s: &dyn Storage, id: &str, _idle: bool, now: i64) -> Option<String> {
    queue::next(s, id, now, &Policy::default())
        .await
        .unwrap()
        .map(|c| c.uuid)
}

/// Every command the device is sent from now on, in order, each acknowledged.
async fn drain(s: &dyn Storage, id: &str, now: i64) -> Vec<String> {
    let mut order = Vec::new();
    while let Some(u) = next_at(s, id, true, now).await {
        s.record_report(id, &u, "Acknowledged", b"ok", now)
            .await
            .unwrap();
        order.push(u);
    }
    order
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn sqlite_passes_the_suite() {
    let dir = TempDir::new();
    let path = dir.path().join("mdm.sqlite");
    let open: Opener = Box::new(move || {
        let path = path.clone();
        Box::pin(async move {
            storage::open(&format!("sqlite:{}", path.display()))
                .await
                .unwrap()
        })
    });
    run_suite(open).await;
}

#[tokio::test]
async fn postgres_passes_the_suite() {
    let Some(schema) = PgSchema::create("postgres_passes_the_suite", "t").await else {
        return;
    };
    let url = schema.url.clone();
    let open: Opener = Box::new(move || {
        let url = url.clone();
        Box::pin(async move { storage::open(&url).await.unwrap() })
    });
    run_suite(open).await;
    schema.drop_schema().await;
}

#[tokio::test]
async fn postgres_instances_migrate_concurrently() {
    let Some(schema) = PgSchema::create("postgres_instances_migrate_concurrently", "t").await
    else {
        return;
    };
    let (a, b) = tokio::join!(storage::open(&schema.url), storage::open(&schema.url));
    a.unwrap();
    b.unwrap();
    schema.drop_schema().await;
}

#[tokio::test]
async fn sqlite_reopens_with_migrations_applied() {
    let dir = TempDir::new();
    let url = format!("sqlite:{}", dir.path().join("x.sqlite").display());
    let s = storage::open(&url).await.unwrap();
    s.enqueue(&cmd("keep"), &["D".into()], NOW).await.unwrap();
    drop(s);
    let s = storage::open(&url).await.unwrap();
    assert_eq!(next(&*s, "D", true).await.as_deref(), Some("keep"));
    assert!(storage::open("sqlite:").await.is_err());
}

/// The TLS-enabled PostgreSQL (`.ci/run` starts one on port 5433), or `None` after SKIP.
fn tls_url(test: &str) -> Option<String> {
    match std::env::var("MDM_TEST_POSTGRES_TLS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            mdm_test_support::skip(
                "PostgreSQL with TLS",
                &format!("{test}: MDM_TEST_POSTGRES_TLS_URL is not set (.ci/run starts one)"),
            );
            None
        }
    }
}

#[tokio::test]
async fn postgres_over_tls_verifies_the_server_and_names_failures() {
    let Some(url) = tls_url("postgres_over_tls_verifies_the_server_and_names_failures") else {
        return;
    };
    // As given (CI: sslmode=verify-full with the test CA): connects and works.
    let s = storage::open(&url).await.unwrap();
    let id = unique("TLS");
    s.enqueue(&cmd(&unique("tls")), std::slice::from_ref(&id), NOW)
        .await
        .unwrap();
    assert!(next(&*s, &id, true).await.is_some());
    drop(s);

    let without_root: String = {
        let (base, query) = url.split_once('?').unwrap_or((&url, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                !p.is_empty() && !p.starts_with("sslrootcert=") && !p.starts_with("sslmode=")
            })
            .collect();
        if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    };
    let with = |extra: &str| {
        let sep = if without_root.contains('?') { '&' } else { '?' };
        format!("{without_root}{sep}{extra}")
    };
    // A CA that did not sign the server's certificate: refused, and the error says why.
    let dir = TempDir::new();
    let other_ca = dir.path().join(mdm_server::pki::CA_CERT_FILE);
    let e = storage::open_with(
        &with("sslmode=verify-full"),
        &storage::OpenOptions::new().with_postgres_ca_file(Some(other_ca)),
    )
    .await
    .expect_err("a wrong CA must fail")
    .to_string();
    assert!(e.contains("invalid peer certificate"), "{e}");
    // verify-full without a CA: a configuration error naming what is missing.
    let e = storage::open(&with("sslmode=verify-full"))
        .await
        .expect_err("no CA must fail")
        .to_string();
    assert!(e.contains("sslrootcert"), "{e}");
    // require without a CA: encrypted, not verified (libpq's meaning).
    storage::open(&with("sslmode=require")).await.unwrap();
    // An unknown sslmode is named.
    let e = storage::open(&with("sslmode=sometimes"))
        .await
        .expect_err("bad sslmode")
        .to_string();
    assert!(e.contains("sometimes"), "{e}");
}

/// The queue's migrations keep what older versions wrote: a database of version 6 (before
/// the queue contract's columns, the pushes', the backstop's, the events' and the compact
/// queue's migrations; simulated by putting back the first version's queue tables) keeps
/// every command, its targets and its order after the upgrade.
#[tokio::test]
async fn sqlite_keeps_old_rows_through_the_queue_migrations() {
    let dir = TempDir::new();
    let path = dir.path().join("old.sqlite");
    let url = format!("sqlite:{}", path.display());
    drop(storage::open(&url).await.unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch(
        "DROP TABLE events; DROP TABLE webhook_cursors;
         DROP TABLE queue; DROP TABLE commands; DROP TABLE queue_targets;
         CREATE TABLE commands (uuid TEXT PRIMARY KEY, request_type TEXT NOT NULL,
             body BLOB NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER);
         CREATE TABLE queue (seq INTEGER PRIMARY KEY AUTOINCREMENT,
             enrollment_id TEXT NOT NULL,
             command_uuid TEXT NOT NULL REFERENCES commands (uuid) ON DELETE CASCADE,
             status TEXT, report BLOB, sent_at INTEGER, updated_at INTEGER NOT NULL,
             UNIQUE (enrollment_id, command_uuid));
         CREATE INDEX queue_command ON queue (command_uuid);
         ALTER TABLE enrollments DROP COLUMN repushed_at;
         ALTER TABLE enrollments DROP COLUMN push_dead_at;
         ALTER TABLE push_certs DROP COLUMN stored_seq;",
    )
    .unwrap();
    // Back to version 6, before the queue's, the pushes', the backstop's and the events'
    // migrations (7 to 10); DEP's (`IF NOT EXISTS`) runs again, then the compact queue's.
    assert!(version >= 12, "{version}");
    conn.pragma_update(None, "user_version", 6).unwrap();
    // Rows as the previous version wrote them: one sent and unanswered, one NotNow, one new.
    for (i, (uuid, status, sent)) in [
        ("OLD-SENT", None, Some(NOW)),
        ("OLD-NOTNOW", Some("NotNow"), Some(NOW)),
        ("OLD-NEW", None, None),
    ]
    .into_iter()
    .enumerate()
    {
        conn.execute(
            "INSERT INTO commands (uuid, request_type, body, created_at) VALUES (?1, 'ProfileList', ?2, ?3)",
            rusqlite::params![uuid, format!("<plist>{uuid}</plist>").into_bytes(), NOW + i as i64],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO queue (enrollment_id, command_uuid, status, sent_at, updated_at) VALUES ('D', ?1, ?2, ?3, ?4)",
            rusqlite::params![uuid, status, sent, NOW],
        )
        .unwrap();
    }
    // A second target of the newest command.
    conn.execute(
        "INSERT INTO queue (enrollment_id, command_uuid, updated_at) VALUES ('E', 'OLD-NEW', ?1)",
        rusqlite::params![NOW],
    )
    .unwrap();
    drop(conn);
    let s = storage::open(&url).await.unwrap();
    let targets: Vec<_> = s
        .command("OLD-NEW", NOW)
        .await
        .unwrap()
        .unwrap()
        .targets
        .into_iter()
        .map(|t| (t.enrollment_id, t.status))
        .collect();
    assert_eq!(
        targets,
        [("D".into(), "Queued".into()), ("E".into(), "Queued".into())]
    );
    let q = s.queue("D", NOW, 100).await.unwrap();
    let got: Vec<_> = q
        .iter()
        .map(|e| (e.uuid.as_str(), e.status.as_str(), e.priority, e.ready_at))
        .collect();
    assert_eq!(
        got,
        [
            ("OLD-SENT", "Queued", 0, 0),
            ("OLD-NOTNOW", "NotNow", 0, 0),
            ("OLD-NEW", "Queued", 0, 0)
        ]
    );
    let rec = s.command("OLD-SENT", NOW).await.unwrap().unwrap();
    assert_eq!(rec.body, b"<plist>OLD-SENT</plist>");
    assert_eq!(rec.targets[0].sent_at, Some(NOW));
    // A new command goes after them.
    s.enqueue(&cmd("NEW"), &["D".into()], NOW + 10)
        .await
        .unwrap();
    let order = drain(&*s, "D", NOW + 20).await;
    assert_eq!(order, ["OLD-SENT", "OLD-NOTNOW", "OLD-NEW", "NEW"]);
}

/// The compact queue's migration on PostgreSQL keeps what the previous version wrote: a
/// database of version 11 (simulated by putting back that version's queue table) keeps every
/// command, its targets, its order, its in-flight and `NotNow` state after the upgrade, and
/// new commands go after the old ones.
#[tokio::test]
async fn postgres_keeps_old_rows_through_the_compact_queue_migration() {
    let Some(schema) = PgSchema::create("postgres_keeps_old_rows", "t").await else {
        return;
    };
    drop(storage::open(&schema.url).await.unwrap());
    let (client, conn) = tokio_postgres::connect(&schema.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    // The compact queue is migration 12; the ones after it run again over the old rows.
    let version: i64 = 12;
    let newest: i64 = client
        .query_one("SELECT MAX(version) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert!(newest >= version, "{newest}");
    client
        .batch_execute(
            "DROP TABLE queue; DROP TABLE queue_targets; ALTER TABLE commands DROP COLUMN seq;
             CREATE TABLE queue (
                 seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 enrollment_id TEXT NOT NULL,
                 command_uuid TEXT NOT NULL REFERENCES commands (uuid) ON DELETE CASCADE,
                 status TEXT, report BYTEA, sent_at BIGINT, updated_at BIGINT NOT NULL,
                 ready_at BIGINT NOT NULL DEFAULT 0, first_sent_at BIGINT,
                 not_now_count INTEGER NOT NULL DEFAULT 0,
                 UNIQUE (enrollment_id, command_uuid));
             CREATE INDEX queue_command ON queue (command_uuid);
             CREATE INDEX queue_pending ON queue (enrollment_id)
                 WHERE status IS NULL OR status = 'NotNow';",
        )
        .await
        .unwrap();
    client
        .execute(
            "DELETE FROM schema_migrations WHERE version >= $1",
            &[&version],
        )
        .await
        .unwrap();
    // As version 11 wrote them: one in flight, one NotNow and backed off, one new with two
    // targets, one of priority 5.
    for (i, (uuid, status, first_sent, ready, priority)) in [
        ("OLD-SENT", None, Some(NOW), 0_i64, 0_i32),
        ("OLD-NOTNOW", Some("NotNow"), None, NOW + 5, 0),
        ("OLD-NEW", None, None, 0, 0),
        ("OLD-URGENT", None, None, 0, 5),
    ]
    .into_iter()
    .enumerate()
    {
        let body = format!("<plist>{uuid}</plist>").into_bytes();
        client
            .execute(
                "INSERT INTO commands (uuid, request_type, body, created_at, priority) \
                 VALUES ($1, 'ProfileList', $2, $3, $4)",
                &[&uuid, &body, &(NOW + i as i64), &priority],
            )
            .await
            .unwrap();
        client
            .execute(
                "INSERT INTO queue (enrollment_id, command_uuid, status, sent_at, updated_at, \
                 ready_at, first_sent_at, not_now_count) VALUES ('D', $1, $2, $3, $4, $5, $3, $6)",
                &[
                    &uuid,
                    &status,
                    &first_sent,
                    &NOW,
                    &ready,
                    &i32::from(status.is_some()),
                ],
            )
            .await
            .unwrap();
    }
    client
        .execute(
            "INSERT INTO queue (enrollment_id, command_uuid, updated_at) VALUES ('E', 'OLD-NEW', $1)",
            &[&NOW],
        )
        .await
        .unwrap();
    let s = storage::open(&schema.url).await.unwrap();
    let q = s.queue("D", NOW, 100).await.unwrap();
    let got: Vec<_> = q
        .iter()
        .map(|e| {
            (
                e.uuid.as_str(),
                e.status.as_str(),
                e.priority,
                e.ready_at,
                e.first_sent_at,
                e.not_now_count,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("OLD-URGENT", "Queued", 5, 0, None, 0),
            ("OLD-SENT", "Queued", 0, 0, Some(NOW), 0),
            ("OLD-NEW", "Queued", 0, 0, None, 0),
            ("OLD-NOTNOW", "NotNow", 0, NOW + 5, None, 1),
        ]
    );
    let targets: Vec<_> = s
        .command("OLD-NEW", NOW)
        .await
        .unwrap()
        .unwrap()
        .targets
        .into_iter()
        .map(|t| t.enrollment_id)
        .collect();
    assert_eq!(targets, ["D", "E"]);
    s.enqueue(&cmd("NEW"), &["D".into()], NOW + 10)
        .await
        .unwrap();
    let order = drain(&*s, "D", NOW + 20).await;
    assert_eq!(
        order,
        ["OLD-URGENT", "OLD-SENT", "OLD-NEW", "OLD-NOTNOW", "NEW"]
    );
    assert_eq!(next(&*s, "E", true).await.as_deref(), Some("OLD-NEW"));
    schema.drop_schema().await;
}
