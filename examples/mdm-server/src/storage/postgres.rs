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

use super::{
    BadReport, BindOutcome, BindingEvent, CommandRecord, EnrollmentFilter, EnrollmentKey,
    EnrollmentRecord, EnrollmentToken, InFlight, NewCommand, Pruned, PushCert, PushInfo,
    QueueEntry, QueueStats, QueuedCommand, Rebinding, Refusal, ReportOutcome, Result, Storage,
    StorageError, TargetStatus, Timestamp,
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
     q.sent_at, c.priority, q.ready_at, q.first_sent_at, q.not_now_count";

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

#[async_trait]
impl Storage for PostgresStorage {
    async fn authenticate_with_events(
        &self,
        key: &EnrollmentKey,
        raw: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        upsert_key(&tx, key, now).await?;
        tx.execute(
            "UPDATE enrollments SET enrolled = FALSE, authenticate = $2 WHERE id = $1",
            &[&key.id, &raw],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)
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
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        upsert_key(&tx, key, now).await?;
        let was: bool = tx
            .query_one(
                "SELECT enrolled FROM enrollments WHERE id = $1 FOR UPDATE",
                &[&key.id],
            )
            .await
            .map_err(backend)?
            .get(0);
        tx.execute(
            "UPDATE enrollments SET enrolled = TRUE, token = $2, push_magic = $3, topic = $4, \
             unlock_token = COALESCE($5, unlock_token), token_update = $6, \
             enrolled_at = CASE WHEN enrolled THEN enrolled_at ELSE $7 END, \
             checked_out_at = NULL, push_dead_at = NULL WHERE id = $1",
            &[
                &key.id,
                &push.token,
                &push.push_magic,
                &push.topic,
                &unlock_token,
                &raw,
                &now,
            ],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)?;
        Ok(!was)
    }

    async fn check_out_with_events(
        &self,
        id: &str,
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "UPDATE enrollments SET enrolled = FALSE, checked_out_at = $2, \
             last_seen_at = $2 WHERE id = $1",
            &[&id, &now],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)
    }

    async fn touch(&self, id: &str, now: Timestamp) -> Result<bool> {
        let client = self.client().await?;
        let select = client
            .prepare_cached("SELECT last_seen_at FROM enrollments WHERE id = $1")
            .await
            .map_err(backend)?;
        let Some(row) = client.query_opt(&select, &[&id]).await.map_err(backend)? else {
            return Ok(false);
        };
        let last: i64 = row.get(0);
        if last <= now - super::TOUCH_GRANULARITY {
            client
                .execute(
                    "UPDATE enrollments SET last_seen_at = $2 WHERE id = $1",
                    &[&id, &now],
                )
                .await
                .map_err(backend)?;
        }
        Ok(true)
    }

    async fn set_bootstrap_token_with_events(
        &self,
        id: &str,
        token: Option<&[u8]>,
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "UPDATE enrollments SET bootstrap_token = $2, last_seen_at = $3 WHERE id = $1",
            &[&id, &token, &now],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)
    }

    async fn set_facts(&self, id: &str, facts: &DeviceFacts) -> Result<()> {
        let json = super::facts::to_json(facts);
        self.client()
            .await?
            .execute(
                "UPDATE enrollments SET facts = $2 WHERE id = $1",
                &[&id, &json],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn enrollment(&self, id: &str) -> Result<Option<EnrollmentRecord>> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(backend)?;
        row.as_ref().map(enrollment_from_row).transpose()
    }

    async fn list_enrollments(&self, filter: &EnrollmentFilter) -> Result<Vec<EnrollmentRecord>> {
        let mut sql = format!("SELECT {ENROLLMENT_COLUMNS} FROM enrollments WHERE TRUE");
        let mut args: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
        if let Some(d) = &filter.device_id {
            args.push(Box::new(d.clone()));
            sql.push_str(&format!(" AND device_id = ${}", args.len()));
        }
        if let Some(e) = filter.enrolled {
            args.push(Box::new(e));
            sql.push_str(&format!(" AND enrolled = ${}", args.len()));
        }
        if let Some(k) = &filter.kind {
            args.push(Box::new(k.clone()));
            sql.push_str(&format!(" AND kind = ${}", args.len()));
        }
        if let Some(a) = &filter.after {
            args.push(Box::new(a.clone()));
            sql.push_str(&format!(" AND id COLLATE \"C\" > ${}", args.len()));
        }
        args.push(Box::new(i64::from(filter.limit)));
        sql.push_str(&format!(" ORDER BY id COLLATE \"C\" LIMIT ${}", args.len()));
        let refs: Vec<&(dyn ToSql + Sync)> = args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = self
            .client()
            .await?
            .query(&sql, &refs)
            .await
            .map_err(backend)?;
        rows.iter().map(enrollment_from_row).collect()
    }

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
            .execute(
                "INSERT INTO commands (uuid, request_type, body, created_at, expires_at, \
                 priority, idempotency_key) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT DO NOTHING",
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
        if inserted == 0 {
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
        }
        tx.execute(
            "INSERT INTO queue (enrollment_id, command_uuid, updated_at, ready_at) \
             SELECT t.id, $2, $3, $3 FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n) \
             ORDER BY t.n ON CONFLICT DO NOTHING",
            &[&targets, &command.uuid, &now],
        )
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
                 WHERE enrollment_id = $1 AND command_uuid = $2 \
                 AND (status IS NULL OR status = 'NotNow') \
                 AND EXISTS (SELECT 1 FROM commands c WHERE c.uuid = $2 \
                 AND (c.expires_at IS NULL OR c.expires_at > $3)) RETURNING command_uuid) \
                 SELECT c.uuid, c.request_type, c.body FROM commands c JOIN upd \
                 ON upd.command_uuid = c.uuid",
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
                 WHERE enrollment_id = $1 AND command_uuid = $2 \
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
                    "SELECT {ENTRY_COLUMNS} FROM queue q JOIN commands c ON c.uuid = q.command_uuid \
                     WHERE q.enrollment_id = $1 AND q.command_uuid = $2 \
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
                 WHERE command_uuid = $1 AND ($2::text IS NULL OR enrollment_id = $2) \
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
                "SELECT q.enrollment_id, c.uuid, c.request_type, q.first_sent_at, q.sent_at \
                 FROM queue q JOIN commands c ON c.uuid = q.command_uuid \
                 WHERE q.first_sent_at IS NOT NULL AND q.first_sent_at <= $1 \
                 AND (q.status IS NULL OR q.status = 'NotNow') \
                 AND (c.expires_at IS NULL OR c.expires_at > $1) \
                 ORDER BY q.first_sent_at, q.seq LIMIT $2",
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
        let client = client.transaction().await.map_err(backend)?;
        let takes_cancelled = status != super::STATUS_NOT_NOW;
        let update = client
            .prepare_cached(
                "UPDATE queue SET status = $3, report = $4, updated_at = $5 \
                 WHERE enrollment_id = $1 AND command_uuid = $2 \
                 AND (status IS NULL OR status = 'NotNow' OR (status = 'Cancelled' AND $6))",
            )
            .await
            .map_err(backend)?;
        let changed = client
            .execute(
                &update,
                &[&id, &uuid, &status, &report, &now, &takes_cancelled],
            )
            .await
            .map_err(backend)?;
        let outcome = if changed > 0 {
            ReportOutcome::Recorded
        } else {
            let exists = client
                .query_opt(
                    "SELECT 1 FROM queue WHERE enrollment_id = $1 AND command_uuid = $2",
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
        insert_events(&client, events).await?;
        client.commit().await.map_err(backend)?;
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
                &[&(id - super::MAX_BAD_REPORTS)],
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
                 OR NOT EXISTS (SELECT 1 FROM queue q WHERE q.command_uuid = commands.uuid \
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
                "SELECT enrollment_id, status, report, sent_at, updated_at, first_sent_at, \
                 not_now_count FROM queue \
                 WHERE command_uuid = $1 ORDER BY enrollment_id COLLATE \"C\"",
                &[&uuid],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(|t| TargetStatus {
                enrollment_id: t.get(0),
                status: super::shown_status(t.get(1), expires_at, now),
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
        let statement = client
            .prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM queue q JOIN commands c ON c.uuid = q.command_uuid \
                 WHERE q.enrollment_id = $1 AND (q.status IS NULL OR q.status = 'NotNow') \
                 AND (c.expires_at IS NULL OR c.expires_at > $2) \
                 ORDER BY c.priority DESC, q.ready_at, q.seq LIMIT $3"
            ))
            .await
            .map_err(backend)?;
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
                 WHERE enrollment_id = $1 AND (status IS NULL OR status = 'NotNow')",
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
                 WHERE command_uuid = $1 AND (status IS NULL OR status = 'NotNow')",
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
                 FROM queue q JOIN commands c ON c.uuid = q.command_uuid \
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
                "SELECT DISTINCT q.enrollment_id FROM queue q \
                 JOIN commands c ON c.uuid = q.command_uuid \
                 JOIN enrollments e ON e.id = q.enrollment_id \
                 WHERE (q.status IS NULL OR q.status = 'NotNow') AND q.ready_at <= $2 \
                 AND (c.expires_at IS NULL OR c.expires_at > $2) \
                 AND e.enrolled AND e.token IS NOT NULL AND e.push_dead_at IS NULL \
                 AND e.last_seen_at < $1 AND (e.repushed_at IS NULL OR e.repushed_at < $1) \
                 ORDER BY q.enrollment_id LIMIT $3",
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

    async fn cancel_target(&self, id: &str, uuid: &str, now: Timestamp) -> Result<u64> {
        self.client()
            .await?
            .execute(
                "UPDATE queue SET status = 'Cancelled', updated_at = $3 \
                 WHERE enrollment_id = $1 AND command_uuid = $2 \
                 AND (status IS NULL OR status = 'NotNow')",
                &[&id, &uuid, &now],
            )
            .await
            .map(to_u64)
            .map_err(backend)
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

    async fn cert_binding(&self, device_id: &str) -> Result<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT fingerprint FROM cert_bindings WHERE device_id = $1",
                &[&device_id],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn cert_owner(&self, fingerprint: &str) -> Result<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT device_id FROM cert_bindings WHERE fingerprint = $1 \
                 ORDER BY updated_at DESC LIMIT 1",
                &[&fingerprint],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn rebind_cert(&self, change: &Rebinding, now: Timestamp) -> Result<BindOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&BINDING_LOCK])
            .await
            .map_err(backend)?;
        let other = tx
            .query_opt(
                "SELECT device_id FROM cert_bindings WHERE fingerprint = $1 \
                 AND device_id <> $2 LIMIT 1",
                &[&change.fingerprint, &change.device_id],
            )
            .await
            .map_err(backend)?;
        if let Some(other) = other {
            return Ok(BindOutcome::TakenBy(other.get(0)));
        }
        let current: Option<String> = tx
            .query_opt(
                "SELECT fingerprint FROM cert_bindings WHERE device_id = $1",
                &[&change.device_id],
            )
            .await
            .map_err(backend)?
            .map(|r| r.get(0));
        if current != change.previous {
            return Ok(BindOutcome::Changed);
        }
        tx.execute(
            "INSERT INTO cert_bindings (device_id, fingerprint, updated_at) \
             VALUES ($1, $2, $3) ON CONFLICT (device_id) DO UPDATE SET \
             fingerprint = excluded.fingerprint, updated_at = excluded.updated_at",
            &[&change.device_id, &change.fingerprint, &now],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO cert_binding_history (device_id, old_fingerprint, new_fingerprint, \
             reason, token_id, at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &change.device_id,
                &change.previous,
                &change.fingerprint,
                &change.reason,
                &change.token_id,
                &now,
            ],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(BindOutcome::Bound)
    }

    async fn cert_was_bound(&self, fingerprint: &str) -> Result<bool> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT 1 FROM cert_binding_history WHERE new_fingerprint = $1 LIMIT 1",
                &[&fingerprint],
            )
            .await
            .map_err(backend)?;
        Ok(row.is_some())
    }

    async fn binding_history(&self, device_id: &str) -> Result<Vec<BindingEvent>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT old_fingerprint, new_fingerprint, reason, token_id, at FROM \
                 (SELECT * FROM cert_binding_history WHERE device_id = $1 \
                  ORDER BY id DESC LIMIT 100) h ORDER BY id",
                &[&device_id],
            )
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(BindingEvent {
                    old_fingerprint: r.try_get(0).map_err(backend)?,
                    new_fingerprint: r.try_get(1).map_err(backend)?,
                    reason: r.try_get(2).map_err(backend)?,
                    token_id: r.try_get(3).map_err(backend)?,
                    at: r.try_get(4).map_err(backend)?,
                })
            })
            .collect()
    }

    async fn create_enrollment_token(&self, t: &EnrollmentToken) -> Result<()> {
        self.client()
            .await?
            .execute(
                &format!(
                    "INSERT INTO enrollment_tokens ({TOKEN_COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &[
                    &t.id,
                    &t.secret_hash,
                    &t.max_uses,
                    &t.uses,
                    &t.expires_at,
                    &t.device,
                    &t.user,
                    &t.may_reenroll,
                    &t.created_at,
                    &t.revoked_at,
                ],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn enrollment_tokens(&self, limit: u32) -> Result<Vec<EnrollmentToken>> {
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM enrollment_tokens \
                     ORDER BY created_at DESC, id LIMIT $1"
                ),
                &[&i64::from(limit)],
            )
            .await
            .map_err(backend)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_enrollment_token(&self, id: &str, now: Timestamp) -> Result<bool> {
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, $2) \
                 WHERE id = $1",
                &[&id, &now],
            )
            .await
            .map_err(backend)?;
        Ok(n > 0)
    }

    async fn take_enrollment_token(
        &self,
        secret_hash: &str,
        challenge_hash: &str,
        challenge_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        // Row-locked: concurrent downloads never take more uses than the token has.
        let Some(row) = tx
            .query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM enrollment_tokens WHERE secret_hash = $1 \
                     FOR UPDATE"
                ),
                &[&secret_hash],
            )
            .await
            .map_err(backend)?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        let mut token = token_from_row(&row)?;
        if let Some(refusal) = token_refusal(&token, now) {
            return Ok(Err(refusal));
        }
        tx.execute(
            "UPDATE enrollment_tokens SET uses = uses + 1 WHERE id = $1",
            &[&token.id],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO scep_challenges (challenge_hash, token_id, expires_at, created_at) \
             VALUES ($1, $2, $3, $4)",
            &[&challenge_hash, &token.id, &challenge_expires_at, &now],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        token.uses += 1;
        Ok(Ok(token))
    }

    async fn consume_challenge(
        &self,
        challenge_hash: &str,
        fingerprint: &str,
        now: Timestamp,
    ) -> Result<std::result::Result<EnrollmentToken, Refusal>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        let Some(row) = tx
            .query_opt(
                "SELECT token_id, expires_at, used_at FROM scep_challenges \
                 WHERE challenge_hash = $1 FOR UPDATE",
                &[&challenge_hash],
            )
            .await
            .map_err(backend)?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        let token_id: String = row.try_get(0).map_err(backend)?;
        let expires_at: Timestamp = row.try_get(1).map_err(backend)?;
        let used_at: Option<Timestamp> = row.try_get(2).map_err(backend)?;
        if used_at.is_some() {
            return Ok(Err(Refusal::UsedUp));
        }
        if expires_at <= now {
            return Ok(Err(Refusal::Expired));
        }
        let Some(token) = tx
            .query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM enrollment_tokens WHERE id = $1"),
                &[&token_id],
            )
            .await
            .map_err(backend)?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        let token = token_from_row(&token)?;
        if token.revoked_at.is_some() {
            return Ok(Err(Refusal::Revoked));
        }
        tx.execute(
            "UPDATE scep_challenges SET used_at = $2, cert_fingerprint = $3 \
             WHERE challenge_hash = $1",
            &[&challenge_hash, &now, &fingerprint],
        )
        .await
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO issued_certs (fingerprint, token_id, issued_at) VALUES ($1, $2, $3) \
             ON CONFLICT (fingerprint) DO NOTHING",
            &[&fingerprint, &token.id, &now],
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Ok(token))
    }

    async fn issued_token(&self, fingerprint: &str) -> Result<Option<EnrollmentToken>> {
        let columns = TOKEN_COLUMNS
            .split(", ")
            .map(|col| format!("t.{col}"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {columns} FROM issued_certs i JOIN enrollment_tokens t \
                     ON t.id = i.token_id WHERE i.fingerprint = $1"
                ),
                &[&fingerprint],
            )
            .await
            .map_err(backend)?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn record_renewal(&self, old: &str, new: &str, now: Timestamp) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO cert_renewals (new_fingerprint, old_fingerprint, created_at) \
                 VALUES ($1, $2, $3) ON CONFLICT (new_fingerprint) DO NOTHING",
                &[&new, &old, &now],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn renewed_from(&self, new: &str) -> Result<Option<String>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT old_fingerprint FROM cert_renewals WHERE new_fingerprint = $1",
                &[&new],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn put_declaration(
        &self,
        id: &str,
        identifier: &str,
        json: &[u8],
        now: Timestamp,
    ) -> Result<()> {
        self.client()
            .await?
            .execute(
                "INSERT INTO declarations (enrollment_id, identifier, body, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (enrollment_id, identifier) DO UPDATE \
                 SET body = excluded.body, updated_at = excluded.updated_at",
                &[&id, &identifier, &json, &now],
            )
            .await
            .map(drop)
            .map_err(backend)
    }

    async fn declarations(&self, id: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = self
            .client()
            .await?
            .query(
                "SELECT identifier, body FROM declarations WHERE enrollment_id = $1 \
                 ORDER BY identifier",
                &[&id],
            )
            .await
            .map_err(backend)?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    async fn delete_declaration(&self, id: &str, identifier: &str) -> Result<bool> {
        self.client()
            .await?
            .execute(
                "DELETE FROM declarations WHERE enrollment_id = $1 AND identifier = $2",
                &[&id, &identifier],
            )
            .await
            .map(|n| n > 0)
            .map_err(backend)
    }

    async fn ddm_status(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT body FROM ddm_status WHERE enrollment_id = $1",
                &[&id],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_ddm_status_with_events(
        &self,
        id: &str,
        json: &[u8],
        now: Timestamp,
        events: &[Event],
    ) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(backend)?;
        tx.execute(
            "INSERT INTO ddm_status (enrollment_id, body, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (enrollment_id) DO UPDATE SET body = excluded.body, \
             updated_at = excluded.updated_at",
            &[&id, &json, &now],
        )
        .await
        .map_err(backend)?;
        insert_events(&tx, events).await?;
        tx.commit().await.map_err(backend)
    }

    async fn return_to_service(&self, id: &str) -> Result<Option<Vec<u8>>> {
        let row = self
            .client()
            .await?
            .query_opt(
                "SELECT body FROM return_to_service WHERE enrollment_id = $1",
                &[&id],
            )
            .await
            .map_err(backend)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn set_return_to_service(
        &self,
        id: &str,
        json: Option<&[u8]>,
        now: Timestamp,
    ) -> Result<()> {
        let client = self.client().await?;
        match json {
            Some(json) => {
                client
                    .execute(
                        "INSERT INTO return_to_service (enrollment_id, body, updated_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (enrollment_id) DO UPDATE SET \
                     body = excluded.body, updated_at = excluded.updated_at",
                        &[&id, &json, &now],
                    )
                    .await
            }
            None => {
                client
                    .execute(
                        "DELETE FROM return_to_service WHERE enrollment_id = $1",
                        &[&id],
                    )
                    .await
            }
        }
        .map(drop)
        .map_err(backend)
    }
}
