//! Detached CMS signatures over MDM request bodies (`Mdm-Signature`), and client
//! certificates passed by TLS-terminating proxies.

use x509_cert::Certificate;

use super::{SignedData, Signer, parse_certificate};
use crate::algorithm::DigestAlgorithm;
use crate::error::{Error, Result};
use crate::key::PrivateKey;
use crate::oids;

/// Largest detached signature accepted, in bytes.
pub const MAX_SIGNATURE: usize = 64 * 1024;

/// Verifies a detached CMS SignedData (DER or BER) over `content` and returns the signer's
/// certificate (taken from the SignedData's `certificates`).
///
/// RSA signatures always; ECDSA P-256 with the `aws-lc-rs` feature. The certificate is not
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
    Ok(cert.clone())
}

/// Verifies an `Mdm-Signature` header value (base64 of a detached SignedData) over `body`.
pub fn verify_mdm_signature(body: &[u8], header_value: &str) -> Result<Certificate> {
    use base64::Engine as _;
    let compact: String = header_value
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| Error::invalid("Mdm-Signature header", format!("bad base64: {e}")))?;
    verify_detached(body, &der)
}

/// Signs `content` with a detached CMS SignedData (as a device signs a request body), carrying
/// the signer's certificate. Base64 of the result is an `Mdm-Signature` header value.
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

/// Parses a client certificate forwarded by a TLS-terminating proxy in a header.
///
/// Accepts the RFC 9440 `Client-Cert` form (`:BASE64-DER:`), URL-escaped PEM (nginx
/// `$ssl_client_escaped_cert`), PEM whose newlines became spaces, and bare base64 DER.
pub fn client_cert_from_header(value: &str) -> Result<Certificate> {
    use base64::Engine as _;
    let value = value.trim();
    if value.len() > MAX_SIGNATURE {
        return Err(Error::TooLarge {
            len: value.len(),
            limit: MAX_SIGNATURE,
        });
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(inner) = value.strip_prefix(':').and_then(|v| v.strip_suffix(':')) {
        let der = b64
            .decode(inner.as_bytes())
            .map_err(|e| Error::invalid("client certificate header", format!("bad base64: {e}")))?;
        return parse_certificate(&der);
    }
    let decoded = if value.contains('%') {
        percent_decode(value)?
    } else {
        value.to_owned()
    };
    if let Some(start) = decoded.find("-----BEGIN CERTIFICATE-----") {
        let body = &decoded[start + "-----BEGIN CERTIFICATE-----".len()..];
        let end = body.find("-----END CERTIFICATE-----").ok_or_else(|| {
            Error::invalid("client certificate header", "no END CERTIFICATE line")
        })?;
        let compact: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        let der = b64
            .decode(compact.as_bytes())
            .map_err(|e| Error::invalid("client certificate header", format!("bad base64: {e}")))?;
        return parse_certificate(&der);
    }
    let compact: String = decoded.chars().filter(|c| !c.is_whitespace()).collect();
    let der = b64
        .decode(compact.as_bytes())
        .map_err(|_| Error::invalid("client certificate header", "neither PEM nor base64 DER"))?;
    parse_certificate(&der)
}

/// Decodes `%XX` escapes (and `+` stays `+`).
pub(crate) fn percent_decode(s: &str) -> Result<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    Error::invalid("percent-encoding", format!("bad escape at byte {i}"))
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid("percent-encoding", "not UTF-8"))
}
