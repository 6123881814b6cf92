//! The server's certificate authority: SCEP (`/scep`), the signed enrollment profile
//! (`/mdm/enroll`) and the check that a device certificate was issued here.
//!
//! On first start the server creates, in its data folder, a self-signed CA
//! ([`CA_CERT_FILE`], [`CA_KEY_FILE`]) and a SCEP challenge ([`CHALLENGE_FILE`]) unless one
//! is given. The CA issues the devices' identity certificates over SCEP and also signs the
//! enrollment profile. Issued certificates get random 128-bit serial numbers, so several
//! instances sharing one data folder (or one CA copied to each) never collide.

use mdm_proto::plist::Value;
use scep_proto::issue::{self, IssueOptions};
use scep_proto::key::pem_encode;
use scep_proto::policy::{Challenge, Issuing, Policy, PolicyRequest, Stage, Verdict};
use scep_proto::{
    Ca, CaRequest, Certificate, Decision, DigestAlgorithm, FailInfo, Operation, RsaKey,
    ca::content_type, cms,
};
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;

/// The CA certificate (PEM) in the data folder.
pub const CA_CERT_FILE: &str = "scep-ca.pem";
/// The CA private key (PKCS#8 PEM, mode 0600) in the data folder.
pub const CA_KEY_FILE: &str = "scep-ca.key";
/// The generated SCEP challenge (mode 0600) in the data folder.
pub const CHALLENGE_FILE: &str = "scep-challenge";
/// Content type of an enrollment profile.
pub const PROFILE_CONTENT_TYPE: &str = "application/x-apple-aspen-config";
/// Validity of issued device certificates, in seconds (one year).
pub const DEVICE_CERT_VALIDITY: i64 = 365 * 86_400;
/// Validity of a new CA, in seconds (ten years).
pub const CA_VALIDITY: i64 = 10 * 365 * 86_400;
/// How many renewals back a presented certificate may be from the bound one.
pub const MAX_RENEWAL_CHAIN: usize = 16;

/// Why the CA could not be loaded or created.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// A key or certificate could not be built or parsed.
    #[error("{what}: {source}")]
    Scep {
        /// What was being done.
        what: String,
        /// The error.
        source: scep_proto::Error,
    },
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> PkiError {
    let what = what.into();
    move |source| PkiError::Io { what, source }
}

fn scep_err(what: impl Into<String>) -> impl FnOnce(scep_proto::Error) -> PkiError {
    let what = what.into();
    move |source| PkiError::Scep { what, source }
}

/// The current time in seconds since the Unix epoch.
fn now() -> i64 {
    crate::storage::now()
}

/// The SHA-256 fingerprint of a DER certificate, as lowercase hex: how bindings and
/// renewals are stored.
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(der))
}

/// The CA, its challenge and what it needs to answer SCEP and sign profiles.
#[derive(Debug)]
pub struct Pki {
    ca: Ca,
    ca_der: Vec<u8>,
    challenge: String,
    issued: IssuedCache,
}

/// Most certificates [`Pki::issued_here`] remembers (32 bytes each); when full it forgets
/// them all and starts again.
pub const ISSUED_CACHE_MAX: usize = 100_000;

/// The SHA-256 digests of certificates whose issuer name and signature [`Pki::issued_here`]
/// found to be this CA's. Both depend on nothing but the certificate's bytes and the CA (fixed
/// for a `Pki`), so a certificate with a digest in here would pass them again; its validity
/// dates, which depend on the time, are checked on every call.
#[derive(Debug, Default)]
struct IssuedCache(std::sync::Mutex<std::collections::HashSet<[u8; 32]>>);

impl IssuedCache {
    fn contains(&self, digest: &[u8; 32]) -> bool {
        self.0.lock().is_ok_and(|set| set.contains(digest))
    }

    fn insert(&self, digest: [u8; 32]) {
        if let Ok(mut set) = self.0.lock() {
            if set.len() >= ISSUED_CACHE_MAX {
                set.clear();
            }
            set.insert(digest);
        }
    }
}

/// What a certificate issued over SCEP replaced (a renewal signed by the old certificate).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Renewal {
    /// Fingerprint of the certificate that signed the RenewalReq.
    pub old: String,
    /// Fingerprint of the certificate issued.
    pub new: String,
}

