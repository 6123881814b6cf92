//! Session, account-driven enrollment and OS beta enrollment bodies.

use serde::{Deserialize, Serialize};

use super::Extra;

/// Response of `GET /session`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionResponse {
    /// The value for the `X-ADM-Auth-Session` header of later calls.
    pub auth_session_token: String,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl std::fmt::Debug for SessionResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionResponse")
            .field("auth_session_token", &"<redacted>")
            .field("extra", &self.extra)
            .finish()
    }
}

/// The account-driven enrollment service discovery profile
/// (`GET`/`PUT /account-driven-enrollment/profile`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AccountDrivenEnrollmentProfile {
    /// The MDM service discovery URL.
    #[serde(default)]
    pub mdm_service_discovery_url: String,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl AccountDrivenEnrollmentProfile {
    /// A profile pointing at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        AccountDrivenEnrollmentProfile {
            mdm_service_discovery_url: url.into(),
            extra: Extra::new(),
        }
    }
}

/// Response of `GET /os-beta-enrollment/tokens`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BetaEnrollmentTokensResponse {
    /// The tokens, one per beta program.
    #[serde(rename = "betaEnrollmentTokens", default)]
    pub beta_enrollment_tokens: Vec<BetaEnrollmentToken>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One OS beta enrollment token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BetaEnrollmentToken {
    /// The program's title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The operating system, such as `iOS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The token to put in the `OSUpdates` declaration or enrollment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}
