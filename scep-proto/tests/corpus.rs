//! Every SCEP vector in ../shared/corpus/scep decodes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/corpus_files.rs"]
mod corpus_files;

use corpus_files::{corpus, have_corpus};
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
    if !have_corpus() {
        return;
    }
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
    if !have_corpus() {
        return;
    }
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
    if !have_corpus() {
        return;
    }
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
    if !have_corpus() {
        return;
    }
    assert_eq!(
        cms::parse_certificates(&corpus("scep_testca_ca.crt"))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn mobileconfig_carries_the_test_ca_and_scep_payload() {
    if !have_corpus() {
        return;
    }
    let v: plist::Value = plist::from_bytes(&corpus("scep_sceptest.mobileconfig")).unwrap();
    let items = v
        .as_dictionary()
        .and_then(|d| d.get("PayloadContent"))
        .and_then(plist::Value::as_array)
        .unwrap();
    let (ca_cert, _) = testca();
    let mut saw_root = false;
    let mut saw_scep = false;
    for item in items {
        let d = item.as_dictionary().unwrap();
        match d.get("PayloadType").and_then(plist::Value::as_string) {
            Some("com.apple.security.root") => {
                let data = d
                    .get("PayloadContent")
                    .and_then(plist::Value::as_data)
                    .unwrap();
                assert_eq!(cms::parse_certificates(data).unwrap()[0], ca_cert);
                saw_root = true;
            }
            Some("com.apple.security.scep") => {
                let c = d
                    .get("PayloadContent")
                    .and_then(plist::Value::as_dictionary)
                    .unwrap();
                assert!(
                    c.get("URL")
                        .and_then(plist::Value::as_string)
                        .unwrap()
                        .ends_with("/scep")
                );
                saw_scep = true;
            }
            _ => {}
        }
    }
    assert!(saw_root && saw_scep);
}

#[test]
fn operations_and_capabilities_parse() {
    if !have_corpus() {
        return;
    }
    use base64::Engine as _;
    use scep_proto::{Capabilities, Capability, Operation, operation};
    let der = corpus("scep_PKCSReq.der");
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    // '+' left unescaped (form-decoded to ' ') and '%2B' both work.
    for q in [
        format!("operation=PKIOperation&message={b64}"),
        format!(
            "operation=PKIOperation&message={}",
            b64.replace('+', "%2B").replace('/', "%2F")
        ),
    ] {
        assert_eq!(
            operation::parse_request("GET", &q, b"").unwrap(),
            Operation::PkiOperation(der.clone())
        );
    }
    let t = operation::request_target("/scep", &Operation::PkiOperation(der.clone()));
    let q = t.split_once('?').unwrap().1;
    assert_eq!(
        operation::parse_request("GET", q, b"").unwrap(),
        Operation::PkiOperation(der.clone())
    );
    assert_eq!(
        operation::parse_request("POST", "operation=PKIOperation", &der).unwrap(),
        Operation::PkiOperation(der.clone())
    );
    assert_eq!(
        operation::parse_request("GET", "operation=GetNextCACert", b"").unwrap(),
        Operation::GetNextCaCert
    );
    assert!(matches!(
        operation::parse_request("GET", "operation=Foo", b"").unwrap(),
        Operation::Other(_)
    ));
    assert!(operation::parse_request("GET", "message=x", b"").is_err());
    assert!(operation::parse_request("GET", "operation=PKIOperation&message=!!", b"").is_err());

    let caps =
        Capabilities::parse("GetNextCACert\r\nPOSTPKIOperation\nSHA-512\nDES3\nFancyNew\n\n");
    assert!(caps.has(&Capability::GetNextCaCert));
    assert!(caps.has(&Capability::Other("FancyNew".into())));
    assert_eq!(caps.best_digest(), scep_proto::DigestAlgorithm::Sha512);
    assert_eq!(caps.best_cipher(), scep_proto::ContentCipher::DesEde3Cbc);
    assert_eq!(Capabilities::parse(&caps.to_body()), caps);
    assert_eq!(
        Capabilities::parse("").best_cipher(),
        scep_proto::ContentCipher::DesCbc
    );
    assert!(Capabilities::parse("SCEPStandard").has(&Capability::Aes));
}

#[test]
fn wire_codes_round_trip() {
    for (t, name) in [
        (MessageType::CERT_REP, "CertRep"),
        (MessageType::RENEWAL_REQ, "RenewalReq"),
        (MessageType::PKCS_REQ, "PKCSReq"),
        (MessageType::CERT_POLL, "CertPoll"),
        (MessageType::GET_CERT, "GetCert"),
        (MessageType::GET_CRL, "GetCRL"),
    ] {
        assert_eq!(t.name(), Some(name));
        assert_eq!(MessageType::from_wire(&t.to_wire()), Some(t));
        assert_eq!(MessageType::try_from(name).unwrap(), t);
    }
    assert!(!MessageType(99).is_known());
    assert_eq!(format!("{:?}", MessageType(99)), "MessageType(99)");
    assert_eq!(MessageType::from_wire("-1"), None);
    for f in 0..5 {
        assert!(FailInfo(f).is_known());
    }
    assert_eq!(FailInfo::BAD_CERT_ID.to_string(), "badCertId");
    assert_eq!(PkiStatus::from_wire("3"), Some(PkiStatus::PENDING));
}
