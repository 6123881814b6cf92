//! Every SCEP vector in ../shared/corpus/scep decodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::corpus;
use scep_proto::{Ca, Csr, FailInfo, MessageType, PkiMessage, PkiStatus, RequestBody, RsaKey, cms};
use std::sync::Arc;

fn testca() -> (scep_proto::Certificate, RsaKey) {
    let cert = cms::parse_certificates(&corpus("scep_testca_ca.crt"))
        .unwrap()
        .remove(0);
    let pem = String::from_utf8(corpus("scep_testca_ca.key")).unwrap();
    let key = RsaKey::from_pem(&pem, Some(b"")).unwrap();
    (cert, key)
}

#[test]
fn apple_pkcsreq_decrypts_and_has_version_2_csr() {
    let der = corpus("scep_PKCSReq.der");
    let msg = PkiMessage::decode(&der).unwrap();
    assert_eq!(msg.message_type, MessageType::PKCS_REQ);
    assert!(
        msg.transaction_id.starts_with("A13090761A"),
        "{}",
        msg.transaction_id
    );
    assert_eq!(msg.sender_nonce.as_ref().map(Vec::len), Some(8));
    assert_eq!(msg.digest, scep_proto::DigestAlgorithm::Sha1);
    let signer = msg.verify(&[]).unwrap();
    assert!(
        signer
            .tbs_certificate()
            .subject()
            .to_string()
            .contains("MDM SCEP SIGNER")
    );

    let (ca_cert, ca_key) = testca();
    let (inner, _cipher) = msg.open_envelope(&ca_key, Some(&ca_cert)).unwrap();
    let csr = Csr::parse(&inner).unwrap();
    assert_eq!(csr.version, 2);
    assert!(
        csr.subject
            .to_string()
            .contains("com.apple.security.scep.063D7953")
    );
    assert_eq!(csr.challenge_password, None);
    csr.verify().unwrap();

    let ca = Ca::new(ca_cert, Arc::new(ca_key));
    let req = ca.decode_request(&der).unwrap();
    assert!(matches!(req.body, RequestBody::Csr(_)));
    assert!(!req.signer_issued_by_ca);
}

#[test]
fn micromdm_certrep_decodes_and_verifies() {
    let der = corpus("scep_CertRep.der");
    let msg = PkiMessage::decode(&der).unwrap();
    assert_eq!(msg.message_type, MessageType::CERT_REP);
    assert_eq!(msg.pki_status, Some(PkiStatus::SUCCESS));
    assert!(msg.transaction_id.starts_with("A13090761A"));
    assert!(msg.recipient_nonce.is_some());
    let (ca_cert, _) = testca();
    let signer = msg.verify(&[]).unwrap();
    assert_eq!(signer, ca_cert);
    assert!(msg.envelope.is_some());
    // The envelope is for the device's key, which we do not have: opening with the CA key fails
    // with a typed error.
    let (_, ca_key) = testca();
    assert!(msg.open_envelope(&ca_key, None).is_err());
}

#[test]
fn ndes_certrep_without_signer_certificate_verifies_with_ra() {
    let der = corpus("scep_testca2_CertRep_NoCertificatesForSigners.der");
    let msg = PkiMessage::decode(&der).unwrap();
    assert_eq!(msg.message_type, MessageType::CERT_REP);
    assert!(msg.signer_certificate().is_none());
    let chain = cms::parse_certificates(&corpus("scep_testca2_ca2.pem")).unwrap();
    assert_eq!(chain.len(), 1);
    let signer = msg.verify(&chain).unwrap();
    assert!(
        signer
            .tbs_certificate()
            .subject()
            .to_string()
            .contains("MSCEP-RA")
    );
    assert!(msg.verify(&[]).is_err());
    let _ = FailInfo::BAD_REQUEST;
}

#[test]
fn corpus_certificates_parse() {
    assert_eq!(
        cms::parse_certificates(&corpus("scep_testca_ca.crt"))
            .unwrap()
            .len(),
        1
    );
}
