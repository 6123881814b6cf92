//! DEP (Automated Device Enrollment) state: one row per organisation (its key pair, the
//! server token, the profile, the sync cursor) and one per device Apple assigned to it.
//!
//! A role trait of its own ([`DepStore`]); both backends implement it in their `dep` child
//! module. The sync stores a page's devices and the cursor that follows the page in one
//! transaction ([`DepStore::store_dep_page`]), so a crash never keeps a cursor past devices
//! that were not kept, and a page that comes twice changes nothing the second time.

use super::{Result, Timestamp};
use async_trait::async_trait;

/// The most devices [`DepStore::dep_devices`] lists at once.
pub const MAX_DEP_PAGE: u32 = 1_000;

/// One organisation (one DEP server token), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepOrg {
    /// The name the administrator gave it (`/v1/dep/{name}/...`).
    pub name: String,
    /// The private key that opens the token file, PKCS#8 PEM (sealed with the secrets key
    /// when one is configured, see [`crate::secrets`]).
    pub key_pem: String,
    /// The certificate to upload to Apple, PEM.
    pub cert_pem: String,
    /// The decrypted server token, JSON (sealed like the key), once uploaded.
    pub token: Option<String>,
    /// When the token was uploaded.
    pub token_uploaded_at: Option<Timestamp>,
    /// The DEP profile (JSON) to assign to new devices, when set.
    pub profile: Option<String>,
    /// The UUID Apple gave that profile (`None`: not yet defined with Apple).
    pub profile_uuid: Option<String>,
    /// The sync checkpoint (dep-client's `Checkpoint`, JSON).
    pub checkpoint: Option<String>,
    /// When the organisation was created (its key pair made).
    pub created_at: Timestamp,
    /// The last change.
    pub updated_at: Timestamp,
}

impl DepOrg {
    /// A new organisation with its key pair and nothing else.
    pub fn new(
        name: impl Into<String>,
        key_pem: impl Into<String>,
        cert_pem: impl Into<String>,
        now: Timestamp,
    ) -> Self {
        DepOrg {
            name: name.into(),
            key_pem: key_pem.into(),
            cert_pem: cert_pem.into(),
            token: None,
            token_uploaded_at: None,
            profile: None,
            profile_uuid: None,
            checkpoint: None,
            created_at: now,
            updated_at: now,
        }
    }
}

/// What a sync page says about one device.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepDeviceChange {
    /// Its serial number.
    pub serial: String,
    /// False when Apple says it was removed from the organisation (`op_type: deleted`).
    pub present: bool,
    /// The device as Apple sent it (JSON).
    pub json: String,
}

impl DepDeviceChange {
    /// A change of `serial`.
    pub fn new(serial: impl Into<String>, present: bool, json: impl Into<String>) -> Self {
        DepDeviceChange {
            serial: serial.into(),
            present,
            json: json.into(),
        }
    }
}

/// One device of an organisation, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepDevice {
    /// The organisation.
    pub org: String,
    /// Its serial number.
    pub serial: String,
    /// False once Apple said it left the organisation.
    pub present: bool,
    /// The device as Apple last sent it (JSON).
    pub json: String,
    /// The profile this server assigned to it (UUID), when it did.
    pub assigned_profile: Option<String>,
    /// When it was first seen.
    pub first_seen_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// What [`DepStore::store_dep_page`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DepPageOutcome {
    /// Serials not present before and present now.
    pub added: Vec<String>,
    /// Serials present before and removed now.
    pub removed: Vec<String>,
}

/// Storage of DEP organisations and their devices.
#[async_trait]
pub trait DepStore: Send + Sync {
    /// The organisation `name`.
    async fn dep_org(&self, name: &str) -> Result<Option<DepOrg>>;

    /// Stores `org` unless one with its name exists, and returns the stored one (so two
    /// servers creating the same organisation at once agree on one key pair).
    async fn create_dep_org(&self, org: &DepOrg) -> Result<DepOrg>;

    /// Every organisation with a server token, by name.
    async fn dep_orgs_with_token(&self) -> Result<Vec<DepOrg>>;

    /// Stores the (sealed) server token of `name`; false when there is no such organisation.
    async fn set_dep_token(&self, name: &str, token: &str, now: Timestamp) -> Result<bool>;

    /// Sets (or, with `None`, removes) the profile of `name` and forgets its Apple UUID, so
    /// the next sync defines it again; false when there is no such organisation.
    async fn set_dep_profile(
        &self,
        name: &str,
        profile: Option<&str>,
        now: Timestamp,
    ) -> Result<bool>;

    /// Records the UUID Apple gave the profile `profile` of `name` (only while that profile
    /// is still the one set).
    async fn set_dep_profile_uuid(
        &self,
        name: &str,
        profile: &str,
        uuid: &str,
        now: Timestamp,
    ) -> Result<()>;

    /// Replaces the sync checkpoint of `name` (a cursor refused by Apple resets it).
    async fn set_dep_checkpoint(&self, name: &str, checkpoint: &str, now: Timestamp) -> Result<()>;

    /// Keeps a page's devices and then the checkpoint that follows the page, in one
    /// transaction. Idempotent: the same page twice leaves the same rows.
    async fn store_dep_page(
        &self,
        name: &str,
        changes: &[DepDeviceChange],
        checkpoint: &str,
        now: Timestamp,
    ) -> Result<DepPageOutcome>;

    /// The devices of `name` in serial order, after `after`, at most `limit`
    /// (with `present_only`, only those still in the organisation).
    async fn dep_devices(
        &self,
        name: &str,
        after: Option<&str>,
        limit: u32,
        present_only: bool,
    ) -> Result<Vec<DepDevice>>;

    /// The device with this serial number still in some organisation.
    async fn dep_device(&self, serial: &str) -> Result<Option<DepDevice>>;

    /// Present devices of `name` to which the profile `uuid` has not been assigned, at most
    /// `limit`, in serial order.
    async fn dep_devices_without_profile(
        &self,
        name: &str,
        uuid: &str,
        limit: u32,
    ) -> Result<Vec<String>>;

    /// Records that the profile `uuid` was assigned to these devices of `name`.
    async fn mark_dep_profile_assigned(
        &self,
        name: &str,
        serials: &[String],
        uuid: &str,
        now: Timestamp,
    ) -> Result<()>;
}
