//! DEP in the server: each organisation's key pair and server token, the device sync, the
//! profile assigned to new devices, and the Automated Device Enrollment (ADE) check.
//!
//! - `GET /v1/dep/{name}/certificate` creates the organisation's RSA key pair on first use
//!   (the private key sealed with the secrets key when one is configured) and gives the
//!   certificate to upload to Apple; `PUT /v1/dep/{name}/token` opens the token file Apple
//!   gives back with that key ([`Dep::put_token`]).
//! - [`Dep::sync`] runs one round of dep-client's [`SyncDriver`]: each page's devices and
//!   the cursor that follows it are stored in one transaction
//!   ([`crate::storage::dep::DepStore::store_dep_page`]), an echoed cursor ends the round,
//!   and a restarted server continues from the last stored cursor. [`Dep::run`] does it for
//!   every organisation on an interval. After the round the organisation's profile (if set)
//!   is defined with Apple and assigned to devices that do not have it yet.
//! - [`Dep::ade_enroll`] checks a device's CMS-signed MachineInfo (signature, chain to the
//!   configured device CA, a serial number the sync knows) and gives it a one-time SCEP
//!   challenge from a single-use enrollment token bound to its UDID.

use crate::secrets::SecretsKey;
use crate::service::{Service, ServiceError};
use crate::storage::dep::{DepDeviceChange, DepOrg, DepPageOutcome};
use crate::storage::{self, Storage};
use dep_client::client::{DepClient, HyperTransport};
use dep_client::driver::{BoxError, CursorStore, PageHandler, SyncDriver};
use dep_client::sync::{Checkpoint, Page};
use dep_client::token::KeyPair;
use dep_client::{DeviceStatus, OpType, Profile, ServerToken};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The path of the ADE endpoint: the `url` of profiles set without one.
pub const ADE_PATH: &str = "/mdm/ade/enroll";
/// The largest MachineInfo body accepted, in bytes (real ones are a few KB).
pub const MAX_MACHINE_INFO: usize = 64 * 1024;
/// Validity of the certificate an organisation's key pair comes with (two years).
pub const DEP_CERT_VALIDITY: Duration = Duration::from_secs(2 * 365 * 86_400);
/// How long the one-time challenge of an ADE profile stays valid, in seconds.
pub const ADE_CHALLENGE_VALIDITY: i64 = 3600;
/// Default of `--dep-sync-interval`, in seconds.
pub const DEFAULT_SYNC_INTERVAL: u64 = 900;
/// The most profile-assignment calls after one round (1,000 devices each).
const MAX_ASSIGN_BATCHES: usize = 100;

/// How the DEP sync talks to Apple.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepConfig {
    /// The DEP service's base URL (`None`: Apple's).
    pub base_url: Option<String>,
    /// Devices asked for per page (1 to 1000).
    pub page_limit: u32,
    /// The most pages one round takes; the next round continues from the stored cursor.
    pub max_pages: usize,
    /// Seconds between sync rounds of the background task (0: no background task).
    pub interval: u64,
    /// The DER certificates a device's MachineInfo signature must chain to (empty: the
    /// ADE endpoint refuses every device).
    pub device_ca: Vec<Vec<u8>>,
}

impl Default for DepConfig {
    fn default() -> Self {
        DepConfig {
            base_url: None,
            page_limit: dep_client::MAX_PAGE_LIMIT,
            max_pages: 10_000,
            interval: DEFAULT_SYNC_INTERVAL,
            device_ca: Vec::new(),
        }
    }
}

/// Why a DEP request failed: the server's own refusal, or Apple's service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DepError {
    /// Refused here (bad input, unknown organisation, storage).
    #[error(transparent)]
    Service(#[from] ServiceError),
    /// Apple's service (or the configured mock) failed or refused.
    #[error("DEP service: {0}")]
    Apple(#[from] dep_client::Error),
}

impl From<storage::StorageError> for DepError {
    fn from(e: storage::StorageError) -> Self {
        DepError::Service(ServiceError::Storage(e))
    }
}

/// What one sync round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncReport {
    /// Pages stored.
    pub pages: usize,
    /// Device entries in those pages.
    pub devices: usize,
    /// Times a refused cursor started the fetch again.
    pub refetches: usize,
    /// Whether the round ended on an echoed cursor.
    pub echoed_cursor: bool,
    /// Serials new (or back) in the organisation.
    pub added: usize,
    /// Serials that left it.
    pub removed: usize,
    /// Devices the profile was assigned to after the round.
    pub profiles_assigned: usize,
}

