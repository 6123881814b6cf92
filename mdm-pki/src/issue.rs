//! A small certificate-issuing helper: serial, validity, key usage, clientAuth EKU, subject
//! from the CSR; and self-signed certificates (a CA, or a client's SCEP signer).
//!
//! Built on x509-cert's `builder::CertificateBuilder` with this crate's own profile
//! ([`MdmProfile`]: the issuer, subject and extensions decided here, none added by the
//! builder) and a small adapter ([`KeySigner`]) that makes any [`PrivateKey`] trait object a
//! `signature::Signer` for it. Extensions are x509-cert's typed values (BasicConstraints,
//! KeyUsage, ExtendedKeyUsage, SubjectKeyIdentifier, AuthorityKeyIdentifier); still
//! hand-written: [`name`] (the builder takes a parsed Name; ours writes UTF8String values, as
//! devices and micromdm/scep expect) and the RFC 5280 method-1 key identifier.

use der::Decode as _;
use x509_cert::Certificate;
use x509_cert::builder::CertificateBuilder;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

use crate::algorithm::DigestAlgorithm;
use crate::asn1::{self, tag};
use crate::cms::{self, CertParts};
use crate::csr::Csr;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;

/// What to put in an issued certificate besides the CSR's subject and key.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssueOptions {
    /// Serial number (big-endian magnitude; made positive).
    pub serial: Vec<u8>,
    /// notBefore, seconds since the Unix epoch (the caller's clock: this crate reads none).
    pub not_before: i64,
    /// Validity in seconds from `not_before`.
    pub validity_secs: i64,
    /// Signature digest.
    pub digest: DigestAlgorithm,
    /// Add the clientAuth extended key usage (on by default).
    pub client_auth: bool,
    /// Copy a subjectAltName from the CSR's extensionRequest (on by default).
    pub copy_subject_alt_name: bool,
    /// Issue an intermediate CA (basicConstraints cA=true, keyCertSign and cRLSign, no
    /// clientAuth) instead of an end entity; off by default. See [`IssueOptions::with_ca`].
    pub ca: bool,
    /// The pathLenConstraint of an intermediate CA (only with `ca`).
    pub path_len: Option<u8>,
}

impl IssueOptions {
    /// Options with the given serial and validity window; SHA-256, clientAuth, SAN copied.
    pub fn new(serial: Vec<u8>, not_before: i64, validity_secs: i64) -> Self {
        Self {
            serial,
            not_before,
            validity_secs,
            digest: DigestAlgorithm::Sha256,
            client_auth: true,
            copy_subject_alt_name: true,
            ca: false,
            path_len: None,
        }
    }

    /// Makes [`issue`] issue an intermediate CA with this pathLenConstraint (`None`: none).
    pub fn with_ca(mut self, path_len: Option<u8>) -> Self {
        self.ca = true;
        self.path_len = path_len;
        self
    }

    /// Sets the digest.
    pub fn with_digest(mut self, digest: DigestAlgorithm) -> Self {
        self.digest = digest;
        self
    }
}

/// Issues an end-entity certificate for `csr` (whose signature the caller has checked), or an
/// intermediate CA with [`IssueOptions::with_ca`].
pub fn issue(
    csr: &Csr,
    ca_cert: &Certificate,
    ca_key: &dyn PrivateKey,
    opts: &IssueOptions,
) -> Result<Certificate> {
    let ca_der = cms::cert_der(ca_cert)?;
    let ca = CertParts::parse(&ca_der)?;
    let mut exts = if opts.ca {
        vec![
            extension(
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: opts.path_len,
                },
            )?,
            extension(
                true,
                &KeyUsage(
                    KeyUsages::DigitalSignature | KeyUsages::KeyCertSign | KeyUsages::CRLSign,
                ),
            )?,
        ]
    } else {
        vec![
            extension(
                true,
                &BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
            )?,
            extension(
                true,
                &KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment),
            )?,
        ]
    };
    if opts.client_auth && !opts.ca {
        exts.push(extension(
            false,
            &ExtendedKeyUsage(vec![oids::KP_CLIENT_AUTH]),
        )?);
    }
    exts.push(extension(
        false,
        &SubjectKeyIdentifier(octets(key_id(&csr.public_key_der)?)?),
    )?);
    let aki = match ca.subject_key_id() {
        Some(id) => id.to_vec(),
        None => key_id(ca.spki)?,
    };
    exts.push(extension(
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(octets(aki)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )?);
    if opts.copy_subject_alt_name
        && let Some(san) = csr
            .extensions_der
            .as_deref()
            .and_then(|e| find_extension(e, &oids::SUBJECT_ALT_NAME))
    {
        exts.push(
            Extension::from_der(&san).map_err(|e| Error::der("subjectAltName of the CSR", e))?,
        );
    }
    build(
        &opts.serial,
        ca.subject,
        &csr.subject_der,
        &csr.public_key_der,
        opts,
        exts,
        ca_key,
    )
}

