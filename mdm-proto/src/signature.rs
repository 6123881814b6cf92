//! Request signatures: the `Mdm-Signature` header, and client certificates from proxies.
//!
//! A device whose enrollment profile sets `SignMessage` signs every request body with its
//! identity: the `Mdm-Signature` header holds the base64 of a detached CMS SignedData over
//! the body. Servers behind a TLS-terminating proxy get the device's certificate in a header
//! instead. Both give the certificate that identifies the device (parsed strictly); binding it
//! to an enrollment is the server's policy.
//!
//! The CMS work (detached SignedData, certificates) is `mdm-pki`'s; this module owns the
//! MDM-facing parts: the header encodings (feature `signature`).

use crate::error::{Error, Result};
use base64::Engine;

pub use mdm_pki::Certificate;
pub use mdm_pki::DigestAlgorithm;
pub use mdm_pki::key::{PrivateKey, RsaKey};

/// Largest header value accepted, in bytes.
pub const MAX_HEADER: usize = mdm_pki::cms::MAX_SIGNATURE;

fn signature_error(context: &'static str) -> impl FnOnce(mdm_pki::Error) -> Error {
    move |e| Error::Signature(format!("{context}: {e}"))
}

fn bad(context: &str, reason: impl std::fmt::Display) -> Error {
    Error::Signature(format!("{context}: {reason}"))
}

/// Verifies the `Mdm-Signature` header over a request body and returns the signer's
/// certificate. RSA always; ECDSA P-256 where `mdm-pki` supports it.
pub fn verify_mdm_signature(body: &[u8], header_value: &str) -> Result<Certificate> {
    if header_value.len() > MAX_HEADER * 2 {
        return Err(bad("Mdm-Signature", "header too large"));
    }
    // Devices send one line; folded headers keep their whitespace, which is dropped.
    let compact: std::borrow::Cow<'_, str> = if header_value.chars().any(char::is_whitespace) {
        header_value
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .into()
    } else {
        header_value.into()
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| bad("Mdm-Signature", format!("bad base64: {e}")))?;
    mdm_pki::cms::verify_detached(body, &der).map_err(signature_error("Mdm-Signature"))
}

/// Signs a request body as a device does: the `Mdm-Signature` header value (SHA-256).
pub fn sign_mdm_signature(body: &[u8], cert: &Certificate, key: &dyn PrivateKey) -> Result<String> {
    let der = mdm_pki::cms::sign_detached(body, cert, key, DigestAlgorithm::Sha256)
        .map_err(signature_error("signing the body"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}

/// Parses the client certificate a TLS-terminating proxy passes in a header: RFC 9440
/// (`:base64:`), URL-escaped PEM (nginx `$ssl_client_escaped_cert`), PEM with its newlines
/// folded into spaces, or bare base64 DER.
pub fn client_certificate_from_header(value: &str) -> Result<Certificate> {
    const CONTEXT: &str = "client certificate header";
    let value = value.trim();
    if value.len() > MAX_HEADER {
        return Err(bad(
            CONTEXT,
            format!("{} bytes, at most {MAX_HEADER}", value.len()),
        ));
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let der = if let Some(inner) = value.strip_prefix(':').and_then(|v| v.strip_suffix(':')) {
        b64.decode(inner.as_bytes())
            .map_err(|e| bad(CONTEXT, format!("bad base64: {e}")))?
    } else {
        let decoded = if value.contains('%') {
            percent_decode(value).ok_or_else(|| bad(CONTEXT, "bad percent-encoding"))?
        } else {
            value.to_owned()
        };
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let body = match decoded.find(BEGIN) {
            Some(start) => {
                let rest = &decoded[start + BEGIN.len()..];
                let end = rest
                    .find(END)
                    .ok_or_else(|| bad(CONTEXT, "no END CERTIFICATE line"))?;
                &rest[..end]
            }
            None => decoded.as_str(),
        };
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        b64.decode(compact.as_bytes())
            .map_err(|_| bad(CONTEXT, "neither PEM nor base64 DER"))?
    };
    mdm_pki::cms::parse_certificate(&der).map_err(signature_error(CONTEXT))
}

/// Decodes `%XX` escapes (`+` stays `+`); `None` on a bad escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The DER encoding of a certificate (to store it, or compare it with a bound one).
pub fn certificate_der(cert: &Certificate) -> Result<Vec<u8>> {
    use mdm_pki::der::Encode;
    cert.to_der()
        .map_err(|e| Error::Signature(format!("encoding the certificate: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdm_pki::issue::{IssueOptions, common_name, self_signed};

    fn identity() -> (Certificate, RsaKey) {
        let key = RsaKey::generate(1024).unwrap();
        let cert = self_signed(
            &key,
            &common_name("device"),
            false,
            &IssueOptions::new(vec![1], 1_700_000_000, 3600),
        )
        .unwrap();
        (cert, key)
    }

    #[test]
    fn a_signed_body_verifies_and_a_changed_one_does_not() {
        let (cert, key) = identity();
        let body =
            b"<plist><dict><key>MessageType</key><string>Authenticate</string></dict></plist>";
        let header = sign_mdm_signature(body, &cert, &key).unwrap();
        let signer = verify_mdm_signature(body, &header).unwrap();
        assert_eq!(
            certificate_der(&signer).unwrap(),
            certificate_der(&cert).unwrap()
        );
        let err = verify_mdm_signature(b"<plist/>", &header).unwrap_err();
        assert!(matches!(err, Error::Signature(_)), "{err}");
        assert!(verify_mdm_signature(body, "not base64!").is_err());
    }

    #[test]
    fn client_certificate_headers_in_both_forms() {
        let (cert, _) = identity();
        let der = certificate_der(&cert).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let rfc9440 = format!(":{b64}:");
        assert_eq!(
            certificate_der(&client_certificate_from_header(&rfc9440).unwrap()).unwrap(),
            der
        );
        let pem = format!("-----BEGIN CERTIFICATE-----\n{b64}\n-----END CERTIFICATE-----\n");
        let escaped: String = pem
            .bytes()
            .map(|b| match b {
                b'\n' => "%0A".to_owned(),
                b' ' => "%20".to_owned(),
                b'+' => "%2B".to_owned(),
                b'/' => "%2F".to_owned(),
                b'=' => "%3D".to_owned(),
                other => char::from(other).to_string(),
            })
            .collect();
        assert_eq!(
            certificate_der(&client_certificate_from_header(&escaped).unwrap()).unwrap(),
            der
        );
        let folded = pem.replace('\n', " ");
        assert_eq!(
            certificate_der(&client_certificate_from_header(&folded).unwrap()).unwrap(),
            der
        );
        assert!(client_certificate_from_header("garbage").is_err());
        assert!(client_certificate_from_header(":garbage:").is_err());
        assert!(client_certificate_from_header(&"A".repeat(100_000)).is_err());
    }
}