/// The MachineInfo keys the ADE endpoint uses.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MachineInfo {
    /// `UDID`.
    pub udid: String,
    /// `SERIAL`.
    pub serial: String,
    /// `PRODUCT` (e.g. `iPad13,1`).
    pub product: Option<String>,
    /// `VERSION` (the OS build).
    pub version: Option<String>,
    /// `LANGUAGE`.
    pub language: Option<String>,
}

/// Why the ADE endpoint refused a device. Each is answered with Apple's documented 403
/// body (`{"code", "description", "message"}`), but for a malformed request (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AdeRefusal {
    /// No `--ade-device-ca` is configured: no device can be checked.
    #[error("no device CA is configured (--ade-device-ca)")]
    NotConfigured,
    /// The body is not a CMS SignedData carrying a MachineInfo plist.
    #[error("malformed MachineInfo: {0}")]
    Malformed(String),
    /// The CMS signature does not verify with the signer's certificate.
    #[error("bad MachineInfo signature: {0}")]
    BadSignature(String),
    /// The signer's certificate does not chain to the configured device CA.
    #[error("untrusted device certificate: {0}")]
    UntrustedDevice(String),
    /// The serial number is not a device DEP assigned to this server.
    #[error("serial number `{0}` is not a DEP device of this server")]
    UnknownDevice(String),
}

impl AdeRefusal {
    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            AdeRefusal::Malformed(_) => 400,
            _ => 403,
        }
    }

    /// A short name of the reason (logs, counters).
    pub fn reason(&self) -> &'static str {
        match self {
            AdeRefusal::NotConfigured => "ade_not_configured",
            AdeRefusal::Malformed(_) => "ade_malformed",
            AdeRefusal::BadSignature(_) => "ade_bad_signature",
            AdeRefusal::UntrustedDevice(_) => "ade_untrusted_device",
            AdeRefusal::UnknownDevice(_) => "ade_unknown_device",
        }
    }

    /// Apple's error body for an MDM server's 403 (`ErrorUnrecognizedDevice`: `code`,
    /// `description` for logs, `message` for the user).
    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "code": "com.apple.unrecognized.device",
            "description": self.to_string(),
            "message": "This device cannot enroll with this organisation's device management server.",
        })
    }
}

/// What the ADE endpoint gives an accepted device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AdeGrant {
    /// The device.
    pub machine: MachineInfo,
    /// The organisation it belongs to.
    pub org: String,
    /// The one-time SCEP challenge for its profile.
    pub challenge: String,
    /// The single-use enrollment token behind the challenge.
    pub token_id: String,
}

/// The DEP side of the server: organisations, sync and the ADE check.
pub struct Dep {
    storage: Arc<dyn Storage>,
    service: Arc<dyn Service>,
    secrets: Option<Arc<SecretsKey>>,
    config: DepConfig,
    anchors: Vec<mdm_pki::Certificate>,
    locks: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Dep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dep")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Checks an organisation name: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn check_name(name: &str) -> Result<(), ServiceError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(ServiceError::BadRequest(
            "a DEP organisation name is 1 to 64 of A-Z, a-z, 0-9, `.`, `_`, `-`".into(),
        ))
    }
}

fn key_context(name: &str) -> String {
    format!("dep-key:{name}")
}

fn token_context(name: &str) -> String {
    format!("dep-token:{name}")
}

fn internal(what: &str) -> impl FnOnce(&dyn std::fmt::Display) -> ServiceError + '_ {
    move |e| ServiceError::Storage(storage::StorageError::Config(format!("{what}: {e}")))
}

