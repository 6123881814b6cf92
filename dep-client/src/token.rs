//! Server tokens: the key pair and certificate an administrator uploads to Apple Business
//! Manager, and the decryption of the token file Apple gives back.
//!
//! The token file is an S/MIME message (`smime.p7m`): MIME headers, then the base64 of a
//! CMS EnvelopedData encrypted to the uploaded certificate. Inside is a small text/plain MIME
//! part whose JSON token sits between `-----BEGIN MESSAGE-----` and `-----END MESSAGE-----`.

use std::time::Duration;

use base64::Engine as _;
use der::{Decode, Encode};
use rsa::PrivateKey;

use crate::error::Error;
use crate::types::ServerToken;

/// The largest token file accepted, in bytes (real ones are about 2 KB).
pub const MAX_TOKEN_FILE: usize = 1024 * 1024;
/// The RSA modulus size of generated keys.
pub const KEY_BITS: usize = 2048;

/// A private key and the self-signed certificate to upload to Apple Business Manager.
#[derive(Clone)]
#[non_exhaustive]
pub struct KeyPair {
    /// The private key.
    pub private_key: PrivateKey,
    /// The certificate, DER.
    pub certificate_der: Vec<u8>,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private_key", &"<redacted>")
            .field(
                "certificate_der",
                &format_args!("{} bytes", self.certificate_der.len()),
            )
            .finish()
    }
}

impl KeyPair {
    /// Generates a 2048-bit RSA key and a self-signed certificate for it, valid for
    /// `validity` from now, with subject `CN=<common_name>`.
    pub fn generate(common_name: &str, validity: Duration) -> Result<Self, Error> {
        let mut rng = rand::rng();
        let private_key = PrivateKey::new(&mut rng, KEY_BITS).map_err(|e| Error::Crypto {
            context: "RSA key generation",
            reason: e.to_string(),
        })?;
        Self::from_private_key(private_key, common_name, validity)
    }

    /// A self-signed certificate for an existing key.
    pub fn from_private_key(
        private_key: PrivateKey,
        common_name: &str,
        validity: Duration,
    ) -> Result<Self, Error> {
        let crypto = |context: &'static str| {
            move |e: &dyn std::fmt::Display| Error::Crypto {
                context,
                reason: e.to_string(),
            }
        };
        if common_name.is_empty()
            || common_name.chars().any(|c| {
                matches!(c, ',' | '=' | '+' | '\\' | '"' | '<' | '>' | ';') || c.is_control()
            })
        {
            return Err(Error::InvalidInput {
                what: "common name",
                reason: "empty, or contains a character reserved in distinguished names".into(),
            });
        }
        // The issuer is mdm-pki's, as for every certificate the workspace makes; dep-client
        // reads the clock here (the only place it does) for the validity window.
        let key =
            mdm_pki::RsaKey::new(private_key.clone()).map_err(|e| crypto("private key")(&e))?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|e| crypto("clock")(&e))?;
        let now = i64::try_from(now.as_secs()).map_err(|e| crypto("clock")(&e))?;
        let secs = i64::try_from(validity.as_secs()).map_err(|e| crypto("validity")(&e))?;
        let serial: [u8; 16] = rand::random();
        let mut serial = serial.to_vec();
        serial[0] &= 0x7f;
        serial[0] |= 0x01;
        let cert = mdm_pki::issue::self_signed(
            &key,
            &mdm_pki::issue::common_name(common_name),
            false,
            &mdm_pki::issue::IssueOptions::new(serial, now, secs),
        )
        .map_err(|e| crypto("certificate")(&e))?;
        let certificate_der = cert
            .to_der()
            .map_err(|e| crypto("certificate encoding")(&e))?;
        Ok(KeyPair {
            private_key,
            certificate_der,
        })
    }

    /// The certificate in PEM, the file to upload to Apple Business Manager.
    pub fn certificate_pem(&self) -> Result<String, Error> {
        x509_cert::Certificate::from_der(&self.certificate_der).map_err(|e| Error::Crypto {
            context: "certificate",
            reason: e.to_string(),
        })?;
        Ok(mdm_pki::pem::encode("CERTIFICATE", &self.certificate_der))
    }

    /// The private key in PKCS#8 PEM (keep it secret: it opens the token file).
    pub fn private_key_pem(&self) -> Result<String, Error> {
        mdm_pki::RsaKey::new(self.private_key.clone())
            .and_then(|k| k.to_pkcs8_pem())
            .map_err(|e| Error::Crypto {
                context: "private key PEM",
                reason: e.to_string(),
            })
    }

    /// Loads a private key (PKCS#8 or PKCS#1 PEM, read by mdm-pki's one PEM reader) and its
    /// certificate (PEM or DER).
    pub fn from_pem(private_key_pem: &str, certificate: &[u8]) -> Result<Self, Error> {
        let private_key = mdm_pki::RsaKey::from_pem(private_key_pem, None)
            .map(|k| k.inner().clone())
            .map_err(|e| Error::InvalidInput {
                what: "private key",
                reason: format!("not an RSA key in PKCS#8 or PKCS#1 PEM: {e}"),
            })?;
        let certificate_der = certificate_to_der(certificate)?;
        Ok(KeyPair {
            private_key,
            certificate_der,
        })
    }
}

