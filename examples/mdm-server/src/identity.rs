//! Who is calling: the check that a device request really comes from the enrollment it names.
//!
//! Apple devices prove their identity with the certificate of their enrollment, either as a
//! TLS client certificate (which a TLS-terminating proxy forwards in a header) or in the
//! `Mdm-Signature` header (a detached CMS signature of the body). [`CertificateVerifier`]
//! (the default) checks either against the server's CA and the certificate bound to the
//! enrollment; [`AcceptAll`] (`--no-signature-check`) is for development only.

use crate::device::CheckinMessage;
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
#[error("device identity refused: {reason}")]
#[non_exhaustive]
pub struct IdentityError {
    /// What was wrong.
    pub reason: String,
    /// True when the sender proved who it is (a valid certificate of this CA) but may not
    /// act for this enrollment (`403`); false when it did not prove anything (`401`).
    pub forbidden: bool,
}

impl IdentityError {
    /// The request did not prove who sent it (`401`).
    pub fn unauthenticated(reason: impl Into<String>) -> Self {
        IdentityError {
            reason: reason.into(),
            forbidden: false,
        }
    }

    /// The sender is known but may not act for this enrollment (`403`).
    pub fn forbidden(reason: impl Into<String>) -> Self {
        IdentityError {
            reason: reason.into(),
            forbidden: true,
        }
    }
}

/// Decides whether a device request may act for an enrollment.
#[async_trait]
pub trait IdentityVerifier: Send + Sync + std::fmt::Debug + 'static {
    /// Accepts or refuses `request`, which names `enrollment`. `message` is the check-in,
    /// or `None` for a command report.
    async fn verify(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message: Option<&CheckinMessage>,
    ) -> Result<(), IdentityError>;

    /// [`IdentityVerifier::verify`] for a request whose enrollment the caller then notes as
    /// seen ([`crate::storage::EnrollmentStore::touch`] at `now`). A verifier that reads
    /// storage may do both in one call and say so: `Some(known)` (whether the enrollment
    /// exists) when it touched, `None` when the caller must. The default verifies and
    /// returns `None`.
    async fn verify_and_touch(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message: Option<&CheckinMessage>,
        now: storage::Timestamp,
    ) -> Result<Option<bool>, IdentityError> {
        let _ = now;
        self.verify(request, enrollment, message)
            .await
            .map(|()| None)
    }
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
        _message: Option<&CheckinMessage>,
    ) -> Result<(), IdentityError> {
        Ok(())
    }
}

/// The default check (see the identity table in the server's README).
///
/// The request is signed (`Mdm-Signature`) or carries a forwarded client certificate (which
/// takes precedence, when the server reads one), and the certificate was issued by this
/// server's CA and is valid. Then, for the enrollment's device channel `D` (user channels
/// are signed with their device's certificate, so they share its binding):
///
/// - the certificate bound to `D`: accepted;
/// - a certificate bound to another device channel: `403`, whatever the message;
/// - a SCEP renewal of `D`'s certificate (a RenewalReq signed by it; the chain is followed
///   up to [`MAX_RENEWAL_CHAIN`] renewals): accepted, and it replaces the old one;
/// - any other certificate, at `Authenticate` (or a first `TokenUpdate`): accepted and
///   bound only when it was issued for an enrollment token that is not revoked, whose
///   intended device (if any) is this one, and, when `D` already exists (bound, or
///   stored), that names `D` as "may re-enroll"; with `open_enrollment`, a certificate
///   issued for no token may also enroll a device that does not exist yet;
/// - a certificate that was bound before and has been replaced: `403` (it stays retired);
/// - anything else: `403`.
///
/// Every binding is recorded in the device's binding history, and logged.
#[derive(Debug, Clone)]
pub struct CertificateVerifier {
    pki: Arc<Pki>,
    storage: Arc<dyn Storage>,
    open_enrollment: bool,
}

fn storage_error(e: storage::StorageError) -> IdentityError {
    tracing::error!(error = %e, "reading certificate bindings");
    IdentityError::unauthenticated("the certificate binding could not be read")
}