impl Dep {
    /// DEP over `storage`, creating enrollment tokens through `service`, sealing keys and
    /// tokens with `secrets` when given.
    pub fn new(
        storage: Arc<dyn Storage>,
        service: Arc<dyn Service>,
        secrets: Option<Arc<SecretsKey>>,
        config: DepConfig,
    ) -> Result<Self, String> {
        let anchors = config
            .device_ca
            .iter()
            .map(|der| mdm_pki::parse_certificate(der).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Dep {
            storage,
            service,
            secrets,
            config,
            anchors,
            locks: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &DepConfig {
        &self.config
    }

    async fn org(&self, name: &str) -> Result<DepOrg, ServiceError> {
        check_name(name)?;
        self.storage.dep_org(name).await?.ok_or_else(|| {
            ServiceError::NotFound(format!(
                "no DEP organisation `{name}`: GET /v1/dep/{name}/certificate creates it"
            ))
        })
    }

    /// The certificate (PEM) to upload to Apple for organisation `name`; its key pair is
    /// made and stored on the first call.
    pub async fn certificate(&self, name: &str) -> Result<String, ServiceError> {
        check_name(name)?;
        if let Some(org) = self.storage.dep_org(name).await? {
            return Ok(org.cert_pem);
        }
        let cn = format!("mdm-server DEP {name}");
        let pair = tokio::task::spawn_blocking(move || KeyPair::generate(&cn, DEP_CERT_VALIDITY))
            .await
            .map_err(|e| internal("DEP key generation")(&e))?
            .map_err(|e| internal("DEP key generation")(&e))?;
        let key_pem = pair
            .private_key_pem()
            .map_err(|e| internal("DEP key")(&e))?;
        let cert_pem = pair
            .certificate_pem()
            .map_err(|e| internal("DEP certificate")(&e))?;
        let sealed =
            crate::secrets::seal_text(self.secrets.as_deref(), &key_pem, &key_context(name));
        let org = DepOrg::new(name, sealed, cert_pem, storage::now());
        let stored = self.storage.create_dep_org(&org).await?;
        tracing::info!(org = %name, "DEP key pair created");
        Ok(stored.cert_pem)
    }

    fn key_pair(&self, org: &DepOrg) -> Result<KeyPair, ServiceError> {
        let pem = crate::secrets::open_text(
            self.secrets.as_deref(),
            &org.key_pem,
            &key_context(&org.name),
            "DEP key",
        )
        .map_err(|e| internal("DEP key")(&e))?;
        KeyPair::from_pem(&pem, org.cert_pem.as_bytes()).map_err(|e| internal("DEP key")(&e))
    }

    /// Opens the token file Apple gave for `name` (S/MIME `.p7m`, encrypted to the
    /// organisation's certificate, or already decrypted) and stores the server token.
    pub async fn put_token(&self, name: &str, file: &[u8]) -> Result<ServerToken, ServiceError> {
        let org = self.org(name).await?;
        if file.len() > dep_client::token::MAX_TOKEN_FILE {
            return Err(ServiceError::BadRequest(
                "the token file is too large".into(),
            ));
        }
        let pair = self.key_pair(&org)?;
        let file = file.to_vec();
        let token = tokio::task::spawn_blocking(move || {
            dep_client::token::decrypt_token_file(&file, &pair)
        })
        .await
        .map_err(|e| internal("opening the token file")(&e))?
        .map_err(|e| ServiceError::BadRequest(format!("token file: {e}")))?;
        let json = serde_json::to_string(&token).map_err(|e| internal("token")(&e))?;
        let sealed =
            crate::secrets::seal_text(self.secrets.as_deref(), &json, &token_context(name));
        self.storage
            .set_dep_token(name, &sealed, storage::now())
            .await?;
        tracing::info!(org = %name, consumer_key = %token.consumer_key, "DEP server token stored");
        Ok(token)
    }

    /// Sets the DEP profile assigned to new devices of `name` (JSON; `url` defaults to this
    /// server's ADE endpoint under `public_url`); `None` stops assigning one.
    pub async fn set_profile(
        &self,
        name: &str,
        profile: Option<&[u8]>,
        public_url: &str,
    ) -> Result<Option<Profile>, ServiceError> {
        self.org(name).await?;
        let parsed = match profile {
            None => None,
            Some(body) => {
                let mut value: serde_json::Value = serde_json::from_slice(body)
                    .map_err(|e| ServiceError::BadRequest(format!("DEP profile: {e}")))?;
                let Some(map) = value.as_object_mut() else {
                    return Err(ServiceError::BadRequest(
                        "DEP profile: a JSON object is expected".into(),
                    ));
                };
                map.entry("url")
                    .or_insert_with(|| format!("{public_url}{ADE_PATH}").into());
                let profile: Profile = serde_json::from_value(value)
                    .map_err(|e| ServiceError::BadRequest(format!("DEP profile: {e}")))?;
                if profile.profile_name.trim().is_empty() {
                    return Err(ServiceError::BadRequest(
                        "DEP profile: `profile_name` is empty".into(),
                    ));
                }
                Some(profile)
            }
        };
        let json = parsed
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| internal("DEP profile")(&e))?;
        self.storage
            .set_dep_profile(name, json.as_deref(), storage::now())
            .await?;
        Ok(parsed)
    }

    /// The stored organisation (for the admin API).
    pub async fn organisation(&self, name: &str) -> Result<DepOrg, ServiceError> {
        self.org(name).await
    }

    fn client(&self, org: &DepOrg) -> Result<DepClient<HyperTransport>, ServiceError> {
        let Some(stored) = &org.token else {
            return Err(ServiceError::Conflict(format!(
                "DEP organisation `{}` has no server token yet: PUT /v1/dep/{}/token",
                org.name, org.name
            )));
        };
        let json = crate::secrets::open_text(
            self.secrets.as_deref(),
            stored,
            &token_context(&org.name),
            "DEP server token",
        )
        .map_err(|e| internal("DEP server token")(&e))?;
        let token: ServerToken =
            serde_json::from_str(&json).map_err(|e| internal("DEP server token")(&e))?;
        let mut config = dep_client::Config::new();
        if let Some(url) = &self.config.base_url {
            config = config.with_base_url(url.clone());
        }
        Ok(DepClient::with_transport(
            token,
            config,
            HyperTransport::new(),
        ))
    }

    fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(name.to_owned()).or_default())
    }

