//! Configuration (flags and environment variables) and start-up.

use crate::identity::{AcceptAll, CertificateVerifier};
use crate::pki::Pki;
use crate::secrets::SecretsKey;
use crate::service::MdmService;
use crate::state::{ApiKey, AppState};
use crate::storage::{self, StorageError};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// The file in the data folder that keeps the generated API key.
pub const API_KEY_FILE: &str = "api-key";
/// The SQLite file in the data folder, when `--storage` is not given.
pub const SQLITE_FILE: &str = "mdm.sqlite";

/// Flags and environment variables of `mdm-server`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mdm-server",
    version,
    about = "An Apple MDM server: check-ins, a command queue per device, pushes, an admin API.",
    long_about = "An Apple MDM server: check-ins, a command queue per device, pushes, an admin API.\n\n\
        Devices talk to PUT /mdm/checkin and PUT /mdm; admins to /v1/... with the API key \
        (HTTP Basic with any user name and the key as password, or `Authorization: Bearer KEY`). \
        The API is described at /v1/openapi.json.\n\n\
        The server speaks plain HTTP for a TLS-terminating proxy in front, or HTTPS with \
        --tls-cert and --tls-key. On first start it \
        creates its data folder, a SQLite database in it and an API key, and prints the URLs \
        and the key. Every flag can also be set with the environment variable shown."
)]
#[non_exhaustive]
pub struct Config {
    /// Address and port to listen on (HTTP, or HTTPS with `--tls-cert`).
    #[arg(long, env = "MDM_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,

    /// Folder for the server's files (SQLite database, generated API key); created if missing.
    #[arg(long, env = "MDM_DATA_DIR", default_value = "mdm-data")]
    pub data_dir: PathBuf,

    /// Where state lives: a SQLite file (`sqlite:PATH` or a path), or a PostgreSQL URL
    /// (`postgres://user@host:5432/db`; several servers may share one). Default: the SQLite
    /// file `mdm.sqlite` in the data folder.
    #[arg(long, env = "MDM_STORAGE")]
    pub storage: Option<String>,

    /// API key for the admin API. Default: the key stored in the data folder, generated
    /// (and printed) on first start.
    #[arg(long, env = "MDM_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// The public base URL devices reach this server at (e.g. `https://mdm.example.com`),
    /// used in the enrollment profile (ServerURL, CheckInURL, SCEP URL) and the URLs printed
    /// at start. Default: `http://` (or `https://`) + the listen address.
    #[arg(long, env = "MDM_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Largest request body accepted, in bytes.
    #[arg(long, env = "MDM_MAX_BODY", default_value_t = mdm_proto::Limits::MDM.max_bytes)]
    pub max_body: usize,

    /// Header in which the TLS-terminating proxy forwards the device's client certificate
    /// (e.g. `X-Client-Cert`; RFC 9440 `:base64:` or URL-escaped PEM). When present it
    /// identifies the device instead of `Mdm-Signature`.
    #[arg(long, env = "MDM_CLIENT_CERT_HEADER")]
    pub client_cert_header: Option<String>,

    /// The SCEP challenge devices must send to get an identity certificate. Default: the
    /// one stored in the data folder (`scep-challenge`), generated on first start.
    #[arg(long, env = "MDM_SCEP_CHALLENGE", hide_env_values = true)]
    pub scep_challenge: Option<String>,

