//! Who is calling: the check that a device request really comes from the enrollment it names.
//!
//! Apple devices prove their identity with the certificate of their enrollment, either as a
//! TLS client certificate (which a TLS-terminating proxy forwards in a header) or in the
//! `Mdm-Signature` header (a detached CMS signature of the body). [`CertificateVerifier`]
//! (the default) checks either against the server's CA and the certificate bound to the
//! enrollment; [`AcceptAll`] (`--no-signature-check`) is for development only.

use crate::pki::{MAX_RENEWAL_CHAIN, Pki, fingerprint};
use crate::storage::{self, Storage};
use async_trait::async_trait;
use mdm_proto::Enrollment;
use std::sync::Arc;

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

/// The default check: the request is signed (`Mdm-Signature`) or carries a forwarded client
/// certificate, the certificate was issued by this server's CA and is valid, and it is the
/// certificate bound to the enrollment's device channel.
///
/// Binding: `Authenticate` (a new enrollment) binds the certificate it is signed with; a
/// `TokenUpdate` binds it when nothing is bound yet. Every other request must use the bound
/// certificate, or one issued as a SCEP renewal of it (signed by it; the chain is followed
/// up to [`MAX_RENEWAL_CHAIN`] renewals), which then replaces it. A forwarded client
/// certificate, when the server reads one, takes precedence over `Mdm-Signature`.
#[derive(Debug, Clone)]
pub struct CertificateVerifier {
    pki: Arc<Pki>,
    storage: Arc<dyn Storage>,
}

impl CertificateVerifier {
    /// A verifier trusting `pki`'s CA, with bindings kept in `storage`.
    pub fn new(pki: Arc<Pki>, storage: Arc<dyn Storage>) -> Self {
        CertificateVerifier { pki, storage }
    }

    async fn check(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message_type: Option<&str>,
    ) -> Result<(), String> {
        let cert = if let Some(header) = &request.client_cert {
            mdm_proto::signature::client_certificate_from_header(header)
                .map_err(|e| e.to_string())?
        } else if let Some(signature) = &request.mdm_signature {
            mdm_proto::signature::verify_mdm_signature(&request.body, signature)
                .map_err(|e| e.to_string())?
        } else {
            return Err("the request has no Mdm-Signature header (or client certificate)".into());
        };
        let der = self.pki.issued_here(&cert)?;
        let presented = fingerprint(&der);
        let device = enrollment.device_id.as_str();
        let storage_error = |e: storage::StorageError| {
            tracing::error!(error = %e, "reading certificate bindings");
            "the certificate binding could not be read".to_owned()
        };
        let bound = self
            .storage
            .cert_binding(device)
            .await
            .map_err(storage_error)?;
        let now = storage::now();
        let presented_ref = presented.as_str();
        let bind = |why: &'static str| async move {
            tracing::info!(device, fingerprint = %presented_ref, why, "device certificate bound");
            self.storage
                .bind_cert(device, presented_ref, now)
                .await
                .map_err(storage_error)
        };
        match (bound.as_deref(), message_type) {
            (Some(b), _) if b == presented => Ok(()),
            (_, Some("Authenticate")) => bind("Authenticate").await,
            (None, Some("TokenUpdate")) => bind("first TokenUpdate").await,
            (None, _) => Err(format!(
                "no certificate is bound to `{device}`: the device must Authenticate first"
            )),
            (Some(b), _) => {
                let mut current = presented.clone();
                for _ in 0..MAX_RENEWAL_CHAIN {
                    match self
                        .storage
                        .renewed_from(&current)
                        .await
                        .map_err(storage_error)?
                    {
                        Some(old) if old == b => return bind("renewal").await,
                        Some(old) => current = old,
                        None => break,
                    }
                }
                Err(format!(
                    "the certificate is not the one bound to `{device}` (nor a renewal of it)"
                ))
            }
        }
    }
}

#[async_trait]
impl IdentityVerifier for CertificateVerifier {
    async fn verify(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message_type: Option<&str>,
    ) -> Result<(), IdentityError> {
        self.check(request, enrollment, message_type)
            .await
            .map_err(|reason| {
                tracing::warn!(enrollment = %enrollment.id, message_type, %reason,
                    "device identity refused");
                IdentityError(reason)
            })
    }
}