    /// One sync round for organisation `name` (never two at once for one organisation in
    /// this process), then the profile assignment.
    pub async fn sync(&self, name: &str) -> Result<SyncReport, DepError> {
        let org = self.org(name).await?;
        let lock = self.lock_for(name);
        let _guard = lock.lock().await;
        let client = self.client(&org)?;
        let cursors = StoredCursors {
            storage: self.storage.as_ref(),
        };
        let driver = SyncDriver::new(name, &client, &cursors)
            .with_limit(self.config.page_limit)
            .with_max_pages(self.config.max_pages);
        let mut pages = StoredPages {
            storage: self.storage.as_ref(),
            outcome: DepPageOutcome::default(),
        };
        let round = driver.run_round(&mut pages).await?;
        let mut report = SyncReport {
            pages: round.pages,
            devices: round.devices,
            refetches: round.refetches,
            echoed_cursor: round.echoed_cursor,
            added: pages.outcome.added.len(),
            removed: pages.outcome.removed.len(),
            profiles_assigned: 0,
        };
        report.profiles_assigned = self.assign_profile(name, &client).await?;
        tracing::info!(org = %name, pages = report.pages, devices = report.devices,
            added = report.added, removed = report.removed,
            profiles_assigned = report.profiles_assigned, "DEP sync round done");
        Ok(report)
    }

    /// Defines the organisation's profile with Apple when needed and assigns it to the
    /// present devices that do not have it; the number of devices it was assigned to.
    async fn assign_profile(
        &self,
        name: &str,
        client: &DepClient<HyperTransport>,
    ) -> Result<usize, DepError> {
        let org = self.org(name).await?;
        let Some(profile_json) = org.profile else {
            return Ok(0);
        };
        let uuid = match org.profile_uuid {
            Some(uuid) => uuid,
            None => {
                let profile: Profile = serde_json::from_str(&profile_json)
                    .map_err(|e| internal("stored DEP profile")(&e))?;
                let defined = client.define_profile(profile).await?;
                let uuid = defined.profile_uuid.clone();
                self.storage
                    .set_dep_profile_uuid(name, &profile_json, &uuid, storage::now())
                    .await?;
                tracing::info!(org = %name, profile_uuid = %uuid, "DEP profile defined");
                uuid
            }
        };
        let mut assigned = 0;
        for _ in 0..MAX_ASSIGN_BATCHES {
            let serials = self
                .storage
                .dep_devices_without_profile(name, &uuid, dep_client::MAX_PAGE_LIMIT)
                .await?;
            if serials.is_empty() {
                break;
            }
            let answer = client.assign_profile(&uuid, serials.clone()).await?;
            let done: Vec<String> = serials
                .into_iter()
                .filter(|s| answer.devices.get(s) == Some(&DeviceStatus::Success))
                .collect();
            for (serial, status) in &answer.devices {
                if *status != DeviceStatus::Success {
                    tracing::warn!(org = %name, %serial, %status, "DEP profile not assigned");
                }
            }
            if done.is_empty() {
                break;
            }
            self.storage
                .mark_dep_profile_assigned(name, &done, &uuid, storage::now())
                .await?;
            assigned += done.len();
        }
        Ok(assigned)
    }

