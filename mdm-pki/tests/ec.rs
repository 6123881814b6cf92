//! ECDSA P-256: sign and verify round trips, CMS signed with an `EcKey`, certificates and
//! CSRs signed by EC keys, EC keys through the PEM reader, and hostile EC input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NOW, ca, key};
use mdm_pki::cms::{self, Signer};
use mdm_pki::issue::{self, IssueOptions};
use mdm_pki::key::{self, EcKey};
use mdm_pki::validate::{Validation, validate_chain, validate_path};
use mdm_pki::{Csr, DigestAlgorithm, Error, PrivateKey, fuzzing, oids, pem};

#[test]
fn sign_and_verify_round_trip_with_every_digest() {
    let k = EcKey::generate().unwrap();
    let spki = k.public_key_der();
    for d in [
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ] {
        let sig = k.sign(d, b"message").unwrap();
        key::verify_signature(&spki, d, b"message", &sig).unwrap();
        assert!(matches!(
            key::verify_signature(&spki, d, b"messagf", &sig),
            Err(Error::BadSignature(_))
        ));
        // Another key does not verify it.
        let other = EcKey::generate().unwrap().public_key_der();
        assert!(key::verify_signature(&other, d, b"message", &sig).is_err());
    }
    // The signature algorithm is ecdsa-with-SHA256 with absent parameters (RFC 5758).
    assert_eq!(
        k.signature_algorithm(DigestAlgorithm::Sha256),
        mdm_pki::asn1::alg_id(&oids::ECDSA_WITH_SHA256, false)
    );
    assert!(matches!(
        k.decrypt(&[0; 32]),
        Err(Error::Unsupported { .. })
    ));
}

#[test]
fn ec_keys_round_trip_through_pem_and_der() {
    let k = EcKey::generate().unwrap();
    let pem_text = k.to_pkcs8_pem().unwrap();
    let back = EcKey::from_pem(&pem_text, None).unwrap();
    assert_eq!(back.public_key_der(), k.public_key_der());
    let any = key::private_key_from_pem(&pem_text, None).unwrap();
    assert_eq!(any.public_key_der(), k.public_key_der());
    // An RSA key is named as such.
    let rsa_pem = key(1).to_pkcs1_pem().unwrap();
    assert!(EcKey::from_pem(&rsa_pem, None).is_err());
    assert_eq!(
        key::private_key_from_pem(&rsa_pem, None)
            .unwrap()
            .public_key_der(),
        key(1).public_key_der()
    );
}

#[test]
fn cms_signed_with_an_ec_key_verifies() {
    let k = EcKey::generate().unwrap();
    let cert = issue::self_signed(
        &k,
        &issue::common_name("ec signer"),
        false,
        &IssueOptions::new(vec![3], NOW - 60, 3600),
    )
    .unwrap();
    for d in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha384] {
        let signer = Signer {
            cert: &cert,
            key: &k,
            digest: d,
        };
        let der = cms::sign(&oids::DATA, b"payload", false, &signer, &[], &[]).unwrap();
        let sd = cms::SignedData::parse(&der).unwrap();
        assert_eq!(sd.signers[0].signature_oid, d.ecdsa_signature_oid());
        let (_, cert_der) = sd.signer_certificate(0).unwrap();
        sd.verify(0, cert_der, None).unwrap();
        let detached = cms::sign_detached(b"body", &cert, &k, d).unwrap();
        assert_eq!(cms::verify_detached(b"body", &detached).unwrap(), cert);
        assert!(cms::verify_detached(b"bodz", &detached).is_err());
    }
}

