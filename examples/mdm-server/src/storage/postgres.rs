//! PostgreSQL storage: a connection pool, migrations in `schema_migrations` applied under an
//! advisory lock (so several instances may start at once), every state change in SQL.
//!
//! The URL is libpq's (`postgres://user@host:5432/db?options=-csearch_path%3Dmdm`).
//!
//! TLS follows libpq's `sslmode` in the URL: `disable` (plain TCP), `prefer` (the default:
//! TLS when the server offers it, unverified, else plain), `require` (TLS or fail;
//! unverified unless a CA is given, then as `verify-ca`), `verify-ca` (the certificate must
//! chain to the CA) and `verify-full` (and name the host). The CA is a PEM file given by
//! `sslrootcert=` in the URL or `--postgres-ca-file`. TLS is rustls (ring) through
//! `postgres_rustls`, with channel binding when the server asks for SCRAM-SHA-256-PLUS.

mod ddm;
mod enrollments;
mod events;
mod pushes;
mod queue;

use super::{
    BadReport, BindOutcome, BindingEvent, CommandRecord, EnrollmentFilter, EnrollmentKey,
    EnrollmentRecord, EnrollmentToken, InFlight, NewCommand, Pruned, PushCert, PushInfo,
    QueueEntry, QueueStats, QueuedCommand, Rebinding, Refusal, ReportOutcome, Result, StorageError,
    TargetStatus, Timestamp,
};
use crate::events::{Event, StoredEvent};
use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use mdm_commands::applicability::DeviceFacts;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::types::ToSql;

mod dep;

