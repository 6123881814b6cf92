//! SignedData: parse, verify, sign, certs-only.

use const_oid::ObjectIdentifier;
use x509_cert::Certificate;

use super::{
    CertParts, LenientCertificate, MAX_CERTIFICATES, cert_der, issuer_and_serial, parse_certificate,
};
use crate::algorithm::DigestAlgorithm;
use crate::asn1::{self, Tlv, tag};
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;

/// How a SignerInfo names its certificate.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerId {
    /// `IssuerAndSerialNumber`: the issuer Name and serial INTEGER, both as full DER.
    IssuerAndSerial {
        /// Issuer Name DER.
        issuer: Vec<u8>,
        /// serialNumber INTEGER DER.
        serial: Vec<u8>,
    },
    /// `[0] SubjectKeyIdentifier`.
    SubjectKeyId(Vec<u8>),
}

impl SignerId {
    /// True if `cert_der` is the certificate this identifier names.
    pub fn matches(&self, cert_der: &[u8]) -> bool {
        let Ok(p) = CertParts::parse(cert_der) else {
            return false;
        };
        match self {
            Self::IssuerAndSerial { issuer, serial } => p.issuer == issuer && p.serial == serial,
            Self::SubjectKeyId(id) => p.subject_key_id() == Some(id.as_slice()),
        }
    }
}

/// One attribute: its type and the DER of each value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute type.
    pub oid: ObjectIdentifier,
    /// Full DER of each value in the SET.
    pub values: Vec<Vec<u8>>,
}

/// Encodes an attribute with one value (`value_der` is a full DER element).
pub fn attribute(oid: &ObjectIdentifier, value_der: &[u8]) -> Vec<u8> {
    asn1::seq(&[&asn1::oid(oid), &asn1::tlv(tag::SET, value_der)])
}

/// One parsed SignerInfo.
#[derive(Debug, Clone)]
pub struct SignerInfo {
    /// The signer's certificate identifier.
    pub sid: SignerId,
    /// Digest algorithm OID.
    pub digest_oid: ObjectIdentifier,
    /// Signature algorithm OID.
    pub signature_oid: ObjectIdentifier,
    /// The signed attributes exactly as sent, re-tagged as SET (what was signed), if any.
    pub signed_attrs_der: Option<Vec<u8>>,
    /// The signed attributes, parsed.
    pub signed_attrs: Vec<Attribute>,
    /// The signature.
    pub signature: Vec<u8>,
}

impl SignerInfo {
    /// The digest algorithm.
    pub fn digest(&self) -> Result<DigestAlgorithm> {
        DigestAlgorithm::from_oid(&self.digest_oid)
    }

    /// The first value of the signed attribute `oid`.
    pub fn attr(&self, oid: &ObjectIdentifier) -> Option<&[u8]> {
        self.signed_attrs
            .iter()
            .find(|a| a.oid == *oid)
            .and_then(|a| a.values.first())
            .map(Vec::as_slice)
    }
}

/// A parsed SignedData (from a ContentInfo).
#[derive(Debug, Clone)]
pub struct SignedData {
    /// eContentType.
    pub content_type: ObjectIdentifier,
    /// eContent (the OCTET STRING's contents), absent when detached or certs-only.
    pub content: Option<Vec<u8>>,
    /// The certificates carried, in order, parsed leniently (a signer's throw-away
    /// certificate may break RFC 5280); identities must be re-checked strictly.
    pub certificates: Vec<LenientCertificate>,
    /// The DER of each certificate, in the same order.
    pub certificates_der: Vec<Vec<u8>>,
    /// The signers.
    pub signers: Vec<SignerInfo>,
}

