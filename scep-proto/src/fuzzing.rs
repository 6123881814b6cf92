//! Entry points for fuzz targets (not a stable API).

/// Decodes a pkiMessage and everything reachable without keys.
pub fn pki_message(data: &[u8]) {
    if let Ok(m) = crate::PkiMessage::decode(data) {
        let _ = m.verify(&[]);
        if let Some(env) = &m.envelope {
            let _ = crate::asn1::ber_to_der(env);
        }
    }
    let _ = crate::Csr::parse(data);
}

/// Decodes a CertRep as the client does before decrypting, and a certs-only bundle.
pub fn cert_rep(data: &[u8]) {
    if let Ok(m) = crate::PkiMessage::decode(data) {
        let _ = m.signer_certificate();
        let _ = m.verify(&[]);
    }
    let _ = crate::cms::parse_certs_only(data);
    let _ = crate::cms::parse_certificates(data);
}

/// The BER normaliser and the operation parser (the PKI parsers have their own entry
/// points in `mdm_pki::fuzzing`).
pub fn ber(data: &[u8]) {
    let _ = crate::asn1::ber_to_der(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = crate::operation::parse_request("GET", s, &[]);
    }
}
