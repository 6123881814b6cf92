//! Client side, sans-I/O: build PKCSReq, RenewalReq and CertPoll; open the CertRep.

use x509_cert::Certificate;

use crate::algorithm::{ContentCipher, DigestAlgorithm};
use crate::asn1;
use crate::cms::{self, CertParts, Signer};
use crate::codes::{FailInfo, MessageType, PkiStatus};
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;
use crate::pki_message::{PkiMessage, ScepAttributes, new_nonce, transaction_id_for_key};

/// Builds a client pkiMessage. Several steps must agree (signer, recipient, nonce,
/// transactionID), hence a builder.
#[derive(Debug)]
pub struct PkiMessageBuilder<'a> {
    message_type: MessageType,
    signer_cert: &'a Certificate,
    key: &'a dyn PrivateKey,
    recipient: &'a Certificate,
    digest: DigestAlgorithm,
    cipher: ContentCipher,
    transaction_id: Option<String>,
    sender_nonce: Option<Vec<u8>>,
}

impl<'a> PkiMessageBuilder<'a> {
    /// A builder for `message_type`, signed with `key` and `signer_cert` (self-signed for a
    /// PKCSReq, the existing certificate for a RenewalReq), encrypted to `recipient` (the CA or
    /// RA certificate). Defaults: SHA-256, AES-128-CBC, transactionID from the key.
    pub fn new(
        message_type: MessageType,
        signer_cert: &'a Certificate,
        key: &'a dyn PrivateKey,
        recipient: &'a Certificate,
    ) -> Self {
        Self {
            message_type,
            signer_cert,
            key,
            recipient,
            digest: DigestAlgorithm::Sha256,
            cipher: ContentCipher::Aes128Cbc,
            transaction_id: None,
            sender_nonce: None,
        }
    }

    /// Sets the digest.
    pub fn digest(mut self, d: DigestAlgorithm) -> Self {
        self.digest = d;
        self
    }

    /// Sets the content cipher.
    pub fn cipher(mut self, c: ContentCipher) -> Self {
        self.cipher = c;
        self
    }

    /// Sets the transactionID (CertPoll must repeat the request's).
    pub fn transaction_id(mut self, t: impl Into<String>) -> Self {
        self.transaction_id = Some(t.into());
        self
    }

    /// Sets the senderNonce (random by default).
    pub fn sender_nonce(mut self, n: Vec<u8>) -> Self {
        self.sender_nonce = Some(n);
        self
    }

    /// Envelopes `inner` (a CSR, IssuerAndSubject or IssuerAndSerialNumber) and signs it.
    pub fn build(self, inner: &[u8]) -> Result<ClientRequest> {
        let transaction_id = self
            .transaction_id
            .unwrap_or_else(|| transaction_id_for_key(&self.key.public_key_der()));
        let sender_nonce = self.sender_nonce.unwrap_or_else(new_nonce);
        let env = cms::envelope(inner, self.recipient, self.cipher)?;
        let attrs = ScepAttributes {
            message_type: self.message_type,
            transaction_id: &transaction_id,
            sender_nonce: &sender_nonce,
            recipient_nonce: None,
            pki_status: None,
            fail_info: None,
        }
        .encode();
        let der = cms::sign(
            &oids::DATA,
            &env,
            false,
            &Signer {
                cert: self.signer_cert,
                key: self.key,
                digest: self.digest,
            },
            &attrs,
            &[],
        )?;
        Ok(ClientRequest {
            der,
            message_type: self.message_type,
            transaction_id,
            sender_nonce,
            signer_cert: self.signer_cert.clone(),
        })
    }
}

/// A request ready to send, with what is needed to check the answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientRequest {
    /// The pkiMessage, DER.
    pub der: Vec<u8>,
    /// Its messageType.
    pub message_type: MessageType,
    /// Its transactionID.
    pub transaction_id: String,
    /// Its senderNonce.
    pub sender_nonce: Vec<u8>,
    /// The certificate it was signed with (the CertRep is encrypted to it).
    pub signer_cert: Certificate,
}

/// What a CertRep said.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum CertRepOutcome {
    /// SUCCESS: the certificate for our key (for GetCert: the one asked for; for a RenewalReq
    /// for a new key: the new certificate), and every certificate in the reply.
    Issued {
        /// The certificate whose public key is ours.
        certificate: Box<Certificate>,
        /// All certificates carried (chain), in order.
        all: Vec<Certificate>,
    },
    /// PENDING: poll again with [`cert_poll`].
    Pending,
    /// FAILURE with its failInfo.
    Failed {
        /// failInfo (badRequest if the CA sent none).
        fail_info: FailInfo,
        /// failInfoText, if any.
        text: Option<String>,
    },
}

