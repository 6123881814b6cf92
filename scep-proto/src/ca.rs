//! CA side, sans-I/O: check a request, hand the decision to the caller, build the CertRep.

use std::sync::Arc;

use x509_cert::Certificate;

use crate::algorithm::{ContentCipher, DigestAlgorithm};
use crate::asn1::{self, tag};
use crate::capabilities::{Capabilities, Capability};
use crate::cms::{self, CertParts, LenientCertificate, Signer};
use crate::codes::{FailInfo, MessageType, PkiStatus};
use crate::csr::Csr;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;
use crate::pki_message::{PkiMessage, ScepAttributes, new_nonce, parse_pair};

/// Content types of the HTTP answers.
pub mod content_type {
    /// GetCACert with a single CA certificate.
    pub const CA_CERT: &str = "application/x-x509-ca-cert";
    /// GetCACert with a CA/RA chain (certs-only PKCS#7).
    pub const CA_RA_CERT: &str = "application/x-x509-ca-ra-cert";
    /// GetNextCACert.
    pub const NEXT_CA_CERT: &str = "application/x-x509-next-ca-cert";
    /// PKIOperation request and response.
    pub const PKI_MESSAGE: &str = "application/x-pki-message";
    /// GetCACaps.
    pub const TEXT: &str = "text/plain";
}

/// A SCEP CA: the issuing certificate and key, and optionally an RA that receives and signs
/// the messages in its place.
///
/// The whole exchange, client and CA, is the example of [`crate::Enrollment`]; the CA's
/// side of it:
///
/// ```
/// use scep_proto::issue::{self, IssueOptions};
/// use scep_proto::{Ca, Decision, RsaKey};
/// # fn pkcs_req(_: &Ca) -> Vec<u8> { Vec::new() }
///
/// let key = std::sync::Arc::new(RsaKey::generate(1024)?);
/// let now = 1_764_000_000;
/// let cert = issue::self_signed(key.as_ref(), &issue::common_name("Example CA"), true,
///     &IssueOptions::new(vec![1], now - 60, 86_400 * 365))?;
/// let ca = Ca::new(cert, key);
/// let (content_type, _body) = ca.get_ca_cert()?; // the answer to GetCACert
/// assert_eq!(content_type, "application/x-x509-ca-cert");
/// let body = pkcs_req(&ca); // a PKIOperation body, from a device
/// if let Ok(request) = ca.decode_request(&body) {
///     let csr = request.csr().expect("a PKCSReq carries a CSR");
///     let issued = issue::issue(csr, ca.certificate(), ca.key(),
///         &IssueOptions::new(vec![2], now, 86_400))?;
///     let _reply = ca.respond(&request, &Decision::Issue(Box::new(issued)))?;
/// }
/// # Ok::<(), scep_proto::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Ca {
    cert: Certificate,
    key: Arc<dyn PrivateKey>,
    ra: Option<(Certificate, Arc<dyn PrivateKey>)>,
    next_ca: Option<Certificate>,
    capabilities: Capabilities,
}

/// What the inner content of a request is.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum RequestBody {
    /// PKCSReq or RenewalReq: a CSR whose signature verified.
    Csr(Box<Csr>),
    /// CertPoll: issuer and subject Names (DER).
    CertPoll {
        /// Issuer Name DER.
        issuer: Vec<u8>,
        /// Subject Name DER.
        subject: Vec<u8>,
    },
    /// GetCert: issuer Name and serial INTEGER (DER).
    GetCert {
        /// Issuer Name DER.
        issuer: Vec<u8>,
        /// serialNumber INTEGER DER.
        serial: Vec<u8>,
    },
    /// GetCRL: issuer Name and serial INTEGER (DER).
    GetCrl {
        /// Issuer Name DER.
        issuer: Vec<u8>,
        /// serialNumber INTEGER DER.
        serial: Vec<u8>,
    },
}

/// A request whose signature verified and whose envelope opened.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CaRequest {
    /// The parsed message.
    pub message: PkiMessage,
    /// The certificate that signed it, parsed leniently (sscep's self-signed signer has a
    /// 32-byte serial); [`LenientCertificate::to_strict`] gives it as an identity.
    pub signer: LenientCertificate,
    /// True if the signer certificate was issued by this CA (renewal); such a certificate
    /// also parses strictly.
    pub signer_issued_by_ca: bool,
    /// The cipher the client used (the CertRep uses it too).
    pub cipher: ContentCipher,
    /// The decrypted content.
    pub body: RequestBody,
}

impl CaRequest {
    /// The CSR of a PKCSReq or RenewalReq.
    pub fn csr(&self) -> Option<&Csr> {
        match &self.body {
            RequestBody::Csr(c) => Some(c),
            _ => None,
        }
    }
}