    /// Syncs every organisation with a token, then waits `interval`, until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let interval = Duration::from_secs(self.config.interval.max(1));
        tokio::pin!(shutdown);
        loop {
            match self.storage.dep_orgs_with_token().await {
                Ok(orgs) => {
                    for org in orgs {
                        if let Err(e) = self.sync(&org.name).await {
                            tracing::warn!(org = %org.name, error = %e, "DEP sync round failed");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "DEP sync: listing organisations"),
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Checks a MachineInfo body ([`verify_machine_info`]), that its serial is a device the
    /// sync knows, and gives it a one-time SCEP challenge bound to its UDID: a single-use
    /// enrollment token restricted to the UDID, with the challenge of its one use.
    pub async fn ade_enroll(&self, body: &[u8]) -> Result<AdeGrant, AdeEnrollError> {
        if self.anchors.is_empty() {
            return Err(AdeRefusal::NotConfigured.into());
        }
        let machine = verify_machine_info(body, &self.anchors, storage::now())?;
        let Some(device) = self.storage.dep_device(&machine.serial).await? else {
            return Err(AdeRefusal::UnknownDevice(machine.serial).into());
        };
        let now = storage::now();
        let secret = crate::pki::random_secret();
        let mut token = storage::EnrollmentToken::new(
            format!("ade-{}", uuid::Uuid::new_v4()),
            crate::pki::secret_hash(&secret),
            1,
            now.saturating_add(ADE_CHALLENGE_VALIDITY),
            now,
        );
        token.device = Some(machine.udid.clone());
        self.service.create_enrollment_token(&token).await?;
        let challenge = crate::pki::random_secret();
        self.service
            .take_enrollment_token(
                &crate::pki::secret_hash(&secret),
                &crate::pki::secret_hash(&challenge),
                now.saturating_add(ADE_CHALLENGE_VALIDITY),
            )
            .await?;
        tracing::info!(org = %device.org, serial = %machine.serial, udid = %machine.udid,
            token = %token.id, "ADE enrollment profile granted");
        Ok(AdeGrant {
            machine,
            org: device.org,
            challenge,
            token_id: token.id,
        })
    }
}

/// Why [`Dep::ade_enroll`] gave no profile: the device was refused, or the server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdeEnrollError {
    /// The device was refused.
    #[error(transparent)]
    Refused(#[from] AdeRefusal),
    /// The server failed (storage).
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<storage::StorageError> for AdeEnrollError {
    fn from(e: storage::StorageError) -> Self {
        AdeEnrollError::Service(ServiceError::Storage(e))
    }
}

/// Verifies a MachineInfo body: a CMS SignedData (DER or BER) whose signer's certificate is
/// carried, whose signature verifies, whose certificate chains (through the other carried
/// certificates) to one of `anchors` at `now`, and whose content is a plist with `UDID` and
/// `SERIAL`.
pub fn verify_machine_info(
    body: &[u8],
    anchors: &[mdm_pki::Certificate],
    now: i64,
) -> Result<MachineInfo, AdeRefusal> {
    use mdm_pki::cms::SignedData;
    if body.len() > MAX_MACHINE_INFO {
        return Err(AdeRefusal::Malformed(format!(
            "{} bytes, more than {MAX_MACHINE_INFO}",
            body.len()
        )));
    }
    let signed = SignedData::parse(body)
        .map_err(|e| AdeRefusal::Malformed(format!("not a CMS SignedData: {e}")))?;
    let content = signed
        .content
        .as_deref()
        .ok_or_else(|| AdeRefusal::Malformed("the SignedData carries no MachineInfo".into()))?;
    if signed.signers.is_empty() {
        return Err(AdeRefusal::Malformed("the SignedData has no signer".into()));
    }
    let (cert, cert_der) = signed.signer_certificate(0).ok_or_else(|| {
        AdeRefusal::BadSignature("the signer's certificate is not in the SignedData".into())
    })?;
    signed
        .verify(0, cert_der, None)
        .map_err(|e| AdeRefusal::BadSignature(e.to_string()))?;
    let leaf = cert
        .to_strict()
        .map_err(|e| AdeRefusal::UntrustedDevice(format!("signer certificate: {e}")))?;
    let intermediates: Vec<mdm_pki::Certificate> = signed
        .certificates
        .iter()
        .filter(|c| c.der() != cert_der)
        .filter_map(|c| c.to_strict().ok())
        .collect();
    mdm_pki::validate::validate_path(
        &leaf,
        &intermediates,
        anchors,
        &mdm_pki::validate::Validation::at(now),
    )
    .map_err(|e| AdeRefusal::UntrustedDevice(e.to_string()))?;
    let dict = mdm_proto::parse_dictionary(content, &mdm_proto::Limits::MDM)
        .map_err(|e| AdeRefusal::Malformed(format!("MachineInfo plist: {e}")))?;
    let text = |key: &'static str| -> Result<Option<String>, AdeRefusal> {
        match dict.get(key) {
            None => Ok(None),
            Some(v) => match v.as_string() {
                Some(s) if !s.trim().is_empty() && s.len() <= 128 => Ok(Some(s.trim().to_owned())),
                _ => Err(AdeRefusal::Malformed(format!(
                    "MachineInfo `{key}` is not a string of 1 to 128 characters"
                ))),
            },
        }
    };
    let required = |key: &'static str| -> Result<String, AdeRefusal> {
        text(key)?.ok_or_else(|| AdeRefusal::Malformed(format!("MachineInfo has no `{key}`")))
    };
    Ok(MachineInfo {
        udid: required("UDID")?,
        serial: required("SERIAL")?,
        product: text("PRODUCT")?,
        version: text("VERSION")?,
        language: text("LANGUAGE")?,
    })
}

/// The cursor store of the sync: the checkpoint column of the organisation's row.
struct StoredCursors<'a> {
    storage: &'a dyn Storage,
}

impl CursorStore for StoredCursors<'_> {
    async fn load(&self, org: &str) -> Result<Option<Checkpoint>, BoxError> {
        let Some(row) = self.storage.dep_org(org).await? else {
            return Ok(None);
        };
        match row.checkpoint {
            Some(json) => Ok(Some(serde_json::from_str(&json)?)),
            None => Ok(None),
        }
    }

    async fn save(&self, org: &str, checkpoint: &Checkpoint) -> Result<(), BoxError> {
        // After a page this repeats what `StoredPages` wrote with the page's devices; after
        // a refused cursor it is the reset.
        let json = serde_json::to_string(checkpoint)?;
        self.storage
            .set_dep_checkpoint(org, &json, storage::now())
            .await?;
        Ok(())
    }
}

/// The page handler of the sync: a page's devices and the checkpoint that follows it, in
/// one transaction.
struct StoredPages<'a> {
    storage: &'a dyn Storage,
    outcome: DepPageOutcome,
}

impl PageHandler for StoredPages<'_> {
    async fn handle(&mut self, org: &str, page: &Page) -> Result<(), BoxError> {
        let mut changes = Vec::with_capacity(page.response.devices.len());
        for device in &page.response.devices {
            let serial = device.serial_number.trim();
            if serial.is_empty() || serial.len() > 128 {
                tracing::warn!(org = %org, "DEP device without a usable serial number skipped");
                continue;
            }
            let present = device.op_type.as_ref() != Some(&OpType::Deleted);
            changes.push(DepDeviceChange::new(
                serial,
                present,
                serde_json::to_string(device)?,
            ));
        }
        let checkpoint = serde_json::to_string(&page.next)?;
        let outcome = self
            .storage
            .store_dep_page(org, &changes, &checkpoint, storage::now())
            .await?;
        self.outcome.added.extend(outcome.added);
        self.outcome.removed.extend(outcome.removed);
        Ok(())
    }
}
