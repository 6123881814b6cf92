//! A decoded SCEP pkiMessage: a SignedData whose signed attributes carry the SCEP fields and
//! whose content is the pkcsPKIEnvelope.

use x509_cert::Certificate;

use crate::algorithm::{ContentCipher, DigestAlgorithm};
use crate::asn1::{self, Tlv, tag};
use crate::cms::{self, LenientCertificate, SignedData};
use crate::codes::{FailInfo, MessageType, PkiStatus};
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;

/// Largest pkiMessage accepted, in bytes.
pub const MAX_MESSAGE: usize = 256 * 1024;
/// Largest nonce accepted, in bytes (RFC 8894 nonces are 16 bytes).
pub const MAX_NONCE: usize = 64;
/// Longest transactionID accepted.
pub const MAX_TRANSACTION_ID: usize = 256;

/// A SCEP pkiMessage, parsed but not yet verified.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PkiMessage {
    /// messageType.
    pub message_type: MessageType,
    /// transactionID.
    pub transaction_id: String,
    /// senderNonce (requests and CertRep).
    pub sender_nonce: Option<Vec<u8>>,
    /// recipientNonce (CertRep: the request's senderNonce).
    pub recipient_nonce: Option<Vec<u8>>,
    /// pkiStatus (CertRep only).
    pub pki_status: Option<PkiStatus>,
    /// failInfo (CertRep with FAILURE).
    pub fail_info: Option<FailInfo>,
    /// failInfoText (RFC 8894), if present.
    pub fail_info_text: Option<String>,
    /// The signer's digest algorithm.
    pub digest: DigestAlgorithm,
    /// The pkcsPKIEnvelope (an EnvelopedData ContentInfo), if any.
    pub envelope: Option<Vec<u8>>,
    /// The SignedData it came in.
    pub signed: SignedData,
}

impl PkiMessage {
    /// Parses a pkiMessage (DER or BER). Does not verify the signature: see [`Self::verify`].
    pub fn decode(input: &[u8]) -> Result<Self> {
        if input.len() > MAX_MESSAGE {
            return Err(Error::TooLarge {
                len: input.len(),
                limit: MAX_MESSAGE,
            });
        }
        let signed = SignedData::parse(input)?;
        let si = signed
            .signers
            .first()
            .ok_or(Error::Missing("SignerInfo in pkiMessage"))?;
        if si.signed_attrs_der.is_none() {
            return Err(Error::Missing("signed attributes in pkiMessage"));
        }
        let digest = si.digest()?;
        let message_type = MessageType::from_wire(
            &string_attr(si.attr(&oids::MESSAGE_TYPE), "messageType")?
                .ok_or(Error::Missing("messageType attribute"))?,
        )
        .ok_or_else(|| Error::invalid("messageType", "not a decimal number"))?;
        let transaction_id = string_attr(si.attr(&oids::TRANSACTION_ID), "transactionID")?
            .ok_or(Error::Missing("transactionID attribute"))?;
        if transaction_id.len() > MAX_TRANSACTION_ID {
            return Err(Error::invalid("transactionID", "too long"));
        }
        let sender_nonce = nonce_attr(si.attr(&oids::SENDER_NONCE), "senderNonce")?;
        let recipient_nonce = nonce_attr(si.attr(&oids::RECIPIENT_NONCE), "recipientNonce")?;
        let pki_status = match string_attr(si.attr(&oids::PKI_STATUS), "pkiStatus")? {
            None => None,
            Some(s) => Some(
                PkiStatus::from_wire(&s).ok_or_else(|| Error::invalid("pkiStatus", s.clone()))?,
            ),
        };
        let fail_info = match string_attr(si.attr(&oids::FAIL_INFO), "failInfo")? {
            None => None,
            Some(s) => {
                Some(FailInfo::from_wire(&s).ok_or_else(|| Error::invalid("failInfo", s.clone()))?)
            }
        };
        let fail_info_text = string_attr(si.attr(&oids::FAIL_INFO_TEXT), "failInfoText")?;
        if message_type == MessageType::CERT_REP && pki_status.is_none() {
            return Err(Error::Missing("pkiStatus attribute in CertRep"));
        }
        let envelope = signed.content.clone().filter(|c| !c.is_empty());
        Ok(Self {
            message_type,
            transaction_id,
            sender_nonce,
            recipient_nonce,
            pki_status,
            fail_info,
            fail_info_text,
            digest,
            envelope,
            signed,
        })
    }

    /// The signer's certificate, if the SignedData carries it.
    pub fn signer_certificate(&self) -> Option<&LenientCertificate> {
        self.signed.signer_certificate(0).map(|(c, _)| c)
    }

