//! Private keys behind a trait, public-key signature checks, and PEM helpers.

use pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use rsa::{PrivateKey as RsaPrivateKey, PublicKey as RsaPublicKey};

use crate::algorithm::DigestAlgorithm;
use crate::asn1;
use crate::error::{Error, Result};
use crate::oids;
pub use crate::pem::PemBlock;

/// A private key that signs (RSA PKCS#1 v1.5 or ECDSA) and, for RSA, decrypts (PKCS#1 v1.5
/// key transport).
///
/// Implementations: [`RsaKey`] (pure Rust, rsa 0.10), `AwsLcRsaKey` (feature `aws-lc-rs`,
/// faster) and [`EcKey`] (ECDSA P-256, pure Rust). An HSM can implement this trait too.
pub trait PrivateKey: Send + Sync + std::fmt::Debug {
    /// The DER SubjectPublicKeyInfo of the matching public key.
    fn public_key_der(&self) -> Vec<u8>;
    /// Signs `message` (hashing it with `digest`), returning the signature bytes (for ECDSA
    /// the DER `Ecdsa-Sig-Value`).
    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>>;
    /// Decrypts a PKCS#1 v1.5 key-transport ciphertext.
    ///
    /// Implementations may use implicit rejection: bad padding can yield random bytes
    /// instead of an error; callers must check what comes out.
    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>>;
    /// The DER AlgorithmIdentifier of signatures made with `digest` (this default:
    /// shaXWithRSAEncryption).
    fn signature_algorithm(&self, digest: DigestAlgorithm) -> Vec<u8> {
        asn1::alg_id(&digest.rsa_signature_oid(), true)
    }
}

/// The default, pure-Rust RSA key (rsa 0.10, with implicit rejection on decryption).
#[derive(Clone)]
pub struct RsaKey {
    key: RsaPrivateKey,
    spki: Vec<u8>,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaKey")
            .field("bits", &(rsa::traits::PublicKeyParts::size(&self.key) * 8))
            .finish_non_exhaustive()
    }
}

impl RsaKey {
    /// Wraps an rsa 0.10 key.
    pub fn new(key: RsaPrivateKey) -> Result<Self> {
        let spki = key
            .to_public_key()
            .to_public_key_der()
            .map_err(|e| Error::Key(e.to_string()))?
            .as_bytes()
            .to_vec();
        Ok(Self { key, spki })
    }

    /// Generates a new key of `bits` bits (slow in debug builds).
    pub fn generate(bits: usize) -> Result<Self> {
        let key =
            RsaPrivateKey::new(&mut rand::rng(), bits).map_err(|e| Error::Key(e.to_string()))?;
        Self::new(key)
    }

    /// Reads a PKCS#8 or PKCS#1 DER key.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let key = RsaPrivateKey::from_pkcs8_der(der)
            .or_else(|_| RsaPrivateKey::from_pkcs1_der(der))
            .map_err(|e| Error::invalid("private key", e.to_string()))?;
        Self::new(key)
    }

    /// Reads a PEM RSA key with the one PEM reader ([`crate::pem::private_key`]):
    /// `PRIVATE KEY` (PKCS#8), `ENCRYPTED PRIVATE KEY` or `RSA PRIVATE KEY` (PKCS#1), the
    /// latter possibly encrypted the legacy OpenSSL way (`Proc-Type: 4,ENCRYPTED`).
    pub fn from_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        let key = crate::pem::private_key(pem.as_bytes(), passphrase.or(Some(b"")))?;
        if key.format() == crate::pem::KeyFormat::Sec1 {
            return Err(Error::unsupported(
                "private key",
                "an EC key where RSA is needed",
            ));
        }
        Self::from_der(key.der())
    }

    /// PKCS#8 PEM of the private key.
    pub fn to_pkcs8_pem(&self) -> Result<String> {
        let doc = self
            .key
            .to_pkcs8_der()
            .map_err(|e| Error::Key(e.to_string()))?;
        Ok(pem_encode("PRIVATE KEY", doc.as_bytes()))
    }

    /// PKCS#1 PEM of the private key.
    pub fn to_pkcs1_pem(&self) -> Result<String> {
        let doc = self
            .key
            .to_pkcs1_der()
            .map_err(|e| Error::Key(e.to_string()))?;
        Ok(pem_encode("RSA PRIVATE KEY", doc.as_bytes()))
    }

    /// The wrapped rsa key.
    pub fn inner(&self) -> &RsaPrivateKey {
        &self.key
    }
}

