//! A certificate enrollment in three calls, sans I/O: describe it, build the PKCSReq from the
//! CA's GetCACaps and GetCACert answers, open the CertRep.
//!
//! [`Enrollment`] makes the CSR (with the challengePassword), the temporary self-signed
//! signer certificate, picks the recipient (an RA certificate if the CA has one) and the
//! algorithms (the best both sides support), and keeps what polling needs.
//!
//! ```
//! use scep_proto::{Ca, Capabilities, CertRepOutcome, Decision, Enrollment, RsaKey, issue};
//! # use scep_proto::issue::IssueOptions;
//! # let now = 1_764_000_000;
//! # let ca_key = RsaKey::generate(1024)?;
//! # let ca_cert = issue::self_signed(&ca_key, &issue::common_name("Example CA"), true,
//! #     &IssueOptions::new(vec![1], now - 60, 86_400))?;
//! # let ca_key = std::sync::Arc::new(ca_key);
//! # let ca = Ca::new(ca_cert.clone(), ca_key.clone());
//! // What the server's GetCACaps and GetCACert answered (fetched with any HTTP client).
//! let caps = Capabilities::parse("POSTPKIOperation\nSHA-256\nAES\n");
//! let ca_certs = vec![ca_cert.clone()];
//! let key = RsaKey::generate(1024)?;
//!
//! // 1. and 2.: the PKCSReq to POST to `?operation=PKIOperation`.
//! let request = Enrollment::new(&key, issue::common_name("device-1"))
//!     .challenge("secret")
//!     .request(&ca_certs, &caps, now)?;
//! # let decoded = ca.decode_request(&request.der)?;
//! # let issued = issue::issue(decoded.csr().unwrap(), &ca_cert, ca_key.as_ref(),
//! #     &IssueOptions::new(vec![2], now - 60, 86_400))?;
//! # let reply = ca.respond(&decoded, &Decision::Issue(Box::new(issued)))?;
//! // 3.: the CA's answer, checked against this request and the CA's certificates.
//! match request.open_response(&reply, &key, &ca_certs)? {
//!     CertRepOutcome::Issued { certificate, .. } => println!("issued: {:?}", certificate.tbs_certificate().subject()),
//!     CertRepOutcome::Pending => { /* poll with Enrollment::poll */ }
//!     CertRepOutcome::Failed { fail_info, .. } => println!("refused: {fail_info}"),
//!     _ => {}
//! }
//! # Ok::<(), scep_proto::Error>(())
//! ```

use x509_cert::Certificate;

use crate::algorithm::{ContentCipher, DigestAlgorithm};
use crate::capabilities::Capabilities;
use crate::client::{self, ClientRequest};
use crate::csr::Csr;
use crate::error::{Error, Result};
use crate::issue::{self, IssueOptions};
use crate::key::PrivateKey;

/// How long before `now` the temporary signer certificate starts, in seconds (clock skew).
const SIGNER_BACKDATE: i64 = 3600;
/// How long the temporary signer certificate lasts, in seconds.
const SIGNER_LIFETIME: i64 = 86_400;

/// One certificate enrollment (PKCSReq, then CertPoll while PENDING) for a key and subject.
#[derive(Debug, Clone)]
pub struct Enrollment<'a> {
    key: &'a dyn PrivateKey,
    subject_der: Vec<u8>,
    challenge: Option<String>,
    extensions: Vec<Vec<u8>>,
    digest: Option<DigestAlgorithm>,
    cipher: Option<ContentCipher>,
}

impl<'a> Enrollment<'a> {
    /// An enrollment of `key` for the DER subject Name `subject_der` (see
    /// [`issue::common_name`] and [`issue::name_from_str`]).
    pub fn new(key: &'a dyn PrivateKey, subject_der: impl Into<Vec<u8>>) -> Self {
        Enrollment {
            key,
            subject_der: subject_der.into(),
            challenge: None,
            extensions: Vec::new(),
            digest: None,
            cipher: None,
        }
    }

    /// The challengePassword the CA asks for.
    pub fn challenge(mut self, challenge: impl Into<String>) -> Self {
        self.challenge = Some(challenge.into());
        self
    }

    /// A DER extension to request in the CSR (subjectAltName, ...).
    pub fn extension(mut self, der: Vec<u8>) -> Self {
        self.extensions.push(der);
        self
    }

    /// This digest instead of the best the CA advertises.
    pub fn digest(mut self, digest: DigestAlgorithm) -> Self {
        self.digest = Some(digest);
        self
    }

    /// This content cipher instead of the best the CA advertises.
    pub fn cipher(mut self, cipher: ContentCipher) -> Self {
        self.cipher = Some(cipher);
        self
    }

    fn algorithms(&self, caps: &Capabilities) -> (DigestAlgorithm, ContentCipher) {
        (
            self.digest.unwrap_or_else(|| caps.best_digest()),
            self.cipher.unwrap_or_else(|| caps.best_cipher()),
        )
    }

    /// The PKCSReq for the CA whose GetCACaps answer is `caps` and whose GetCACert answer is
    /// `ca_certs`, at `now` (Unix seconds, for the temporary signer certificate). Send its
    /// `der` by POST when `caps.post_supported()`, else by GET.
    ///
    /// # Errors
    /// No certificate in `ca_certs`, or a key that cannot sign.
    pub fn request(
        &self,
        ca_certs: &[Certificate],
        caps: &Capabilities,
        now: i64,
    ) -> Result<ClientRequest> {
        let recipient = client::recipient_certificate(ca_certs)
            .ok_or(Error::Missing("certificate in GetCACert"))?;
        let (digest, cipher) = self.algorithms(caps);
        let csr = Csr::build(
            self.key,
            &self.subject_der,
            self.challenge.as_deref(),
            &self.extensions,
            digest,
        )?;
        let signer = issue::self_signed(
            self.key,
            &self.subject_der,
            false,
            &IssueOptions::new(vec![1], now - SIGNER_BACKDATE, SIGNER_LIFETIME).with_digest(digest),
        )?;
        client::pkcs_req(&csr, &signer, self.key, recipient, digest, cipher)
    }

    /// The CertPoll to send after `original` (a request of this enrollment) was answered
    /// PENDING: same transactionID and signer.
    ///
    /// # Errors
    /// No certificate in `ca_certs`, or a key that cannot sign.
    pub fn poll(
        &self,
        original: &ClientRequest,
        ca_certs: &[Certificate],
        caps: &Capabilities,
    ) -> Result<ClientRequest> {
        let recipient = client::recipient_certificate(ca_certs)
            .ok_or(Error::Missing("certificate in GetCACert"))?;
        let (digest, cipher) = self.algorithms(caps);
        client::cert_poll(
            original,
            &self.subject_der,
            self.key,
            recipient,
            digest,
            cipher,
        )
    }
}