impl ClientRequest {
    /// Checks and opens the CA's CertRep.
    ///
    /// The signature must verify with the carried signer certificate or one of `ca_certs`;
    /// when `ca_certs` is not empty the signer must be one of them or issued by one of them.
    /// transactionID and recipientNonce must match this request.
    pub fn open_response(
        &self,
        der: &[u8],
        key: &dyn PrivateKey,
        ca_certs: &[Certificate],
    ) -> Result<CertRepOutcome> {
        let msg = PkiMessage::decode(der)?;
        if msg.message_type != MessageType::CERT_REP {
            return Err(Error::invalid(
                "messageType",
                format!("expected CertRep, got {}", msg.message_type),
            ));
        }
        let signer = msg.verify(ca_certs)?;
        if !ca_certs.is_empty() {
            let sd = cms::cert_der(&signer)?;
            let trusted = ca_certs.iter().any(|c| {
                cms::cert_der(c).is_ok_and(|cd| {
                    cd == sd
                        || CertParts::parse(&cd).is_ok_and(|ca| {
                            CertParts::parse(&sd).is_ok_and(|s| s.verify_signed_by(ca.spki).is_ok())
                        })
                })
            });
            if !trusted {
                return Err(Error::BadSignature(
                    "CertRep signer is not the CA or issued by it".into(),
                ));
            }
        }
        if msg.transaction_id != self.transaction_id {
            return Err(Error::Mismatch(format!(
                "transactionID {:?} does not match the request's {:?}",
                msg.transaction_id, self.transaction_id
            )));
        }
        match &msg.recipient_nonce {
            Some(n) if *n == self.sender_nonce => {}
            Some(_) => {
                return Err(Error::Mismatch(
                    "recipientNonce does not match our senderNonce".into(),
                ));
            }
            None => return Err(Error::Missing("recipientNonce attribute")),
        }
        match msg.pki_status {
            Some(PkiStatus::SUCCESS) => {}
            Some(PkiStatus::PENDING) => return Ok(CertRepOutcome::Pending),
            Some(PkiStatus::FAILURE) => {
                return Ok(CertRepOutcome::Failed {
                    fail_info: msg.fail_info.unwrap_or(FailInfo::BAD_REQUEST),
                    text: msg.fail_info_text,
                });
            }
            other => {
                return Err(Error::invalid("pkiStatus", format!("{other:?}")));
            }
        }
        let (inner, _) = msg.open_envelope(key, Some(&self.signer_cert))?;
        let all = cms::parse_certs_only(&inner)?;
        let ours = key.public_key_der();
        let certificate = all
            .iter()
            .find(|c| {
                cms::cert_der(c)
                    .ok()
                    .and_then(|d| CertParts::parse(&d).ok().map(|p| p.spki == ours.as_slice()))
                    .unwrap_or(false)
            })
            .or_else(|| {
                // GetCert asks for any certificate the CA issued, and a RenewalReq may be for
                // a new key: the first certificate that is neither a CA's nor the signer's.
                if self.message_type != MessageType::GET_CERT
                    && self.message_type != MessageType::RENEWAL_REQ
                {
                    return None;
                }
                let skip: Vec<Vec<u8>> = ca_certs
                    .iter()
                    .chain(std::iter::once(&self.signer_cert))
                    .filter_map(|c| cms::cert_der(c).ok())
                    .collect();
                all.iter()
                    .find(|c| cms::cert_der(c).is_ok_and(|d| !skip.contains(&d)))
                    .or_else(|| all.first())
            })
            .cloned()
            .ok_or(Error::Missing("certificate for our key in the CertRep"))?;
        Ok(CertRepOutcome::Issued {
            certificate: Box::new(certificate),
            all,
        })
    }
}

/// Builds a PKCSReq for `csr_der`.
pub fn pkcs_req<'a>(
    csr_der: &[u8],
    signer_cert: &'a Certificate,
    key: &'a dyn PrivateKey,
    recipient: &'a Certificate,
    digest: DigestAlgorithm,
    cipher: ContentCipher,
) -> Result<ClientRequest> {
    PkiMessageBuilder::new(MessageType::PKCS_REQ, signer_cert, key, recipient)
        .digest(digest)
        .cipher(cipher)
        .build(csr_der)
}

/// Builds a RenewalReq for `csr_der`, signed with the existing certificate.
pub fn renewal_req<'a>(
    csr_der: &[u8],
    existing_cert: &'a Certificate,
    key: &'a dyn PrivateKey,
    recipient: &'a Certificate,
    digest: DigestAlgorithm,
    cipher: ContentCipher,
) -> Result<ClientRequest> {
    PkiMessageBuilder::new(MessageType::RENEWAL_REQ, existing_cert, key, recipient)
        .digest(digest)
        .cipher(cipher)
        .build(csr_der)
}