fn certificate_to_der(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let invalid = |e: &dyn std::fmt::Display| Error::InvalidInput {
        what: "certificate",
        reason: e.to_string(),
    };
    let der = if bytes.trim_ascii_start().starts_with(b"-----") {
        mdm_pki::pem::certificates(bytes, 1)
            .map_err(|e| invalid(&e))?
            .into_iter()
            .next()
            .ok_or_else(|| invalid(&"no CERTIFICATE block"))?
    } else {
        bytes.to_vec()
    };
    mdm_pki::cms::parse_certificate(&der).map_err(|e| invalid(&e))?;
    Ok(der)
}

/// Opens a CMS EnvelopedData (DER) with a private key: the seam to the workspace's CMS
/// module, kept as a trait so another backend (an HSM, a faster RSA) can plug in.
pub trait EnvelopeDecryptor {
    /// Decrypts the envelope and returns its content.
    fn decrypt_envelope(&self, envelope_der: &[u8]) -> Result<Vec<u8>, Error>;
}

impl EnvelopeDecryptor for KeyPair {
    /// Opens the envelope with the workspace's CMS module (`mdm_pki::cms`): RSA key
    /// transport, AES or (3)DES content encryption, DER or BER.
    fn decrypt_envelope(&self, envelope_der: &[u8]) -> Result<Vec<u8>, Error> {
        let key = mdm_pki::RsaKey::new(self.private_key.clone()).map_err(|e| Error::Crypto {
            context: "private key",
            reason: e.to_string(),
        })?;
        let cert = x509_cert::Certificate::from_der(&self.certificate_der).ok();
        mdm_pki::cms::open_envelope(envelope_der, &key, cert.as_ref())
            .map(|(content, _cipher)| content)
            .map_err(|e| Error::TokenFile {
                reason: format!("cannot open the CMS envelope: {e}"),
            })
    }
}

