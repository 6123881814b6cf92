//! Certificate validation against a time the caller gives: issuer name, issuer signature,
//! validity dates, and for paths through intermediate CAs basicConstraints, keyUsage and
//! pathLenConstraint ([`validate_path`]).
//!
//! No clock is read here: pass the current Unix time (and the clock skew you allow) in
//! [`Validation`].
//!
//! ```
//! use mdm_pki::validate::{Validation, validate_chain, validate_path};
//! # fn check(device: &mdm_pki::Certificate, sub: &mdm_pki::Certificate, ca: &mdm_pki::Certificate) -> mdm_pki::Result<()> {
//! let now = 1_780_000_000; // seconds since the Unix epoch, from your clock
//! validate_chain(device, std::slice::from_ref(ca), &Validation::at(now))?;
//! let path = validate_path(device, std::slice::from_ref(sub), std::slice::from_ref(ca), &Validation::at(now))?;
//! assert_eq!(path.anchor, 0);
//! # Ok(()) }
//! ```

use x509_cert::Certificate;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, KeyUsage, SubjectKeyIdentifier,
};

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
/// valid at `when`, as must that anchor. Returns the anchor's index. The same checks as
/// [`validate_path`] with no intermediates; the leaf itself is never taken as its own anchor.
///
/// # Errors
///
/// As [`validate_path`].
pub fn validate_chain(
    leaf: &Certificate,
    anchors: &[Certificate],
    when: &Validation,
) -> Result<usize> {
    validate_path(leaf, &[], anchors, when).map(|p| p.anchor)
}

/// Most certificates in one path, leaf and anchor included.
pub const MAX_PATH_LEN: usize = 8;
/// Most issuer candidates (signature checks) tried in one [`validate_path`] call: the search
/// never grows with crafted input (many certificates with the same name, cycles).
pub const MAX_CANDIDATES: usize = 32;

/// A validated path: indices into the slices given to [`validate_path`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidPath {
    /// The anchor the path ends at.
    pub anchor: usize,
    /// The intermediates used, from the leaf's issuer up to the one the anchor issued.
    pub intermediates: Vec<usize>,
}

/// Why a certificate in a path failed (carried by [`Error::Path`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathFailure {
    /// No intermediate or anchor has this certificate's issuer name (and key identifier).
    #[error("no issuer among the intermediates and anchors (issuer {issuer})")]
    NoIssuer {
        /// The issuer name looked for.
        issuer: String,
    },
    /// The signature does not verify with the candidate issuer's key.
    #[error("not signed by {issuer}: {reason}")]
    BadSignature {
        /// The candidate issuer.
        issuer: String,
        /// What the verifier said.
        reason: String,
    },
    /// The certificate issues others but has no basicConstraints with cA=true.
    #[error("not a CA (basicConstraints cA is not true)")]
    NotCa,
    /// The certificate issues others and has keyUsage without keyCertSign.
    #[error("keyUsage lacks keyCertSign")]
    NoKeyCertSign,
    /// `now` is after notAfter.
    #[error("expired at {not_after} (now {now})")]
    Expired {
        /// notAfter, Unix seconds.
        not_after: i64,
        /// The time checked against.
        now: i64,
    },
    /// `now` (plus the allowed skew) is before notBefore.
    #[error("not valid before {not_before} (now {now})")]
    NotYetValid {
        /// notBefore, Unix seconds.
        not_before: i64,
        /// The time checked against.
        now: i64,
    },
    /// More CA certificates below this one than its pathLenConstraint allows.
    #[error("pathLenConstraint {path_len} exceeded: {below} intermediate CA(s) below it")]
    PathLenExceeded {
        /// The constraint.
        path_len: u8,
        /// Non-self-issued intermediates between it and the leaf.
        below: usize,
    },
    /// The path would be longer than [`MAX_PATH_LEN`].
    #[error("path longer than {limit} certificates")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// More than [`MAX_CANDIDATES`] issuer candidates were tried.
    #[error("more than {limit} issuer candidates tried")]
    TooManyCandidates {
        /// The limit.
        limit: usize,
    },
    /// The leaf is one of the anchors.
    #[error("the certificate is a trusted anchor itself")]
    IsAnchor,
    /// An extension this check reads does not decode (or appears twice).
    #[error("bad {extension} extension: {reason}")]
    BadExtension {
        /// The extension.
        extension: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
}