/// The schema, one entry per version.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE enrollments (
    id TEXT PRIMARY KEY,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    udid TEXT,
    user_short_name TEXT,
    user_long_name TEXT,
    enrolled BOOLEAN NOT NULL DEFAULT FALSE,
    token BYTEA,
    push_magic TEXT,
    topic TEXT,
    unlock_token BYTEA,
    bootstrap_token BYTEA,
    authenticate BYTEA,
    token_update BYTEA,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    enrolled_at BIGINT,
    checked_out_at BIGINT
);
CREATE INDEX enrollments_device ON enrollments (device_id);
CREATE TABLE commands (
    uuid TEXT PRIMARY KEY,
    request_type TEXT NOT NULL,
    body BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE TABLE queue (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enrollment_id TEXT NOT NULL,
    command_uuid TEXT NOT NULL REFERENCES commands (uuid) ON DELETE CASCADE,
    status TEXT,
    report BYTEA,
    sent_at BIGINT,
    updated_at BIGINT NOT NULL,
    UNIQUE (enrollment_id, command_uuid)
);
CREATE INDEX queue_command ON queue (command_uuid);
CREATE TABLE bad_reports (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enrollment_id TEXT,
    command_uuid TEXT,
    reason TEXT NOT NULL,
    body BYTEA NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE TABLE push_certs (
    topic TEXT PRIMARY KEY,
    cert_pem TEXT NOT NULL,
    key_pem TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
"#,
    r#"
CREATE TABLE cert_bindings (
    device_id TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE TABLE cert_renewals (
    new_fingerprint TEXT PRIMARY KEY,
    old_fingerprint TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
"#,
    r#"
CREATE TABLE declarations (
    enrollment_id TEXT NOT NULL,
    identifier TEXT NOT NULL,
    body BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (enrollment_id, identifier)
);
CREATE TABLE ddm_status (
    enrollment_id TEXT PRIMARY KEY,
    body BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
);
"#,
    r#"
CREATE INDEX cert_bindings_fingerprint ON cert_bindings (fingerprint);
CREATE TABLE cert_binding_history (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id TEXT NOT NULL,
    old_fingerprint TEXT,
    new_fingerprint TEXT NOT NULL,
    reason TEXT NOT NULL,
    token_id TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX cert_binding_history_device ON cert_binding_history (device_id);
CREATE INDEX cert_binding_history_fingerprint ON cert_binding_history (new_fingerprint);
CREATE TABLE enrollment_tokens (
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL UNIQUE,
    max_uses BIGINT NOT NULL,
    uses BIGINT NOT NULL DEFAULT 0,
    expires_at BIGINT NOT NULL,
    device TEXT,
    user_name TEXT,
    may_reenroll TEXT,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE TABLE scep_challenges (
    challenge_hash TEXT PRIMARY KEY,
    token_id TEXT NOT NULL REFERENCES enrollment_tokens (id),
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    cert_fingerprint TEXT
);
CREATE INDEX scep_challenges_token ON scep_challenges (token_id);
CREATE TABLE issued_certs (
    fingerprint TEXT PRIMARY KEY,
    token_id TEXT NOT NULL REFERENCES enrollment_tokens (id),
    issued_at BIGINT NOT NULL
);
"#,
    r#"
CREATE TABLE return_to_service (
    enrollment_id TEXT PRIMARY KEY,
    body BYTEA NOT NULL,
    updated_at BIGINT NOT NULL
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
ALTER TABLE queue ADD COLUMN ready_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE queue ADD COLUMN first_sent_at BIGINT;
ALTER TABLE queue ADD COLUMN not_now_count INTEGER NOT NULL DEFAULT 0;
CREATE INDEX queue_in_flight ON queue (first_sent_at) WHERE first_sent_at IS NOT NULL;
"#,
    // Pushes: when APNs answered 410 Unregistered for the enrollment's token (dead until the
    // next TokenUpdate).
    r#"
ALTER TABLE enrollments ADD COLUMN push_dead_at BIGINT;
-- The order certificates were stored in ("the latest" when two share a second).
ALTER TABLE push_certs ADD COLUMN stored_seq BIGINT NOT NULL DEFAULT 0;
"#,
    // The push backstop: when an enrollment was last re-pushed, and the waiting targets
    // indexed on their own so a run costs what is pending, not the queue's history.
    r#"
ALTER TABLE enrollments ADD COLUMN repushed_at BIGINT;
CREATE INDEX queue_pending ON queue (enrollment_id) WHERE status IS NULL OR status = 'NotNow';
"#,
    // Events: the outbox webhooks are delivered from, and each endpoint's place in it.
    r#"
CREATE TABLE events (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    enrollment_id TEXT,
    created_at BIGINT NOT NULL,
    body BYTEA NOT NULL
);
CREATE TABLE webhook_cursors (
    endpoint TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
"#, // DEP organisations and their devices (issue 16).
    dep::MIGRATION,
    // Compact queue (issue 18, item 3): a queued row names its enrollment and command by
    // integer (the enrollment IDs interned in `queue_targets`, the command by `commands.seq`)
    // instead of two text columns repeated in two indexes, and is keyed by the pair; the
    // waiting rows are indexed in queue order (priority copied into the row), so the
    // next-command lookup reads only the head of the device's queue and never its answered
    // rows. Arrival order is the command's `seq`: a row is written with its command, so the
    // two orders are one (existing commands are numbered in the order their first row
    // arrived). The eight-byte columns come first so the row has no alignment padding.
    // `target` has no foreign key: it is always read from `queue_targets` in the statement
    // that writes it, and interned IDs are never deleted.
    r#"
CREATE TABLE queue_targets (
    ref INTEGER GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    enrollment_id TEXT NOT NULL UNIQUE
);
INSERT INTO queue_targets (enrollment_id)
    SELECT DISTINCT enrollment_id FROM queue ORDER BY 1;
ALTER TABLE commands ADD COLUMN seq BIGINT;
UPDATE commands SET seq = o.n FROM (
    SELECT c.uuid, row_number() OVER (ORDER BY MIN(q.seq) NULLS LAST, c.created_at, c.uuid) AS n
    FROM commands c LEFT JOIN queue q ON q.command_uuid = c.uuid GROUP BY c.uuid, c.created_at
) o WHERE o.uuid = commands.uuid;
ALTER TABLE commands ALTER COLUMN seq SET NOT NULL;
ALTER TABLE commands ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('commands', 'seq'),
    COALESCE((SELECT MAX(seq) FROM commands), 0) + 1, false);
ALTER TABLE commands ADD CONSTRAINT commands_seq_key UNIQUE (seq);
CREATE TABLE queue_compact (
    command BIGINT NOT NULL REFERENCES commands (seq) ON DELETE CASCADE,
    updated_at BIGINT NOT NULL,
    ready_at BIGINT NOT NULL DEFAULT 0,
    sent_at BIGINT,
    first_sent_at BIGINT,
    target INTEGER NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    not_now_count INTEGER NOT NULL DEFAULT 0,
    status TEXT,
    report BYTEA,
    PRIMARY KEY (command, target)
);
INSERT INTO queue_compact (command, updated_at, ready_at, sent_at, first_sent_at, target,
        priority, not_now_count, status, report)
    SELECT c.seq, q.updated_at, q.ready_at, q.sent_at, q.first_sent_at, t.ref,
        c.priority, q.not_now_count, q.status, q.report
    FROM queue q JOIN queue_targets t ON t.enrollment_id = q.enrollment_id
    JOIN commands c ON c.uuid = q.command_uuid ORDER BY q.seq;
DROP TABLE queue;
ALTER TABLE queue_compact RENAME TO queue;
ALTER INDEX queue_compact_pkey RENAME TO queue_pkey;
CREATE INDEX queue_waiting ON queue (target, priority DESC, ready_at, command)
    WHERE status IS NULL OR status = 'NotNow';
CREATE INDEX queue_in_flight ON queue (first_sent_at) WHERE first_sent_at IS NOT NULL;
"#,
    // The head of an enrollment's queue, read in `queue_waiting` order whatever the table's
    // statistics (issue 15): planned with sorts disabled, so the plan walks the index and stops
    // at the limit. A plain statement lets the planner pick a bitmap scan of every waiting row
    // of the device and a sort whenever it estimates the device's queue small, which it always
    // does on a table never analyzed (3,000 rows read for 8 in the test, 30.8 ms against
    // 0.45 ms at 70 waiting rows a device).
    r#"
CREATE OR REPLACE FUNCTION queue_head(p_id TEXT, p_now BIGINT, p_limit BIGINT)
RETURNS TABLE (uuid TEXT, request_type TEXT, status TEXT, created_at BIGINT, expires_at BIGINT,
    sent_at BIGINT, priority INTEGER, ready_at BIGINT, first_sent_at BIGINT, not_now_count INTEGER)
LANGUAGE plpgsql STABLE SET enable_sort = off AS $$
BEGIN
    RETURN QUERY SELECT c.uuid, c.request_type, q.status, c.created_at, c.expires_at, q.sent_at,
        q.priority, q.ready_at, q.first_sent_at, q.not_now_count
    FROM queue q JOIN commands c ON c.seq = q.command
    WHERE q.target = (SELECT t.ref FROM queue_targets t WHERE t.enrollment_id = p_id)
    AND (q.status IS NULL OR q.status = 'NotNow')
    AND (c.expires_at IS NULL OR c.expires_at > p_now)
    ORDER BY q.priority DESC, q.ready_at, q.command LIMIT p_limit;
END $$;
"#,
];

/// Writes `events` to the outbox inside the caller's transaction.
async fn insert_events(tx: &deadpool_postgres::Transaction<'_>, events: &[Event]) -> Result<()> {
    for e in events {
        tx.execute(
            "INSERT INTO events (id, topic, enrollment_id, created_at, body) \
             VALUES ($1, $2, $3, $4, $5)",
            &[&e.id, &e.topic, &e.enrollment_id, &e.created_at, &e.body],
        )
        .await
        .map_err(backend)?;
    }
    Ok(())
}

/// The columns of a [`QueueEntry`], over `queue q JOIN commands c`.
const ENTRY_COLUMNS: &str = "c.uuid, c.request_type, q.status, c.created_at, c.expires_at, \
     q.sent_at, q.priority, q.ready_at, q.first_sent_at, q.not_now_count";

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn entry_from_row(r: &tokio_postgres::Row) -> QueueEntry {
    QueueEntry {
        uuid: r.get(0),
        request_type: r.get(1),
        status: super::shown_status(r.get(2), None, 0),
        created_at: r.get(3),
        expires_at: r.get(4),
        sent_at: r.get(5),
        priority: r.get(6),
        ready_at: r.get(7),
        first_sent_at: r.get(8),
        not_now_count: count(r.get(9)),
    }
}

/// Any constant: the advisory lock key that serialises migrations.
const MIGRATION_LOCK: i64 = 0x6d64_6d73_7276;

/// Another constant: the advisory lock that serialises certificate bindings (rare: one
/// per enrollment or renewal), so a certificate is never bound to two devices.
const BINDING_LOCK: i64 = 0x6d64_6d62_6e64;

const TOKEN_COLUMNS: &str = "id, secret_hash, max_uses, uses, expires_at, device, user_name, \
     may_reenroll, created_at, revoked_at";

fn token_from_row(r: &tokio_postgres::Row) -> Result<EnrollmentToken> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        r: &'a tokio_postgres::Row,
        i: usize,
    ) -> Result<T> {
        r.try_get(i).map_err(backend)
    }
    Ok(EnrollmentToken {
        id: get(r, 0)?,
        secret_hash: get(r, 1)?,
        max_uses: get(r, 2)?,
        uses: get(r, 3)?,
        expires_at: get(r, 4)?,
        device: get(r, 5)?,
        user: get(r, 6)?,
        may_reenroll: get(r, 7)?,
        created_at: get(r, 8)?,
        revoked_at: get(r, 9)?,
    })
}

/// Why a token (or a challenge's token) row is not usable now, if it is not.
fn token_refusal(t: &EnrollmentToken, now: Timestamp) -> Option<Refusal> {
    if t.revoked_at.is_some() {
        Some(Refusal::Revoked)
    } else if t.expires_at <= now {
        Some(Refusal::Expired)
    } else if t.uses >= t.max_uses {
        Some(Refusal::UsedUp)
    } else {
        None
    }
}

const ENROLLMENT_COLUMNS: &str = "id, device_id, kind, udid, user_short_name, user_long_name, \
     enrolled, token, push_magic, topic, unlock_token, bootstrap_token, authenticate, \
     token_update, created_at, last_seen_at, enrolled_at, checked_out_at, facts, push_dead_at";

/// Storage in a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStorage {
    pool: Pool,
}

impl std::fmt::Debug for PostgresStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStorage").finish_non_exhaustive()
    }
}

fn backend(e: impl std::error::Error + Send + Sync + 'static) -> StorageError {
    StorageError::backend(e)
}

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A URL with libpq's TLS parameters taken out (tokio-postgres knows only some of them).
#[derive(Debug)]
struct TlsParams {
    url: String,
    mode: SslMode,
    root_cert: Option<PathBuf>,
}

impl TlsParams {
    fn split(url: &str) -> Result<Self> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut kept = Vec::new();
        let mut mode = SslMode::Prefer;
        let mut root_cert = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value);
            match key {
                "sslmode" => {
                    mode = match value.as_str() {
                        "disable" => SslMode::Disable,
                        "allow" | "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(StorageError::Config(format!(
                                "sslmode `{other}` is not one of disable, prefer, require, \
                                 verify-ca, verify-full"
                            )));
                        }
                    }
                }
                "sslrootcert" => root_cert = Some(PathBuf::from(value)),
                _ => kept.push(pair),
            }
        }
        let url = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok(TlsParams {
            url,
            mode,
            root_cert,
        })
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn tls_connector(
    mode: SslMode,
    ca_file: Option<&Path>,
) -> Result<postgres_rustls::MakeTlsConnector> {
    use rustls::client::WebPkiServerVerifier;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match ca_file {
        Some(path) => Some(load_roots(path)?),
        None => None,
    };
    let mode = match (mode, &roots) {
        // libpq: with a root certificate, `require` verifies the chain as `verify-ca` does.
        (SslMode::Require, Some(_)) => SslMode::VerifyCa,
        (m, _) => m,
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| StorageError::Config(format!("PostgreSQL TLS: {e}")))?;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match (mode, roots) {
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(StorageError::Config(
                "sslmode=verify-ca and verify-full need the server's CA: sslrootcert= in the \
                 URL or --postgres-ca-file"
                    .into(),
            ));
        }
        (SslMode::VerifyCa | SslMode::VerifyFull, Some(roots)) => {
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| StorageError::Config(format!("PostgreSQL TLS: {e}")))?;
            Arc::new(Verifier {
                webpki: Some(webpki),
                check_name: mode == SslMode::VerifyFull,
                provider,
            })
        }
        _ => Arc::new(Verifier {
            webpki: None,
            check_name: false,
            provider,
        }),
    };
    let mut config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    postgres_rustls::set_postgresql_alpn(&mut config);
    Ok(postgres_rustls::MakeTlsConnector::new(
        tokio_rustls::TlsConnector::from(Arc::new(config)),
    ))
}