impl SignedData {
    /// Parses a ContentInfo holding SignedData; BER input is normalised first.
    pub fn parse(input: &[u8]) -> Result<Self> {
        let der = asn1::ber_to_der(input)?;
        let sd = super::unwrap_content_info(&der, oids::SIGNED_DATA, "SignedData ContentInfo")?
            .expect(tag::SEQUENCE, "SignedData")?;
        let mut r = sd.reader();
        r.read_tag(tag::INTEGER, "SignedData version")?;
        r.read_tag(tag::SET, "digestAlgorithms")?;
        let eci = r.read_tag(tag::SEQUENCE, "encapContentInfo")?;
        let mut er = eci.reader();
        let content_type = er.read("eContentType")?.oid("eContentType")?;
        let content = match er.read_optional(tag::CTX0, "eContent")? {
            None => None,
            Some(x) => {
                let inner = x.reader().read("eContent")?;
                Some(if inner.tag == tag::OCTET_STRING {
                    inner.value.to_vec()
                } else {
                    inner.raw.to_vec()
                })
            }
        };
        let mut certificates = Vec::new();
        let mut certificates_der = Vec::new();
        if let Some(certs) = r.read_optional(tag::CTX0, "certificates")? {
            let mut cr = certs.reader();
            while !cr.is_empty() {
                let c = cr.read("certificate")?;
                if c.tag != tag::SEQUENCE {
                    continue; // other CertificateChoices are skipped
                }
                if certificates.len() >= MAX_CERTIFICATES {
                    return Err(Error::malformed("certificates", c.offset, "too many"));
                }
                let cert = LenientCertificate::parse(c.raw).map_err(|e| match e {
                    Error::Malformed { reason, offset, .. } => {
                        Error::malformed("certificate", c.offset + offset, reason)
                    }
                    other => other,
                })?;
                certificates.push(cert);
                certificates_der.push(c.raw.to_vec());
            }
        }
        r.read_optional(tag::CTX1, "crls")?;
        let sis = r.read_tag(tag::SET, "signerInfos")?;
        let mut signers = Vec::new();
        let mut sr = sis.reader();
        while !sr.is_empty() {
            if signers.len() >= 16 {
                return Err(Error::malformed(
                    "signerInfos",
                    sr.offset(),
                    "too many signers",
                ));
            }
            signers.push(parse_signer_info(
                sr.read_tag(tag::SEQUENCE, "SignerInfo")?,
            )?);
        }
        Ok(Self {
            content_type,
            content,
            certificates,
            certificates_der,
            signers,
        })
    }

    /// The certificate (and its DER) named by signer `index`, if it is carried.
    pub fn signer_certificate(&self, index: usize) -> Option<(&LenientCertificate, &[u8])> {
        let si = self.signers.get(index)?;
        self.certificates_der
            .iter()
            .position(|d| si.sid.matches(d))
            .and_then(|i| {
                Some((
                    self.certificates.get(i)?,
                    self.certificates_der.get(i)?.as_slice(),
                ))
            })
    }

    /// Verifies signer `index` with the certificate `cert_der`, over the encapsulated content
    /// or, for a detached signature, over `detached`.
    pub fn verify(&self, index: usize, cert_der: &[u8], detached: Option<&[u8]>) -> Result<()> {
        let si = self
            .signers
            .get(index)
            .ok_or(Error::Missing("SignerInfo"))?;
        let content = match (&self.content, detached) {
            (Some(c), _) => c.as_slice(),
            (None, Some(d)) => d,
            (None, None) => return Err(Error::Missing("signed content")),
        };
        let spki = CertParts::parse(cert_der)?.spki;
        let digest = si.digest()?;
        let sig_digest = match si.signature_oid {
            // Some signers name the key algorithm instead of a signature algorithm.
            oids::RSA_ENCRYPTION | oids::EC_PUBLIC_KEY => digest,
            other => DigestAlgorithm::from_signature_oid(&other)
                .ok_or_else(|| Error::unsupported("signature algorithm", other.to_string()))?,
        };
        crate::key::check_signature_algorithm(spki, &si.signature_oid)?;
        match &si.signed_attrs_der {
            None => crate::key::verify_signature(spki, sig_digest, content, &si.signature),
            Some(attrs) => {
                let md = si
                    .attr(&oids::MESSAGE_DIGEST)
                    .ok_or(Error::Missing("messageDigest signed attribute"))?;
                let md = Tlv::parse_exact(md, "messageDigest")?
                    .expect(tag::OCTET_STRING, "messageDigest")?;
                if md.value != digest.digest(content).as_slice() {
                    return Err(Error::BadSignature(
                        "messageDigest does not match the content".into(),
                    ));
                }
                if let Some(ct) = si.attr(&oids::CONTENT_TYPE) {
                    let ct = Tlv::parse_exact(ct, "contentType attribute")?
                        .oid("contentType attribute")?;
                    if ct != self.content_type {
                        return Err(Error::BadSignature(
                            "contentType attribute differs from eContentType".into(),
                        ));
                    }
                }
                crate::key::verify_signature(spki, sig_digest, attrs, &si.signature)
            }
        }
    }
}