    /// The APNs topic put in enrollment profiles when no push certificate has been
    /// uploaded (`PUT /v1/pushcert`); the uploaded certificate's topic wins.
    #[arg(
        long,
        env = "MDM_TOPIC",
        default_value = "com.apple.mgmt.External.00000000-0000-0000-0000-000000000000"
    )]
    pub topic: String,

    /// Accept device requests without checking who sent them (no `Mdm-Signature` or
    /// client certificate needed). For development and tests only: anyone can then act
    /// for any enrollment.
    #[arg(long, env = "MDM_NO_SIGNATURE_CHECK")]
    pub no_signature_check: bool,

    /// APNs base URL (default: Apple's production service). Another `https://` URL sends
    /// pushes elsewhere (a test server, a proxy).
    #[arg(long, env = "MDM_APNS_URL")]
    pub apns_url: Option<String>,

    /// PEM file of extra root certificates to trust for the APNs connection (for a test
    /// server or a proxy).
    #[arg(long, env = "MDM_APNS_CA")]
    pub apns_ca: Option<PathBuf>,

    /// Apple's escrow-key-unlock URL for `POST /v1/escrowkeyunlock` (default: Apple's
    /// service). Another `https://` URL sends the requests elsewhere (a test server).
    #[arg(long, env = "MDM_ESCROW_KEY_UNLOCK_URL")]
    pub escrow_key_unlock_url: Option<String>,

    /// PEM file of extra root certificates to trust for the escrow-key-unlock connection.
    #[arg(long, env = "MDM_ESCROW_KEY_UNLOCK_CA")]
    pub escrow_key_unlock_ca: Option<PathBuf>,

    /// RSA key size of the SCEP CA created on first start.
    #[arg(long, env = "MDM_CA_KEY_BITS", default_value_t = 2048)]
    pub ca_key_bits: usize,

    /// PEM certificate chain to serve HTTPS with (needs `--tls-key`). Without it the server
    /// speaks plain HTTP, for a TLS-terminating proxy in front.
    #[arg(long, env = "MDM_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "MDM_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Seconds a client may take to send a request's head before the connection is closed.
    #[arg(long, env = "MDM_HEADER_TIMEOUT", default_value_t = 30)]
    pub header_timeout: u64,

    /// Seconds a request may take, body included, before the server answers 408.
    #[arg(long, env = "MDM_REQUEST_TIMEOUT", default_value_t = 60)]
    pub request_timeout: u64,

    /// Largest `PUT /mdm/checkin` body, in bytes (`PUT /mdm`, which carries command
    /// reports, takes `--max-body`; SCEP 64 KiB; the enrollment profile no body).
    #[arg(long, env = "MDM_MAX_CHECKIN_BODY", default_value_t = crate::limits::DEFAULT_CHECKIN_MAX_BODY)]
    pub max_checkin_body: usize,

    /// Budget, in bytes, for all device bodies being received at once; a request that
    /// would pass it gets 503. Bounds memory whatever the number of clients.
    #[arg(long, env = "MDM_MAX_BUFFERED_BYTES", default_value_t = crate::limits::DEFAULT_MAX_BUFFERED_BYTES)]
    pub max_buffered_bytes: usize,

    /// Slowest accepted device body, in bytes per second on average after 5 seconds
    /// (0: no minimum); slower uploads end with 408.
    #[arg(long, env = "MDM_MIN_BODY_RATE", default_value_t = crate::limits::DEFAULT_MIN_BODY_RATE)]
    pub min_body_rate: u64,

    /// The most connections served at once; more are answered 503 and closed.
    #[arg(long, env = "MDM_MAX_CONNECTIONS", default_value_t = crate::serve::DEFAULT_MAX_CONNECTIONS)]
    pub max_connections: usize,

    /// Days after which finished commands (with their reports), expired commands and bad
    /// reports are deleted, by a task that runs hourly. Queued commands are never deleted.
    /// 0 keeps everything.
    #[arg(long, env = "MDM_RETENTION_DAYS", default_value_t = DEFAULT_RETENTION_DAYS)]
    pub retention_days: u64,

    /// Seconds without a connection after which an enrollment with commands waiting is
    /// pushed again by the backstop (at most once per that period; a lost push or a device
    /// that was off does not leave its commands waiting forever). 0 turns it off.
    #[arg(long, env = "MDM_REPUSH_AFTER", default_value_t = crate::backstop::DEFAULT_REPUSH_AFTER)]
    pub repush_after: u64,

    /// A webhook endpoint: `URL`, or `URL;topics=mdm.Connect,mdm.CheckOut` for some topics
    /// only (repeat the flag for more endpoints). Events (MicroMDM/NanoMDM JSON) are written
    /// to an outbox with the change they report and POSTed at least once, in order, retried
    /// with back-off, surviving restarts.
    #[arg(long = "webhook", env = "MDM_WEBHOOK", value_delimiter = ' ')]
    pub webhooks: Vec<String>,

    /// A file whose contents (trimmed) sign webhook bodies: `X-Hmac-Signature` is
    /// base64(HMAC-SHA256(key, body)).
    #[arg(long, env = "MDM_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,

    /// Seconds one webhook POST may take.
    #[arg(long, env = "MDM_WEBHOOK_TIMEOUT", default_value_t = 10)]
    pub webhook_timeout: u64,

    /// Keep the event outbox (`GET /v1/events`) even without webhooks.
    #[arg(long, env = "MDM_KEEP_EVENTS")]
    pub keep_events: bool,

    /// Seconds after which a command handed to a device and not answered is stalled: it is
    /// no longer sent (so it does not block the queue) and is listed by `GET /v1/stalled`
    /// until re-sent (`POST /v1/commands/{uuid}/resend`) or dropped (`DELETE`).
    #[arg(long, env = "MDM_STALL_AFTER", default_value_t = crate::queue::DEFAULT_STALL_AFTER)]
    pub stall_after: i64,

    /// Seconds a command answered `NotNow` waits before it is sent again; doubled at each
    /// further `NotNow`, up to `--not-now-backoff-max`.
    #[arg(long, env = "MDM_NOT_NOW_BACKOFF", default_value_t = crate::queue::DEFAULT_NOT_NOW_BACKOFF)]
    pub not_now_backoff: i64,

    /// Seconds APNs keeps a push it cannot deliver at once (`apns-expiration`); 0 asks it
    /// to deliver once or drop.
    #[arg(long, env = "MDM_PUSH_EXPIRATION", default_value_t = crate::apns::DEFAULT_PUSH_EXPIRATION)]
    pub push_expiration: u64,

    /// The longest `NotNow` back-off, in seconds.
    #[arg(long, env = "MDM_NOT_NOW_BACKOFF_MAX", default_value_t = crate::queue::DEFAULT_NOT_NOW_BACKOFF_MAX)]
    pub not_now_backoff_max: i64,

    /// File holding the key-encryption key (32 bytes: 64 hex digits, base64, or raw) that
    /// seals the CA key file and the APNs push key in storage. The key itself may instead be
    /// given in `MDM_SECRETS_KEY`. Make one with `openssl rand -hex 32`.
    #[arg(long, env = "MDM_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,

    /// PEM file of the CA that signed the PostgreSQL server's certificate (as libpq's
    /// `sslrootcert=`, which the URL may also carry); used with `sslmode=require`,
    /// `verify-ca` or `verify-full` in the storage URL.
    #[arg(long, env = "MDM_POSTGRES_CA_FILE")]
    pub postgres_ca_file: Option<PathBuf>,

    /// Log filter (tracing `EnvFilter` syntax, e.g. `info` or `mdm_server=debug`).
    #[arg(long, env = "MDM_LOG", default_value = "info")]
    pub log: String,

    // Identity and enrollment (issue 12).
    /// Enrollment open to anyone who can reach the server, for labs: `GET /mdm/enroll`
    /// needs no enrollment token and its profile carries the static SCEP challenge
    /// (`--scep-challenge`), and a certificate issued for no token may enroll a new device.
    /// Without it, profiles need a token from `POST /v1/enrollment-tokens` and carry a
    /// one-time challenge.
    #[arg(long, env = "MDM_OPEN_ENROLLMENT")]
    pub open_enrollment: bool,

    /// Source addresses (CIDR, e.g. `10.0.0.5/32,fd00::/8`) from which the
    /// `--client-cert-header` is read: the TLS-terminating proxies. A request from any
    /// other address that carries the header is refused (403). Default: loopback only.
    #[arg(long, env = "MDM_TRUSTED_PROXY", value_delimiter = ',', num_args = 1..)]
    pub trusted_proxy: Vec<ipnet::IpNet>,

    // DEP and Automated Device Enrollment (issue 16).
    /// The DEP service's base URL (default: Apple's). Another URL (a mock, a proxy) sends
    /// the DEP sync there.
    #[arg(long, env = "MDM_DEP_URL")]
    pub dep_url: Option<String>,

    /// Seconds between DEP sync rounds of every organisation with a server token (0: no
    /// background sync; `POST /v1/dep/{name}/sync` still runs a round).
    #[arg(long, env = "MDM_DEP_SYNC_INTERVAL", default_value_t = crate::service::dep::DEFAULT_SYNC_INTERVAL)]
    pub dep_sync_interval: u64,

    /// Devices asked for per DEP sync page (1 to 1000).
    #[arg(long, env = "MDM_DEP_PAGE_LIMIT", default_value_t = dep_client::MAX_PAGE_LIMIT)]
    pub dep_page_limit: u32,

    /// The most pages one DEP sync round takes; the next round continues from the stored
    /// cursor.
    #[arg(long, env = "MDM_DEP_MAX_PAGES", default_value_t = 10_000)]
    pub dep_max_pages: usize,

    /// PEM file of the CA certificates a device's MachineInfo signature must chain to
    /// (Apple's device CA) at `POST /mdm/ade/enroll`. Without it every device is refused.
    #[arg(long, env = "MDM_ADE_DEVICE_CA")]
    pub ade_device_ca: Option<PathBuf>,
}