/// Builds a CertPoll (GetCertInitial) repeating `original`'s transactionID, for the CA whose
/// certificate is `issuer` and the subject of the CSR (`subject_der`).
pub fn cert_poll<'a>(
    original: &ClientRequest,
    subject_der: &[u8],
    key: &'a dyn PrivateKey,
    recipient: &'a Certificate,
    digest: DigestAlgorithm,
    cipher: ContentCipher,
) -> Result<ClientRequest> {
    let rd = cms::cert_der(recipient)?;
    let issuer = CertParts::parse(&rd)?.subject.to_vec();
    let inner = asn1::seq(&[&issuer, subject_der]);
    PkiMessageBuilder::new(
        MessageType::CERT_POLL,
        &original.signer_cert,
        key,
        recipient,
    )
    .digest(digest)
    .cipher(cipher)
    .transaction_id(original.transaction_id.clone())
    .build(&inner)
}

/// Builds a GetCert for the certificate `serial_der` (a full INTEGER) of the CA named
/// `issuer_der` (a full Name), signed with an existing certificate and its key.
pub fn get_cert<'a>(
    issuer_der: &[u8],
    serial_der: &[u8],
    signer_cert: &'a Certificate,
    key: &'a dyn PrivateKey,
    recipient: &'a Certificate,
    digest: DigestAlgorithm,
    cipher: ContentCipher,
) -> Result<ClientRequest> {
    let inner = asn1::seq(&[issuer_der, serial_der]);
    issuer_and_serial(
        MessageType::GET_CERT,
        &inner,
        signer_cert,
        key,
        recipient,
        digest,
        cipher,
    )
}

/// Builds a GetCRL for the certificate `serial_der` of the CA named `issuer_der`.
pub fn get_crl<'a>(
    issuer_der: &[u8],
    serial_der: &[u8],
    signer_cert: &'a Certificate,
    key: &'a dyn PrivateKey,
    recipient: &'a Certificate,
    digest: DigestAlgorithm,
    cipher: ContentCipher,
) -> Result<ClientRequest> {
    let inner = asn1::seq(&[issuer_der, serial_der]);
    issuer_and_serial(
        MessageType::GET_CRL,
        &inner,
        signer_cert,
        key,
        recipient,
        digest,
        cipher,
    )
}

/// GetCert and GetCRL: an IssuerAndSerialNumber, enveloped and signed.
fn issuer_and_serial(
    message_type: MessageType,
    inner: &[u8],
    signer_cert: &Certificate,
    key: &dyn PrivateKey,
    recipient: &Certificate,
    digest: DigestAlgorithm,
    cipher: ContentCipher,
) -> Result<ClientRequest> {
    PkiMessageBuilder::new(message_type, signer_cert, key, recipient)
        .digest(digest)
        .cipher(cipher)
        .build(inner)
}

/// Checks a GetNextCACert answer: a SignedData that one of `current_ca` (the GetCACert
/// certificates) signed, over a certs-only bundle. Returns the next CA certificates.
///
/// # Errors
///
/// A malformed answer, a bad signature, or a signer that is not one of `current_ca`.
pub fn next_ca_certificates(der: &[u8], current_ca: &[Certificate]) -> Result<Vec<Certificate>> {
    let sd = cms::SignedData::parse(der)?;
    let si = sd.signers.first().ok_or(Error::Missing("SignerInfo"))?;
    let mut trusted = None;
    for c in current_ca {
        let cd = cms::cert_der(c)?;
        if si.sid.matches(&cd) {
            trusted = Some(cd);
            break;
        }
    }
    let cd = trusted.ok_or_else(|| {
        Error::BadSignature("GetNextCACert is not signed by the current CA".into())
    })?;
    sd.verify(0, &cd, None)?;
    let inner = sd
        .content
        .as_deref()
        .ok_or(Error::Missing("GetNextCACert content"))?;
    let certs = cms::parse_certs_only(inner)?;
    if certs.is_empty() {
        return Err(Error::Missing("certificate in GetNextCACert"));
    }
    Ok(certs)
}

/// Picks the certificate to encrypt to from a GetCACert answer: an RA certificate (one with
/// keyEncipherment and no CA flag) if there is one, else the first certificate.
pub fn recipient_certificate(ca_certs: &[Certificate]) -> Option<&Certificate> {
    ca_certs
        .iter()
        .find(|c| {
            cms::cert_der(c)
                .ok()
                .is_some_and(|d| CertParts::parse(&d).is_ok_and(|p| p.issuer != p.subject))
        })
        .or_else(|| ca_certs.first())
}
