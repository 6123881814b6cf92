//! Devices: fetch, sync, details, disown, Activation Lock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Extra;
use super::enums::{DeviceStatus, OpType, ProfileStatus};

/// A device record, as fetched, synced or looked up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Device {
    /// The serial number (the key of every DEP call).
    #[serde(default)]
    pub serial_number: String,
    /// Marketing model, such as `MacBook Pro`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Apple's description of the part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Colour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Asset tag set in Apple Business Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_tag: Option<String>,
    /// Whether a profile is assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_status: Option<ProfileStatus>,
    /// The assigned profile's UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_uuid: Option<String>,
    /// When the profile was assigned (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_assign_time: Option<String>,
    /// When the device fetched its profile (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_push_time: Option<String>,
    /// When the device was assigned to this server (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assigned_date: Option<String>,
    /// Who assigned the device to this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_assigned_by: Option<String>,
    /// Operating system, such as `iOS` or `OSX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Family, such as `iPad` or `Mac`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_family: Option<String>,
    /// In sync pages: what happened to the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_type: Option<OpType>,
    /// In sync pages: when it happened (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op_date: Option<String>,
    /// In device details: whether the lookup succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<DeviceStatus>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Device {
    /// A device with only its serial number.
    pub fn new(serial_number: impl Into<String>) -> Self {
        Device {
            serial_number: serial_number.into(),
            ..Default::default()
        }
    }
}

/// Body of `POST /server/devices` (fetch) and `POST /devices/sync`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceListRequest {
    /// Where to continue; required for a sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Page size, 1 to [`crate::MAX_PAGE_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl DeviceListRequest {
    /// A request with a cursor and a page size.
    pub fn new(cursor: Option<String>, limit: Option<u32>) -> Self {
        DeviceListRequest { cursor, limit }
    }
}

/// Response of fetch and sync: one page of devices.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceListResponse {
    /// The devices of this page.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// The cursor for the next call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// Up to when the devices were fetched (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetched_until: Option<String>,
    /// Whether another page follows.
    #[serde(default)]
    pub more_to_follow: bool,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Body of `POST /devices` (details) .
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceDetailsRequest {
    /// Serial numbers.
    pub devices: Vec<String>,
}

impl DeviceDetailsRequest {
    /// Details of these serial numbers.
    pub fn new(devices: Vec<String>) -> Self {
        DeviceDetailsRequest { devices }
    }
}

/// Response of `POST /devices`: the devices keyed by serial number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeviceDetailsResponse {
    /// The devices keyed by serial number.
    #[serde(default)]
    pub devices: BTreeMap<String, Device>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Body of `POST /devices/disown` (deprecated by Apple, still served).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DisownRequest {
    /// Serial numbers.
    pub devices: Vec<String>,
}

impl DisownRequest {
    /// Disown these serial numbers.
    pub fn new(devices: Vec<String>) -> Self {
        DisownRequest { devices }
    }
}

/// Response of `POST /devices/disown`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DisownResponse {
    /// Per-device result.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceStatus>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Body of `POST /device/activationlock`, generated from `ActivationLockRequest.json`.
pub use crate::generated::dep::ActivationLockRequest;

impl ActivationLockRequest {
    /// Locks `device`, with an optional escrow key.
    pub fn new(device: impl Into<String>, escrow_key: Option<String>) -> Self {
        ActivationLockRequest {
            device: device.into(),
            escrow_key,
            ..Default::default()
        }
    }

    /// Sets the lost message.
    pub fn with_lost_message(mut self, message: impl Into<String>) -> Self {
        self.lost_message = Some(message.into());
        self
    }
}

/// Response of `POST /device/activationlock`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ActivationLockResponse {
    /// The serial number.
    #[serde(default)]
    pub serial_number: String,
    /// The result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status: Option<DeviceStatus>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}
