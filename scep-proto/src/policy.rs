//! The CA's decision on a checked request, sans-I/O.
//!
//! [`crate::Ca::decode_request`] proves that a request is well formed and signed, and opens
//! it; whether to grant it is the server's business. A [`Policy`] answers that for a
//! [`PolicyRequest`] with a [`Verdict`]: issue, reject with a failInfo and a reason for the
//! log, or answer PENDING and decide later, when the client polls (CertPoll). Servers built on
//! this crate share policies instead of each writing its own challenge check.
//!
//! ```
//! use scep_proto::policy::{AllowAll, Challenge, Policy, Then};
//!
//! // The challenge first; whatever passes it is issued.
//! let policy = Then(Challenge::new("s3cret"), AllowAll);
//! # let _: &dyn Policy = &policy;
//! ```

use mdm_pki::cms::LenientCertificate;

use crate::ca::{CaRequest, RequestBody};
use crate::codes::{FailInfo, MessageType};
use crate::csr::Csr;
use crate::error::{Error, Result};
use crate::oids;

/// Which step of an enrollment the policy is asked about.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// A PKCSReq: a first enrollment.
    Enrollment,
    /// A RenewalReq (signed by a certificate this CA issued: the CA checked that).
    Renewal,
    /// A CertPoll for a request that was answered PENDING; the CSR is the stored one.
    Poll,
}

/// A checked request, as a policy sees it.
#[non_exhaustive]
#[derive(Debug, Clone, Copy)]
pub struct PolicyRequest<'a> {
    /// The step.
    pub stage: Stage,
    /// The transactionID.
    pub transaction_id: &'a str,
    /// The CSR (for [`Stage::Poll`], the one stored when the request went PENDING).
    pub csr: &'a Csr,
    /// The certificate that signed the message.
    pub signer: &'a LenientCertificate,
    /// True if that certificate was issued by this CA (its signature checked).
    pub signer_issued_by_ca: bool,
    /// The signed `signingTime` attribute (Unix seconds), if the client sent one.
    pub signing_time: Option<i64>,
    /// The current time (Unix seconds), given by the caller.
    pub now: i64,
}

impl<'a> PolicyRequest<'a> {
    /// The policy's view of a PKCSReq or RenewalReq; `None` for other messages.
    ///
    /// # Errors
    ///
    /// A `signingTime` attribute that is not a valid time.
    pub fn from_ca_request(req: &'a CaRequest, now: i64) -> Result<Option<Self>> {
        let RequestBody::Csr(csr) = &req.body else {
            return Ok(None);
        };
        let stage = if req.message.message_type == MessageType::RENEWAL_REQ {
            Stage::Renewal
        } else {
            Stage::Enrollment
        };
        Ok(Some(Self {
            stage,
            transaction_id: &req.message.transaction_id,
            csr,
            signer: &req.signer,
            signer_issued_by_ca: req.signer_issued_by_ca,
            signing_time: signing_time(req)?,
            now,
        }))
    }

    /// The policy's view of a CertPoll for a stored, pending CSR.
    pub fn poll(req: &'a CaRequest, stored_csr: &'a Csr, now: i64) -> Result<Self> {
        Ok(Self {
            stage: Stage::Poll,
            transaction_id: &req.message.transaction_id,
            csr: stored_csr,
            signer: &req.signer,
            signer_issued_by_ca: req.signer_issued_by_ca,
            signing_time: signing_time(req)?,
            now,
        })
    }
}

/// A policy's answer.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Issue the certificate (SUCCESS).
    Issue,
    /// FAILURE with this failInfo; `reason` is for the server's log, never sent.
    Reject {
        /// The failInfo sent to the client.
        fail_info: FailInfo,
        /// Why, for the log.
        reason: String,
    },
    /// PENDING: ask again when the client polls.
    Pending,
    /// Issue only if the caller's store consumes this one-time challenge (the CSR's
    /// challengePassword) as it issues, atomically; FAILURE badRequest when the store says it
    /// is unknown, already used or expired. See [`Challenge::one_time`].
    IssueConsuming {
        /// The challengePassword to consume.
        challenge: String,
    },
}

impl Verdict {
    /// True for [`Verdict::Issue`] and [`Verdict::IssueConsuming`].
    pub fn issues(&self) -> bool {
        matches!(self, Self::Issue | Self::IssueConsuming { .. })
    }

    /// A rejection.
    pub fn reject(fail_info: FailInfo, reason: impl Into<String>) -> Self {
        Self::Reject {
            fail_info,
            reason: reason.into(),
        }
    }
}

