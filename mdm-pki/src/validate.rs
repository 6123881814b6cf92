//! Certificate validation against a time the caller gives: issuer name, issuer signature and
//! validity dates, for a certificate issued directly by a trusted anchor.
//!
//! No clock is read here: pass the current Unix time (and the clock skew you allow) in
//! [`Validation`].
//!
//! ```
//! use mdm_pki::validate::{Validation, validate_chain};
//! # fn check(device: &mdm_pki::Certificate, ca: &mdm_pki::Certificate) -> mdm_pki::Result<()> {
//! let now = 1_780_000_000; // seconds since the Unix epoch, from your clock
//! validate_chain(device, std::slice::from_ref(ca), &Validation::at(now))?;
//! # Ok(()) }
//! ```

use x509_cert::Certificate;

use crate::cms::{CertParts, cert_der};
use crate::error::{Error, Result};

/// When and how strictly to check dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Validation {
    /// The time to check against, in seconds since the Unix epoch.
    pub now: i64,
    /// Seconds a certificate may start in the future (clock skew between issuer and
    /// checker).
    pub not_before_skew: i64,
}

impl Validation {
    /// Checks at `now` (Unix seconds), with five minutes of clock skew on `notBefore`.
    pub fn at(now: i64) -> Self {
        Self {
            now,
            not_before_skew: 300,
        }
    }
}

/// Checks that `cert` was issued by `issuer` (issuer name and signature) and is valid at
/// `when`.
///
/// # Errors
///
/// [`Error::Mismatch`] when the issuer name differs, [`Error::BadSignature`] when the
/// signature is not the issuer's, [`Error::Invalid`] (what: "certificate validity") when
/// `when` is outside the validity dates, and a DER error when either does not parse.
pub fn validate_issued_by(
    cert: &Certificate,
    issuer: &Certificate,
    when: &Validation,
) -> Result<()> {
    let der = cert_der(cert)?;
    let issuer_der = cert_der(issuer)?;
    let parts = CertParts::parse(&der)?;
    let issuer_parts = CertParts::parse(&issuer_der)?;
    if parts.issuer != issuer_parts.subject {
        return Err(Error::Mismatch(
            "the certificate's issuer name is not the issuer's subject".into(),
        ));
    }
    parts
        .verify_signed_by(issuer_parts.spki)
        .map_err(|_| Error::BadSignature("the certificate is not signed by the issuer".into()))?;
    validate_dates(cert, when)
}

/// Checks only the validity dates of `cert` at `when`.
///
/// # Errors
///
/// [`Error::Invalid`] naming which bound was crossed.
pub fn validate_dates(cert: &Certificate, when: &Validation) -> Result<()> {
    let validity = cert.tbs_certificate().validity();
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let not_after = secs(validity.not_after.to_unix_duration());
    let not_before = secs(validity.not_before.to_unix_duration());
    if not_after < when.now {
        return Err(Error::invalid(
            "certificate validity",
            format!("expired at {not_after} (now {})", when.now),
        ));
    }
    if not_before > when.now.saturating_add(when.not_before_skew) {
        return Err(Error::invalid(
            "certificate validity",
            format!("not valid before {not_before} (now {})", when.now),
        ));
    }
    Ok(())
}

/// Validates `leaf` against trusted `anchors`: it must be issued directly by one of them and
/// valid at `when`, as must that anchor. Returns the anchor's index. Intermediate CAs are not
/// followed (that needs basicConstraints and path-length checks this crate does not make
/// yet); the leaf itself is never taken as its own anchor.
///
/// # Errors
///
/// The error of the last anchor tried, or [`Error::Invalid`] (what: "certificate chain")
/// when `anchors` is empty.
pub fn validate_chain(
    leaf: &Certificate,
    anchors: &[Certificate],
    when: &Validation,
) -> Result<usize> {
    let leaf_der = cert_der(leaf)?;
    let mut last_error = None;
    for (i, anchor) in anchors.iter().enumerate() {
        if cert_der(anchor)? == leaf_der {
            last_error = Some(Error::Mismatch(
                "the certificate is the anchor itself".into(),
            ));
            continue;
        }
        match validate_issued_by(leaf, anchor, when).and_then(|()| validate_dates(anchor, when)) {
            Ok(()) => return Ok(i),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::invalid("certificate chain", "no trusted anchor")))
}
