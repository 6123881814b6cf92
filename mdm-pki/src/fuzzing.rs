//! Entry points for fuzz targets (not a stable API). Each one never panics.

/// The BER normaliser and the DER reader over everything it yields.
pub fn ber(data: &[u8]) {
    if let Ok(der) = crate::asn1::ber_to_der(data) {
        let _ = crate::asn1::Tlv::parse_exact(&der, "fuzz input");
    }
}

/// ECDSA verification with hostile keys and signatures: `data` is split at its first byte
/// into a SubjectPublicKeyInfo and a signature.
pub fn ecdsa(data: &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (spki, sig) = rest.split_at(usize::from(n).min(rest.len()));
    let _ = crate::key::verify_signature(spki, crate::DigestAlgorithm::Sha256, b"m", sig);
}

/// Certificates (strict and lenient), certs-only bundles, CSRs and SignedData.
pub fn certificate(data: &[u8]) {
    let _ = crate::cms::parse_certificate(data);
    let _ = crate::cms::LenientCertificate::parse(data);
    let _ = crate::cms::CertParts::parse(data);
    let _ = crate::cms::parse_certificates(data);
    if let Ok(sd) = crate::cms::SignedData::parse(data) {
        for i in 0..sd.signers.len() {
            if let Some((_, der)) = sd.signer_certificate(i) {
                let _ = sd.verify(i, der, Some(b""));
            }
        }
    }
    if let Ok(csr) = crate::Csr::parse(data) {
        let _ = csr.verify();
    }
}

/// The PEM reader (certificates and keys, with a passphrase) and the PKCS#12 reader.
pub fn pem_and_pkcs12(data: &[u8]) {
    let _ = crate::pem::certificates(data, 16);
    if let Ok(k) = crate::pem::private_key(data, Some(b"secret")) {
        let _ = k.public_key_bits();
        let _ = crate::key::EcKey::from_der(k.der());
    }
    let _ = crate::key::EcKey::from_der(data);
    let _ = crate::pkcs12::read(data, "secret");
}