/// Validates `leaf` through `intermediates` (in any order, untrusted) to one of `anchors`
/// (trusted) at `when`.
///
/// The path is built by names: each certificate's issuer must equal the next one's subject,
/// and when the child has an authorityKeyIdentifier and the candidate a
/// subjectKeyIdentifier, they must match too. On every certificate of the path: the
/// validity dates. On every issuer: the child's signature, basicConstraints cA=true (an
/// anchor of version 1, which cannot carry extensions, is exempt), keyCertSign when keyUsage
/// is present, and pathLenConstraint (counting the non-self-issued intermediates below it).
/// Anchors are tried before intermediates; a failed candidate is skipped for the next one.
/// The search is bounded by [`MAX_PATH_LEN`] and [`MAX_CANDIDATES`] and never uses a
/// certificate twice in one path, so cycles end.
///
/// Names are compared as decoded by x509-cert, not with RFC 5280's case-folding rules.
///
/// ```
/// use mdm_pki::issue::{self, IssueOptions};
/// use mdm_pki::validate::{Validation, validate_path};
/// use mdm_pki::{Csr, DigestAlgorithm, RsaKey};
///
/// let now = 1_764_000_000;
/// let (root_key, mid_key, leaf_key) = (RsaKey::generate(1024)?, RsaKey::generate(1024)?, RsaKey::generate(1024)?);
/// let root = issue::self_signed(&root_key, &issue::common_name("Root"), true,
///     &IssueOptions::new(vec![1], now - 60, 86_400))?;
/// let csr = |key: &RsaKey, cn: &str| -> mdm_pki::Result<Csr> {
///     Csr::parse(&Csr::build(key, &issue::common_name(cn), None, &[], DigestAlgorithm::Sha256)?)
/// };
/// let mid = issue::issue(&csr(&mid_key, "Intermediate")?, &root, &root_key,
///     &IssueOptions::new(vec![2], now - 60, 86_400).with_ca(Some(0)))?;
/// let leaf = issue::issue(&csr(&leaf_key, "device")?, &mid, &mid_key,
///     &IssueOptions::new(vec![3], now - 60, 86_400))?;
///
/// let path = validate_path(&leaf, &[mid.clone()], &[root.clone()], &Validation::at(now))?;
/// assert_eq!((path.anchor, path.intermediates.as_slice()), (0, &[0][..]));
/// // Without the intermediate there is no path to the root.
/// assert!(validate_path(&leaf, &[], &[root], &Validation::at(now)).is_err());
/// # Ok::<(), mdm_pki::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Path`] naming the certificate that failed and why; when several paths were
/// tried, the failure found deepest in the path (closest to an anchor) is reported. A leaf
/// identical to an anchor fails with [`PathFailure::IsAnchor`].
pub fn validate_path(
    leaf: &Certificate,
    intermediates: &[Certificate],
    anchors: &[Certificate],
    when: &Validation,
) -> Result<ValidPath> {
    let leaf = Node::new(leaf, Role::Leaf)?;
    let anchors = anchors
        .iter()
        .enumerate()
        .map(|(i, c)| Node::new(c, Role::Anchor(i)))
        .collect::<Result<Vec<_>>>()?;
    if anchors.iter().any(|a| a.der == leaf.der) {
        return Err(leaf.fail(PathFailure::IsAnchor));
    }
    if anchors.is_empty() {
        return Err(Error::invalid("certificate chain", "no trusted anchor"));
    }
    let intermediates = intermediates
        .iter()
        .enumerate()
        .map(|(i, c)| Node::new(c, Role::Intermediate(i)))
        .collect::<Result<Vec<_>>>()?;
    check_dates(&leaf, when)?;
    let mut search = Search {
        anchors: &anchors,
        intermediates: &intermediates,
        when,
        tried: 0,
        best: None,
    };
    let mut path = Vec::new();
    match search.extend(&leaf, &mut path, 0) {
        Some(anchor) => Ok(ValidPath {
            anchor,
            intermediates: path,
        }),
        None => Err(search
            .best
            .map(|(_, e)| e)
            .unwrap_or_else(|| Error::invalid("certificate chain", "no path found"))),
    }
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Leaf,
    Intermediate(usize),
    Anchor(usize),
}

/// One certificate with what the path search reads from it, decoded once.
struct Node<'a> {
    cert: &'a Certificate,
    role: Role,
    der: Vec<u8>,
}

impl<'a> Node<'a> {
    fn new(cert: &'a Certificate, role: Role) -> Result<Self> {
        Ok(Self {
            cert,
            role,
            der: cert_der(cert)?,
        })
    }

    fn label(&self) -> String {
        let subject = self.cert.tbs_certificate().subject();
        match self.role {
            Role::Leaf => format!("leaf ({subject})"),
            Role::Intermediate(i) => format!("intermediate {i} ({subject})"),
            Role::Anchor(i) => format!("anchor {i} ({subject})"),
        }
    }

    fn fail(&self, failure: PathFailure) -> Error {
        Error::Path {
            certificate: self.label(),
            failure,
        }
    }