/// Decides on checked requests. Implementations must not do slow I/O on the caller's
/// thread without saying so; they see only requests whose signature verified.
pub trait Policy: Send + Sync + std::fmt::Debug {
    /// The verdict on `req`.
    fn decide(&self, req: &PolicyRequest<'_>) -> Verdict;
}

impl<P: Policy + ?Sized> Policy for std::sync::Arc<P> {
    fn decide(&self, req: &PolicyRequest<'_>) -> Verdict {
        (**self).decide(req)
    }
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn decide(&self, req: &PolicyRequest<'_>) -> Verdict {
        (**self).decide(req)
    }
}

/// Issues every request (after the CA's own checks).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Policy for AllowAll {
    fn decide(&self, _: &PolicyRequest<'_>) -> Verdict {
        Verdict::Issue
    }
}

/// Answers PENDING to every request and every poll: requests wait for someone to decide
/// (compose it with a policy that knows the operator's answers).
#[derive(Debug, Clone, Copy, Default)]
pub struct Defer;

impl Policy for Defer {
    fn decide(&self, _: &PolicyRequest<'_>) -> Verdict {
        Verdict::Pending
    }
}

/// Asks the first policy, and the second only when the first would issue. A challenge to
/// consume from either is kept: the result is [`Verdict::IssueConsuming`] if either asks it.
#[derive(Debug, Clone)]
pub struct Then<A, B>(pub A, pub B);

impl<A: Policy, B: Policy> Policy for Then<A, B> {
    fn decide(&self, req: &PolicyRequest<'_>) -> Verdict {
        match self.0.decide(req) {
            Verdict::Issue => self.1.decide(req),
            Verdict::IssueConsuming { challenge } => match self.1.decide(req) {
                Verdict::Issue => Verdict::IssueConsuming { challenge },
                other => other,
            },
            other => other,
        }
    }
}

/// The challengePassword check for first enrollments, and the validity check of the signer
/// of a renewal: the one SCEP policy of this workspace's servers (scep-server, mdm-server).
///
/// - [`Stage::Enrollment`]: the CSR must carry a challengePassword (else FAILURE
///   badRequest). It is issued when it equals the static secret (compared in constant
///   time); otherwise, with [`Challenge::one_time`] challenges accepted, the verdict is
///   [`Verdict::IssueConsuming`] (the caller's store consumes it when it issues); otherwise
///   FAILURE badRequest.
/// - [`Stage::Renewal`]: no challenge, but the signer must be a certificate this CA issued and
///   valid now; otherwise FAILURE badRequest (badCertId when it was not issued here).
/// - [`Stage::Poll`]: Issue (the challenge was checked when the request arrived).
///
/// A `signingTime` further than [`Challenge::max_skew`] from now gets badTime.
///
/// ```
/// use scep_proto::policy::Challenge;
///
/// // mdm-server: one-time challenges from enrollment profiles, and (for labs) a static one.
/// let lab = Challenge::one_time().with_static("s3cret");
/// // scep-server: a static challenge only.
/// let ca = Challenge::new("s3cret");
/// # let _ = (lab, ca);
/// ```
#[derive(Clone)]
pub struct Challenge {
    secret: Option<Vec<u8>>,
    one_time: bool,
    max_skew: i64,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge")
            .field("static", &self.secret.is_some())
            .field("one_time", &self.one_time)
            .field("max_skew", &self.max_skew)
            .finish_non_exhaustive()
    }
}

impl Challenge {
    /// The check for the static `secret`; signingTime may be a day off.
    pub fn new(secret: impl Into<String>) -> Self {
        Self::one_time().only_static().with_static(secret)
    }

    /// One-time challenges only (no static one): every challengePassword of a first
    /// enrollment is answered [`Verdict::IssueConsuming`]; signingTime may be a day off.
    pub fn one_time() -> Self {
        Self {
            secret: None,
            one_time: true,
            max_skew: 86_400,
        }
    }

    /// Also accepts the static `secret` (no consumption needed).
    pub fn with_static(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into().into_bytes());
        self
    }

    /// Accepts no one-time challenges: only the static secret, if any.
    pub fn only_static(mut self) -> Self {
        self.one_time = false;
        self
    }

    /// Sets how far (seconds) a signingTime may be from now.
    pub fn max_skew(mut self, seconds: i64) -> Self {
        self.max_skew = seconds;
        self
    }

    /// True when `given` is the static secret (compared in constant time).
    pub fn is_static(&self, given: &str) -> bool {
        self.secret
            .as_deref()
            .is_some_and(|s| mdm_pki::constant_time_eq(given.as_bytes(), s))
    }

    fn enrollment(&self, csr: &Csr) -> Verdict {
        let Some(given) = csr.challenge_password.as_deref() else {
            return Verdict::reject(FailInfo::BAD_REQUEST, "missing challengePassword");
        };
        if self.is_static(given) {
            Verdict::Issue
        } else if self.one_time {
            Verdict::IssueConsuming {
                challenge: given.to_owned(),
            }
        } else {
            Verdict::reject(FailInfo::BAD_REQUEST, "wrong challengePassword")
        }
    }
}