/// Default of `--retention-days`.
pub const DEFAULT_RETENTION_DAYS: u64 = 30;
/// How often the retention task runs.
pub const RETENTION_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);

impl Config {
    /// A configuration for tests and embedding: listen on `listen`, keep files in `data_dir`,
    /// every other setting at its default.
    pub fn new(listen: SocketAddr, data_dir: impl Into<PathBuf>) -> Self {
        Config {
            listen,
            data_dir: data_dir.into(),
            storage: None,
            api_key: None,
            public_url: None,
            max_body: mdm_proto::Limits::MDM.max_bytes,
            client_cert_header: None,
            scep_challenge: None,
            topic: "com.apple.mgmt.External.00000000-0000-0000-0000-000000000000".into(),
            no_signature_check: false,
            ca_key_bits: 2048,
            apns_url: None,
            apns_ca: None,
            escrow_key_unlock_url: None,
            escrow_key_unlock_ca: None,
            tls_cert: None,
            tls_key: None,
            header_timeout: 30,
            request_timeout: 60,
            max_checkin_body: crate::limits::DEFAULT_CHECKIN_MAX_BODY,
            max_buffered_bytes: crate::limits::DEFAULT_MAX_BUFFERED_BYTES,
            min_body_rate: crate::limits::DEFAULT_MIN_BODY_RATE,
            max_connections: crate::serve::DEFAULT_MAX_CONNECTIONS,
            retention_days: DEFAULT_RETENTION_DAYS,
            repush_after: crate::backstop::DEFAULT_REPUSH_AFTER,
            webhooks: Vec::new(),
            webhook_secret_file: None,
            webhook_timeout: 10,
            keep_events: false,
            stall_after: crate::queue::DEFAULT_STALL_AFTER,
            push_expiration: crate::apns::DEFAULT_PUSH_EXPIRATION,
            not_now_backoff: crate::queue::DEFAULT_NOT_NOW_BACKOFF,
            not_now_backoff_max: crate::queue::DEFAULT_NOT_NOW_BACKOFF_MAX,
            secrets_key_file: None,
            postgres_ca_file: None,
            log: "info".into(),
            open_enrollment: false,
            trusted_proxy: Vec::new(),
            dep_url: None,
            dep_sync_interval: crate::service::dep::DEFAULT_SYNC_INTERVAL,
            dep_page_limit: dep_client::MAX_PAGE_LIMIT,
            dep_max_pages: 10_000,
            ade_device_ca: None,
        }
    }

