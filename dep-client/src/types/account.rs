//! `GET /account`.

use serde::{Deserialize, Serialize};

use super::Extra;
use super::enums::{OrgType, OrgVersion};

/// The organisation and server behind a token (`GET /account`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountDetail {
    /// The server's name in Apple Business Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// The server's UUID in Apple Business Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_uuid: Option<String>,
    /// The Apple Account of the administrator who made the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_id: Option<String>,
    /// Deprecated alias of `admin_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facilitator_id: Option<String>,
    /// Organisation name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_name: Option<String>,
    /// Organisation email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_email: Option<String>,
    /// Organisation phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_phone: Option<String>,
    /// Organisation address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_address: Option<String>,
    /// Organisation identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// A hash of the organisation identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id_hash: Option<String>,
    /// `edu` or `org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_type: Option<OrgType>,
    /// `v1` or `v2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_version: Option<OrgVersion>,
    /// The endpoints this token may call, with their limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<AccountUrl>>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl AccountDetail {
    /// The page limits Apple announces for a path (such as `/server/devices`).
    pub fn limit_for(&self, uri: &str) -> Option<&UrlLimit> {
        self.urls
            .as_deref()?
            .iter()
            .find(|u| u.uri == uri)
            .and_then(|u| u.limit.as_ref())
    }
}

/// One endpoint in [`AccountDetail::urls`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountUrl {
    /// The path, such as `/server/devices`.
    #[serde(default)]
    pub uri: String,
    /// The methods allowed on it.
    #[serde(default)]
    pub http_method: Vec<String>,
    /// Page limits, for the paged endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<UrlLimit>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Page limits of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UrlLimit {
    /// The limit used when a request sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<u64>,
    /// The largest limit accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum: Option<u64>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}