fn parse_signer_info(t: Tlv<'_>) -> Result<SignerInfo> {
    let mut r = t.reader();
    r.read_tag(tag::INTEGER, "SignerInfo version")?;
    let sid_t = r.read("SignerInfo sid")?;
    let sid = match sid_t.tag {
        tag::SEQUENCE => {
            let mut ir = sid_t.reader();
            let issuer = ir.read_tag(tag::SEQUENCE, "sid issuer")?;
            let serial = ir.read_tag(tag::INTEGER, "sid serialNumber")?;
            SignerId::IssuerAndSerial {
                issuer: issuer.raw.to_vec(),
                serial: serial.raw.to_vec(),
            }
        }
        tag::CTX0_PRIM => SignerId::SubjectKeyId(sid_t.value.to_vec()),
        other => {
            return Err(Error::malformed(
                "SignerInfo sid",
                sid_t.offset,
                format!("unexpected tag 0x{other:02x}"),
            ));
        }
    };
    let dalg = r.read_tag(tag::SEQUENCE, "SignerInfo digestAlgorithm")?;
    let digest_oid = dalg
        .reader()
        .read("digestAlgorithm")?
        .oid("digestAlgorithm")?;
    let mut signed_attrs_der = None;
    let mut signed_attrs = Vec::new();
    if let Some(a) = r.read_optional(tag::CTX0, "signedAttrs")? {
        let mut raw = a.raw.to_vec();
        raw[0] = tag::SET;
        signed_attrs_der = Some(raw);
        let mut ar = a.reader();
        while !ar.is_empty() {
            if signed_attrs.len() >= 64 {
                return Err(Error::malformed(
                    "signedAttrs",
                    ar.offset(),
                    "too many attributes",
                ));
            }
            let at = ar.read_tag(tag::SEQUENCE, "Attribute")?;
            let mut atr = at.reader();
            let oid = atr.read("attrType")?.oid("attrType")?;
            let set = atr.read_tag(tag::SET, "attrValues")?;
            let mut vr = set.reader();
            let mut values = Vec::new();
            while !vr.is_empty() {
                values.push(vr.read("attribute value")?.raw.to_vec());
            }
            signed_attrs.push(Attribute { oid, values });
        }
    }
    let salg = r.read_tag(tag::SEQUENCE, "SignerInfo signatureAlgorithm")?;
    let signature_oid = salg
        .reader()
        .read("signatureAlgorithm")?
        .oid("signatureAlgorithm")?;
    let signature = r
        .read_tag(tag::OCTET_STRING, "SignerInfo signature")?
        .value
        .to_vec();
    Ok(SignerInfo {
        sid,
        digest_oid,
        signature_oid,
        signed_attrs_der,
        signed_attrs,
        signature,
    })
}

/// Who signs, with what.
#[derive(Debug, Clone, Copy)]
pub struct Signer<'a> {
    /// The signer's certificate (strict, or a lenient throw-away one).
    pub cert: &'a dyn super::CertificateDer,
    /// The signer's key.
    pub key: &'a dyn PrivateKey,
    /// The digest algorithm.
    pub digest: DigestAlgorithm,
}