impl PrivateKey for RsaKey {
    fn public_key_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        let r = match digest {
            DigestAlgorithm::Sha1 => self.key.pkcs1v15_sign::<sha1::Sha1>(message),
            DigestAlgorithm::Sha256 => self.key.pkcs1v15_sign::<sha2::Sha256>(message),
            DigestAlgorithm::Sha384 => self.key.pkcs1v15_sign::<sha2::Sha384>(message),
            DigestAlgorithm::Sha512 => self.key.pkcs1v15_sign::<sha2::Sha512>(message),
        };
        r.map_err(|e| Error::Key(e.to_string()))
    }

    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        self.key
            .pkcs1v15_decrypt(ciphertext)
            .map_err(|e| Error::Decrypt(format!("RSA key transport: {e}")))
    }
}

/// Verifies `signature` over `message` with the key in `spki_der`.
///
/// RSA PKCS#1 v1.5 (on aws-lc-rs with that feature) and ECDSA P-256 (pure Rust, p256).
pub fn verify_signature(
    spki_der: &[u8],
    digest: DigestAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    let spki = asn1::Tlv::parse_exact(spki_der, "SubjectPublicKeyInfo")?;
    let mut r = spki.reader();
    let alg = r.read_tag(asn1::tag::SEQUENCE, "public key algorithm")?;
    let alg_oid = alg
        .reader()
        .read("public key algorithm OID")?
        .oid("public key algorithm")?;
    match alg_oid {
        oids::RSA_ENCRYPTION => {
            #[cfg(feature = "aws-lc-rs")]
            if let Some(r) = verify_rsa_aws_lc(&mut r, digest, message, signature) {
                return r;
            }
            let key = RsaPublicKey::from_public_key_der(spki_der)
                .map_err(|e| Error::invalid("RSA public key", e.to_string()))?;
            let r = match digest {
                DigestAlgorithm::Sha1 => key.pkcs1v15_verify::<sha1::Sha1>(message, signature),
                DigestAlgorithm::Sha256 => key.pkcs1v15_verify::<sha2::Sha256>(message, signature),
                DigestAlgorithm::Sha384 => key.pkcs1v15_verify::<sha2::Sha384>(message, signature),
                DigestAlgorithm::Sha512 => key.pkcs1v15_verify::<sha2::Sha512>(message, signature),
            };
            r.map_err(|_| Error::BadSignature("RSA signature does not verify".into()))
        }
        oids::EC_PUBLIC_KEY => verify_ecdsa(spki_der, digest, message, signature),
        other => Err(Error::unsupported(
            "public key algorithm",
            other.to_string(),
        )),
    }
}

/// Checks that `signature_oid` (a certificate's, CSR's or SignerInfo's signature algorithm)
/// fits the key in `spki_der`: RSA algorithms with an RSA key, ECDSA with an EC key (the
/// bare key-algorithm OIDs count, as some CMS signers send them). Call before
/// [`verify_signature`], which picks the algorithm from the key alone.
///
/// # Errors
///
/// [`Error::BadSignature`] on a mismatch; [`Error::Invalid`] when the key does not parse.
pub fn check_signature_algorithm(
    spki_der: &[u8],
    signature_oid: &const_oid::ObjectIdentifier,
) -> Result<()> {
    let key_oid = spki::SubjectPublicKeyInfoRef::try_from(spki_der)
        .map_err(|e| Error::invalid("SubjectPublicKeyInfo", e.to_string()))?
        .algorithm
        .oid;
    let rsa = [
        oids::RSA_ENCRYPTION,
        oids::SHA1_WITH_RSA,
        oids::SHA256_WITH_RSA,
        oids::SHA384_WITH_RSA,
        oids::SHA512_WITH_RSA,
    ];
    let ec = [
        oids::EC_PUBLIC_KEY,
        oids::ECDSA_WITH_SHA1,
        oids::ECDSA_WITH_SHA256,
        oids::ECDSA_WITH_SHA384,
        oids::ECDSA_WITH_SHA512,
    ];
    let fits = match key_oid {
        oids::RSA_ENCRYPTION => rsa.contains(signature_oid),
        oids::EC_PUBLIC_KEY => ec.contains(signature_oid),
        _ => true, // verify_signature names the unsupported key
    };
    if fits {
        Ok(())
    } else {
        Err(Error::BadSignature(format!(
            "signature algorithm {signature_oid} does not fit the signer's {key_oid} key"
        )))
    }
}

