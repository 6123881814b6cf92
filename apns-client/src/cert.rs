//! MDM push certificates: loading (PEM, encrypted PEM, PKCS#12), topic, expiry, environment,
//! and the certificate/key match check.

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use der::asn1::{BitStringRef, OctetStringRef};
use der::{Decode as _, Encode as _, Tag, Tagged as _};
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
const OID_RSA: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_EC: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

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

/// The format of a private key's DER.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[non_exhaustive]
pub enum KeyFormat {
    /// PKCS#1 `RSAPrivateKey`.
    Pkcs1,
    /// PKCS#8 `PrivateKeyInfo` (unencrypted).
    Pkcs8,
    /// SEC1 `ECPrivateKey`.
    Sec1,
}

/// A decrypted private key. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKey {
    format: KeyFormat,
    der: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({:?}, {} bytes)", self.format, self.der.len())
    }
}

impl PrivateKey {
    /// A key from DER in a known format (checked when the key is matched to a certificate).
    pub fn from_der(format: KeyFormat, der: Vec<u8>) -> Self {
        PrivateKey { format, der }
    }

    /// Reads the first private key block of a PEM file: `RSA PRIVATE KEY` (optionally with
    /// OpenSSL's `Proc-Type: 4,ENCRYPTED` and DES-CBC, DES-EDE3-CBC or AES-CBC),
    /// `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY` (PBES2) or `EC PRIVATE KEY`.
    pub fn from_pem(pem: &[u8], passphrase: Option<&str>) -> Result<Self, Error> {
        for block in parse_pem(pem)? {
            let format = match block.label.as_str() {
                "RSA PRIVATE KEY" => KeyFormat::Pkcs1,
                "PRIVATE KEY" => KeyFormat::Pkcs8,
                "EC PRIVATE KEY" => KeyFormat::Sec1,
                "ENCRYPTED PRIVATE KEY" => {
                    let pass = passphrase.ok_or_else(|| {
                        Error::KeyDecryption("encrypted PKCS#8 key needs a passphrase".into())
                    })?;
                    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&block.der)
                        .map_err(|e| Error::cert("encrypted PKCS#8 key", e))?;
                    let doc = info.decrypt(pass).map_err(|e| {
                        Error::KeyDecryption(format!("cannot decrypt PKCS#8 key: {e}"))
                    })?;
                    return Ok(PrivateKey {
                        format: KeyFormat::Pkcs8,
                        der: doc.as_bytes().to_vec(),
                    });
                }
                _ => continue,
            };
            let der = match block.header("DEK-Info") {
                None => block.der,
                Some(dek) => {
                    let pass = passphrase.ok_or_else(|| {
                        Error::KeyDecryption("encrypted PEM key needs a passphrase".into())
                    })?;
                    legacy_decrypt(dek, pass, &block.der)?
                }
            };
            return Ok(PrivateKey { format, der });
        }
        Err(Error::cert("private key PEM", "no private key block found"))
    }

    /// The key's format.
    pub fn format(&self) -> KeyFormat {
        self.format
    }

    /// The key's DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The public key bytes this private key implies, in the form a certificate's
    /// `subjectPublicKey` BIT STRING holds.
    fn public_key_bits(&self) -> Result<Vec<u8>, Error> {
        match self.format {
            KeyFormat::Pkcs1 => rsa_public_bits(&self.der),
            KeyFormat::Sec1 => sec1_public_bits(&self.der),
            KeyFormat::Pkcs8 => {
                let info = pkcs8::PrivateKeyInfoRef::try_from(self.der.as_slice())
                    .map_err(|e| Error::cert("PKCS#8 private key", e))?;
                if let Some(pk) = info.public_key {
                    return Ok(pk.raw_bytes().to_vec());
                }
                let inner = info.private_key.as_bytes();
                if info.algorithm.oid == OID_RSA {
                    rsa_public_bits(inner)
                } else if info.algorithm.oid == OID_EC {
                    sec1_public_bits(inner)
                } else {
                    Err(Error::KeyMismatch(format!(
                        "cannot derive the public key of a {} key without its public half",
                        info.algorithm.oid
                    )))
                }
            }
        }
    }
}

fn rsa_public_bits(der: &[u8]) -> Result<Vec<u8>, Error> {
    let key =
        pkcs1::RsaPrivateKeyRef::from_der(der).map_err(|e| Error::cert("RSA private key", e))?;
    key.public_key()
        .to_der()
        .map_err(|e| Error::cert("RSA private key", e))
}