/// The caller's decision on a request.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum Decision {
    /// Send this certificate (SUCCESS).
    Issue(Box<Certificate>),
    /// Send a CRL (DER) (SUCCESS to GetCRL).
    Crl(Vec<u8>),
    /// FAILURE with this failInfo.
    Reject(FailInfo),
    /// PENDING.
    Pending,
}

impl Ca {
    /// A CA that receives and signs SCEP messages with its own key.
    pub fn new(cert: Certificate, key: Arc<dyn PrivateKey>) -> Self {
        Self {
            cert,
            key,
            ra: None,
            next_ca: None,
            capabilities: Capabilities(vec![
                Capability::Aes,
                Capability::Des3,
                Capability::PostPkiOperation,
                Capability::Renewal,
                Capability::Sha1,
                Capability::Sha256,
                Capability::Sha512,
                Capability::ScepStandard,
            ]),
        }
    }

    /// Adds an RA: requests are encrypted to it and CertReps are signed by it.
    pub fn with_ra(mut self, cert: Certificate, key: Arc<dyn PrivateKey>) -> Self {
        self.ra = Some((cert, key));
        self
    }

    /// Announces the next CA certificate (GetNextCACert) and advertises the capability.
    pub fn with_next_ca(mut self, cert: Certificate) -> Self {
        self.next_ca = Some(cert);
        if !self.capabilities.has(&Capability::GetNextCaCert) {
            self.capabilities.0.push(Capability::GetNextCaCert);
        }
        self
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }

    /// The CA key.
    pub fn key(&self) -> &dyn PrivateKey {
        self.key.as_ref()
    }

    /// What GetCACaps answers: only what this crate implements.
    pub fn capabilities(&self) -> &Capabilities {
        &self.capabilities
    }

    fn messenger(&self) -> (&Certificate, &dyn PrivateKey) {
        match &self.ra {
            Some((c, k)) => (c, k.as_ref()),
            None => (&self.cert, self.key.as_ref()),
        }
    }

    /// GetCACert: (content type, body). A single DER certificate without an RA; with an RA,
    /// a certs-only PKCS#7 holding the RA and CA certificates.
    pub fn get_ca_cert(&self) -> Result<(&'static str, Vec<u8>)> {
        match &self.ra {
            None => Ok((content_type::CA_CERT, cms::cert_der(&self.cert)?)),
            Some((ra, _)) => Ok((
                content_type::CA_RA_CERT,
                cms::certs_only(&[ra, &self.cert])?,
            )),
        }
    }

    /// GetNextCACert: a SignedData, signed by the current CA, over a certs-only bundle of the
    /// next CA certificate. `None` when no next CA was set.
    pub fn get_next_ca_cert(&self) -> Result<Option<(&'static str, Vec<u8>)>> {
        let Some(next) = &self.next_ca else {
            return Ok(None);
        };
        let inner = cms::certs_only(&[next])?;
        let der = cms::sign(
            &oids::DATA,
            &inner,
            false,
            &Signer {
                cert: &self.cert,
                key: self.key.as_ref(),
                digest: DigestAlgorithm::Sha256,
            },
            &[],
            &[],
        )?;
        Ok(Some((content_type::NEXT_CA_CERT, der)))
    }

    /// Checks a PKIOperation message: parses it, verifies its signature (a self-signed signer
    /// or one issued by this CA for PKCSReq; one issued by this CA for RenewalReq), opens the
    /// envelope with the CA (or RA) key, and parses and verifies the CSR.
    pub fn decode_request(&self, der: &[u8]) -> Result<CaRequest> {
        let message = PkiMessage::decode(der)?;
        match message.message_type {
            MessageType::PKCS_REQ
            | MessageType::RENEWAL_REQ
            | MessageType::CERT_POLL
            | MessageType::GET_CERT
            | MessageType::GET_CRL => {}
            other => {
                return Err(Error::unsupported("request messageType", other.to_string()));
            }
        }
        if message.sender_nonce.is_none() {
            return Err(Error::Missing("senderNonce attribute"));
        }
        let signer = message.verify(&[])?;
        let signer_der = cms::cert_der(&signer)?;
        let sp = CertParts::parse(&signer_der)?;
        let ca_der = cms::cert_der(&self.cert)?;
        let ca_parts = CertParts::parse(&ca_der)?;
        let signer_issued_by_ca = sp.issuer == ca_parts.subject
            && sp.verify_signed_by(ca_parts.spki).is_ok()
            && signer.to_strict().is_ok();
        let self_signed = sp.issuer == sp.subject && sp.verify_signed_by(sp.spki).is_ok();
        match message.message_type {
            MessageType::RENEWAL_REQ if !signer_issued_by_ca => {
                return Err(Error::BadSignature(
                    "RenewalReq signer certificate was not issued by this CA".into(),
                ));
            }
            MessageType::PKCS_REQ if !signer_issued_by_ca && !self_signed => {
                return Err(Error::BadSignature(
                    "PKCSReq signer certificate is neither self-signed nor issued by this CA"
                        .into(),
                ));
            }
            _ => {}
        }
        let (rcpt_cert, rcpt_key) = self.messenger();
        let (inner, cipher) = message.open_envelope(rcpt_key, Some(rcpt_cert))?;
        let body = match message.message_type {
            MessageType::PKCS_REQ | MessageType::RENEWAL_REQ => {
                let csr = Csr::parse(&inner)?;
                csr.verify()?;
                RequestBody::Csr(Box::new(csr))
            }
            MessageType::CERT_POLL => {
                let (i, s) = parse_pair(&inner, tag::SEQUENCE, tag::SEQUENCE, "IssuerAndSubject")?;
                RequestBody::CertPoll {
                    issuer: i.to_vec(),
                    subject: s.to_vec(),
                }
            }
            other => {
                let (i, s) =
                    parse_pair(&inner, tag::SEQUENCE, tag::INTEGER, "IssuerAndSerialNumber")?;
                let (issuer, serial) = (i.to_vec(), s.to_vec());
                if other == MessageType::GET_CERT {
                    RequestBody::GetCert { issuer, serial }
                } else {
                    RequestBody::GetCrl { issuer, serial }
                }
            }
        };
        Ok(CaRequest {
            message,
            signer,
            signer_issued_by_ca,
            cipher,
            body,
        })
    }