/// RSA verification on aws-lc-rs; `None` when it does not cover the key size or digest.
#[cfg(feature = "aws-lc-rs")]
fn verify_rsa_aws_lc(
    r: &mut asn1::Reader<'_>,
    digest: DigestAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Option<Result<()>> {
    use aws_lc_rs::signature as sig;
    let params: &'static sig::RsaParameters = match digest {
        DigestAlgorithm::Sha1 => &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        DigestAlgorithm::Sha256 => &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        DigestAlgorithm::Sha512 => &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        DigestAlgorithm::Sha384 => return None,
    };
    let bits = r.read_tag(asn1::tag::BIT_STRING, "public key").ok()?;
    let pkcs1 = bits.value.get(1..)?;
    Some(
        sig::UnparsedPublicKey::new(params, pkcs1)
            .verify(message, signature)
            .map_err(|_| Error::BadSignature("RSA signature does not verify".into())),
    )
}

/// ECDSA on P-256 (pure Rust, p256): `signature` is the DER `Ecdsa-Sig-Value`, checked over
/// the `digest` of `message` (any digest; the prehash is truncated to the curve size as
/// FIPS 186-4 says).
fn verify_ecdsa(
    spki_der: &[u8],
    digest: DigestAlgorithm,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
    let spki = spki::SubjectPublicKeyInfoRef::try_from(spki_der)
        .map_err(|e| Error::invalid("EC public key", e.to_string()))?;
    let curve = spki
        .algorithm
        .parameters_oid()
        .map_err(|_| Error::Missing("named curve of the EC public key"))?;
    if curve != oids::P256 {
        return Err(Error::unsupported("elliptic curve", curve.to_string()));
    }
    let point = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| Error::invalid("EC public key", "unused bits in the point"))?;
    let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map_err(|_| Error::invalid("EC public key", "not a point on P-256"))?;
    let sig = p256::ecdsa::Signature::from_der(signature)
        .map_err(|_| Error::BadSignature("ECDSA signature is not a DER Ecdsa-Sig-Value".into()))?;
    key.verify_prehash(&digest.digest(message), &sig)
        .map_err(|_| Error::BadSignature("ECDSA signature does not verify".into()))
}

/// An ECDSA P-256 key (pure Rust, p256 0.14): signs with RFC 6979 deterministic nonces and
/// the digest the caller picks (ecdsa-with-SHA1/256/384/512). It cannot decrypt: key
/// transport in CMS envelopes is RSA only.
#[derive(Clone)]
pub struct EcKey {
    key: p256::ecdsa::SigningKey,
    spki: Vec<u8>,
}

impl std::fmt::Debug for EcKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcKey")
            .field("curve", &"P-256")
            .finish_non_exhaustive()
    }
}

impl EcKey {
    /// Wraps a p256 signing key.
    pub fn new(key: p256::ecdsa::SigningKey) -> Result<Self> {
        let spki = key
            .verifying_key()
            .to_public_key_der()
            .map_err(|e| Error::Key(e.to_string()))?
            .as_bytes()
            .to_vec();
        Ok(Self { key, spki })
    }