    /// Verifies the signature with the carried signer certificate, or else with the first of
    /// `candidates` that the SignerInfo names (a CertRep from NDES omits its RA certificate).
    /// Returns the certificate that verified, parsed leniently (a PKCSReq's self-signed signer
    /// may have any serial); check it strictly before trusting it as an identity.
    pub fn verify(&self, candidates: &[Certificate]) -> Result<LenientCertificate> {
        if let Some((cert, der)) = self.signed.signer_certificate(0) {
            self.signed.verify(0, der, None).or_else(|e| {
                if self.envelope.is_none() {
                    // No content: the signature covers an empty content.
                    self.signed.verify(0, der, Some(&[]))
                } else {
                    Err(e)
                }
            })?;
            return Ok(cert.clone());
        }
        let si = self
            .signed
            .signers
            .first()
            .ok_or(Error::Missing("SignerInfo"))?;
        for c in candidates {
            let der = cms::cert_der(c)?;
            if si.sid.matches(&der) {
                self.signed.verify(0, &der, Some(&[]))?;
                return LenientCertificate::parse(&der);
            }
        }
        Err(Error::Missing(
            "signer certificate (not carried, none of the given ones matches)",
        ))
    }

    /// Opens the pkcsPKIEnvelope with `key` (the recipient's certificate picks the recipient).
    pub fn open_envelope(
        &self,
        key: &dyn PrivateKey,
        recipient: Option<&Certificate>,
    ) -> Result<(Vec<u8>, ContentCipher)> {
        let env = self
            .envelope
            .as_deref()
            .ok_or(Error::Missing("pkcsPKIEnvelope"))?;
        cms::open_envelope(env, key, recipient)
    }
}

fn string_attr(v: Option<&[u8]>, what: &'static str) -> Result<Option<String>> {
    match v {
        None => Ok(None),
        Some(raw) => Ok(Some(Tlv::parse_exact(raw, what)?.string(what)?)),
    }
}

fn nonce_attr(v: Option<&[u8]>, what: &'static str) -> Result<Option<Vec<u8>>> {
    match v {
        None => Ok(None),
        Some(raw) => {
            let t = Tlv::parse_exact(raw, what)?.expect(tag::OCTET_STRING, what)?;
            if t.value.len() > MAX_NONCE {
                return Err(Error::invalid(
                    what,
                    format!("{} bytes is too long", t.value.len()),
                ));
            }
            Ok(Some(t.value.to_vec()))
        }
    }
}

/// The SCEP signed attributes of an outgoing message.
#[derive(Debug, Clone)]
pub(crate) struct ScepAttributes<'a> {
    pub message_type: MessageType,
    pub transaction_id: &'a str,
    pub sender_nonce: &'a [u8],
    pub recipient_nonce: Option<&'a [u8]>,
    pub pki_status: Option<PkiStatus>,
    pub fail_info: Option<FailInfo>,
}

impl ScepAttributes<'_> {
    pub(crate) fn encode(&self) -> Vec<Vec<u8>> {
        let mut v = vec![
            cms::attribute(
                &oids::MESSAGE_TYPE,
                &asn1::printable(&self.message_type.to_wire()),
            ),
            cms::attribute(&oids::TRANSACTION_ID, &asn1::printable(self.transaction_id)),
            cms::attribute(&oids::SENDER_NONCE, &asn1::octets(self.sender_nonce)),
        ];
        if let Some(n) = self.recipient_nonce {
            v.push(cms::attribute(&oids::RECIPIENT_NONCE, &asn1::octets(n)));
        }
        if let Some(s) = self.pki_status {
            v.push(cms::attribute(
                &oids::PKI_STATUS,
                &asn1::printable(&s.to_wire()),
            ));
        }
        if let Some(f) = self.fail_info {
            v.push(cms::attribute(
                &oids::FAIL_INFO,
                &asn1::printable(&f.to_wire()),
            ));
        }
        v
    }
}

/// A fresh 16-byte nonce.
pub fn new_nonce() -> Vec<u8> {
    use rand::Rng as _;
    let mut n = vec![0u8; 16];
    rand::rng().fill_bytes(&mut n);
    n
}

/// transactionID as most clients make it: hex SHA-256 of the public key (SubjectPublicKeyInfo).
pub fn transaction_id_for_key(spki_der: &[u8]) -> String {
    crate::key::encode_hex(&DigestAlgorithm::Sha256.digest(spki_der))
}

/// `IssuerAndSubject` (CertPoll content): issuer and subject Names, full DER each.
pub(crate) fn parse_pair<'a>(
    der: &'a [u8],
    first_tag: u8,
    second_tag: u8,
    what: &'static str,
) -> Result<(&'a [u8], &'a [u8])> {
    let s = Tlv::parse_exact(der, what)?.expect(tag::SEQUENCE, what)?;
    let mut r = s.reader();
    let a = r.read_tag(first_tag, what)?;
    let b = r.read_tag(second_tag, what)?;
    Ok((a.raw, b.raw))
}