/// The answer to one SCEP request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ScepAnswer {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// When a renewal was granted: which certificate replaced which.
    pub renewal: Option<Renewal>,
}

impl ScepAnswer {
    fn ok(content_type: &'static str, body: Vec<u8>) -> Self {
        ScepAnswer {
            status: 200,
            content_type,
            body,
            renewal: None,
        }
    }

    fn error(status: u16, message: String) -> Self {
        ScepAnswer {
            status,
            content_type: "text/plain; charset=utf-8",
            body: message.into_bytes(),
            renewal: None,
        }
    }
}

/// What the SCEP policy ([`Pki::policy`]) granted a request on, and so what must be
/// recorded when its certificate is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Authority {
    /// A RenewalReq signed by a valid certificate of this CA (its fingerprint): the renewal
    /// is recorded.
    Renewal {
        /// Fingerprint of the signing certificate.
        old: String,
    },
    /// A one-time challenge (the CSR's challengePassword), consumed when issuing.
    OneTimeChallenge(String),
    /// Nothing to record (the static challenge of `--open-enrollment`).
    Granted,
}

/// A certificate prepared for a SCEP request, not yet sent: see [`Pki::scep_begin`].
#[derive(Debug)]
#[non_exhaustive]
pub struct PendingIssue {
    /// The decoded request.
    pub request: CaRequest,
    /// The certificate prepared.
    pub cert: Certificate,
    /// Its SHA-256 fingerprint (hex).
    pub fingerprint: String,
    /// What the policy granted the request on.
    pub authority: Authority,
}

/// The outcome of [`Pki::scep_begin`].
#[derive(Debug)]
#[non_exhaustive]
pub enum ScepStep {
    /// The answer, ready.
    Done(ScepAnswer),
    /// A certificate is ready to send once its [`Authority`] is recorded.
    Issue(Box<PendingIssue>),
}

/// SHA-256 (hex) of a secret (enrollment token or challenge): how secrets are stored.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

/// A new random secret: 256 bits from the OS's random source, as 64 hex characters.
pub fn random_secret() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("{}{}", a.simple(), b.simple())
}

/// Answers a SCEP request as the server does, with the policy of [`Pki::policy`]. A
/// RenewalReq signed by a valid certificate of this CA gets its certificate, and the renewal
/// is recorded (the identity check lets it replace the old one). Otherwise the
/// challengePassword must be a one-time challenge from a downloaded enrollment profile,
/// consumed now (so a second use is refused: FAILURE `badRequest`) with the issued
/// certificate's fingerprint and its token remembered, or, with `open_enrollment`, the
/// static challenge. Both writes go through `service`, so its observers see them.
pub async fn answer_scep(
    pki: &Arc<Pki>,
    service: &Arc<dyn crate::service::Service>,
    open_enrollment: bool,
    method: String,
    query: String,
    body: Vec<u8>,
) -> ScepAnswer {
    let p = Arc::clone(pki);
    let policy = pki.policy(open_enrollment);
    let step =
        match tokio::task::spawn_blocking(move || p.scep_begin(&method, &query, &body, &policy))
            .await
        {
            Ok(step) => step,
            Err(e) => {
                tracing::error!(error = %e, "SCEP task failed");
                return ScepAnswer::error(500, "internal error\n".to_owned());
            }
        };
    let pending = match step {
        ScepStep::Done(answer) => return answer,
        ScepStep::Issue(pending) => pending,
    };
    use crate::service::ServiceError;
    let grant: Result<(), String> = match &pending.authority {
        Authority::Renewal { old } => {
            match service.record_renewal(old, &pending.fingerprint).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    tracing::error!(error = %e, "recording a SCEP renewal");
                    return ScepAnswer::error(500, "internal error\n".to_owned());
                }
            }
        }
        Authority::OneTimeChallenge(c) => {
            match service
                .consume_scep_challenge(&secret_hash(c), &pending.fingerprint)
                .await
            {
                Ok(_) => Ok(()),
                Err(ServiceError::Forbidden(reason)) => Err(reason),
                Err(e) => {
                    tracing::error!(error = %e, "consuming a SCEP challenge");
                    return ScepAnswer::error(500, "internal error\n".to_owned());
                }
            }
        }
        Authority::Granted => Ok(()),
    };
    let p = Arc::clone(pki);
    match tokio::task::spawn_blocking(move || {
        p.scep_finish(*pending, grant.as_ref().map(|_| ()).map_err(String::as_str))
    })
    .await
    {
        Ok(answer) => answer,
        Err(e) => {
            tracing::error!(error = %e, "SCEP task failed");
            ScepAnswer::error(500, "internal error\n".to_owned())
        }
    }
}