/// A self-signed certificate for `key`: a CA (`ca = true`: basicConstraints CA, keyCertSign)
/// or an end entity (a SCEP client's temporary signer).
pub fn self_signed(
    key: &dyn PrivateKey,
    subject_der: &[u8],
    ca: bool,
    opts: &IssueOptions,
) -> Result<Certificate> {
    let spki = key.public_key_der();
    let ski = extension(false, &SubjectKeyIdentifier(octets(key_id(&spki)?)?))?;
    let exts = if ca {
        vec![
            extension(
                true,
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                },
            )?,
            extension(
                true,
                &KeyUsage(
                    KeyUsages::DigitalSignature | KeyUsages::KeyCertSign | KeyUsages::CRLSign,
                ),
            )?,
            ski,
        ]
    } else {
        vec![
            extension(
                true,
                &KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment),
            )?,
            ski,
        ]
    };
    build(
        &opts.serial,
        subject_der,
        subject_der,
        &spki,
        opts,
        exts,
        key,
    )
}

/// A DER Name from (attribute OID, value) pairs, one RDN each, as UTF8String
/// (PrintableString for country).
pub fn name(parts: &[(const_oid::ObjectIdentifier, &str)]) -> Vec<u8> {
    let rdns: Vec<Vec<u8>> = parts
        .iter()
        .map(|(o, v)| {
            let value = if o.to_string() == "2.5.4.6" {
                asn1::printable(v)
            } else {
                asn1::tlv(tag::UTF8_STRING, v.as_bytes())
            };
            asn1::set_of(&[&asn1::seq(&[&asn1::oid(o), &value])])
        })
        .collect();
    let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    asn1::seq(&refs)
}

/// A DER Name with one commonName.
pub fn common_name(cn: &str) -> Vec<u8> {
    name(&[(oids::COMMON_NAME, cn)])
}

/// Parses an RFC 4514-ish `CN=x,O=y,C=z` string into a DER Name (CN, O, OU, C, L, ST).
pub fn name_from_str(s: &str) -> Result<Vec<u8>> {
    let mut parts = Vec::new();
    for p in s.split([',', '/']).map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("bad name component {p:?}")))?;
        let oid = match k.trim().to_ascii_uppercase().as_str() {
            "CN" => oids::COMMON_NAME,
            "O" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.10"),
            "OU" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.11"),
            "C" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.6"),
            "L" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.7"),
            "ST" => const_oid::ObjectIdentifier::new_unwrap("2.5.4.8"),
            other => return Err(Error::Usage(format!("unknown name attribute {other}"))),
        };
        parts.push((oid, v.trim()));
    }
    Ok(name(&parts))
}

fn build(
    serial: &[u8],
    issuer_der: &[u8],
    subject_der: &[u8],
    spki: &[u8],
    opts: &IssueOptions,
    extensions: Vec<Extension>,
    key: &dyn PrivateKey,
) -> Result<Certificate> {
    use x509_cert::builder::Builder as _;
    if serial.iter().all(|&b| b == 0) || serial.len() > 20 {
        return Err(Error::Usage(
            "serial must be 1..=20 bytes and non-zero".into(),
        ));
    }
    let serial = SerialNumber::new(serial)
        .map_err(|e| Error::Usage(format!("serial does not fit RFC 5280: {e}")))?;
    let not_after = opts
        .not_before
        .checked_add(opts.validity_secs)
        .ok_or_else(|| Error::Usage("validity overflows".into()))?;
    let validity = Validity::new(time(opts.not_before)?, time(not_after)?);
    let profile = MdmProfile {
        issuer: Name::from_der(issuer_der).map_err(|e| Error::der("issuer name", e))?,
        subject: Name::from_der(subject_der).map_err(|e| Error::der("subject name", e))?,
        extensions,
    };
    let spki = SubjectPublicKeyInfoOwned::from_der(spki)
        .map_err(|e| Error::der("subject public key", e))?;
    let builder = CertificateBuilder::new(profile, serial, validity, spki)
        .map_err(|e| Error::Usage(format!("certificate builder: {e}")))?;
    let signer = KeySigner::new(key, opts.digest);
    let cert = builder.build::<_, RawSignature>(&signer);
    if let Some(e) = signer.take_error() {
        return Err(e);
    }
    cert.map_err(|e| Error::Usage(format!("certificate builder: {e}")))
}

