//! Enrollment profiles: define, get, assign, remove.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Extra;
use super::enums::{DeviceStatus, SkipKey};

/// An enrollment profile (`POST /profile`, `GET /profile`), with every key Apple documents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Profile {
    /// A name for administrators (required).
    pub profile_name: String,
    /// The enrollment URL the device fetches its MDM profile from (required).
    pub url: String,
    /// Whether the device may pair with a computer (deprecated by Apple).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_pairing: Option<bool>,
    /// Whether the device is supervised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_supervised: Option<bool>,
    /// Shared iPad.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_multi_user: Option<bool>,
    /// Whether the user cannot skip enrollment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_mandatory: Option<bool>,
    /// Whether Setup Assistant waits for `DeviceConfigured`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub await_device_configured: Option<bool>,
    /// Whether the user may remove the MDM profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_mdm_removable: Option<bool>,
    /// Support phone number shown in Setup Assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_phone_number: Option<String>,
    /// Whether tvOS setup advances automatically.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_advance_setup: Option<bool>,
    /// Support email address shown in Setup Assistant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_email_address: Option<String>,
    /// A string the device sends back to the MDM server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_magic: Option<String>,
    /// Base64 DER anchor certificates to trust for the enrollment URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor_certs: Option<Vec<String>>,
    /// Base64 DER certificates of hosts allowed to pair with a supervised device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supervising_host_certs: Option<Vec<String>>,
    /// Setup Assistant panes to skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_setup_items: Option<Vec<SkipKey>>,
    /// Department or location name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// Serial numbers to assign the profile to when it is defined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<String>>,
    /// Setup Assistant language (ISO 639-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Setup Assistant region (ISO 3166-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A web page that authenticates the user before enrollment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_web_url: Option<String>,
    /// Whether a restore must not bring back the enrollment profile of the backup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub do_not_use_profile_from_backup: Option<bool>,
    /// In `GET /profile` responses: the profile's UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// Keys this crate does not know (sent and kept as is).
    #[serde(flatten)]
    pub extra: Extra,
}

impl Profile {
    /// A profile with its two required keys.
    pub fn new(profile_name: impl Into<String>, url: impl Into<String>) -> Self {
        Profile {
            profile_name: profile_name.into(),
            url: url.into(),
            ..Default::default()
        }
    }

    /// Sets the panes to skip.
    pub fn with_skip_setup_items(mut self, items: Vec<SkipKey>) -> Self {
        self.skip_setup_items = Some(items);
        self
    }

    /// Sets the devices to assign on definition.
    pub fn with_devices(mut self, devices: Vec<String>) -> Self {
        self.devices = Some(devices);
        self
    }

    /// Sets `is_supervised`.
    pub fn with_supervised(mut self, supervised: bool) -> Self {
        self.is_supervised = Some(supervised);
        self
    }
}

/// Response of `POST /profile`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DefineProfileResponse {
    /// The new profile's UUID.
    #[serde(default)]
    pub profile_uuid: String,
    /// Per-device result of the assignment in [`Profile::devices`].
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Body of `PUT /profile/devices`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssignProfileRequest {
    /// The profile to assign.
    pub profile_uuid: String,
    /// Serial numbers.
    pub devices: Vec<String>,
}

impl AssignProfileRequest {
    /// Assigns `profile_uuid` to `devices`.
    pub fn new(profile_uuid: impl Into<String>, devices: Vec<String>) -> Self {
        AssignProfileRequest {
            profile_uuid: profile_uuid.into(),
            devices,
        }
    }
}

/// Response of `PUT /profile/devices`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssignProfileResponse {
    /// The profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// Per-device result.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Body of `DELETE /profile/devices`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RemoveProfileRequest {
    /// The profile (optional for Apple).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// Serial numbers.
    pub devices: Vec<String>,
}

impl RemoveProfileRequest {
    /// Removes the profile of `devices`.
    pub fn new(devices: Vec<String>) -> Self {
        RemoveProfileRequest {
            profile_uuid: None,
            devices,
        }
    }
}

/// Response of `DELETE /profile/devices`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RemoveProfileResponse {
    /// Per-device result.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}