/// Builds a ContentInfo with SignedData over `content`.
///
/// Signed attributes are contentType, messageDigest, then `extra_attrs` (each a DER
/// `Attribute`, see [`attribute`]). With `detached`, the content is left out. `certs` are
/// carried in the `certificates` field (the signer's own certificate is added first).
pub fn sign(
    content_type: &ObjectIdentifier,
    content: &[u8],
    detached: bool,
    signer: &Signer<'_>,
    extra_attrs: &[Vec<u8>],
    certs: &[&Certificate],
) -> Result<Vec<u8>> {
    let signer_der = cert_der(signer.cert)?;
    let digest_alg = asn1::alg_id(&signer.digest.oid(), true);
    let mut attrs: Vec<Vec<u8>> = vec![
        attribute(&oids::CONTENT_TYPE, &asn1::oid(content_type)),
        attribute(
            &oids::MESSAGE_DIGEST,
            &asn1::octets(&signer.digest.digest(content)),
        ),
    ];
    attrs.extend(extra_attrs.iter().cloned());
    let refs: Vec<&[u8]> = attrs.iter().map(Vec::as_slice).collect();
    let signed_attrs = asn1::set_of(&refs);
    let signature = signer.key.sign(signer.digest, &signed_attrs)?;
    let mut signed_attrs_implicit = signed_attrs;
    signed_attrs_implicit[0] = tag::CTX0;
    let signer_info = asn1::seq(&[
        &asn1::small_uint(1),
        &issuer_and_serial(&signer_der)?,
        &digest_alg,
        &signed_attrs_implicit,
        &signer.key.signature_algorithm(signer.digest),
        &asn1::octets(&signature),
    ]);
    let mut cert_ders = vec![signer_der];
    for c in certs {
        let d = cert_der(c)?;
        if !cert_ders.contains(&d) {
            cert_ders.push(d);
        }
    }
    let encap = if detached {
        asn1::seq(&[&asn1::oid(content_type)])
    } else {
        asn1::seq(&[
            &asn1::oid(content_type),
            &asn1::tlv(tag::CTX0, &asn1::octets(content)),
        ])
    };
    let cert_refs: Vec<&[u8]> = cert_ders.iter().map(Vec::as_slice).collect();
    let sd = asn1::seq(&[
        &asn1::small_uint(1),
        &asn1::set_of(&[&digest_alg]),
        &encap,
        &asn1::tlv(tag::CTX0, &cert_refs.concat()),
        &asn1::set_of(&[&signer_info]),
    ]);
    Ok(asn1::seq(&[
        &asn1::oid(&oids::SIGNED_DATA),
        &asn1::tlv(tag::CTX0, &sd),
    ]))
}

/// A degenerate, certs-only SignedData (PKCS#7 "certs-only") carrying `certs` in order.
pub fn certs_only(certs: &[&Certificate]) -> Result<Vec<u8>> {
    let ders = certs.iter().map(cert_der).collect::<Result<Vec<_>>>()?;
    let refs: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
    let sd = asn1::seq(&[
        &asn1::small_uint(1),
        &asn1::tlv(tag::SET, &[]),
        &asn1::seq(&[&asn1::oid(&oids::DATA)]),
        &asn1::tlv(tag::CTX0, &refs.concat()),
        &asn1::tlv(tag::SET, &[]),
    ]);
    Ok(asn1::seq(&[
        &asn1::oid(&oids::SIGNED_DATA),
        &asn1::tlv(tag::CTX0, &sd),
    ]))
}

/// The certificates of a (certs-only or any) SignedData, parsed strictly.
pub fn parse_certs_only(input: &[u8]) -> Result<Vec<Certificate>> {
    SignedData::parse(input)?
        .certificates_der
        .iter()
        .map(|d| parse_certificate(d))
        .collect()
}
