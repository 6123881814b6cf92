//! PKCS#10 certification requests, parsed leniently (devices send `version` 2) and checked
//! by hand; and built for the client side.

use der::Decode as _;
use x509_cert::name::Name;

use crate::algorithm::DigestAlgorithm;
use crate::asn1::{self, Tlv, tag};
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;

/// Largest CSR accepted, in bytes.
pub const MAX_CSR: usize = 64 * 1024;

/// A parsed certification request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Csr {
    /// The whole request, DER.
    pub der: Vec<u8>,
    /// The `version` as sent (0 per RFC 2986; Apple devices send 2).
    pub version: u64,
    /// The subject.
    pub subject: Name,
    /// The subject Name, DER as sent.
    pub subject_der: Vec<u8>,
    /// SubjectPublicKeyInfo, DER.
    pub public_key_der: Vec<u8>,
    /// The challengePassword attribute, if any.
    pub challenge_password: Option<String>,
    /// The extensionRequest attribute's `Extensions` (SEQUENCE OF Extension), DER, if any.
    pub extensions_der: Option<Vec<u8>>,
    info_der: Vec<u8>,
    signature_oid: const_oid::ObjectIdentifier,
    signature: Vec<u8>,
}

impl Csr {
    /// Parses a CSR leniently: any `version`, unknown attributes ignored.
    pub fn parse(der: &[u8]) -> Result<Self> {
        if der.len() > MAX_CSR {
            return Err(Error::TooLarge {
                len: der.len(),
                limit: MAX_CSR,
            });
        }
        let der = asn1::ber_to_der(der)?;
        let cr = Tlv::parse_exact(&der, "CertificationRequest")?
            .expect(tag::SEQUENCE, "CertificationRequest")?;
        let mut r = cr.reader();
        let info = r.read_tag(tag::SEQUENCE, "certificationRequestInfo")?;
        let alg = r.read_tag(tag::SEQUENCE, "CSR signatureAlgorithm")?;
        let signature_oid = alg
            .reader()
            .read("CSR signatureAlgorithm")?
            .oid("CSR signatureAlgorithm")?;
        let sig = r.read_tag(tag::BIT_STRING, "CSR signature")?;
        let mut ir = info.reader();
        let version = ir
            .read_tag(tag::INTEGER, "CSR version")?
            .small_uint("CSR version")?;
        let subject_t = ir.read_tag(tag::SEQUENCE, "CSR subject")?;
        let subject = Name::from_der(subject_t.raw).map_err(|e| Error::der("CSR subject", e))?;
        let spki = ir.read_tag(tag::SEQUENCE, "CSR subjectPKInfo")?;
        let mut challenge_password = None;
        let mut extensions_der = None;
        if let Some(attrs) = ir.read_optional(tag::CTX0, "CSR attributes")? {
            let mut ar = attrs.reader();
            while !ar.is_empty() {
                let a = ar.read_tag(tag::SEQUENCE, "CSR attribute")?;
                let mut x = a.reader();
                let oid = x.read("CSR attribute type")?.oid("CSR attribute type")?;
                let set = x.read_tag(tag::SET, "CSR attribute values")?;
                let Some(first) = set.reader().read_optional_any()? else {
                    continue;
                };
                match oid {
                    oids::CHALLENGE_PASSWORD => {
                        challenge_password = Some(first.string("challengePassword")?);
                    }
                    oids::EXTENSION_REQUEST => {
                        extensions_der = Some(
                            first
                                .expect(tag::SEQUENCE, "extensionRequest")?
                                .raw
                                .to_vec(),
                        );
                    }
                    _ => {}
                }
            }
        }
        Ok(Self {
            version,
            subject,
            subject_der: subject_t.raw.to_vec(),
            public_key_der: spki.raw.to_vec(),
            challenge_password,
            extensions_der,
            info_der: info.raw.to_vec(),
            signature_oid,
            signature: sig.value.get(1..).unwrap_or_default().to_vec(),
            der,
        })
    }

    /// Verifies the request's self-signature (proof of possession).
    pub fn verify(&self) -> Result<()> {
        let digest = DigestAlgorithm::from_signature_oid(&self.signature_oid).ok_or_else(|| {
            Error::unsupported("CSR signature algorithm", self.signature_oid.to_string())
        })?;
        crate::key::check_signature_algorithm(&self.public_key_der, &self.signature_oid)?;
        crate::key::verify_signature(
            &self.public_key_der,
            digest,
            &self.info_der,
            &self.signature,
        )
        .map_err(|_| Error::BadSignature("CSR signature does not verify".into()))
    }

    /// Builds a CSR (version 0) for `key`, with `subject` (a DER Name), an optional
    /// challengePassword and optional extensions (DER Extension elements, requested through
    /// extensionRequest).
    pub fn build(
        key: &dyn PrivateKey,
        subject_der: &[u8],
        challenge: Option<&str>,
        extensions: &[Vec<u8>],
        digest: DigestAlgorithm,
    ) -> Result<Vec<u8>> {
        let mut attrs: Vec<Vec<u8>> = Vec::new();
        if let Some(c) = challenge {
            let value = if c.bytes().all(is_printable) {
                asn1::printable(c)
            } else {
                asn1::tlv(tag::UTF8_STRING, c.as_bytes())
            };
            attrs.push(crate::cms::attribute(&oids::CHALLENGE_PASSWORD, &value));
        }
        if !extensions.is_empty() {
            let refs: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
            attrs.push(crate::cms::attribute(
                &oids::EXTENSION_REQUEST,
                &asn1::seq(&refs),
            ));
        }
        let attr_refs: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
        let mut attr_set = asn1::set_of(&attr_refs);
        attr_set[0] = tag::CTX0;
        let info = asn1::seq(&[
            &asn1::small_uint(0),
            subject_der,
            &key.public_key_der(),
            &attr_set,
        ]);
        let sig = key.sign(digest, &info)?;
        let mut bits = vec![0u8];
        bits.extend_from_slice(&sig);
        Ok(asn1::seq(&[
            &info,
            &key.signature_algorithm(digest),
            &asn1::tlv(tag::BIT_STRING, &bits),
        ]))
    }
}

fn is_printable(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b" '()+,-./:=?".contains(&b)
}
