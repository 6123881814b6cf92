//! Who is calling: the check that a device request really comes from the enrollment it names.
//!
//! Apple devices prove their identity with the certificate of their enrollment, either as a
//! TLS client certificate (which a TLS-terminating proxy forwards in a header) or in the
//! `Mdm-Signature` header (a detached CMS signature of the body). The check itself needs
//! the CMS code of `scep-proto`; this module defines where it plugs in ([`IdentityVerifier`])
//! and the pass-through used until then ([`AcceptAll`]).

use async_trait::async_trait;
use mdm_proto::Enrollment;

/// What a device sent, as the identity check sees it.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeviceRequest {
    /// The raw body.
    pub body: Vec<u8>,
    /// The `Mdm-Signature` header (base64 detached CMS signature), when sent.
    pub mdm_signature: Option<String>,
    /// The client certificate a TLS-terminating proxy forwarded (PEM, possibly
    /// URL-escaped), when the server is configured to read one.
    pub client_cert: Option<String>,
}

impl DeviceRequest {
    /// A request with a body and no identity headers.
    pub fn new(body: Vec<u8>) -> Self {
        DeviceRequest {
            body,
            ..DeviceRequest::default()
        }
    }
}

/// Why a device request was refused.
#[derive(Debug, thiserror::Error)]
#[error("device identity refused: {0}")]
pub struct IdentityError(pub String);

/// Decides whether a device request may act for an enrollment.
#[async_trait]
pub trait IdentityVerifier: Send + Sync + std::fmt::Debug + 'static {
    /// Accepts or refuses `request`, which names `enrollment`. `message_type` is the
    /// check-in's `MessageType`, or `None` for a command report.
    async fn verify(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message_type: Option<&str>,
    ) -> Result<(), IdentityError>;
}

/// Accepts every request: for development, or behind a proxy that already checked the
/// client certificate against the enrollment.
#[derive(Debug, Clone, Copy, Default)]
pub struct AcceptAll;

#[async_trait]
impl IdentityVerifier for AcceptAll {
    async fn verify(
        &self,
        _request: &DeviceRequest,
        _enrollment: &Enrollment,
        _message_type: Option<&str>,
    ) -> Result<(), IdentityError> {
        Ok(())
    }
}