    /// This configuration syncing DEP with the service at `url`, every `interval` seconds
    /// (0: only on request), `page_limit` devices a page, at most `max_pages` pages a round.
    pub fn with_dep(
        mut self,
        url: impl Into<String>,
        interval: u64,
        page_limit: u32,
        max_pages: usize,
    ) -> Self {
        self.dep_url = Some(url.into());
        self.dep_sync_interval = interval;
        self.dep_page_limit = page_limit;
        self.dep_max_pages = max_pages;
        self
    }

    /// This configuration accepting ADE MachineInfo signed by devices of the CAs in the PEM
    /// file `path`.
    pub fn with_ade_device_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.ade_device_ca = Some(path.into());
        self
    }

    /// This configuration with enrollment open to anyone (`--open-enrollment`).
    pub fn with_open_enrollment(mut self) -> Self {
        self.open_enrollment = true;
        self
    }

    /// This configuration reading the client-certificate header only from these sources.
    pub fn with_trusted_proxies(mut self, proxies: impl IntoIterator<Item = ipnet::IpNet>) -> Self {
        self.trusted_proxy = proxies.into_iter().collect();
        self
    }

    /// This configuration with a storage URL.
    pub fn with_storage(mut self, url: impl Into<String>) -> Self {
        self.storage = Some(url.into());
        self
    }

    /// This configuration with an API key.
    pub fn with_api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// This configuration serving HTTPS with a PEM certificate chain and key.
    pub fn with_tls(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls_cert = Some(cert.into());
        self.tls_key = Some(key.into());
        self
    }

    /// This configuration with other header and request timeouts (seconds).
    pub fn with_timeouts(mut self, header: u64, request: u64) -> Self {
        self.header_timeout = header;
        self.request_timeout = request;
        self
    }

    /// This configuration accepting device requests without an identity check
    /// (development and tests only).
    pub fn without_signature_check(mut self) -> Self {
        self.no_signature_check = true;
        self
    }

    /// This configuration with a SCEP challenge.
    pub fn with_scep_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.scep_challenge = Some(challenge.into());
        self
    }

    /// This configuration with a public base URL.
    pub fn with_public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// This configuration reading the device's certificate from a proxy header.
    pub fn with_client_cert_header(mut self, name: impl Into<String>) -> Self {
        self.client_cert_header = Some(name.into());
        self
    }

    /// Sends `POST /v1/escrowkeyunlock` to `url`, trusting the certificates in `ca` too.
    pub fn with_escrow_key_unlock(mut self, url: impl Into<String>, ca: Option<PathBuf>) -> Self {
        self.escrow_key_unlock_url = Some(url.into());
        self.escrow_key_unlock_ca = ca;
        self
    }

    /// This configuration pushing through the APNs server at `url`, trusting the roots in
    /// the PEM file `ca` (when given).
    pub fn with_apns(mut self, url: impl Into<String>, ca: Option<PathBuf>) -> Self {
        self.apns_url = Some(url.into());
        self.apns_ca = ca;
        self
    }

    /// This configuration with a body size limit.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// This configuration with other abuse limits: connections, buffered bytes, minimum
    /// body rate (bytes per second).
    pub fn with_abuse_limits(mut self, connections: usize, buffered: usize, rate: u64) -> Self {
        self.max_connections = connections;
        self.max_buffered_bytes = buffered;
        self.min_body_rate = rate;
        self
    }

    /// This configuration sealing secrets with the key in `path`.
    pub fn with_secrets_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.secrets_key_file = Some(path.into());
        self
    }

    /// This configuration with other queue timings, in seconds: `--stall-after`,
    /// `--not-now-backoff`, `--not-now-backoff-max`.
    pub fn with_queue_timing(
        mut self,
        stall_after: i64,
        not_now_backoff: i64,
        not_now_backoff_max: i64,
    ) -> Self {
        self.stall_after = stall_after;
        self.not_now_backoff = not_now_backoff;
        self.not_now_backoff_max = not_now_backoff_max;
        self
    }

    /// The queue rules' policy these settings give.
    pub fn queue_policy(&self) -> crate::queue::Policy {
        crate::queue::Policy::new()
            .with_stall_after(self.stall_after)
            .with_not_now_backoff(self.not_now_backoff, self.not_now_backoff_max)
    }

    /// This configuration with the push backstop re-pushing after `seconds` of silence
    /// (0: off).
    pub fn with_repush_after(mut self, seconds: u64) -> Self {
        self.repush_after = seconds;
        self
    }

    /// This configuration with a webhook endpoint (`--webhook` syntax), signed with the key
    /// in `secret_file` when given.
    pub fn with_webhook(mut self, spec: impl Into<String>, secret_file: Option<PathBuf>) -> Self {
        self.webhooks.push(spec.into());
        if secret_file.is_some() {
            self.webhook_secret_file = secret_file;
        }
        self
    }

    /// This configuration with webhook POSTs limited to `seconds`.
    pub fn with_webhook_timeout(mut self, seconds: u64) -> Self {
        self.webhook_timeout = seconds;
        self
    }

    /// This configuration keeping the event outbox without webhooks.
    pub fn with_events(mut self) -> Self {
        self.keep_events = true;
        self
    }

    /// This configuration keeping finished commands `days` days (0: forever).
    pub fn with_retention_days(mut self, days: u64) -> Self {
        self.retention_days = days;
        self
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// Storage could not be opened.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The CA could not be loaded or created.
    #[error("CA: {0}")]
    Pki(#[from] crate::pki::PkiError),
    /// A setting is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A secret could not be read or decrypted.
    #[error("secrets: {0}")]
    Secrets(#[from] crate::secrets::SecretsError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// Where the API key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiKeySource {
    /// The flag or environment variable.
    Given,
    /// The file in the data folder.
    Stored(PathBuf),
    /// Generated now and written to the file.
    Generated(PathBuf),
}

fn load_api_key(config: &Config) -> Result<(ApiKey, ApiKeySource), StartError> {
    if let Some(key) = &config.api_key {
        if key.trim().is_empty() {
            return Err(StartError::Config("the API key is empty".into()));
        }
        return Ok((ApiKey::new(key.trim()), ApiKeySource::Given));
    }
    let path = config.data_dir.join(API_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            return Ok((ApiKey::new(text.trim()), ApiKeySource::Stored(path)));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    }
    let key = ApiKey::generate();
    crate::secrets::write_atomic(&path, format!("{}\n", key.expose()).as_bytes())
        .map_err(io(format!("writing {}", path.display())))?;
    Ok((key, ApiKeySource::Generated(path)))
}

fn load_secrets_key(config: &Config) -> Result<Option<SecretsKey>, StartError> {
    let key = match &config.secrets_key_file {
        Some(path) => Some(SecretsKey::from_file(path)?),
        None => match std::env::var(crate::secrets::SECRETS_KEY_ENV) {
            Ok(text) if !text.trim().is_empty() => Some(SecretsKey::from_text(
                &text,
                &format!("in {}", crate::secrets::SECRETS_KEY_ENV),
            )?),
            _ => None,
        },
    };
    Ok(key)
}

/// The DEP side from the flags: the service URL, the sync's pace, the ADE device CA.
fn load_dep(
    config: &Config,
    storage: &Arc<dyn storage::Storage>,
    service: &Arc<dyn crate::service::Service>,
    secrets: Option<Arc<SecretsKey>>,
) -> Result<crate::service::dep::Dep, StartError> {
    if !(1..=dep_client::MAX_PAGE_LIMIT).contains(&config.dep_page_limit) {
        return Err(StartError::Config(format!(
            "--dep-page-limit must be 1 to {}",
            dep_client::MAX_PAGE_LIMIT
        )));
    }
    let device_ca = match &config.ade_device_ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
            let certs = mdm_pki::pem::certificates(&pem, 16).map_err(|e| {
                StartError::Config(format!("--ade-device-ca {}: {e}", path.display()))
            })?;
            if certs.is_empty() {
                return Err(StartError::Config(format!(
                    "--ade-device-ca {}: no certificate",
                    path.display()
                )));
            }
            certs
        }
        None => Vec::new(),
    };
    let dep_config = crate::service::dep::DepConfig {
        base_url: config.dep_url.clone(),
        interval: config.dep_sync_interval,
        page_limit: config.dep_page_limit,
        max_pages: config.dep_max_pages.max(1),
        device_ca,
    };
    crate::service::dep::Dep::new(
        Arc::clone(storage),
        Arc::clone(service),
        secrets,
        dep_config,
    )
    .map_err(|e| StartError::Config(format!("--ade-device-ca: {e}")))
}

