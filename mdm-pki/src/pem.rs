//! The one PEM reader: certificates, PKCS#1 / PKCS#8 / SEC1 private keys, encrypted PKCS#8
//! (PBES2) and OpenSSL's legacy encrypted PEM (`Proc-Type: 4,ENCRYPTED`).
//!
//! Hand-written rather than `pem-rfc7468`: that crate refuses RFC 1421 headers, which
//! OpenSSL's legacy encrypted keys carry, and rustls-pemfile is unmaintained
//! (RUSTSEC-2025-0134). Input is bounded ([`MAX_PEM`]) and every block must be closed.

use der::{Decode as _, Encode as _};

use crate::algorithm::ContentCipher;
use crate::error::{Error, Result};

/// Largest PEM input accepted, in bytes.
pub const MAX_PEM: usize = 1024 * 1024;
/// Most blocks read from one input.
pub const MAX_BLOCKS: usize = 256;

/// One PEM block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label (`CERTIFICATE`, `RSA PRIVATE KEY`, ...).
    pub label: String,
    /// RFC 1421 headers (`Proc-Type`, `DEK-Info`).
    pub headers: Vec<(String, String)>,
    /// The decoded contents.
    pub der: Vec<u8>,
}

impl PemBlock {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every PEM block in `input` (text outside blocks is ignored).
pub fn parse(input: &[u8]) -> Result<Vec<PemBlock>> {
    if input.len() > MAX_PEM {
        return Err(Error::TooLarge {
            len: input.len(),
            limit: MAX_PEM,
        });
    }
    let text = std::str::from_utf8(input)
        .map_err(|e| Error::invalid("PEM", format!("not UTF-8 at byte {}", e.valid_up_to())))?;
    use base64::Engine as _;
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
                    if blocks.len() == MAX_BLOCKS {
                        return Err(Error::invalid(
                            "PEM",
                            format!("more than {MAX_BLOCKS} blocks"),
                        ));
                    }
                    current = Some((label.to_owned(), Vec::new(), String::new(), false));
                }
            }
            Some((label, headers, b64, in_body)) => {
                if let Some(end) = line
                    .strip_prefix("-----END ")
                    .and_then(|l| l.strip_suffix("-----"))
                {
                    if end != label {
                        return Err(Error::invalid(
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
                            Error::invalid(
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
        return Err(Error::invalid("PEM", format!("BEGIN {label} has no END")));
    }
    Ok(blocks)
}

/// Encodes one PEM block (64-column base64).
pub fn encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// The DER of every `CERTIFICATE` (or `X509 CERTIFICATE`, `TRUSTED CERTIFICATE`) block, at
/// most `max` of them.
pub fn certificates(input: &[u8], max: usize) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for block in parse(input)? {
        if matches!(
            block.label.as_str(),
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE"
        ) {
            if out.len() == max {
                return Err(Error::invalid(
                    "certificate PEM",
                    format!("more than {max} certificates"),
                ));
            }
            out.push(block.der);
        }
    }
    Ok(out)
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

/// A private key's DER and format, decrypted. Its `Debug` output never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyDer {
    format: KeyFormat,
    der: Vec<u8>,
}

impl std::fmt::Debug for PrivateKeyDer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PrivateKeyDer({:?}, {} bytes)",
            self.format,
            self.der.len()
        )
    }
}

impl PrivateKeyDer {
    /// A key from DER in a known format (checked when it is used).
    pub fn new(format: KeyFormat, der: Vec<u8>) -> Self {
        Self { format, der }
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
    /// `subjectPublicKey` BIT STRING holds (RSA: PKCS#1 `RSAPublicKey`; EC: the point).
    pub fn public_key_bits(&self) -> Result<Vec<u8>> {
        match self.format {
            KeyFormat::Pkcs1 => rsa_public_bits(&self.der),
            KeyFormat::Sec1 => sec1_public_bits(&self.der),
            KeyFormat::Pkcs8 => {
                let info = pkcs8::PrivateKeyInfoRef::try_from(self.der.as_slice())
                    .map_err(|e| Error::invalid("PKCS#8 private key", e.to_string()))?;
                if let Some(pk) = info.public_key {
                    return Ok(pk.raw_bytes().to_vec());
                }
                let inner = info.private_key.as_bytes();
                if info.algorithm.oid == crate::oids::RSA_ENCRYPTION {
                    rsa_public_bits(inner)
                } else if info.algorithm.oid == crate::oids::EC_PUBLIC_KEY {
                    sec1_public_bits(inner)
                } else {
                    Err(Error::unsupported(
                        "private key algorithm",
                        info.algorithm.oid.to_string(),
                    ))
                }
            }
        }
    }
}

impl PrivateKeyDer {
    /// Checks that this key is the private half of the public key in `cert_der`
    /// ([`Error::Mismatch`] if not).
    pub fn matches_certificate(&self, cert_der: &[u8]) -> Result<()> {
        let cert =
            x509_cert::Certificate::from_der(cert_der).map_err(|e| Error::der("certificate", e))?;
        let spki = cert.tbs_certificate().subject_public_key_info();
        let cert_bits = spki.subject_public_key.raw_bytes();
        if cert_bits == self.public_key_bits()?.as_slice() {
            Ok(())
        } else {
            Err(Error::Mismatch(format!(
                "certificate {} holds a different {} public key",
                cert.tbs_certificate().subject(),
                if spki.algorithm.oid == crate::oids::RSA_ENCRYPTION {
                    "RSA"
                } else {
                    "non-RSA"
                }
            )))
        }
    }
}

fn rsa_public_bits(der: &[u8]) -> Result<Vec<u8>> {
    let key = pkcs1::RsaPrivateKeyRef::from_der(der)
        .map_err(|e| Error::invalid("RSA private key", e.to_string()))?;
    key.public_key()
        .to_der()
        .map_err(|e| Error::invalid("RSA private key", e.to_string()))
}

// SEC1's ECPrivateKey, read for any curve (p256's reader knows only P-256, and `EcKey`
// parses P-256 keys with it).
#[derive(der::Sequence)]
struct EcPrivateKey<'a> {
    version: u8,
    private_key: &'a der::asn1::OctetStringRef,
    #[asn1(context_specific = "0", optional = "true")]
    parameters: Option<der::asn1::AnyRef<'a>>,
    #[asn1(context_specific = "1", optional = "true")]
    public_key: Option<der::asn1::BitStringRef<'a>>,
}

