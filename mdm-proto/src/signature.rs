//! Request signatures: the `Mdm-Signature` header, and client certificates from proxies.
//!
//! A device whose enrollment profile sets `SignMessage` signs every request body with its
//! identity: the `Mdm-Signature` header holds the base64 of a detached CMS SignedData over
//! the body. Servers behind a TLS-terminating proxy get the device's certificate in a header
//! instead. Both give the certificate that identifies the device; binding it to an
//! enrollment is the server's policy.
//!
//! The CMS work is done once, in `scep-proto`'s CMS module; this module is the MDM-facing
//! front of it (feature `signature`).

use crate::error::{Error, Result};
use base64::Engine;

pub use scep_proto::Certificate;
pub use scep_proto::DigestAlgorithm;
pub use scep_proto::key::{PrivateKey, RsaKey};

fn signature_error(context: &'static str) -> impl FnOnce(scep_proto::Error) -> Error {
    move |e| Error::Signature(format!("{context}: {e}"))
}

/// Verifies the `Mdm-Signature` header over a request body and returns the signer's
/// certificate. RSA always; ECDSA P-256 where `scep-proto` supports it.
pub fn verify_mdm_signature(body: &[u8], header_value: &str) -> Result<Certificate> {
    scep_proto::cms::verify_mdm_signature(body, header_value)
        .map_err(signature_error("Mdm-Signature"))
}

/// Signs a request body as a device does: the `Mdm-Signature` header value (SHA-256).
pub fn sign_mdm_signature(body: &[u8], cert: &Certificate, key: &dyn PrivateKey) -> Result<String> {
    let der = scep_proto::cms::sign_detached(body, cert, key, DigestAlgorithm::Sha256)
        .map_err(signature_error("signing the body"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(der))
}

/// Parses the client certificate a TLS-terminating proxy passes in a header: RFC 9440
/// (`:base64:`), URL-escaped PEM, or PEM with its newlines folded.
pub fn client_certificate_from_header(value: &str) -> Result<Certificate> {
    scep_proto::cms::client_cert_from_header(value)
        .map_err(signature_error("client certificate header"))
}

/// The DER encoding of a certificate (to store it, or compare it with a bound one).
pub fn certificate_der(cert: &Certificate) -> Result<Vec<u8>> {
    use scep_proto::der::Encode;
    cert.to_der()
        .map_err(|e| Error::Signature(format!("encoding the certificate: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use scep_proto::issue::{IssueOptions, common_name, self_signed};

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
        assert!(client_certificate_from_header("garbage").is_err());
    }
}