/// True when `want` names this device: its UDID, serial number or (User Enrollment)
/// enrollment ID, compared without case.
fn names_device(want: &str, message: &CheckinMessage, device: &str) -> bool {
    let want = want.trim();
    let identity = message.identity().unwrap_or_default();
    let serial = match message {
        CheckinMessage::Authenticate(auth) => auth.serial_number.as_deref(),
        _ => None,
    };
    let mut names = vec![device];
    names.extend(identity.udid.as_deref());
    names.extend(serial);
    names.extend(identity.enrollment_id.as_deref());
    names.iter().any(|n| n.eq_ignore_ascii_case(want))
}

impl CertificateVerifier {
    /// A verifier trusting `pki`'s CA, with bindings kept in `storage`; new devices need a
    /// certificate issued for an enrollment token.
    pub fn new(pki: Arc<Pki>, storage: Arc<dyn Storage>) -> Self {
        CertificateVerifier {
            pki,
            storage,
            open_enrollment: false,
        }
    }

    /// With `open`, a certificate issued for no enrollment token (the static challenge of
    /// `--open-enrollment`) may enroll a device that does not exist yet.
    pub fn with_open_enrollment(mut self, open: bool) -> Self {
        self.open_enrollment = open;
        self
    }

    async fn rebind(
        &self,
        device: &str,
        previous: Option<String>,
        presented: &str,
        reason: &str,
        token_id: Option<String>,
    ) -> Result<(), IdentityError> {
        let mut change = storage::Rebinding::new(device, previous.clone(), presented, reason);
        change.token_id = token_id.clone();
        match self
            .storage
            .rebind_cert(&change, storage::now())
            .await
            .map_err(storage_error)?
        {
            storage::BindOutcome::Bound => {
                tracing::warn!(device, old = ?previous, new = presented, reason,
                    token = ?token_id, "device certificate bound");
                Ok(())
            }
            storage::BindOutcome::TakenBy(other) => Err(IdentityError::forbidden(format!(
                "the certificate is bound to another enrollment (`{other}`)"
            ))),
            _ => Err(IdentityError::forbidden(
                "the device's certificate binding changed meanwhile: try again",
            )),
        }
    }