#[derive(der::Sequence)]
struct EcPrivateKey<'a> {
    version: u8,
    private_key: &'a OctetStringRef,
    #[asn1(context_specific = "0", optional = "true")]
    parameters: Option<der::asn1::AnyRef<'a>>,
    #[asn1(context_specific = "1", optional = "true")]
    public_key: Option<BitStringRef<'a>>,
}

fn sec1_public_bits(der: &[u8]) -> Result<Vec<u8>, Error> {
    let key = EcPrivateKey::from_der(der).map_err(|e| Error::cert("EC private key", e))?;
    let _ = (key.version, key.private_key, key.parameters);
    match key.public_key {
        Some(pk) => Ok(pk.raw_bytes().to_vec()),
        None => Err(Error::KeyMismatch(
            "the EC private key carries no public key to compare".into(),
        )),
    }
}

/// Checks that `key` is the private half of the certificate's public key.
pub fn check_key_matches(cert_der: &[u8], key: &PrivateKey) -> Result<(), Error> {
    let cert = Certificate::from_der(cert_der).map_err(|e| Error::cert("certificate DER", e))?;
    let spki = cert.tbs_certificate().subject_public_key_info();
    let cert_bits = spki.subject_public_key.raw_bytes();
    let key_bits = key.public_key_bits()?;
    if cert_bits == key_bits.as_slice() {
        Ok(())
    } else {
        Err(Error::KeyMismatch(format!(
            "certificate {} holds a different {} public key",
            cert.tbs_certificate().subject(),
            if spki.algorithm.oid == OID_RSA {
                "RSA"
            } else {
                "non-RSA"
            }
        )))
    }
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
/// key first) and the private key.
pub fn read_pkcs12(p12: &[u8], password: &str) -> Result<(Vec<Vec<u8>>, PrivateKey), Error> {
    if p12.len() > MAX_CONTAINER_LEN {
        return Err(Error::cert(
            "PKCS#12",
            format!("{} bytes, at most {MAX_CONTAINER_LEN}", p12.len()),
        ));
    }
    crate::pkcs12::read(p12, password)
}

/// Every `CERTIFICATE` block of a PEM file, as DER (at most [`MAX_CHAIN_LEN`]).
pub fn certificates_from_pem(pem: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    certificates_from_pem_max(pem, MAX_CHAIN_LEN)
}

/// Every `CERTIFICATE` block of a PEM file, at most `max` of them.
pub(crate) fn certificates_from_pem_max(pem: &[u8], max: usize) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    for block in parse_pem(pem)? {
        if block.label == "CERTIFICATE" || block.label == "X509 CERTIFICATE" {
            if out.len() == max {
                return Err(Error::cert(
                    "certificate PEM",
                    format!("more than {max} certificates"),
                ));
            }
            out.push(block.der);
        }
    }
    Ok(out)
}

struct PemBlock {
    label: String,
    headers: Vec<(String, String)>,
    der: Vec<u8>,
}