fn write_secret(path: &Path, data: &[u8]) -> std::io::Result<()> {
    crate::secrets::write_atomic(path, data)
}

fn random_serial() -> Vec<u8> {
    let mut serial = uuid::Uuid::new_v4().as_bytes().to_vec();
    // Positive and without a leading zero byte.
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x40;
    }
    serial
}

impl Pki {
    /// Loads the CA from `dir`, creating it (an RSA key of `key_bits`) when missing; the
    /// challenge is `challenge`, else the stored one, else a new one written to `dir`.
    pub fn load_or_create(
        dir: &Path,
        challenge: Option<&str>,
        key_bits: usize,
    ) -> Result<Self, PkiError> {
        Self::load_or_create_sealed(dir, challenge, key_bits, None)
    }

    /// Like [`Pki::load_or_create`], with the CA key file sealed with `secrets` (see
    /// [`crate::secrets`]): a new key is written sealed, a plain one is sealed in place, and
    /// a sealed one needs the same key to load.
    pub fn load_or_create_sealed(
        dir: &Path,
        challenge: Option<&str>,
        key_bits: usize,
        secrets: Option<&crate::secrets::SecretsKey>,
    ) -> Result<Self, PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        if !cert_path.exists() {
            tracing::info!(dir = %dir.display(), bits = key_bits, "creating the SCEP CA");
            let key = RsaKey::generate(key_bits).map_err(scep_err("generating the CA key"))?;
            let cert = issue::self_signed(
                &key,
                &issue::name_from_str("CN=mdm-server device CA,O=mdm-server")
                    .map_err(scep_err("naming the CA"))?,
                true,
                &IssueOptions::new(random_serial(), now() - 3600, CA_VALIDITY),
            )
            .map_err(scep_err("creating the CA certificate"))?;
            let key_pem = key
                .to_pkcs8_pem()
                .map_err(scep_err("encoding the CA key"))?;
            let key_text = crate::secrets::seal_text(secrets, &key_pem, CA_KEY_FILE);
            write_secret(&key_path, key_text.as_bytes())
                .map_err(io_err(format!("writing {}", key_path.display())))?;
            let der = mdm_proto::signature::certificate_der(&cert).map_err(|e| PkiError::Io {
                what: "encoding the CA certificate".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
            write_secret(&cert_path, pem_encode("CERTIFICATE", &der).as_bytes())
                .map_err(io_err(format!("writing {}", cert_path.display())))?;
        }
        let cert_pem = std::fs::read(&cert_path)
            .map_err(io_err(format!("reading {}", cert_path.display())))?;
        let cert = cms::parse_certificates(&cert_pem)
            .map_err(scep_err(format!("reading {}", cert_path.display())))?
            .into_iter()
            .next()
            .ok_or_else(|| PkiError::Io {
                what: format!("reading {}", cert_path.display()),
                source: std::io::Error::other("no certificate"),
            })?;
        let key_pem =
            crate::secrets::read_sealed_file(&key_path, secrets, CA_KEY_FILE).map_err(|e| {
                PkiError::Io {
                    what: format!("reading {}", key_path.display()),
                    source: std::io::Error::other(e.to_string()),
                }
            })?;
        let key = RsaKey::from_pem(&key_pem, None)
            .map_err(scep_err(format!("reading {}", key_path.display())))?;
        let ca_der = mdm_proto::signature::certificate_der(&cert).map_err(|e| PkiError::Io {
            what: "encoding the CA certificate".into(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let challenge = match challenge {
            Some(c) if !c.trim().is_empty() => c.trim().to_owned(),
            _ => Self::stored_challenge(dir)?,
        };
        // aws-lc-rs by default (feature `aws-lc-rs`); it refuses keys under 2048 bits, which
        // keep the pure-Rust backend.
        #[cfg(feature = "aws-lc-rs")]
        let key: Arc<dyn scep_proto::PrivateKey> = match scep_proto::AwsLcRsaKey::from_rsa_key(&key)
        {
            Ok(fast) => Arc::new(fast),
            Err(e) => {
                tracing::warn!(error = %e, "CA key not usable by aws-lc-rs; using the pure-Rust backend");
                Arc::new(key)
            }
        };
        #[cfg(not(feature = "aws-lc-rs"))]
        let key = Arc::new(key);
        Ok(Pki {
            ca: Ca::new(cert, key),
            ca_der,
            challenge,
            issued: IssuedCache::default(),
        })
    }

    fn stored_challenge(dir: &Path) -> Result<String, PkiError> {
        let path = dir.join(CHALLENGE_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        }
        let challenge = uuid::Uuid::new_v4().simple().to_string();
        write_secret(&path, format!("{challenge}\n").as_bytes())
            .map_err(io_err(format!("writing {}", path.display())))?;
        Ok(challenge)
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The SCEP challenge devices must send.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// Answers a SCEP request with the static challenge as the only authority (what
    /// `--open-enrollment` does, with nothing stored): `GetCACaps`, `GetCACert`,
    /// `GetNextCACert`, `PKIOperation` by GET or POST. CPU-bound for PKIOperation (RSA):
    /// call it off the async runtime. The server itself uses [`answer_scep`], which also
    /// takes one-time challenges and records renewals.
    pub fn scep(&self, method: &str, query: &str, body: &[u8]) -> ScepAnswer {
        let policy = Challenge::new(self.challenge.as_str());
        match self.scep_begin(method, query, body, &policy) {
            ScepStep::Done(answer) => answer,
            ScepStep::Issue(pending) => {
                let grant = match &pending.authority {
                    Authority::Renewal { .. } | Authority::Granted => Ok(()),
                    Authority::OneTimeChallenge(_) => Err("wrong challengePassword"),
                };
                self.scep_finish(*pending, grant)
            }
        }
    }

    /// The server's SCEP policy (scep-proto's [`Challenge`], shared with scep-server):
    /// one-time challenges from enrollment profiles, consumed when issuing, plus the static
    /// challenge with `open_enrollment`; renewals signed by a valid certificate of this CA;
    /// a signingTime at most a day off.
    pub fn policy(&self, open_enrollment: bool) -> Challenge {
        let policy = Challenge::one_time();
        if open_enrollment {
            policy.with_static(self.challenge.as_str())
        } else {
            policy
        }
    }

    /// True when `given` is the static challenge (compared in constant time).
    pub fn is_static_challenge(&self, given: &str) -> bool {
        Challenge::new(self.challenge.as_str()).is_static(given)
    }

    /// How device certificates are issued (one year, backdated five minutes).
    pub fn issuing() -> Issuing {
        Issuing::new(DEVICE_CERT_VALIDITY)
    }

    /// The first half of a SCEP request: parses it and, for a PKCSReq or RenewalReq,
    /// decrypts it and prepares the certificate, which [`Pki::scep_finish`] sends only
    /// once the caller has granted it. CPU-bound (RSA).
    pub fn scep_begin(
        &self,
        method: &str,
        query: &str,
        body: &[u8],
        policy: &dyn Policy,
    ) -> ScepStep {
        let op = match scep_proto::operation::parse_request(method, query, body) {
            Ok(op) => op,
            Err(e) => {
                tracing::warn!(error = %e, "bad SCEP request");
                return ScepStep::Done(ScepAnswer::error(400, format!("bad SCEP request: {e}\n")));
            }
        };
        ScepStep::Done(match op {
            Operation::GetCaCaps => {
                ScepAnswer::ok(content_type::TEXT, self.ca.capabilities().to_body().into())
            }
            Operation::GetCaCert => match self.ca.get_ca_cert() {
                Ok((ct, der)) => ScepAnswer::ok(ct, der),
                Err(e) => internal(&e),
            },
            Operation::GetNextCaCert => {
                ScepAnswer::error(404, "no next CA certificate\n".to_owned())
            }
            Operation::PkiOperation(der) => return self.pki_operation(&der, policy),
            Operation::Other(name) => {
                ScepAnswer::error(400, format!("unknown SCEP operation `{name}`\n"))
            }
            _ => ScepAnswer::error(400, "unsupported SCEP operation\n".to_owned()),
        })
    }

    fn pki_operation(&self, der: &[u8], policy: &dyn Policy) -> ScepStep {
        let request = match self.ca.decode_request(der) {
            Ok(r) => r,
            Err(e) => {
                let fail = scep_proto::ca::fail_info_for(&e);
                tracing::warn!(error = %e, fail_info = %fail, "refusing a SCEP PKIOperation");
                return ScepStep::Done(match self.ca.failure_reply(der, fail) {
                    Some(reply) => ScepAnswer::ok(content_type::PKI_MESSAGE, reply),
                    None => ScepAnswer::error(400, format!("bad pkiMessage: {e}\n")),
                });
            }
        };
        let tid = request.message.transaction_id.clone();
        let refuse = |fail_info: FailInfo, reason: &str| {
            tracing::warn!(transaction_id = %tid, %fail_info, reason, "refusing a SCEP enrollment");
            ScepStep::Done(self.reply(&request, &Decision::Reject(fail_info)))
        };
        let now = now();
        let (verdict, stage) = match PolicyRequest::from_ca_request(&request, now) {
            Ok(Some(pr)) => (policy.decide(&pr), pr.stage),
            // Nothing is ever PENDING and issued certificates are not kept for GetCert.
            Ok(None) => {
                return refuse(FailInfo::BAD_REQUEST, "not a PKCSReq or RenewalReq");
            }
            Err(e) => return refuse(FailInfo::BAD_TIME, &e.to_string()),
        };
        let authority = match verdict {
            Verdict::Issue if stage == Stage::Renewal => Authority::Renewal {
                old: fingerprint(request.signer.der()),
            },
            Verdict::Issue => Authority::Granted,
            Verdict::IssueConsuming { challenge } => Authority::OneTimeChallenge(challenge),
            Verdict::Reject { fail_info, reason } => return refuse(fail_info, &reason),
            _ => return refuse(FailInfo::BAD_REQUEST, "this CA answers nothing PENDING"),
        };
        let Some(csr) = request.csr() else {
            return refuse(FailInfo::BAD_REQUEST, "not a PKCSReq or RenewalReq");
        };
        let issued = Self::issuing().issue(csr, &self.ca, random_serial(), now);
        let cert = match issued.map(|c| {
            let der = mdm_proto::signature::certificate_der(&c);
            (c, der)
        }) {
            Ok((cert, Ok(der))) => (cert, der),
            Ok((_, Err(e))) => {
                tracing::error!(transaction_id = %tid, error = %e, "encoding the certificate");
                return refuse(FailInfo::BAD_REQUEST, "encoding the certificate failed");
            }
            Err(e) => {
                tracing::error!(transaction_id = %tid, error = %e, "issuing failed");
                return refuse(FailInfo::BAD_REQUEST, "issuing failed");
            }
        };
        ScepStep::Issue(Box::new(PendingIssue {
            fingerprint: fingerprint(&cert.1),
            cert: cert.0,
            request,
            authority,
        }))
    }

    fn reply(&self, request: &CaRequest, decision: &Decision) -> ScepAnswer {
        match self.ca.respond(request, decision) {
            Ok(reply) => ScepAnswer::ok(content_type::PKI_MESSAGE, reply),
            Err(e) => internal(&e),
        }
    }

    /// The second half: sends the prepared certificate when `grant` is `Ok`, else a
    /// FAILURE `badRequest` (logged with the reason). CPU-bound (RSA).
    pub fn scep_finish(&self, pending: PendingIssue, grant: Result<(), &str>) -> ScepAnswer {
        let tid = &pending.request.message.transaction_id;
        match grant {
            Ok(()) => {
                let renewal = match &pending.authority {
                    Authority::Renewal { old } => Some(Renewal {
                        old: old.clone(),
                        new: pending.fingerprint.clone(),
                    }),
                    _ => None,
                };
                tracing::info!(transaction_id = %tid,
                    subject = %pending.cert.tbs_certificate().subject(),
                    fingerprint = %pending.fingerprint, renewal = renewal.is_some(),
                    "SCEP certificate issued");
                ScepAnswer {
                    renewal,
                    ..self.reply(&pending.request, &Decision::Issue(Box::new(pending.cert)))
                }
            }
            Err(reason) => {
                tracing::warn!(transaction_id = %tid, reason, "refusing a SCEP enrollment");
                self.reply(&pending.request, &Decision::Reject(FailInfo::BAD_REQUEST))
            }
        }
    }

    /// Checks that `cert` was issued by this CA (issuer name and signature) and is valid
    /// now; returns its DER.
    ///
    /// The issuer name and signature of a certificate that passed once are not checked
    /// again (they depend only on its bytes, remembered by SHA-256 digest, up to
    /// [`ISSUED_CACHE_MAX`]); the validity dates are checked every time.
    pub fn issued_here(&self, cert: &Certificate) -> Result<Vec<u8>, String> {
        use scep_proto::mdm_pki::validate::{Validation, validate_dates, validate_issued_by};
        let der = mdm_proto::signature::certificate_der(cert).map_err(|e| e.to_string())?;
        if der == self.ca_der {
            return Err("the certificate is the server's CA itself".into());
        }
        let digest: [u8; 32] = sha2::Sha256::digest(&der).into();
        let when = Validation::at(now());
        let checked = if self.issued.contains(&digest) {
            validate_dates(cert, &when)
        } else {
            validate_issued_by(cert, self.ca.certificate(), &when).inspect(|()| {
                self.issued.insert(digest);
            })
        };
        checked.map_err(|e| match e {
            scep_proto::mdm_pki::Error::Mismatch(_) => {
                "the certificate was not issued by this server's CA".to_owned()
            }
            scep_proto::mdm_pki::Error::BadSignature(_) => {
                "the certificate's signature is not this server's CA's".to_owned()
            }
            other => format!("the certificate is not valid: {other}"),
        })?;
        Ok(der)
    }

    /// Signs `content` (a profile) into a CMS SignedData that carries it (DER), with the
    /// CA's key and certificate.
    pub fn sign_profile(&self, content: &[u8]) -> Result<Vec<u8>, String> {
        cms::sign(
            &scep_proto::oids::DATA,
            content,
            false,
            &cms::Signer {
                cert: self.ca.certificate(),
                key: self.ca.key(),
                digest: DigestAlgorithm::Sha256,
            },
            &[],
            &[],
        )
        .map_err(|e| e.to_string())
    }

    /// The enrollment profile (XML plist) for a server reachable at `base_url`, pushing on
    /// `topic`, whose SCEP payload carries `challenge`.
    pub fn enrollment_profile(
        &self,
        base_url: &str,
        topic: &str,
        challenge: &str,
    ) -> Result<Vec<u8>, String> {
        let host: String = base_url
            .split("://")
            .nth(1)
            .unwrap_or(base_url)
            .chars()
            .take_while(|c| *c != '/')
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let uuid = || uuid::Uuid::new_v4().to_string().to_uppercase();
        let mut options = mdm_proto::EnrollmentProfile::new(
            format!("mdm-server.{host}.enrollment"),
            format!("{base_url}/mdm"),
            topic,
            format!("{base_url}/scep"),
            [uuid(), uuid(), uuid(), uuid()],
        );
        options.display_name = format!("MDM enrollment ({host})");
        options.organization = Some("mdm-server".into());
        options.checkin_url = Some(format!("{base_url}/mdm/checkin"));
        options.scep_challenge = Some(challenge.to_owned());
        options.scep_subject = Some(vec![
            ("O".into(), "mdm-server".into()),
            (
                "CN".into(),
                format!("mdm-server device {}", uuid::Uuid::new_v4()),
            ),
        ]);
        options.trust_ca_der = Some(self.ca_der.clone());
        let profile = options.build();
        let bytes = profile.encode().map_err(|e| e.to_string())?;
        // Keep the check that it decodes, so a bad profile never reaches a device.
        mdm_proto::parse_value(&bytes, &mdm_proto::Limits::MDM)
            .map_err(|e| e.to_string())
            .and_then(|v| match v {
                Value::Dictionary(_) => Ok(bytes),
                _ => Err("the profile is not a dictionary".into()),
            })
    }
}

fn internal(e: &scep_proto::Error) -> ScepAnswer {
    tracing::error!(error = %e, "SCEP failed");
    ScepAnswer::error(500, "internal error\n".to_owned())
}