fn sec1_public_bits(der: &[u8]) -> Result<Vec<u8>> {
    let key =
        EcPrivateKey::from_der(der).map_err(|e| Error::invalid("EC private key", e.to_string()))?;
    let _ = (key.version, key.private_key, key.parameters);
    match key.public_key {
        Some(pk) => Ok(pk.raw_bytes().to_vec()),
        // No public key stored (it is optional): derive it when the curve is P-256.
        None => p256::SecretKey::from_sec1_der(der)
            .map(|k| {
                use p256::elliptic_curve::sec1::ToSec1Point as _;
                k.public_key().to_sec1_point(false).as_bytes().to_vec()
            })
            .map_err(|_| Error::Missing("public key in the EC private key")),
    }
}

/// Reads the first private key of a PEM input: `RSA PRIVATE KEY` (optionally with OpenSSL's
/// `Proc-Type: 4,ENCRYPTED`: DES-CBC, DES-EDE3-CBC or AES-CBC), `PRIVATE KEY`,
/// `ENCRYPTED PRIVATE KEY` (PBES2) or `EC PRIVATE KEY`, decrypting with `passphrase`.
pub fn private_key(input: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKeyDer> {
    for block in parse(input)? {
        let format = match block.label.as_str() {
            "RSA PRIVATE KEY" => KeyFormat::Pkcs1,
            "PRIVATE KEY" => KeyFormat::Pkcs8,
            "EC PRIVATE KEY" => KeyFormat::Sec1,
            "ENCRYPTED PRIVATE KEY" => {
                let pass = passphrase.ok_or_else(|| {
                    Error::Passphrase("encrypted PKCS#8 key needs a passphrase".into())
                })?;
                let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&block.der)
                    .map_err(|e| Error::der("encrypted PKCS#8 key", e))?;
                let doc = info
                    .decrypt(pass)
                    .map_err(|e| Error::Passphrase(format!("cannot decrypt PKCS#8 key: {e}")))?;
                return Ok(PrivateKeyDer::new(
                    KeyFormat::Pkcs8,
                    doc.as_bytes().to_vec(),
                ));
            }
            _ => continue,
        };
        let der = match block.header("DEK-Info") {
            None => block.der,
            Some(dek) => {
                let pass = passphrase.ok_or_else(|| {
                    Error::Passphrase("encrypted PEM key needs a passphrase".into())
                })?;
                decrypt_legacy(dek, &block.der, pass)?
            }
        };
        return Ok(PrivateKeyDer::new(format, der));
    }
    Err(Error::Missing("private key PEM block"))
}

// OpenSSL's legacy PEM encryption (EVP_BytesToKey with MD5, one round): no RustCrypto crate
// implements it.
fn decrypt_legacy(dek_info: &str, body: &[u8], pass: &[u8]) -> Result<Vec<u8>> {
    use md5::Digest as _;
    let (alg, iv_hex) = dek_info
        .split_once(',')
        .ok_or_else(|| Error::invalid("PEM DEK-Info", "no IV"))?;
    let cipher = match alg.trim() {
        "DES-CBC" => ContentCipher::DesCbc,
        "DES-EDE3-CBC" => ContentCipher::DesEde3Cbc,
        "AES-128-CBC" => ContentCipher::Aes128Cbc,
        "AES-192-CBC" => ContentCipher::Aes192Cbc,
        "AES-256-CBC" => ContentCipher::Aes256Cbc,
        other => return Err(Error::unsupported("PEM encryption", other.to_owned())),
    };
    let iv = crate::hex::decode(iv_hex.trim())
        .ok_or_else(|| Error::invalid("PEM DEK-Info", "IV is not hex"))?;
    if iv.len() != cipher.block_len() {
        return Err(Error::invalid(
            "PEM DEK-Info",
            format!("IV is {} bytes, expected {}", iv.len(), cipher.block_len()),
        ));
    }
    let salt = &iv[..8];
    let mut key = Vec::with_capacity(cipher.key_len() + 16);
    let mut prev: Vec<u8> = Vec::new();
    while key.len() < cipher.key_len() {
        let mut h = md5::Md5::new();
        h.update(&prev);
        h.update(pass);
        h.update(salt);
        prev = h.finalize().to_vec();
        key.extend_from_slice(&prev);
    }
    key.truncate(cipher.key_len());
    let plain = cipher
        .decrypt(&key, &iv, body)
        .map_err(|_| Error::Passphrase("wrong passphrase or corrupt key (bad padding)".into()))?;
    // A wrong passphrase usually yields bad padding, but may pass it by chance (1 in 256):
    // check that the result is at least a DER SEQUENCE.
    if der::asn1::AnyRef::from_der(&plain).map(|a| der::Tagged::tag(&a)) != Ok(der::Tag::Sequence) {
        return Err(Error::Passphrase(
            "wrong passphrase or corrupt key (not DER after decryption)".into(),
        ));
    }
    Ok(plain)
}