    /// Generates a new P-256 key.
    pub fn generate() -> Result<Self> {
        use p256::elliptic_curve::Generate as _;
        Self::new(p256::ecdsa::SigningKey::generate_from_rng(&mut rand::rng()))
    }

    /// Reads a PKCS#8 `PrivateKeyInfo` or SEC1 `ECPrivateKey` DER key on P-256.
    pub fn from_der(der: &[u8]) -> Result<Self> {
        let secret = p256::SecretKey::from_pkcs8_der(der)
            .or_else(|_| p256::SecretKey::from_sec1_der(der))
            .map_err(|_| {
                Error::invalid(
                    "private key",
                    "neither a PKCS#8 nor a SEC1 EC private key on P-256",
                )
            })?;
        Self::new(p256::ecdsa::SigningKey::from(secret))
    }

    /// Reads a PEM EC key with the one PEM reader ([`crate::pem::private_key`]):
    /// `EC PRIVATE KEY` (SEC1, possibly with OpenSSL's legacy encryption), `PRIVATE KEY` or
    /// `ENCRYPTED PRIVATE KEY` (PKCS#8).
    pub fn from_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<Self> {
        let key = crate::pem::private_key(pem.as_bytes(), passphrase.or(Some(b"")))?;
        if key.format() == crate::pem::KeyFormat::Pkcs1 {
            return Err(Error::unsupported(
                "private key",
                "an RSA key where EC is needed",
            ));
        }
        Self::from_der(key.der())
    }

    /// PKCS#8 PEM of the private key.
    pub fn to_pkcs8_pem(&self) -> Result<String> {
        let doc = self
            .key
            .to_pkcs8_der()
            .map_err(|e| Error::Key(e.to_string()))?;
        Ok(pem_encode("PRIVATE KEY", doc.as_bytes()))
    }

    /// The wrapped p256 key.
    pub fn inner(&self) -> &p256::ecdsa::SigningKey {
        &self.key
    }
}

impl PrivateKey for EcKey {
    fn public_key_der(&self) -> Vec<u8> {
        self.spki.clone()
    }

    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        use p256::ecdsa::signature::hazmat::PrehashSigner as _;
        let sig: p256::ecdsa::Signature = self
            .key
            .sign_prehash(&digest.digest(message))
            .map_err(|e| Error::Key(format!("ECDSA signing failed: {e}")))?;
        Ok(sig.to_der().as_bytes().to_vec())
    }

    fn decrypt(&self, _ciphertext: &[u8]) -> Result<Vec<u8>> {
        Err(Error::unsupported(
            "key transport",
            "an EC key cannot decrypt (CMS key transport is RSA)",
        ))
    }

    /// ecdsa-with-SHAx, parameters absent (RFC 5758).
    fn signature_algorithm(&self, digest: DigestAlgorithm) -> Vec<u8> {
        asn1::alg_id(&digest.ecdsa_signature_oid(), false)
    }
}

/// Reads a PEM private key of either kind, RSA ([`RsaKey`]) or EC P-256 ([`EcKey`]), as the
/// trait object the signers and the CA take.
pub fn private_key_from_pem(pem: &str, passphrase: Option<&[u8]>) -> Result<Box<dyn PrivateKey>> {
    let key = crate::pem::private_key(pem.as_bytes(), passphrase.or(Some(b"")))?;
    match key.format() {
        crate::pem::KeyFormat::Pkcs1 => Ok(Box::new(RsaKey::from_der(key.der())?)),
        crate::pem::KeyFormat::Sec1 => Ok(Box::new(EcKey::from_der(key.der())?)),
        _ => match RsaKey::from_der(key.der()) {
            Ok(k) => Ok(Box::new(k)),
            Err(_) => Ok(Box::new(EcKey::from_der(key.der())?)),
        },
    }
}

/// Encrypts a content-encryption key to the RSA public key in `spki_der` (PKCS#1 v1.5).
pub fn rsa_encrypt(spki_der: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let key = RsaPublicKey::from_public_key_der(spki_der)
        .map_err(|e| Error::invalid("recipient public key (RSA expected)", e.to_string()))?;
    key.pkcs1v15_encrypt_with_rng(&mut rand::rng(), plaintext)
        .map_err(|e| Error::Key(e.to_string()))
}