    /// The check; with `touch_at`, the enrollment is touched in the same storage call as
    /// the binding is read when the certificate is the one bound (`Some(known)`).
    async fn check(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message: Option<&CheckinMessage>,
        touch_at: Option<storage::Timestamp>,
    ) -> Result<Option<bool>, IdentityError> {
        let cert = if let Some(header) = &request.client_cert {
            mdm_proto::signature::client_certificate_from_header(header)
                .map_err(|e| IdentityError::unauthenticated(e.to_string()))?
        } else if let Some(signature) = &request.mdm_signature {
            mdm_proto::signature::verify_mdm_signature(&request.body, signature)
                .map_err(|e| IdentityError::unauthenticated(e.to_string()))?
        } else {
            return Err(IdentityError::unauthenticated(
                "the request has no Mdm-Signature header (or client certificate)",
            ));
        };
        let der = self
            .pki
            .issued_here(&cert)
            .map_err(IdentityError::unauthenticated)?;
        let presented = fingerprint(&der);
        let device = enrollment.device_id.as_str();
        let bound = match touch_at {
            Some(now) => {
                let (bound, known) = self
                    .storage
                    .touch_if_bound(&enrollment.id, device, &presented, now)
                    .await
                    .map_err(storage_error)?;
                if known.is_some() {
                    return Ok(known);
                }
                bound
            }
            None => self
                .storage
                .cert_binding(device)
                .await
                .map_err(storage_error)?,
        };
        if bound.as_deref() == Some(presented.as_str()) {
            return Ok(None);
        }
        if let Some(owner) = self
            .storage
            .cert_owner(&presented)
            .await
            .map_err(storage_error)?
            && owner != device
        {
            return Err(IdentityError::forbidden(format!(
                "the certificate is bound to another enrollment, not `{device}`"
            )));
        }
        if let Some(b) = &bound {
            let mut current = presented.clone();
            for _ in 0..MAX_RENEWAL_CHAIN {
                match self
                    .storage
                    .renewed_from(&current)
                    .await
                    .map_err(storage_error)?
                {
                    Some(old) if &old == b => {
                        return self
                            .rebind(device, bound.clone(), &presented, "renewal", None)
                            .await
                            .map(|()| None);
                    }
                    Some(old) => current = old,
                    None => break,
                }
            }
        }
        let binding_message = message.filter(|m| {
            matches!(m, CheckinMessage::Authenticate(_))
                || (bound.is_none() && matches!(m, CheckinMessage::TokenUpdate(_)))
        });
        let Some(message) = binding_message else {
            return Err(IdentityError::forbidden(match &bound {
                Some(_) => format!(
                    "the certificate is not the one bound to `{device}` (nor a renewal of it)"
                ),
                None => format!(
                    "no certificate is bound to `{device}`: the device must Authenticate first"
                ),
            }));
        };
        // A certificate replaced by a renewal or a re-enrollment stays retired: it cannot
        // start a new enrollment (the token it came from was spent on its first one).
        if self
            .storage
            .cert_was_bound(&presented)
            .await
            .map_err(storage_error)?
        {
            return Err(IdentityError::forbidden(
                "the certificate was replaced (renewal or re-enrollment) and cannot enroll again",
            ));
        }
        let exists = bound.is_some()
            || self
                .storage
                .enrollment(device)
                .await
                .map_err(storage_error)?
                .is_some();
        let token = self
            .storage
            .issued_token(&presented)
            .await
            .map_err(storage_error)?;
        let Some(token) = token else {
            if self.open_enrollment && !exists {
                return self
                    .rebind(device, None, &presented, "new enrollment (open)", None)
                    .await
                    .map(|()| None);
            }
            return Err(IdentityError::forbidden(if exists {
                format!(
                    "`{device}` is enrolled with another certificate: a new one needs an \
                     enrollment token that may re-enroll it, or a SCEP renewal"
                )
            } else {
                "the certificate was not issued for an enrollment token".to_owned()
            }));
        };
        if token.revoked_at.is_some() {
            return Err(IdentityError::forbidden(format!(
                "the certificate's enrollment token `{}` was revoked",
                token.id
            )));
        }
        if let Some(want) = &token.device
            && !names_device(want, message, device)
        {
            return Err(IdentityError::forbidden(format!(
                "the certificate's enrollment token `{}` is for another device",
                token.id
            )));
        }
        if exists {
            let allowed = token
                .may_reenroll
                .as_deref()
                .is_some_and(|d| d.trim().eq_ignore_ascii_case(device));
            if !allowed {
                return Err(IdentityError::forbidden(format!(
                    "`{device}` is enrolled with another certificate: a new one needs an \
                     enrollment token that may re-enroll it (token `{}` may not), or a SCEP \
                     renewal",
                    token.id
                )));
            }
            return self
                .rebind(device, bound, &presented, "re-enrollment", Some(token.id))
                .await
                .map(|()| None);
        }
        self.rebind(device, None, &presented, "new enrollment", Some(token.id))
            .await
            .map(|()| None)
    }
}

#[async_trait]
impl IdentityVerifier for CertificateVerifier {
    async fn verify(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message: Option<&CheckinMessage>,
    ) -> Result<(), IdentityError> {
        self.check(request, enrollment, message, None)
            .await
            .map(drop)
            .inspect_err(|e| refused(enrollment, message, e))
    }

    async fn verify_and_touch(
        &self,
        request: &DeviceRequest,
        enrollment: &Enrollment,
        message: Option<&CheckinMessage>,
        now: storage::Timestamp,
    ) -> Result<Option<bool>, IdentityError> {
        self.check(request, enrollment, message, Some(now))
            .await
            .inspect_err(|e| refused(enrollment, message, e))
    }
}

/// Logs a refusal.
fn refused(enrollment: &Enrollment, message: Option<&CheckinMessage>, e: &IdentityError) {
    tracing::warn!(enrollment = %enrollment.id,
        message_type = message.map(|m| m.message_type().as_str().to_owned()),
        reason = %e.reason, forbidden = e.forbidden, "device identity refused");
}
