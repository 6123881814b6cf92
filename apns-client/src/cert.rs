//! MDM push certificates: loading (PEM, encrypted PEM, PKCS#12), topic, expiry, environment,
//! and the certificate/key match check.

use std::fmt;
use std::time::SystemTime;

use der::{Decode as _, Tag, Tagged as _};
use x509_cert::Certificate;

use crate::Error;

/// Largest PEM or PKCS#12 input accepted, in bytes.
pub const MAX_CONTAINER_LEN: usize = 1024 * 1024;
/// Most certificates accepted in one chain.
pub const MAX_CHAIN_LEN: usize = 10;
/// Prefix of every MDM push topic.
pub const MDM_TOPIC_PREFIX: &str = "com.apple.mgmt.";

const OID_UID: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("0.9.2342.19200300.100.1.1");
const OID_APNS_DEVELOPMENT: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113635.100.6.3.1");
const OID_APNS_PRODUCTION: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113635.100.6.3.2");

/// The APNs environments a certificate is marked for (Apple's extensions
/// 1.2.840.113635.100.6.3.1 and .2).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum ApnsEnvironment {
    /// Production only (every Apple-issued MDM push certificate).
    Production,
    /// Sandbox (development) only.
    Sandbox,
    /// Both.
    Both,
}

/// What a push certificate says about itself.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct CertificateInfo {
    /// The push topic: the subject's UID (`com.apple.mgmt.External.<uuid>`).
    pub topic: String,
    /// The subject, RFC 4514 style.
    pub subject: String,
    /// The issuer, RFC 4514 style.
    pub issuer: String,
    /// Start of validity.
    pub not_before: SystemTime,
    /// End of validity.
    pub not_after: SystemTime,
    /// Environment from Apple's extensions; `None` when the certificate has neither (mocks).
    pub environment: Option<ApnsEnvironment>,
}

impl CertificateInfo {
    /// Reads a DER certificate and checks that it is an MDM push certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, Error> {
        let cert = Certificate::from_der(der).map_err(|e| Error::cert("certificate DER", e))?;
        Self::from_cert(&cert)
    }

    /// Reads the first `CERTIFICATE` block of a PEM file.
    pub fn from_pem(pem: &[u8]) -> Result<Self, Error> {
        let chain = certificates_from_pem(pem)?;
        match chain.first() {
            Some(der) => Self::from_der(der),
            None => Err(Error::cert("certificate PEM", "no CERTIFICATE block found")),
        }
    }

    fn from_cert(cert: &Certificate) -> Result<Self, Error> {
        let tbs = cert.tbs_certificate();
        let mut uid = None;
        for atv in tbs.subject().iter() {
            if atv.oid == OID_UID {
                let value = &atv.value;
                let ok = matches!(
                    value.tag(),
                    Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString
                );
                let text = std::str::from_utf8(value.value()).ok().filter(|_| ok);
                match text {
                    Some(t) => uid = Some(t.to_owned()),
                    None => {
                        return Err(Error::NotMdmPushCertificate(format!(
                            "subject UID has tag {} or is not UTF-8",
                            value.tag()
                        )));
                    }
                }
            }
        }
        let subject = tbs.subject().to_string();
        let topic = match uid {
            None => {
                return Err(Error::NotMdmPushCertificate(format!(
                    "subject {subject:?} has no UID attribute (0.9.2342.19200300.100.1.1) \
                     holding the push topic"
                )));
            }
            Some(t) if !t.starts_with(MDM_TOPIC_PREFIX) || t.len() <= MDM_TOPIC_PREFIX.len() => {
                return Err(Error::NotMdmPushCertificate(format!(
                    "subject UID {t:?} is not an MDM topic ({MDM_TOPIC_PREFIX}…)"
                )));
            }
            Some(t) => t,
        };
        let mut dev = false;
        let mut prod = false;
        if let Some(exts) = tbs.extensions() {
            for ext in exts.iter() {
                dev |= ext.extn_id == OID_APNS_DEVELOPMENT;
                prod |= ext.extn_id == OID_APNS_PRODUCTION;
            }
        }
        let environment = match (prod, dev) {
            (true, true) => Some(ApnsEnvironment::Both),
            (true, false) => Some(ApnsEnvironment::Production),
            (false, true) => Some(ApnsEnvironment::Sandbox),
            (false, false) => None,
        };
        let validity = tbs.validity();
        Ok(CertificateInfo {
            topic,
            subject,
            issuer: tbs.issuer().to_string(),
            not_before: validity.not_before.to_system_time(),
            not_after: validity.not_after.to_system_time(),
            environment,
        })
    }

    /// Whether the certificate is outside its validity period at `now`.
    pub fn is_expired_at(&self, now: SystemTime) -> bool {
        now > self.not_after || now < self.not_before
    }
}

/// The format of a private key's DER (re-export of `mdm_pki::pem::KeyFormat`).
pub use mdm_pki::pem::KeyFormat;

/// An `mdm-pki` error in this crate's terms.
fn pki(what: &'static str) -> impl FnOnce(mdm_pki::Error) -> Error {
    move |e| match e {
        mdm_pki::Error::Passphrase(reason) => Error::KeyDecryption(reason),
        mdm_pki::Error::Mismatch(reason) => Error::KeyMismatch(reason),
        other => Error::cert(what, other),
    }
}

