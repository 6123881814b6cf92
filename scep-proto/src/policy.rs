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
}

impl Verdict {
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

/// Asks the first policy, and the second only when the first says Issue.
#[derive(Debug, Clone)]
pub struct Then<A, B>(pub A, pub B);

impl<A: Policy, B: Policy> Policy for Then<A, B> {
    fn decide(&self, req: &PolicyRequest<'_>) -> Verdict {
        match self.0.decide(req) {
            Verdict::Issue => self.1.decide(req),
            other => other,
        }
    }
}

/// The challengePassword check for first enrollments, and the validity check of the signer
/// of a renewal.
///
/// - [`Stage::Enrollment`]: the CSR's challengePassword must equal the secret (compared in
///   constant time); otherwise FAILURE badRequest.
/// - [`Stage::Renewal`]: no challenge, but the signer must be a certificate this CA issued and
///   valid now; otherwise FAILURE badRequest (badCertId when it was not issued here).
/// - [`Stage::Poll`]: Issue (the challenge was checked when the request arrived).
///
/// A `signingTime` further than [`Challenge::max_skew`] from now gets badTime.
#[derive(Clone)]
pub struct Challenge {
    secret: Vec<u8>,
    max_skew: i64,
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Challenge")
            .field("max_skew", &self.max_skew)
            .finish_non_exhaustive()
    }
}

impl Challenge {
    /// The check for `secret`; signingTime may be a day off.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into().into_bytes(),
            max_skew: 86_400,
        }
    }

    /// Sets how far (seconds) a signingTime may be from now.
    pub fn max_skew(mut self, seconds: i64) -> Self {
        self.max_skew = seconds;
        self
    }
}

impl Policy for Challenge {
    fn decide(&self, req: &PolicyRequest<'_>) -> Verdict {
        if let Some(v) = check_signing_time(req, self.max_skew) {
            return v;
        }
        match req.stage {
            Stage::Enrollment => match check_challenge(req.csr, &self.secret) {
                Ok(()) => Verdict::Issue,
                Err(reason) => Verdict::reject(FailInfo::BAD_REQUEST, reason),
            },
            Stage::Renewal => check_renewal_signer(req).unwrap_or(Verdict::Issue),
            Stage::Poll => Verdict::Issue,
        }
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
