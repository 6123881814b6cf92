//! The workspace's CMS (RFC 5652) module: SignedData verification over the original signed
//! attributes, signing (attached and detached), EnvelopedData built and opened (DES, 3DES,
//! AES-CBC), BER-to-DER normalisation, certs-only bundles.
//!
//! Hand-written on [`crate::asn1`] rather than on the `cms` crate's types, which do not fit:
//! - `IssuerAndSerialNumber` (sid, rid) holds x509-cert's strict `SerialNumber`, which cannot
//!   name sscep's 32-byte-serial signer, neither as the sid of its request nor as the rid of
//!   the CertRep envelope we encrypt to it;
//! - `CertificateSet` is a `SetOfVec` of strict certificates: it re-sorts them (GetCACert's
//!   RA-then-CA order and CertRep's leaf-first order are lost) and cannot carry a lenient one;
//! - `cms` cannot verify or decrypt (RustCrypto/formats#1204), its envelope builder has no
//!   DES/3DES, and der 0.8 re-sorts a SET OF on decode, so the signed attributes must be
//!   checked over the bytes as sent; peers send BER, which its DER decoder refuses.

mod detached;
mod envelope;
mod signed;

pub use crate::asn1::ber_to_der;
pub use detached::{MAX_SIGNATURE, sign_detached, verify_detached};
pub use envelope::{envelope, open_envelope};
pub use signed::{
    Attribute, SignedData, Signer, SignerId, SignerInfo, attribute, certs_only, parse_certs_only,
    sign,
};

use x509_cert::Certificate;

use crate::asn1::{self, Tlv, tag};
use crate::error::{Error, Result};

/// Largest number of certificates accepted in one SignedData.
pub const MAX_CERTIFICATES: usize = 64;

/// The raw parts of a certificate that CMS needs.
#[derive(Debug, Clone)]
pub struct CertParts<'a> {
    /// TBSCertificate, as signed.
    pub tbs: &'a [u8],
    /// serialNumber INTEGER (full TLV).
    pub serial: &'a [u8],
    /// issuer Name (full TLV).
    pub issuer: &'a [u8],
    /// subject Name (full TLV).
    pub subject: &'a [u8],
    /// SubjectPublicKeyInfo (full TLV).
    pub spki: &'a [u8],
    /// The certificate's signature algorithm OID.
    pub signature_algorithm: const_oid::ObjectIdentifier,
    /// The signature bits.
    pub signature: &'a [u8],
    /// Extensions (the `[3]` contents: the SEQUENCE OF Extension), if any.
    pub extensions: Option<&'a [u8]>,
}

impl<'a> CertParts<'a> {
    /// Splits a DER certificate.
    pub fn parse(der: &'a [u8]) -> Result<Self> {
        let cert = Tlv::parse_exact(der, "certificate")?.expect(tag::SEQUENCE, "certificate")?;
        let mut r = cert.reader();
        let tbs = r.read_tag(tag::SEQUENCE, "tbsCertificate")?;
        let sig_alg = r.read_tag(tag::SEQUENCE, "certificate signatureAlgorithm")?;
        let signature_algorithm = sig_alg
            .reader()
            .read("signature algorithm")?
            .oid("certificate signature algorithm")?;
        let sig = r.read_tag(tag::BIT_STRING, "certificate signature")?;
        let mut t = tbs.reader();
        t.read_optional(tag::CTX0, "certificate version")?;
        let serial = t.read_tag(tag::INTEGER, "certificate serialNumber")?;
        t.read_tag(tag::SEQUENCE, "tbsCertificate signature")?;
        let issuer = t.read_tag(tag::SEQUENCE, "certificate issuer")?;
        t.read_tag(tag::SEQUENCE, "certificate validity")?;
        let subject = t.read_tag(tag::SEQUENCE, "certificate subject")?;
        let spki = t.read_tag(tag::SEQUENCE, "subjectPublicKeyInfo")?;
        let mut extensions = None;
        while !t.is_empty() {
            let e = t.read("tbsCertificate trailer")?;
            if e.tag == tag::CTX3 {
                extensions = Some(e.reader().read_tag(tag::SEQUENCE, "extensions")?.value);
            }
        }
        Ok(Self {
            tbs: tbs.raw,
            serial: serial.raw,
            issuer: issuer.raw,
            subject: subject.raw,
            spki: spki.raw,
            signature_algorithm,
            signature: sig.value.get(1..).unwrap_or_default(),
            extensions,
        })
    }

    /// Checks this certificate's signature with the key of `issuer_spki`.
    pub fn verify_signed_by(&self, issuer_spki: &[u8]) -> Result<()> {
        let digest = crate::DigestAlgorithm::from_signature_oid(&self.signature_algorithm)
            .ok_or_else(|| {
                Error::unsupported(
                    "certificate signature algorithm",
                    self.signature_algorithm.to_string(),
                )
            })?;
        crate::key::check_signature_algorithm(issuer_spki, &self.signature_algorithm)?;
        crate::key::verify_signature(issuer_spki, digest, self.tbs, self.signature)
    }

    /// The subjectKeyIdentifier extension's value, if present.
    pub fn subject_key_id(&self) -> Option<&'a [u8]> {
        let mut r = asn1::Reader::new(self.extensions?, 0);
        while !r.is_empty() {
            let ext = r.read("extension").ok()?;
            let mut er = ext.reader();
            let oid = er.read("extension id").ok()?.oid("extension id").ok()?;
            if oid != crate::oids::SUBJECT_KEY_ID {
                continue;
            }
            let mut v = er.read("extension value").ok()?;
            if v.tag == tag::BOOLEAN {
                v = er.read("extension value").ok()?;
            }
            let inner = Tlv::parse_exact(v.value, "subjectKeyIdentifier").ok()?;
            return Some(inner.value);
        }
        None
    }
}