/// A decrypted private key. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey(mdm_pki::pem::PrivateKeyDer);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey({:?}, {} bytes)",
            self.0.format(),
            self.0.der().len()
        )
    }
}

impl PrivateKey {
    /// A key from DER in a known format (checked when the key is matched to a certificate).
    pub fn from_der(format: KeyFormat, der: Vec<u8>) -> Self {
        PrivateKey(mdm_pki::pem::PrivateKeyDer::new(format, der))
    }

    /// Reads the first private key block of a PEM file with the workspace's one PEM reader
    /// (`mdm_pki::pem`): `RSA PRIVATE KEY` (optionally with OpenSSL's
    /// `Proc-Type: 4,ENCRYPTED` and DES-CBC, DES-EDE3-CBC or AES-CBC), `PRIVATE KEY`,
    /// `ENCRYPTED PRIVATE KEY` (PBES2) or `EC PRIVATE KEY`.
    pub fn from_pem(pem: &[u8], passphrase: Option<&str>) -> Result<Self, Error> {
        mdm_pki::pem::private_key(pem, passphrase.map(str::as_bytes))
            .map(PrivateKey)
            .map_err(pki("private key PEM"))
    }

    /// The key's format.
    pub fn format(&self) -> KeyFormat {
        self.0.format()
    }

    /// The key's DER.
    pub fn der(&self) -> &[u8] {
        self.0.der()
    }
}

/// Checks that `key` is the private half of the certificate's public key.
pub fn check_key_matches(cert_der: &[u8], key: &PrivateKey) -> Result<(), Error> {
    key.0
        .matches_certificate(cert_der)
        .map_err(pki("certificate DER"))
}

/// A push certificate with its private key, ready for mutual TLS.
#[derive(Clone, Debug)]
pub struct PushIdentity {
    info: CertificateInfo,
    chain: Vec<Vec<u8>>,
    key: PrivateKey,
}

impl PushIdentity {
    /// Loads a PEM certificate (the leaf first, then any chain) and a PEM private key,
    /// decrypting the key with `passphrase` when it is encrypted.
    ///
    /// The key must match the certificate ([`Error::KeyMismatch`]) and the certificate must
    /// be an MDM push certificate ([`Error::NotMdmPushCertificate`]).
    pub fn from_pem(
        cert_pem: &[u8],
        key_pem: &[u8],
        passphrase: Option<&str>,
    ) -> Result<Self, Error> {
        let chain = certificates_from_pem(cert_pem)?;
        let key = PrivateKey::from_pem(key_pem, passphrase)?;
        Self::from_parts(chain, key)
    }

    /// Loads a PKCS#12 file (`.p12`) protected by `password`, including the legacy
    /// algorithms of older exports (RC2-40, 3DES, SHA-1 MAC).
    pub fn from_pkcs12(p12: &[u8], password: &str) -> Result<Self, Error> {
        let (chain, key) = read_pkcs12(p12, password)?;
        Self::from_parts(chain, key)
    }

    /// Assembles an identity from DER certificates (leaf first) and a key, with all checks.
    pub fn from_parts(chain: Vec<Vec<u8>>, key: PrivateKey) -> Result<Self, Error> {
        let Some(leaf) = chain.first() else {
            return Err(Error::cert("certificate chain", "empty"));
        };
        if chain.len() > MAX_CHAIN_LEN {
            return Err(Error::cert(
                "certificate chain",
                format!("{} certificates, at most {MAX_CHAIN_LEN}", chain.len()),
            ));
        }
        check_key_matches(leaf, &key)?;
        let info = CertificateInfo::from_der(leaf)?;
        Ok(PushIdentity { info, chain, key })
    }

    /// What the certificate says.
    pub fn info(&self) -> &CertificateInfo {
        &self.info
    }

    /// The push topic.
    pub fn topic(&self) -> &str {
        &self.info.topic
    }

    /// DER certificates, leaf first.
    pub fn certificate_chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The private key.
    pub fn private_key(&self) -> &PrivateKey {
        &self.key
    }
}

/// Opens a PKCS#12 file without MDM checks: returns the certificates (the one matching the
/// key first) and the private key (`mdm_pki::pkcs12`).
pub fn read_pkcs12(p12: &[u8], password: &str) -> Result<(Vec<Vec<u8>>, PrivateKey), Error> {
    if p12.len() > MAX_CONTAINER_LEN {
        return Err(Error::cert(
            "PKCS#12",
            format!("{} bytes, at most {MAX_CONTAINER_LEN}", p12.len()),
        ));
    }
    let (chain, key) = mdm_pki::pkcs12::read(p12, password).map_err(pki("PKCS#12"))?;
    Ok((chain, PrivateKey(key)))
}

/// Every `CERTIFICATE` block of a PEM file, as DER (at most [`MAX_CHAIN_LEN`]).
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    certificates_from_pem_max(pem, MAX_CHAIN_LEN)
}

/// Every `CERTIFICATE` block of a PEM file, at most `max` of them.
pub(crate) fn certificates_from_pem_max(pem: &[u8], max: usize) -> Result<Vec<Vec<u8>>, Error> {
    if pem.len() > MAX_CONTAINER_LEN {
        return Err(Error::cert(
            "PEM",
            format!("{} bytes, at most {MAX_CONTAINER_LEN}", pem.len()),
        ));
    }
    mdm_pki::pem::certificates(pem, max).map_err(pki("certificate PEM"))
}