/// The builder profile of this module: the issuer, subject and extensions are decided by
/// [`issue`] and [`self_signed`]; the profile only hands them to the builder.
#[derive(Debug, Clone)]
pub struct MdmProfile {
    issuer: Name,
    subject: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for MdmProfile {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: spki::SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: spki::SubjectPublicKeyInfoRef<'_>,
        _tbs: &x509_cert::TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

/// Any [`PrivateKey`] as the `signature::Signer` x509-cert's builder wants: the key's own
/// signatureAlgorithm and SubjectPublicKeyInfo, and its error kept (the builder's
/// `signature::Error` would lose it).
pub struct KeySigner<'a> {
    key: &'a dyn PrivateKey,
    digest: DigestAlgorithm,
    error: std::sync::Mutex<Option<Error>>,
}

impl std::fmt::Debug for KeySigner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySigner")
            .field("key", &self.key)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl<'a> KeySigner<'a> {
    /// Signs with `key` and `digest`.
    pub fn new(key: &'a dyn PrivateKey, digest: DigestAlgorithm) -> Self {
        Self {
            key,
            digest,
            error: std::sync::Mutex::new(None),
        }
    }

    /// The error of the last failed signature, if any.
    pub fn take_error(&self) -> Option<Error> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }
}

/// A public key as the DER SubjectPublicKeyInfo a [`PrivateKey`] reports.
#[derive(Debug, Clone)]
pub struct SpkiDer(Vec<u8>);

impl spki::EncodePublicKey for SpkiDer {
    fn to_public_key_der(&self) -> spki::Result<der::Document> {
        der::Document::try_from(self.0.as_slice()).map_err(spki::Error::from)
    }
}

impl signature::Keypair for KeySigner<'_> {
    type VerifyingKey = SpkiDer;
    fn verifying_key(&self) -> SpkiDer {
        SpkiDer(self.key.public_key_der())
    }
}

impl spki::DynSignatureAlgorithmIdentifier for KeySigner<'_> {
    fn signature_algorithm_identifier(&self) -> spki::Result<spki::AlgorithmIdentifierOwned> {
        spki::AlgorithmIdentifierOwned::from_der(&self.key.signature_algorithm(self.digest))
            .map_err(spki::Error::from)
    }
}

/// Signature bytes as a [`PrivateKey`] returns them (PKCS#1 v1.5 or DER ECDSA).
#[derive(Debug, Clone)]
pub struct RawSignature(Vec<u8>);

impl spki::SignatureBitStringEncoding for RawSignature {
    fn to_bitstring(&self) -> der::Result<der::asn1::BitString> {
        der::asn1::BitString::from_bytes(&self.0)
    }
}

impl signature::Signer<RawSignature> for KeySigner<'_> {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<RawSignature, signature::Error> {
        match self.key.sign(self.digest, msg) {
            Ok(sig) => Ok(RawSignature(sig)),
            Err(e) => {
                if let Ok(mut slot) = self.error.lock() {
                    *slot = Some(e);
                }
                Err(signature::Error::new())
            }
        }
    }
}

/// One extension from x509-cert's typed value.
fn extension<T: der::Encode + const_oid::AssociatedOid>(
    critical: bool,
    value: &T,
) -> Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: octets(
            value
                .to_der()
                .map_err(|e| Error::Usage(format!("cannot encode extension: {e}")))?,
        )?,
    })
}

fn octets(v: Vec<u8>) -> Result<der::asn1::OctetString> {
    der::asn1::OctetString::new(v).map_err(|e| Error::Usage(format!("OCTET STRING: {e}")))
}

fn find_extension(exts: &[u8], wanted: &const_oid::ObjectIdentifier) -> Option<Vec<u8>> {
    let seq = asn1::Tlv::parse_exact(exts, "extensions").ok()?;
    let mut r = seq.reader();
    while let Ok(Some(e)) = r.read_optional_any() {
        let oid = e
            .reader()
            .read("extension id")
            .ok()?
            .oid("extension id")
            .ok()?;
        if oid == *wanted {
            return Some(e.raw.to_vec());
        }
    }
    None
}

/// SHA-1 of the subjectPublicKey bits (RFC 5280 method 1).
fn key_id(spki_der: &[u8]) -> Result<Vec<u8>> {
    let spki = asn1::Tlv::parse_exact(spki_der, "SubjectPublicKeyInfo")?;
    let mut r = spki.reader();
    r.read_tag(tag::SEQUENCE, "algorithm")?;
    let bits = r.read_tag(tag::BIT_STRING, "subjectPublicKey")?;
    Ok(DigestAlgorithm::Sha1.digest(bits.value.get(1..).unwrap_or_default()))
}

/// The builder's Time (it writes UTCTime up to 2049 and GeneralizedTime after, RFC 5280).
fn time(unix: i64) -> Result<Time> {
    let secs =
        u64::try_from(unix).map_err(|_| Error::Usage(format!("time {unix} is before 1970")))?;
    let t = der::asn1::GeneralizedTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|e| Error::Usage(format!("time {unix} out of range: {e}")))?;
    Ok(Time::GeneralTime(t))
}