/// A certificate whose DER this crate can get: a strictly parsed [`Certificate`] or a
/// [`LenientCertificate`].
pub trait CertificateDer: std::fmt::Debug {
    /// The certificate's DER.
    fn certificate_der(&self) -> Result<Vec<u8>>;
}

impl CertificateDer for Certificate {
    fn certificate_der(&self) -> Result<Vec<u8>> {
        use der::Encode as _;
        self.to_der()
            .map_err(|e| Error::Usage(format!("cannot encode certificate: {e}")))
    }
}

impl<C: CertificateDer + ?Sized> CertificateDer for &C {
    fn certificate_der(&self) -> Result<Vec<u8>> {
        (**self).certificate_der()
    }
}

impl CertificateDer for LenientCertificate {
    fn certificate_der(&self) -> Result<Vec<u8>> {
        Ok(self.der.clone())
    }
}

impl std::ops::Deref for LenientCertificate {
    type Target = x509_cert::certificate::CertificateInner<x509_cert::certificate::Raw>;
    fn deref(&self) -> &Self::Target {
        &self.cert
    }
}

impl PartialEq<Certificate> for LenientCertificate {
    fn eq(&self, other: &Certificate) -> bool {
        other.certificate_der().is_ok_and(|d| d == self.der)
    }
}

/// DER of a certificate (as parsed; der 0.8 keeps certificate bytes stable).
pub fn cert_der<C: CertificateDer + ?Sized>(cert: &C) -> Result<Vec<u8>> {
    cert.certificate_der()
}

/// A certificate parsed with x509-cert's `Raw` profile (any serial length, negative serials),
/// kept with its DER as sent.
///
/// Only for certificates that are thrown away once a signature is checked, such as the
/// self-signed signer of a SCEP PKCSReq (sscep puts its 32-byte transaction ID in the serial).
/// Certificates that identify a peer go through [`LenientCertificate::to_strict`] or
/// [`parse_certificate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LenientCertificate {
    cert: x509_cert::certificate::CertificateInner<x509_cert::certificate::Raw>,
    der: Vec<u8>,
}

impl LenientCertificate {
    /// Parses one DER certificate leniently.
    pub fn parse(der: &[u8]) -> Result<Self> {
        use der::Decode as _;
        let cert =
            x509_cert::certificate::CertificateInner::<x509_cert::certificate::Raw>::from_der(der)
                .map_err(|e| Error::der("certificate", e))?;
        Ok(Self {
            cert,
            der: der.to_vec(),
        })
    }

    /// The parsed certificate.
    pub fn certificate(
        &self,
    ) -> &x509_cert::certificate::CertificateInner<x509_cert::certificate::Raw> {
        &self.cert
    }

    /// The DER as sent.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The lenient view of a strictly parsed certificate.
    pub fn from_strict(cert: &Certificate) -> Result<Self> {
        Self::parse(&cert.certificate_der()?)
    }

    /// The same certificate parsed strictly (RFC 5280 profile), for use as an identity.
    pub fn to_strict(&self) -> Result<Certificate> {
        parse_certificate(&self.der)
    }
}

/// Parses one DER certificate.
pub fn parse_certificate(der: &[u8]) -> Result<Certificate> {
    use der::Decode as _;
    Certificate::from_der(der).map_err(|e| Error::der("certificate", e))
}

/// Parses one or more certificates from PEM text, or a DER certificate, or a certs-only
/// PKCS#7 bundle (DER or PEM `PKCS7`).
pub fn parse_certificates(input: &[u8]) -> Result<Vec<Certificate>> {
    if let Ok(text) = std::str::from_utf8(input)
        && text.contains("-----BEGIN")
    {
        let mut out = Vec::new();
        for b in crate::key::pem_blocks(text)? {
            match b.label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                    out.push(parse_certificate(&b.der)?);
                }
                "PKCS7" | "CMS" => out.extend(parse_certs_only(&b.der)?),
                _ => {}
            }
        }
        if out.is_empty() {
            return Err(Error::Missing("certificate in PEM"));
        }
        return Ok(out);
    }
    match parse_certificate(input) {
        Ok(c) => Ok(vec![c]),
        Err(e) => parse_certs_only(input).map_err(|_| e),
    }
}

/// `IssuerAndSerialNumber` DER of a certificate.
pub(crate) fn issuer_and_serial(cert_der: &[u8]) -> Result<Vec<u8>> {
    let p = CertParts::parse(cert_der)?;
    Ok(asn1::seq(&[p.issuer, p.serial]))
}

/// Unwraps a ContentInfo of the given type, returning its `[0] EXPLICIT` content element.
pub(crate) fn unwrap_content_info<'a>(
    der: &'a [u8],
    expected: const_oid::ObjectIdentifier,
    what: &'static str,
) -> Result<Tlv<'a>> {
    let ci = Tlv::parse_exact(der, what)?.expect(tag::SEQUENCE, what)?;
    let mut r = ci.reader();
    let ct = r.read("contentType")?.oid("contentType")?;
    if ct != expected {
        return Err(Error::invalid(
            what,
            format!("content type is {ct}, expected {expected}"),
        ));
    }
    let explicit = r.read_tag(tag::CTX0, "content")?;
    let inner = Tlv::parse_exact(explicit.value, "content").map_err(|_| {
        Error::malformed(what, explicit.offset, "content is not exactly one element")
    })?;
    // Re-anchor offsets.
    let hdr = explicit.raw.len() - explicit.value.len();
    Ok(Tlv {
        offset: explicit.offset + hdr,
        ..inner
    })
}