    fn ext<T>(&self, name: &'static str) -> Result<Option<T>>
    where
        T: for<'d> der::Decode<'d, Error = der::Error> + const_oid::AssociatedOid,
    {
        self.cert
            .tbs_certificate()
            .get_extension::<T>()
            .map(|o| o.map(|(_, v)| v))
            .map_err(|e| {
                self.fail(PathFailure::BadExtension {
                    extension: name,
                    reason: e.to_string(),
                })
            })
    }

    /// False only when both key identifiers are present and differ.
    fn key_ids_match(&self, issuer: &Node<'_>) -> bool {
        let aki = self
            .ext::<AuthorityKeyIdentifier>("authorityKeyIdentifier")
            .ok()
            .flatten()
            .and_then(|a| a.key_identifier);
        let ski = issuer
            .ext::<SubjectKeyIdentifier>("subjectKeyIdentifier")
            .ok()
            .flatten();
        match (aki, ski) {
            (Some(a), Some(s)) => a.as_bytes() == s.0.as_bytes(),
            _ => true,
        }
    }

    fn self_issued(&self) -> bool {
        let tbs = self.cert.tbs_certificate();
        tbs.issuer() == tbs.subject()
    }
}

fn check_dates(node: &Node<'_>, when: &Validation) -> Result<()> {
    let validity = node.cert.tbs_certificate().validity();
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let not_after = secs(validity.not_after.to_unix_duration());
    let not_before = secs(validity.not_before.to_unix_duration());
    if not_after < when.now {
        return Err(node.fail(PathFailure::Expired {
            not_after,
            now: when.now,
        }));
    }
    if not_before > when.now.saturating_add(when.not_before_skew) {
        return Err(node.fail(PathFailure::NotYetValid {
            not_before,
            now: when.now,
        }));
    }
    Ok(())
}

struct Search<'s, 'a> {
    anchors: &'s [Node<'a>],
    intermediates: &'s [Node<'a>],
    when: &'s Validation,
    tried: usize,
    /// The deepest failure so far: (certificates in the path when it happened, error).
    best: Option<(usize, Error)>,
}

impl Search<'_, '_> {
    fn record(&mut self, depth: usize, e: Error) {
        if self.best.as_ref().is_none_or(|(d, _)| depth > *d) {
            self.best = Some((depth, e));
        }
    }

    /// Finds an issuer for `child` (whose path so far holds the intermediates `path` and
    /// `below` non-self-issued intermediates), recursing through intermediates; returns the
    /// anchor index reached.
    fn extend(&mut self, child: &Node<'_>, path: &mut Vec<usize>, below: usize) -> Option<usize> {
        let depth = path.len() + 1;
        if depth + 1 > MAX_PATH_LEN {
            self.record(
                depth,
                child.fail(PathFailure::TooLong {
                    limit: MAX_PATH_LEN,
                }),
            );
            return None;
        }
        let wanted = child.cert.tbs_certificate().issuer();
        let mut found_any = false;
        let candidates = self
            .anchors
            .iter()
            .map(|n| (true, n))
            .chain(self.intermediates.iter().map(|n| (false, n)));
        for (is_anchor, cand) in candidates {
            let index = match cand.role {
                Role::Anchor(i) | Role::Intermediate(i) => i,
                Role::Leaf => continue,
            };
            if cand.cert.tbs_certificate().subject() != wanted
                || (!is_anchor && path.contains(&index))
                || cand.der == child.der
                || !child.key_ids_match(cand)
            {
                continue;
            }
            found_any = true;
            if self.tried == MAX_CANDIDATES {
                self.record(
                    usize::MAX,
                    child.fail(PathFailure::TooManyCandidates {
                        limit: MAX_CANDIDATES,
                    }),
                );
                return None;
            }
            self.tried += 1;
            if let Err(e) = self.check_issuer(child, cand, below, is_anchor) {
                self.record(depth, e);
                continue;
            }
            if is_anchor {
                return Some(index);
            }
            path.push(index);
            let below = below + usize::from(!cand.self_issued());
            if let Some(anchor) = self.extend(cand, path, below) {
                return Some(anchor);
            }
            path.pop();
        }
        if !found_any {
            self.record(
                depth,
                child.fail(PathFailure::NoIssuer {
                    issuer: wanted.to_string(),
                }),
            );
        }
        None
    }

    /// The checks on one issuer candidate of `child`.
    fn check_issuer(
        &self,
        child: &Node<'_>,
        issuer: &Node<'_>,
        below: usize,
        is_anchor: bool,
    ) -> Result<()> {
        let parts = CertParts::parse(&child.der)?;
        let issuer_parts = CertParts::parse(&issuer.der)?;
        parts.verify_signed_by(issuer_parts.spki).map_err(|e| {
            child.fail(PathFailure::BadSignature {
                issuer: issuer.label(),
                reason: e.to_string(),
            })
        })?;
        let v1_anchor =
            is_anchor && issuer.cert.tbs_certificate().version() == x509_cert::Version::V1;
        if !v1_anchor {
            let bc = issuer.ext::<BasicConstraints>("basicConstraints")?;
            let Some(bc) = bc.filter(|bc| bc.ca) else {
                return Err(issuer.fail(PathFailure::NotCa));
            };
            if let Some(ku) = issuer.ext::<KeyUsage>("keyUsage")?
                && !ku.key_cert_sign()
            {
                return Err(issuer.fail(PathFailure::NoKeyCertSign));
            }
            if let Some(path_len) = bc.path_len_constraint
                && below > usize::from(path_len)
            {
                return Err(issuer.fail(PathFailure::PathLenExceeded { path_len, below }));
            }
        }
        check_dates(issuer, self.when)
    }
}