/// A server ready to run: bound, storage open, routes built.
#[derive(Debug)]
#[non_exhaustive]
pub struct Server {
    /// The bound listener.
    pub listener: tokio::net::TcpListener,
    /// The application.
    pub router: axum::Router,
    /// The address actually bound (the port is chosen when `--listen` names port 0).
    pub local_addr: SocketAddr,
    /// The admin API key.
    pub api_key: ApiKey,
    /// Where the key came from.
    pub api_key_source: ApiKeySource,
    /// The public base URL.
    pub public_url: String,
    /// Time limits.
    pub options: crate::serve::ServeOptions,
    /// The CA (SCEP, profile signing, device certificates).
    pub pki: Arc<Pki>,
    /// True when device identities are not checked (`--no-signature-check`).
    pub no_signature_check: bool,
    /// Where the CA lives.
    pub data_dir: PathBuf,
    /// Refusal counters (also shown by `GET /v1/stats`).
    pub refusals: Arc<crate::refusals::Refusals>,
    dep: Arc<crate::service::dep::Dep>,
    storage: Arc<dyn storage::Storage>,
    service: Arc<dyn crate::service::Service>,
    retention_days: u64,
    repush_after: u64,
    deliverers: Vec<crate::webhook::Deliverer>,
    /// True when enrollment is open to anyone (`--open-enrollment`).
    pub open_enrollment: bool,
    /// The TLS configuration, when serving HTTPS.
    #[cfg(feature = "tls")]
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

#[cfg(feature = "tls")]
type TlsConfig = Option<Arc<tokio_rustls::rustls::ServerConfig>>;

#[cfg(feature = "tls")]
fn load_tls(config: &Config) -> Result<TlsConfig, StartError> {
    match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => crate::tls::load_config(cert, key)
            .map(Some)
            .map_err(StartError::Config),
        (None, None) => Ok(None),
        _ => Err(StartError::Config(
            "--tls-cert and --tls-key go together".into(),
        )),
    }
}

