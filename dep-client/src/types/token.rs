//! The decrypted server token (OAuth 1.0a credentials).

use serde::{Deserialize, Serialize};

use super::Extra;

/// The OAuth 1.0a credentials of one DEP server (one organisation's virtual MDM server).
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServerToken {
    /// OAuth consumer key (`CK_…`).
    pub consumer_key: String,
    /// OAuth consumer secret (`CS_…`).
    pub consumer_secret: String,
    /// OAuth access token (`AT_…`).
    pub access_token: String,
    /// OAuth access secret (`AS_…`).
    pub access_secret: String,
    /// When the token expires (ISO 8601), after which the administrator downloads a new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_expiry: Option<String>,
    /// Keys this crate does not know.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ServerToken {
    /// A token from its four secrets.
    pub fn new(
        consumer_key: impl Into<String>,
        consumer_secret: impl Into<String>,
        access_token: impl Into<String>,
        access_secret: impl Into<String>,
    ) -> Self {
        ServerToken {
            consumer_key: consumer_key.into(),
            consumer_secret: consumer_secret.into(),
            access_token: access_token.into(),
            access_secret: access_secret.into(),
            access_token_expiry: None,
            extra: Extra::new(),
        }
    }

    /// The expiry parsed as RFC 3339, if present and well formed.
    pub fn expiry(&self) -> Option<time::OffsetDateTime> {
        let text = self.access_token_expiry.as_deref()?;
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
    }
}

impl std::fmt::Debug for ServerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerToken")
            .field("consumer_key", &self.consumer_key)
            .field("consumer_secret", &"<redacted>")
            .field("access_token", &self.access_token)
            .field("access_secret", &"<redacted>")
            .field("access_token_expiry", &self.access_token_expiry)
            .finish_non_exhaustive()
    }
}