/// Splits an S/MIME message into its CMS DER: MIME headers then base64, or a bare PEM
/// (`-----BEGIN PKCS7-----`), or bare DER.
pub fn smime_to_der(file: &[u8]) -> Result<Vec<u8>, Error> {
    if file.len() > MAX_TOKEN_FILE {
        return Err(Error::BodyTooLarge {
            context: "token file",
            len: file.len(),
            limit: MAX_TOKEN_FILE,
        });
    }
    if file.first() == Some(&0x30) {
        return Ok(file.to_vec());
    }
    let text = std::str::from_utf8(file).map_err(|e| Error::TokenFile {
        reason: format!(
            "not text and not DER (invalid UTF-8 at byte {})",
            e.valid_up_to()
        ),
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let payload: String = if let Some(start) = text.find("-----BEGIN") {
        let after = &text[start..];
        let body_start = after.find('\n').map(|i| i + 1).unwrap_or(after.len());
        let body = &after[body_start..];
        let end = body.find("-----END").ok_or_else(|| Error::TokenFile {
            reason: "PEM block has no -----END line".into(),
        })?;
        body[..end].to_string()
    } else {
        let (headers, body) = split_mime(text).ok_or_else(|| Error::TokenFile {
            reason: "no blank line between the MIME headers and the body".into(),
        })?;
        let headers = headers.to_ascii_lowercase();
        if !headers.contains("pkcs7-mime") && !headers.contains("x-pkcs7-mime") {
            return Err(Error::TokenFile {
                reason: "the Content-Type header is not application/pkcs7-mime".into(),
            });
        }
        if headers.contains("content-transfer-encoding") && !headers.contains("base64") {
            return Err(Error::TokenFile {
                reason: "the Content-Transfer-Encoding is not base64".into(),
            });
        }
        body.to_string()
    };
    let compact: String = payload
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| Error::TokenFile {
            reason: format!("the body is not base64: {e}"),
        })
}

fn split_mime(text: &str) -> Option<(&str, &str)> {
    let crlf = text.find("\r\n\r\n").map(|i| (i, 4));
    let lf = text.find("\n\n").map(|i| (i, 2));
    let (i, n) = match (crlf, lf) {
        (Some(a), Some(b)) => {
            if a.0 < b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    Some((&text[..i], &text[i + n..]))
}

/// Decodes the decrypted content of a token file: the JSON between the
/// `-----BEGIN MESSAGE-----` lines (MIME headers before it are skipped), or bare JSON.
pub fn decode_token_text(content: &[u8]) -> Result<ServerToken, Error> {
    if content.len() > MAX_TOKEN_FILE {
        return Err(Error::BodyTooLarge {
            context: "token",
            len: content.len(),
            limit: MAX_TOKEN_FILE,
        });
    }
    let text = std::str::from_utf8(content).map_err(|e| Error::TokenFile {
        reason: format!(
            "the decrypted token is not UTF-8 (at byte {})",
            e.valid_up_to()
        ),
    })?;
    const BEGIN: &str = "-----BEGIN MESSAGE-----";
    const END: &str = "-----END MESSAGE-----";
    let json = match text.find(BEGIN) {
        Some(start) => {
            let body = &text[start + BEGIN.len()..];
            let end = body.find(END).ok_or_else(|| Error::TokenFile {
                reason: "-----BEGIN MESSAGE----- without -----END MESSAGE-----".into(),
            })?;
            &body[..end]
        }
        None => match text.find('{') {
            Some(start) => &text[start..],
            None => {
                return Err(Error::TokenFile {
                    reason: "no -----BEGIN MESSAGE----- line and no JSON object".into(),
                });
            }
        },
    };
    let token: ServerToken = serde_json::from_str(json.trim()).map_err(|e| Error::TokenFile {
        reason: format!("the token JSON is malformed: {e}"),
    })?;
    for (name, value) in [
        ("consumer_key", &token.consumer_key),
        ("consumer_secret", &token.consumer_secret),
        ("access_token", &token.access_token),
        ("access_secret", &token.access_secret),
    ] {
        if value.is_empty() {
            return Err(Error::TokenFile {
                reason: format!("{name} is empty"),
            });
        }
    }
    Ok(token)
}

/// Decrypts a token file with a decryptor and decodes the token inside. A file that is
/// already decrypted (it holds the `-----BEGIN MESSAGE-----` block) is decoded as is.
pub fn decrypt_token_file(
    file: &[u8],
    decryptor: &dyn EnvelopeDecryptor,
) -> Result<ServerToken, Error> {
    // An administrator may have decrypted the file already (Apple documents that path).
    if file.len() <= MAX_TOKEN_FILE
        && file
            .windows(b"-----BEGIN MESSAGE-----".len())
            .any(|w| w == b"-----BEGIN MESSAGE-----")
    {
        return decode_token_text(file);
    }
    let der = smime_to_der(file)?;
    let content = decryptor.decrypt_envelope(&der)?;
    decode_token_text(&content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_text_variants() {
        let json = r#"{"consumer_key":"CK_1","consumer_secret":"CS_1","access_token":"AT_1","access_secret":"AS_1","access_token_expiry":"2030-01-02T03:04:05Z","new_key":1}"#;
        let wrapped = format!(
            "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n-----BEGIN MESSAGE-----\n{json}\n-----END MESSAGE-----\n"
        );
        let t = decode_token_text(wrapped.as_bytes()).unwrap();
        assert_eq!(t.consumer_key, "CK_1");
        assert_eq!(t.access_secret, "AS_1");
        assert!(t.extra.contains_key("new_key"));
        assert!(t.expiry().is_some());
        assert_eq!(decode_token_text(json.as_bytes()).unwrap(), t);
        struct Never;
        impl EnvelopeDecryptor for Never {
            fn decrypt_envelope(&self, _: &[u8]) -> Result<Vec<u8>, Error> {
                Err(Error::TokenFile {
                    reason: "not called".into(),
                })
            }
        }
        assert_eq!(decrypt_token_file(wrapped.as_bytes(), &Never).unwrap(), t);
        assert!(!format!("{t:?}").contains("CS_1"));
        assert!(decode_token_text(b"-----BEGIN MESSAGE-----\n{}").is_err());
        assert!(decode_token_text(b"hello").is_err());
        let e = decode_token_text(
            br#"{"consumer_key":"","consumer_secret":"a","access_token":"b","access_secret":"c"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("consumer_key"));
    }

    #[test]
    fn smime_variants() {
        let der = b"\x30\x03\x02\x01\x00";
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mime = format!(
            "MIME-Version: 1.0\nContent-Disposition: attachment; filename=\"smime.p7m\"\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=\"smime.p7m\"\nContent-Transfer-Encoding: base64\n\n{b64}\n"
        );
        assert_eq!(smime_to_der(mime.as_bytes()).unwrap(), der);
        let pem = format!("-----BEGIN PKCS7-----\n{b64}\n-----END PKCS7-----\n");
        assert_eq!(smime_to_der(pem.as_bytes()).unwrap(), der);
        assert_eq!(smime_to_der(der).unwrap(), der);
        assert!(smime_to_der(b"Content-Type: text/plain\n\nabc").is_err());
        assert!(smime_to_der(b"no headers").is_err());
    }
}