#[cfg(not(feature = "tls"))]
fn load_tls(config: &Config) -> Result<(), StartError> {
    if config.tls_cert.is_some() || config.tls_key.is_some() {
        return Err(StartError::Config(
            "this build has no TLS support (feature `tls`): use a TLS-terminating proxy".into(),
        ));
    }
    Ok(())
}

impl Server {
    /// Creates the data folder, loads or generates the API key, opens storage and binds.
    pub async fn start(config: &Config) -> Result<Self, StartError> {
        Self::start_with(config, |service| service).await
    }

    /// Like [`Server::start`], with the service adjusted by `customize` before it serves:
    /// the place to plug in a device identity check, a pusher or token handlers.
    pub async fn start_with(
        config: &Config,
        customize: impl FnOnce(MdmService) -> MdmService,
    ) -> Result<Self, StartError> {
        crate::secrets::create_private_dir(&config.data_dir)
            .map_err(io(format!("creating {}", config.data_dir.display())))?;
        let secrets = load_secrets_key(config)?.map(Arc::new);
        let (api_key, api_key_source) = load_api_key(config)?;
        #[cfg(feature = "tls")]
        let tls = load_tls(config)?;
        #[cfg(not(feature = "tls"))]
        load_tls(config)?;
        let url = match &config.storage {
            Some(url) => url.clone(),
            None => format!("sqlite:{}", config.data_dir.join(SQLITE_FILE).display()),
        };
        let storage = storage::open_with(
            &url,
            &storage::OpenOptions::new().with_postgres_ca_file(config.postgres_ca_file.clone()),
        )
        .await?;
        let pki = {
            let dir = config.data_dir.clone();
            let challenge = config.scep_challenge.clone();
            let bits = config.ca_key_bits;
            let secrets = secrets.clone();
            tokio::task::spawn_blocking(move || {
                Pki::load_or_create_sealed(&dir, challenge.as_deref(), bits, secrets.as_deref())
            })
            .await
            .map_err(|e| StartError::Config(format!("creating the CA: {e}")))??
        };
        let pki = Arc::new(pki);
        let service =
            MdmService::new(Arc::clone(&storage)).with_queue_policy(config.queue_policy());
        let service = if config.no_signature_check {
            tracing::warn!("--no-signature-check: device identities are NOT checked");
            service.with_verifier(Arc::new(AcceptAll))
        } else {
            service.with_verifier(Arc::new(
                CertificateVerifier::new(Arc::clone(&pki), Arc::clone(&storage))
                    .with_open_enrollment(config.open_enrollment),
            ))
        };
        if config.open_enrollment {
            tracing::warn!(
                "--open-enrollment: anyone who can reach the server gets an enrollment profile \
                 with the static SCEP challenge; for labs only"
            );
        } else if config.scep_challenge.is_some() {
            tracing::warn!("--scep-challenge is used only with --open-enrollment");
        }
        let endpoint = match &config.apns_url {
            Some(url) => apns_client::Endpoint::custom(url)
                .map_err(|e| StartError::Config(format!("--apns-url: {e}")))?,
            None => apns_client::Endpoint::Production,
        };
        let roots = match &config.apns_ca {
            Some(path) => {
                let pem = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
                apns_client::cert::certificates_from_pem(&pem)
                    .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?
            }
            None => Vec::new(),
        };
        let service = service.with_pusher(Arc::new(
            crate::apns::ApnsPusher::new(Arc::clone(&storage), endpoint, roots)
                .with_secrets(secrets.clone())
                .with_expiration(config.push_expiration),
        ));
        let metrics = Arc::new(crate::metrics::Metrics::new());
        let endpoints = config
            .webhooks
            .iter()
            .map(|spec| crate::webhook::Endpoint::parse(spec))
            .collect::<Result<Vec<_>, _>>()
            .map_err(StartError::Config)?;
        let secret = match &config.webhook_secret_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(io(format!("reading {}", path.display())))?;
                let key = text.trim().as_bytes().to_vec();
                if key.is_empty() {
                    return Err(StartError::Config(format!(
                        "{}: the webhook secret is empty",
                        path.display()
                    )));
                }
                Some(Arc::new(key))
            }
            None => None,
        };
        let wake = Arc::new(tokio::sync::Notify::new());
        let service = if endpoints.is_empty() && !config.keep_events {
            service
        } else {
            crate::webhook::init_cursors(storage.as_ref(), &endpoints)
                .await
                .map_err(StartError::Config)?;
            service.with_outbox(Arc::clone(&wake))
        };
        let deliverers: Vec<crate::webhook::Deliverer> = endpoints
            .into_iter()
            .map(|endpoint| crate::webhook::Deliverer {
                endpoint,
                storage: Arc::clone(&storage),
                secret: secret.clone(),
                wake: Arc::clone(&wake),
                metrics: Arc::clone(&metrics),
                timing: crate::webhook::Timing {
                    timeout: std::time::Duration::from_secs(config.webhook_timeout.max(1)),
                    ..crate::webhook::Timing::default()
                },
            })
            .collect();
        let service = customize(service.with_observer(Arc::clone(&metrics) as _));
        let service: Arc<dyn crate::service::Service> = Arc::new(service);
        let dep = Arc::new(load_dep(config, &storage, &service, secrets.clone())?);
        let mut state = AppState::new(Arc::clone(&service), Arc::clone(&storage), api_key.clone());
        state.dep = Some(Arc::clone(&dep));
        state.metrics = metrics;
        let mut device_limits = crate::limits::DeviceLimits::new(
            config.max_body,
            config.max_checkin_body,
            config.max_buffered_bytes,
            config.min_body_rate,
        );
        device_limits.require_identity_header = !config.no_signature_check;
        state.device_limits = device_limits;
        state.secrets = secrets;
        let refusals = Arc::clone(&state.refusals);
        state.pki = Some(Arc::clone(&pki));
        state.default_topic = config.topic.clone();
        state.limits = mdm_proto::Limits::MDM.with_max_bytes(config.max_body);
        state.open_enrollment = config.open_enrollment;
        state.queue_policy = config.queue_policy();
        let mut escrow_roots = crate::escrow::system_roots();
        if let Some(path) = &config.escrow_key_unlock_ca {
            let pem = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
            escrow_roots.extend(
                apns_client::cert::certificates_from_pem(&pem)
                    .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?,
            );
        }
        let escrow_url = config
            .escrow_key_unlock_url
            .as_deref()
            .unwrap_or(crate::admin::escrow_key_unlock::APPLE_URL);
        state.escrow = Some(Arc::new(
            crate::escrow::EscrowClient::new(escrow_url, &escrow_roots)
                .map_err(|e| StartError::Config(format!("--escrow-key-unlock-url: {e}")))?,
        ));
        state.trusted_proxies = if config.trusted_proxy.is_empty() {
            crate::state::loopback()
        } else {
            config.trusted_proxy.clone()
        };
        if let Some(name) = &config.client_cert_header {
            state.client_cert_header =
                Some(name.parse().map_err(|_| {
                    StartError::Config(format!("`{name}` is not a valid header name"))
                })?);
        }
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(io(format!("listening on {}", config.listen)))?;
        let local_addr = listener
            .local_addr()
            .map_err(io("reading the bound address"))?;
        #[cfg(feature = "tls")]
        let scheme = if tls.is_some() { "https" } else { "http" };
        #[cfg(not(feature = "tls"))]
        let scheme = "http";
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{local_addr}"))
            .trim_end_matches('/')
            .to_owned();
        state.public_url = public_url.clone();
        Ok(Server {
            listener,
            router: crate::http::router(state),
            local_addr,
            api_key,
            api_key_source,
            public_url,
            options: crate::serve::ServeOptions::default()
                .with_timeouts(
                    std::time::Duration::from_secs(config.header_timeout.max(1)),
                    std::time::Duration::from_secs(config.request_timeout.max(1)),
                )
                .with_max_connections(config.max_connections),
            refusals,
            dep,
            storage,
            service,
            retention_days: config.retention_days,
            repush_after: config.repush_after,
            deliverers,
            pki,
            no_signature_check: config.no_signature_check,
            data_dir: config.data_dir.clone(),
            open_enrollment: config.open_enrollment,
            #[cfg(feature = "tls")]
            tls,
        })
    }

    /// The lines printed at start: addresses, URLs and (when just generated) the API key.
    pub fn banner(&self) -> Vec<String> {
        let url = &self.public_url;
        let mut lines = vec![
            format!(
                "mdm-server {} listening on {}://{}",
                env!("CARGO_PKG_VERSION"),
                self.scheme(),
                self.local_addr
            ),
            if self.open_enrollment {
                format!("enrollment URL: {url}/mdm/enroll")
            } else {
                format!("enrollment URL: {url}/mdm/enroll?token=... (mdmctl enroll-link)")
            },
            format!("check-in URL:   {url}/mdm/checkin"),
            format!("server URL:     {url}/mdm"),
            format!("SCEP URL:       {url}/scep"),
            format!("admin API:      {url}/v1/ (OpenAPI at {url}/v1/openapi.json)"),
            format!(
                "SCEP CA:        {}",
                self.data_dir.join(crate::pki::CA_CERT_FILE).display()
            ),
        ];
        if self.no_signature_check {
            lines.push("WARNING: device identities are not checked (--no-signature-check)".into());
        }
        if self.open_enrollment {
            lines.push(
                "WARNING: enrollment is open to anyone (--open-enrollment): for labs only".into(),
            );
        } else {
            lines.push(
                "enrollment:     needs a token (POST /v1/enrollment-tokens, mdmctl enroll-link)"
                    .into(),
            );
        }
        if let ApiKeySource::Generated(path) = &self.api_key_source {
            // First start: say what to do next (the README's quickstart).
            lines.extend([
                "next steps, in another terminal in this folder:".to_owned(),
                format!(
                    "  export MDMCTL_SERVER={url} MDMCTL_API_KEY=$(cat {})",
                    path.display()
                ),
                "  cargo run -p device-sim -- --server \"$MDMCTL_SERVER\" --api-key \"$MDMCTL_API_KEY\" --enroll --devices 1".to_owned(),
                "  cargo run -p mdmctl -- enrollments list".to_owned(),
                "  cargo run -p mdmctl -- commands send DeviceInformation --to DEVICE-ID".to_owned(),
                "  cargo run -p mdmctl -- enroll-link   (a link for a real device; it needs HTTPS)".to_owned(),
            ]);
        }
        lines.push(match &self.api_key_source {
            ApiKeySource::Given => "API key: as given".to_owned(),
            ApiKeySource::Stored(path) => format!("API key: stored in {}", path.display()),
            ApiKeySource::Generated(path) => format!(
                "API key: {} (generated, stored in {})",
                self.api_key.expose(),
                path.display()
            ),
        });
        lines
    }

    /// `https` when serving TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return "https";
        }
        "http"
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        let pruning = (self.retention_days > 0).then(|| {
            tokio::spawn(crate::retention::run(
                Arc::clone(&self.storage),
                self.retention_days,
                RETENTION_INTERVAL,
            ))
        });
        let backstop = (self.repush_after > 0).then(|| {
            tokio::spawn(crate::backstop::run(
                Arc::clone(&self.storage),
                Arc::clone(&self.service),
                self.repush_after,
            ))
        });
        let webhooks: Vec<_> = self
            .deliverers
            .iter()
            .cloned()
            .map(|d| tokio::spawn(d.run()))
            .collect();
        let (dep_stop, dep_stopped) = tokio::sync::oneshot::channel::<()>();
        let dep_sync = (self.dep.config().interval > 0).then(|| {
            tokio::spawn(Arc::clone(&self.dep).run(async move {
                let _ = dep_stopped.await;
            }))
        });
        let refusals = Arc::clone(&self.refusals);
        #[cfg(feature = "tls")]
        let served = if let Some(tls) = self.tls {
            match crate::tls::TlsListener::new(self.listener, tls) {
                Ok(listener) => {
                    crate::serve::serve_counted(
                        listener,
                        self.router,
                        self.options,
                        refusals,
                        shutdown,
                    )
                    .await;
                    Ok(())
                }
                Err(e) => Err(io("starting TLS")(e)),
            }
        } else {
            crate::serve::serve_counted(
                self.listener,
                self.router,
                self.options,
                refusals,
                shutdown,
            )
            .await;
            Ok(())
        };
        #[cfg(not(feature = "tls"))]
        let served = {
            crate::serve::serve_counted(
                self.listener,
                self.router,
                self.options,
                refusals,
                shutdown,
            )
            .await;
            Ok(())
        };
        let _ = dep_stop.send(());
        for task in [pruning, backstop, dep_sync]
            .into_iter()
            .flatten()
            .chain(webhooks)
        {
            task.abort();
        }
        served
    }
}