    /// Builds the CertRep for a checked request and the caller's decision.
    pub fn respond(&self, req: &CaRequest, decision: &Decision) -> Result<Vec<u8>> {
        let content = match decision {
            Decision::Issue(cert) => {
                let certs = cms::certs_only(&[cert.as_ref(), &self.cert])?;
                Some(cms::envelope(&certs, &req.signer, req.cipher)?)
            }
            Decision::Crl(crl) => {
                let sd = asn1::seq(&[
                    &asn1::small_uint(1),
                    &asn1::tlv(tag::SET, &[]),
                    &asn1::seq(&[&asn1::oid(&oids::DATA)]),
                    &asn1::tlv(tag::CTX1, crl),
                    &asn1::tlv(tag::SET, &[]),
                ]);
                let ci = asn1::seq(&[&asn1::oid(&oids::SIGNED_DATA), &asn1::tlv(tag::CTX0, &sd)]);
                Some(cms::envelope(&ci, &req.signer, req.cipher)?)
            }
            _ => None,
        };
        let (status, fail) = match decision {
            Decision::Issue(_) | Decision::Crl(_) => (PkiStatus::SUCCESS, None),
            Decision::Reject(f) => (PkiStatus::FAILURE, Some(*f)),
            Decision::Pending => (PkiStatus::PENDING, None),
        };
        self.cert_rep(
            &req.message.transaction_id,
            req.message.sender_nonce.as_deref(),
            req.message.digest,
            status,
            fail,
            content.as_deref(),
        )
    }

    /// A FAILURE CertRep for a request that could not be checked (bad signature, wrong key,
    /// bad CSR...), if the message is parseable enough to answer (transactionID and
    /// senderNonce). The signer is never trusted here: nothing is encrypted.
    pub fn failure_reply(&self, der: &[u8], fail_info: FailInfo) -> Option<Vec<u8>> {
        let msg = PkiMessage::decode(der).ok()?;
        self.cert_rep(
            &msg.transaction_id,
            msg.sender_nonce.as_deref(),
            msg.digest,
            PkiStatus::FAILURE,
            Some(fail_info),
            None,
        )
        .ok()
    }

    fn cert_rep(
        &self,
        transaction_id: &str,
        recipient_nonce: Option<&[u8]>,
        digest: DigestAlgorithm,
        status: PkiStatus,
        fail_info: Option<FailInfo>,
        content: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        let (cert, key) = self.messenger();
        let sender_nonce = new_nonce();
        let attrs = ScepAttributes {
            message_type: MessageType::CERT_REP,
            transaction_id,
            sender_nonce: &sender_nonce,
            recipient_nonce,
            pki_status: Some(status),
            fail_info,
        }
        .encode();
        let signer = Signer { cert, key, digest };
        match content {
            Some(c) => cms::sign(&oids::DATA, c, false, &signer, &attrs, &[]),
            None => cms::sign(&oids::DATA, &[], true, &signer, &attrs, &[]),
        }
    }
}

/// The failInfo that fits an error from [`Ca::decode_request`].
pub fn fail_info_for(err: &Error) -> FailInfo {
    match err {
        Error::BadSignature(_) | Error::Decrypt(_) => FailInfo::BAD_MESSAGE_CHECK,
        // A message kind a CA does not take is a bad request, not a bad algorithm.
        Error::Unsupported {
            what: "request messageType",
            ..
        } => FailInfo::BAD_REQUEST,
        Error::Unsupported { .. } => FailInfo::BAD_ALG,
        _ => FailInfo::BAD_REQUEST,
    }
}