impl Policy for Challenge {
    fn decide(&self, req: &PolicyRequest<'_>) -> Verdict {
        if let Some(v) = check_signing_time(req, self.max_skew) {
            return v;
        }
        match req.stage {
            Stage::Enrollment => self.enrollment(req.csr),
            Stage::Renewal => check_renewal_signer(req).unwrap_or(Verdict::Issue),
            Stage::Poll => Verdict::Issue,
        }
    }
}

/// How the CA issues a granted request: validity, backdating and extensions (clientAuth,
/// the CSR's subjectAltName), shared by this workspace's servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Issuing {
    /// Validity of issued certificates, in seconds from notBefore.
    pub validity_secs: i64,
    /// How far notBefore is set back from now (clock skew of clients), in seconds.
    pub backdate_secs: i64,
}

impl Issuing {
    /// Certificates valid for `validity_secs`, backdated by five minutes.
    pub fn new(validity_secs: i64) -> Self {
        Self {
            validity_secs,
            backdate_secs: 300,
        }
    }

    /// Sets the backdating of notBefore.
    pub fn backdate(mut self, seconds: i64) -> Self {
        self.backdate_secs = seconds;
        self
    }

    /// The issuing options for a certificate with `serial` issued at `now`.
    pub fn options(&self, serial: Vec<u8>, now: i64) -> mdm_pki::issue::IssueOptions {
        mdm_pki::issue::IssueOptions::new(
            serial,
            now.saturating_sub(self.backdate_secs),
            self.validity_secs,
        )
    }

    /// Issues the certificate for `csr`, signed by the CA.
    ///
    /// # Errors
    ///
    /// The CSR's key or the CA's cannot be used, or the certificate cannot be encoded.
    pub fn issue(
        &self,
        csr: &Csr,
        ca: &crate::Ca,
        serial: Vec<u8>,
        now: i64,
    ) -> mdm_pki::Result<x509_cert::Certificate> {
        mdm_pki::issue::issue(csr, ca.certificate(), ca.key(), &self.options(serial, now))
    }
}

/// Compares the CSR's challengePassword with `expected` in constant time.
///
/// # Errors
///
/// The reason, for the log: `"missing challengePassword"` or `"wrong challengePassword"`.
pub fn check_challenge(csr: &Csr, expected: &[u8]) -> Result<(), &'static str> {
    let Some(given) = csr.challenge_password.as_deref() else {
        return Err("missing challengePassword");
    };
    if mdm_pki::constant_time_eq(given.as_bytes(), expected) {
        Ok(())
    } else {
        Err("wrong challengePassword")
    }
}

/// For a renewal: `Some(rejection)` unless the signer was issued by this CA and is valid at
/// `req.now`.
pub fn check_renewal_signer(req: &PolicyRequest<'_>) -> Option<Verdict> {
    if !req.signer_issued_by_ca {
        return Some(Verdict::reject(
            FailInfo::BAD_CERT_ID,
            "renewal signer was not issued by this CA",
        ));
    }
    let v = req.signer.certificate().tbs_certificate().validity();
    let secs = |t: &x509_cert::time::Time| {
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
    };
    if req.now < secs(&v.not_before) {
        return Some(Verdict::reject(
            FailInfo::BAD_REQUEST,
            "renewal signer certificate is not valid yet",
        ));
    }
    if req.now > secs(&v.not_after) {
        return Some(Verdict::reject(
            FailInfo::BAD_REQUEST,
            "renewal signer certificate has expired",
        ));
    }
    None
}

/// `Some(badTime)` when the request carries a signingTime more than `max_skew` seconds from
/// `req.now`.
pub fn check_signing_time(req: &PolicyRequest<'_>, max_skew: i64) -> Option<Verdict> {
    let t = req.signing_time?;
    if t.abs_diff(req.now) > max_skew.unsigned_abs() {
        return Some(Verdict::reject(
            FailInfo::BAD_TIME,
            format!(
                "signingTime is {} seconds from now (limit {max_skew})",
                t.saturating_sub(req.now)
            ),
        ));
    }
    None
}

/// The signed `signingTime` attribute of a request (Unix seconds), if present.
fn signing_time(req: &CaRequest) -> Result<Option<i64>> {
    use der::Decode as _;
    let Some(si) = req.message.signed.signers.first() else {
        return Ok(None);
    };
    let Some(raw) = si.attr(&oids::SIGNING_TIME) else {
        return Ok(None);
    };
    let t = x509_cert::time::Time::from_der(raw).map_err(|e| Error::der("signingTime", e))?;
    Ok(Some(
        i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX),
    ))
}