fn load_roots(path: &Path) -> Result<rustls::RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let what = |e: &dyn std::fmt::Display| {
        StorageError::Config(format!("PostgreSQL CA file {}: {e}", path.display()))
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| what(&e))? {
        roots
            .add(cert.map_err(|e| what(&e))?)
            .map_err(|e| what(&e))?;
    }
    if roots.is_empty() {
        return Err(what(&"no CERTIFICATE in it"));
    }
    Ok(roots)
}

/// The server-certificate check for each `sslmode`: none (`prefer`, `require` without a
/// CA; handshake signatures are still checked), the chain (`verify-ca`), or the chain and
/// the host name (`verify-full`).
#[derive(Debug)]
struct Verifier {
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &rustls::pki_types::CertificateDer<'_>,
        intermediates: &[rustls::pki_types::CertificateDer<'_>],
        server_name: &rustls::pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let Some(webpki) = &self.webpki else {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(rustls::client::danger::ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

impl PostgresStorage {
    /// Connects to the database a URL names and runs pending migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, None).await
    }

    /// Like [`PostgresStorage::connect`], with a CA file for TLS (used unless the URL
    /// names one with `sslrootcert=`).
    pub async fn connect_with(url: &str, ca_file: Option<&Path>) -> Result<Self> {
        let tls = TlsParams::split(url)?;
        let mut config: tokio_postgres::Config = tls
            .url
            .parse()
            .map_err(|e| StorageError::Config(format!("bad PostgreSQL URL: {e}")))?;
        let ca_file = tls
            .root_cert
            .clone()
            .or_else(|| ca_file.map(Path::to_path_buf));
        config.ssl_mode(match tls.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        let connector = tls_connector(tls.mode, ca_file.as_deref())?;
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(16)
            .build()
            .map_err(|e| StorageError::Config(e.to_string()))?;
        let storage = PostgresStorage { pool };
        storage.migrate().await?;
        Ok(storage)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        self.pool.get().await.map_err(backend)
    }

    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(backend)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations \
             (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await
        .map_err(backend)?;
        let row = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .map_err(backend)?;
        let done = usize::try_from(row.get::<_, i64>(0)).unwrap_or(0);
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            tx.batch_execute(sql).await.map_err(backend)?;
            let version = (i + 1) as i64;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                &[&version, &super::now()],
            )
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }
}

fn enrollment_from_row(r: &tokio_postgres::Row) -> Result<EnrollmentRecord> {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        r: &'a tokio_postgres::Row,
        i: usize,
    ) -> Result<T> {
        r.try_get(i).map_err(backend)
    }
    let token: Option<Vec<u8>> = get(r, 7)?;
    let push_magic: Option<String> = get(r, 8)?;
    let topic: Option<String> = get(r, 9)?;
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
            id: get(r, 0)?,
            device_id: get(r, 1)?,
            kind: get(r, 2)?,
            udid: get(r, 3)?,
            user_short_name: get(r, 4)?,
            user_long_name: get(r, 5)?,
        },
        enrolled: get(r, 6)?,
        push,
        unlock_token: get(r, 10)?,
        bootstrap_token: get(r, 11)?,
        authenticate: get(r, 12)?,
        token_update: get(r, 13)?,
        created_at: get(r, 14)?,
        last_seen_at: get(r, 15)?,
        enrolled_at: get(r, 16)?,
        checked_out_at: get(r, 17)?,
        facts: get::<Option<String>>(r, 18)?
            .as_deref()
            .and_then(super::facts::from_json),
        push_dead_at: get(r, 19)?,
    })
}

async fn upsert_key(
    tx: &deadpool_postgres::Transaction<'_>,
    key: &EnrollmentKey,
    now: Timestamp,
) -> Result<()> {
    tx.execute(
        "INSERT INTO enrollments (id, device_id, kind, udid, user_short_name, user_long_name, \
         created_at, last_seen_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
         ON CONFLICT (id) DO UPDATE SET device_id = excluded.device_id, kind = excluded.kind, \
         udid = COALESCE(excluded.udid, enrollments.udid), \
         user_short_name = COALESCE(excluded.user_short_name, enrollments.user_short_name), \
         user_long_name = COALESCE(excluded.user_long_name, enrollments.user_long_name), \
         last_seen_at = excluded.last_seen_at",
        &[
            &key.id,
            &key.device_id,
            &key.kind,
            &key.udid,
            &key.user_short_name,
            &key.user_long_name,
            &now,
        ],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

fn to_u64(n: u64) -> u64 {
    n
}