/// Parses every PEM block in `text` (see [`crate::pem::parse`]).
pub fn pem_blocks(text: &str) -> Result<Vec<PemBlock>> {
    crate::pem::parse(text.as_bytes())
}

/// Uppercase hex of `b` (transaction IDs).
pub fn encode_hex(b: &[u8]) -> String {
    crate::hex::encode_upper(b)
}

/// Encodes one PEM block (see [`crate::pem::encode`]).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    crate::pem::encode(label, der)
}

/// An RSA key on aws-lc-rs (feature `aws-lc-rs`): about ten times faster than [`RsaKey`].
///
/// SHA-1 signatures, which aws-lc-rs does not make, fall back to the pure-Rust key. A
/// PKCS#1 v1.5 padding failure on decryption yields random bytes, not an error, like rsa
/// 0.10's implicit rejection, so that callers cannot branch on it early.
#[cfg(feature = "aws-lc-rs")]
pub struct AwsLcRsaKey {
    pair: aws_lc_rs::rsa::KeyPair,
    dec: aws_lc_rs::rsa::Pkcs1PrivateDecryptingKey,
    fallback: RsaKey,
}

#[cfg(feature = "aws-lc-rs")]
impl std::fmt::Debug for AwsLcRsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsLcRsaKey").finish_non_exhaustive()
    }
}

#[cfg(feature = "aws-lc-rs")]
impl AwsLcRsaKey {
    /// Loads the same key into aws-lc-rs.
    pub fn from_rsa_key(key: &RsaKey) -> Result<Self> {
        let p8 = key
            .key
            .to_pkcs8_der()
            .map_err(|e| Error::Key(e.to_string()))?;
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(p8.as_bytes())
            .map_err(|e| Error::Key(e.to_string()))?;
        let dec = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(p8.as_bytes())
            .map_err(|e| Error::Key(e.to_string()))
            .and_then(|k| {
                aws_lc_rs::rsa::Pkcs1PrivateDecryptingKey::new(k)
                    .map_err(|_| Error::Key("PKCS#1 decrypting key".into()))
            })?;
        Ok(Self {
            pair,
            dec,
            fallback: key.clone(),
        })
    }
}

#[cfg(feature = "aws-lc-rs")]
impl PrivateKey for AwsLcRsaKey {
    fn public_key_der(&self) -> Vec<u8> {
        self.fallback.spki.clone()
    }

    fn sign(&self, digest: DigestAlgorithm, message: &[u8]) -> Result<Vec<u8>> {
        use aws_lc_rs::signature as sig;
        let enc: &'static dyn sig::RsaEncoding = match digest {
            DigestAlgorithm::Sha1 => return self.fallback.sign(digest, message),
            DigestAlgorithm::Sha256 => &sig::RSA_PKCS1_SHA256,
            DigestAlgorithm::Sha384 => &sig::RSA_PKCS1_SHA384,
            DigestAlgorithm::Sha512 => &sig::RSA_PKCS1_SHA512,
        };
        let mut out = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                enc,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut out,
            )
            .map_err(|_| Error::Key("aws-lc-rs signing failed".into()))?;
        Ok(out)
    }

    fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        use rand::Rng as _;
        if ciphertext.len() != self.dec.key_size_bytes() {
            return Err(Error::Decrypt(format!(
                "RSA key transport: ciphertext is {} bytes, the key is {}",
                ciphertext.len(),
                self.dec.key_size_bytes()
            )));
        }
        let mut out = vec![0u8; self.dec.min_output_size()];
        match self.dec.decrypt(ciphertext, &mut out) {
            Ok(pt) => Ok(pt.to_vec()),
            Err(_) => {
                let mut junk = vec![0u8; 16];
                rand::rng().fill_bytes(&mut junk);
                Ok(junk)
            }
        }
    }
}
