//! Detached CMS signatures (a SignedData without its content, such as the signature over
//! an HTTP body).

use x509_cert::Certificate;

use super::{SignedData, Signer};
use crate::algorithm::DigestAlgorithm;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;

/// Largest detached signature accepted, in bytes.
pub const MAX_SIGNATURE: usize = 64 * 1024;

/// Verifies a detached CMS SignedData (DER or BER) over `content` and returns the signer's
/// certificate (taken from the SignedData's `certificates`, parsed strictly: it is an
/// identity).
///
/// RSA and ECDSA P-256 signatures. The certificate is not
/// checked against any trust anchor: that is the caller's policy.
pub fn verify_detached(content: &[u8], signature_der: &[u8]) -> Result<Certificate> {
    if signature_der.len() > MAX_SIGNATURE {
        return Err(Error::TooLarge {
            len: signature_der.len(),
            limit: MAX_SIGNATURE,
        });
    }
    let sd = SignedData::parse(signature_der)?;
    if sd.signers.is_empty() {
        return Err(Error::Missing("SignerInfo"));
    }
    let (cert, der) = sd
        .signer_certificate(0)
        .ok_or(Error::Missing("signer certificate in the SignedData"))?;
    sd.verify(0, der, Some(content))?;
    // The signer identifies a device: its certificate is parsed strictly.
    cert.to_strict()
}

/// Signs `content` with a detached CMS SignedData carrying the signer's certificate.
pub fn sign_detached(
    content: &[u8],
    cert: &Certificate,
    key: &dyn PrivateKey,
    digest: DigestAlgorithm,
) -> Result<Vec<u8>> {
    super::sign(
        &oids::DATA,
        content,
        true,
        &Signer { cert, key, digest },
        &[],
        &[],
    )
}