#[test]
fn certificates_and_csrs_signed_by_ec_keys_validate() {
    let ec_ca_key = EcKey::generate().unwrap();
    let ec_ca = issue::self_signed(
        &ec_ca_key,
        &issue::name_from_str("CN=EC Root,O=mdm-pki").unwrap(),
        true,
        &IssueOptions::new(vec![1], NOW - 3600, 86_400),
    )
    .unwrap();
    // An EC device key's CSR verifies and an RSA CA issues for it.
    let device_key = EcKey::generate().unwrap();
    let csr = Csr::parse(
        &Csr::build(
            &device_key,
            &issue::common_name("ec device"),
            None,
            &[],
            DigestAlgorithm::Sha256,
        )
        .unwrap(),
    )
    .unwrap();
    csr.verify().unwrap();
    let (rsa_ca, rsa_ca_key) = ca();
    let ec_leaf = issue::issue(
        &csr,
        &rsa_ca,
        rsa_ca_key.as_ref(),
        &IssueOptions::new(vec![2], NOW, 3600),
    )
    .unwrap();
    let at = Validation::at(NOW + 60);
    validate_chain(&ec_leaf, std::slice::from_ref(&rsa_ca), &at).unwrap();
    // The EC CA issues an intermediate (EC) and an RSA leaf below it.
    let inter_key = EcKey::generate().unwrap();
    let inter_csr = Csr::parse(
        &Csr::build(
            &inter_key,
            &issue::common_name("EC Sub CA"),
            None,
            &[],
            DigestAlgorithm::Sha384,
        )
        .unwrap(),
    )
    .unwrap();
    let inter = issue::issue(
        &inter_csr,
        &ec_ca,
        &ec_ca_key,
        &IssueOptions::new(vec![3], NOW - 60, 86_400)
            .with_ca(Some(0))
            .with_digest(DigestAlgorithm::Sha384),
    )
    .unwrap();
    let rsa_csr = Csr::parse(
        &Csr::build(
            key(1).as_ref(),
            &issue::common_name("rsa device"),
            None,
            &[],
            DigestAlgorithm::Sha256,
        )
        .unwrap(),
    )
    .unwrap();
    let rsa_leaf = issue::issue(
        &rsa_csr,
        &inter,
        &inter_key,
        &IssueOptions::new(vec![4], NOW, 3600),
    )
    .unwrap();
    let path = validate_path(
        &rsa_leaf,
        std::slice::from_ref(&inter),
        std::slice::from_ref(&ec_ca),
        &at,
    )
    .unwrap();
    assert_eq!(path.intermediates, vec![0]);
    // Signed by the wrong EC key: refused.
    assert!(validate_chain(&rsa_leaf, std::slice::from_ref(&ec_ca), &at).is_err());
}

#[test]
fn hostile_ec_keys_and_signatures_get_typed_errors() {
    let k = EcKey::generate().unwrap();
    let spki = k.public_key_der();
    let sig = k.sign(DigestAlgorithm::Sha256, b"m").unwrap();
    let p8 = pem::parse(k.to_pkcs8_pem().unwrap().as_bytes()).unwrap()[0]
        .der
        .clone();
    for n in 0..p8.len() {
        assert!(EcKey::from_der(&p8[..n]).is_err());
    }
    for n in 0..spki.len() {
        assert!(key::verify_signature(&spki[..n], DigestAlgorithm::Sha256, b"m", &sig).is_err());
    }
    for n in 0..sig.len() {
        assert!(matches!(
            key::verify_signature(&spki, DigestAlgorithm::Sha256, b"m", &sig[..n]),
            Err(Error::BadSignature(_))
        ));
    }
    // A point off the curve.
    let mut bad = spki.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(key::verify_signature(&bad, DigestAlgorithm::Sha256, b"m", &sig).is_err());
    // The fuzz entry point over mutations of (spki, signature).
    let mut input = vec![u8::try_from(spki.len()).unwrap()];
    input.extend_from_slice(&spki);
    input.extend_from_slice(&sig);
    for i in 0..input.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut m = input.clone();
            m[i] ^= flip;
            fuzzing::ecdsa(&m);
        }
        fuzzing::ecdsa(&input[..i]);
    }
}

#[test]
fn a_signature_algorithm_must_fit_the_key() {
    let ec = EcKey::generate().unwrap().public_key_der();
    let rsa = key(1).public_key_der();
    key::check_signature_algorithm(&ec, &oids::ECDSA_WITH_SHA256).unwrap();
    key::check_signature_algorithm(&ec, &oids::EC_PUBLIC_KEY).unwrap();
    key::check_signature_algorithm(&rsa, &oids::SHA256_WITH_RSA).unwrap();
    key::check_signature_algorithm(&rsa, &oids::RSA_ENCRYPTION).unwrap();
    assert!(matches!(
        key::check_signature_algorithm(&ec, &oids::SHA256_WITH_RSA),
        Err(Error::BadSignature(_))
    ));
    assert!(matches!(
        key::check_signature_algorithm(&rsa, &oids::ECDSA_WITH_SHA256),
        Err(Error::BadSignature(_))
    ));
}
