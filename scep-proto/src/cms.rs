//! The workspace's CMS (RFC 5652) module: SignedData verification over the original signed
//! attributes, envelope decryption (DES, 3DES, AES), BER-to-DER normalisation, certs-only
//! bundles, and the detached signatures of MDM request bodies (`Mdm-Signature`).
//!
//! The `cms` crate can build these structures but cannot verify or decrypt them; this module
//! parses with a small DER reader that keeps the exact bytes that were signed.

mod detached;
mod envelope;
mod signed;

pub use crate::asn1::ber_to_der;
pub use detached::{client_cert_from_header, sign_detached, verify_detached, verify_mdm_signature};
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

/// DER of a certificate (as parsed; der 0.8 keeps certificate bytes stable).
pub(crate) fn cert_der(cert: &Certificate) -> Result<Vec<u8>> {
    use der::Encode as _;
    cert.to_der()
        .map_err(|e| Error::Usage(format!("cannot encode certificate: {e}")))
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