impl PemBlock {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A small PEM reader that keeps RFC 1421 headers (which OpenSSL's encrypted keys use).
fn parse_pem(input: &[u8]) -> Result<Vec<PemBlock>, Error> {
    if input.len() > MAX_CONTAINER_LEN {
        return Err(Error::cert(
            "PEM",
            format!("{} bytes, at most {MAX_CONTAINER_LEN}", input.len()),
        ));
    }
    let text = std::str::from_utf8(input)
        .map_err(|e| Error::cert("PEM", format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    let mut blocks = Vec::new();
    type Open = (String, Vec<(String, String)>, String, bool);
    let mut current: Option<Open> = None;
    for (lineno, raw) in text.lines().enumerate() {
        let line = raw.trim();
        match &mut current {
            None => {
                if let Some(label) = line
                    .strip_prefix("-----BEGIN ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    current = Some((label.to_owned(), Vec::new(), String::new(), false));
                }
            }
            Some((label, headers, b64, in_body)) => {
                if let Some(end) = line
                    .strip_prefix("-----END ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    if end != label {
                        return Err(Error::cert(
                            "PEM",
                            format!(
                                "line {}: END {end} does not close BEGIN {label}",
                                lineno + 1
                            ),
                        ));
                    }
                    let der = base64::engine::general_purpose::STANDARD
                        .decode(b64.as_bytes())
                        .map_err(|e| {
                            Error::cert(
                                "PEM",
                                format!("block {label} ending at line {}: {e}", lineno + 1),
                            )
                        })?;
                    blocks.push(PemBlock {
                        label: std::mem::take(label),
                        headers: std::mem::take(headers),
                        der,
                    });
                    current = None;
                    continue;
                }
                if !*in_body {
                    if let Some((k, v)) = line.split_once(':') {
                        headers.push((k.trim().to_owned(), v.trim().to_owned()));
                        continue;
                    }
                    *in_body = true;
                }
                b64.push_str(line);
            }
        }
    }
    if let Some((label, ..)) = current {
        return Err(Error::cert("PEM", format!("BEGIN {label} has no END")));
    }
    Ok(blocks)
}

/// OpenSSL's legacy PEM encryption: `DEK-Info: <cipher>,<hex IV>`, key = EVP_BytesToKey(MD5).
fn legacy_decrypt(dek_info: &str, passphrase: &str, data: &[u8]) -> Result<Vec<u8>, Error> {
    use cbc::cipher::block_padding::Pkcs7;
    use cbc::cipher::{BlockModeDecrypt, KeyIvInit};
    use md5::Digest as _;

    let (alg, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| Error::cert("private key PEM", "DEK-Info has no IV"))?;
    let iv = crate::DeviceToken::from_hex(iv_hex.trim())
        .map_err(|_| Error::cert("private key PEM", "DEK-Info IV is not hex"))?;
    let iv = iv.as_bytes();
    let (key_len, iv_len) = match alg.trim() {
        "DES-EDE3-CBC" => (24, 8),
        "DES-CBC" => (8, 8),
        "AES-128-CBC" => (16, 16),
        "AES-192-CBC" => (24, 16),
        "AES-256-CBC" => (32, 16),
        other => {
            return Err(Error::cert(
                "private key PEM",
                format!("unsupported DEK-Info cipher {other}"),
            ));
        }
    };
    if iv.len() != iv_len {
        return Err(Error::cert(
            "private key PEM",
            format!("DEK-Info IV is {} bytes, expected {iv_len}", iv.len()),
        ));
    }
    let salt = &iv[..8];
    let mut key = Vec::with_capacity(key_len + 16);
    let mut prev: Vec<u8> = Vec::new();
    while key.len() < key_len {
        let mut h = md5::Md5::new();
        h.update(&prev);
        h.update(passphrase.as_bytes());
        h.update(salt);
        prev = h.finalize().to_vec();
        key.extend_from_slice(&prev);
    }
    key.truncate(key_len);
    let bad = |_| Error::KeyDecryption("wrong passphrase or corrupt key (bad padding)".into());
    let err_len = |_| Error::cert("private key PEM", "bad key or IV length");
    let plain = match alg.trim() {
        "DES-EDE3-CBC" => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, iv)
            .map_err(err_len)?
            .decrypt_padded_vec::<Pkcs7>(data)
            .map_err(bad)?,
        "DES-CBC" => cbc::Decryptor::<des::Des>::new_from_slices(&key, iv)
            .map_err(err_len)?
            .decrypt_padded_vec::<Pkcs7>(data)
            .map_err(bad)?,
        "AES-128-CBC" => cbc::Decryptor::<aes::Aes128>::new_from_slices(&key, iv)
            .map_err(err_len)?
            .decrypt_padded_vec::<Pkcs7>(data)
            .map_err(bad)?,
        "AES-192-CBC" => cbc::Decryptor::<aes::Aes192>::new_from_slices(&key, iv)
            .map_err(err_len)?
            .decrypt_padded_vec::<Pkcs7>(data)
            .map_err(bad)?,
        _ => cbc::Decryptor::<aes::Aes256>::new_from_slices(&key, iv)
            .map_err(err_len)?
            .decrypt_padded_vec::<Pkcs7>(data)
            .map_err(bad)?,
    };
    // A wrong passphrase usually yields bad padding, but may pass it by chance (1 in 256):
    // check that the result is at least a DER SEQUENCE.
    if der::asn1::AnyRef::from_der(&plain).map(|a| a.tag()) != Ok(Tag::Sequence) {
        return Err(Error::KeyDecryption(
            "wrong passphrase or corrupt key (not DER after decryption)".into(),
        ));
    }
    Ok(plain)
}
