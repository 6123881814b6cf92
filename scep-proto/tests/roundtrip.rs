//! Client and CA talk to each other: every cipher and digest, pending, failure, renewal, poll.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{NOW, ca, client_signer, key};
use scep_proto::issue::{self, IssueOptions};
use scep_proto::{
    Ca, CertRepOutcome, ContentCipher, Csr, Decision, DigestAlgorithm, Error, FailInfo,
    MessageType, PkiMessage, PrivateKey, RequestBody, client, cms,
};

fn the_ca() -> Ca {
    let (c, k) = ca();
    Ca::new(c, k)
}

fn csr(k: &dyn PrivateKey, challenge: Option<&str>) -> Vec<u8> {
    Csr::build(
        k,
        &issue::name_from_str("CN=device-1,O=Example").unwrap(),
        challenge,
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap()
}

fn issue_for(ca: &Ca, csr: &Csr) -> scep_proto::Certificate {
    issue::issue(
        csr,
        ca.certificate(),
        ca.key(),
        &IssueOptions::new(vec![0x42, 0x01], NOW, 86_400),
    )
    .unwrap()
}

#[test]
fn enroll_with_every_cipher_and_digest() {
    let ca = the_ca();
    let k = key(1);
    let signer = client_signer(k.as_ref(), "device-1");
    let csr_der = csr(k.as_ref(), Some("sekrit"));
    for (cipher, digest) in [
        (ContentCipher::DesCbc, DigestAlgorithm::Sha1),
        (ContentCipher::DesEde3Cbc, DigestAlgorithm::Sha256),
        (ContentCipher::Aes128Cbc, DigestAlgorithm::Sha256),
        (ContentCipher::Aes192Cbc, DigestAlgorithm::Sha512),
        (ContentCipher::Aes256Cbc, DigestAlgorithm::Sha384),
    ] {
        let req = client::pkcs_req(
            &csr_der,
            &signer,
            k.as_ref(),
            ca.certificate(),
            digest,
            cipher,
        )
        .unwrap();
        let got = ca.decode_request(&req.der).unwrap();
        assert_eq!(got.cipher, cipher);
        assert_eq!(got.message.digest, digest);
        assert_eq!(got.message.message_type, MessageType::PKCS_REQ);
        let c = got.csr().unwrap();
        assert_eq!(c.challenge_password.as_deref(), Some("sekrit"));
        assert_eq!(c.version, 0);
        let cert = issue_for(&ca, c);
        let rep = ca
            .respond(&got, &Decision::Issue(Box::new(cert.clone())))
            .unwrap();
        match req
            .open_response(&rep, k.as_ref(), std::slice::from_ref(ca.certificate()))
            .unwrap()
        {
            CertRepOutcome::Issued { certificate, all } => {
                assert_eq!(*certificate, cert);
                assert_eq!(all.len(), 2);
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn pending_then_poll_then_issue() {
    let ca = the_ca();
    let k = key(1);
    let signer = client_signer(k.as_ref(), "device-1");
    let csr_der = csr(k.as_ref(), None);
    let req = client::pkcs_req(
        &csr_der,
        &signer,
        k.as_ref(),
        ca.certificate(),
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();
    let got = ca.decode_request(&req.der).unwrap();
    let rep = ca.respond(&got, &Decision::Pending).unwrap();
    assert!(matches!(
        req.open_response(&rep, k.as_ref(), &[]).unwrap(),
        CertRepOutcome::Pending
    ));
    let subject = Csr::parse(&csr_der).unwrap().subject_der;
    let poll = client::cert_poll(
        &req,
        &subject,
        k.as_ref(),
        ca.certificate(),
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();
    assert_eq!(poll.transaction_id, req.transaction_id);
    let got_poll = ca.decode_request(&poll.der).unwrap();
    let RequestBody::CertPoll { subject: s, .. } = &got_poll.body else {
        panic!("not a CertPoll")
    };
    assert_eq!(s, &subject);
    let cert = issue_for(&ca, &Csr::parse(&csr_der).unwrap());
    let rep = ca
        .respond(&got_poll, &Decision::Issue(Box::new(cert.clone())))
        .unwrap();
    assert!(matches!(
        poll.open_response(&rep, k.as_ref(), &[]).unwrap(),
        CertRepOutcome::Issued { .. }
    ));
}

#[test]
fn reject_and_failure_reply() {
    let ca = the_ca();
    let k = key(1);
    let signer = client_signer(k.as_ref(), "device-1");
    let req = client::pkcs_req(
        &csr(k.as_ref(), Some("wrong")),
        &signer,
        k.as_ref(),
        ca.certificate(),
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();
    let got = ca.decode_request(&req.der).unwrap();
    let rep = ca
        .respond(&got, &Decision::Reject(FailInfo::BAD_REQUEST))
        .unwrap();
    match req.open_response(&rep, k.as_ref(), &[]).unwrap() {
        CertRepOutcome::Failed { fail_info, .. } => assert_eq!(fail_info, FailInfo::BAD_REQUEST),
        other => panic!("{other:?}"),
    }
    let rep = ca
        .failure_reply(&req.der, FailInfo::BAD_MESSAGE_CHECK)
        .unwrap();
    let m = PkiMessage::decode(&rep).unwrap();
    assert_eq!(m.fail_info, Some(FailInfo::BAD_MESSAGE_CHECK));
    m.verify(&[]).unwrap();
}

#[test]
fn renewal_requires_certificate_from_this_ca() {
    let ca = the_ca();
    let k = key(1);
    let csr_der = csr(k.as_ref(), None);
    let existing = issue_for(&ca, &Csr::parse(&csr_der).unwrap());
    let req = client::renewal_req(
        &csr_der,
        &existing,
        k.as_ref(),
        ca.certificate(),
        DigestAlgorithm::Sha256,
        ContentCipher::DesEde3Cbc,
    )
    .unwrap();
    let got = ca.decode_request(&req.der).unwrap();
    assert!(got.signer_issued_by_ca);
    assert_eq!(got.message.message_type, MessageType::RENEWAL_REQ);

    // A self-signed signer cannot renew.
    let signer = client_signer(k.as_ref(), "device-1");
    let bad = client::renewal_req(
        &csr_der,
        &signer,
        k.as_ref(),
        ca.certificate(),
        DigestAlgorithm::Sha256,
        ContentCipher::DesEde3Cbc,
    )
    .unwrap();
    assert!(matches!(
        ca.decode_request(&bad.der),
        Err(Error::BadSignature(_))
    ));
}

#[test]
fn wrong_nonce_and_wrong_transaction_are_rejected() {
    let ca = the_ca();
    let k = key(1);
    let signer = client_signer(k.as_ref(), "device-1");
    let csr_der = csr(k.as_ref(), None);
    let mk = || {
        client::pkcs_req(
            &csr_der,
            &signer,
            k.as_ref(),
            ca.certificate(),
            DigestAlgorithm::Sha256,
            ContentCipher::Aes128Cbc,
        )
        .unwrap()
    };
    let a = mk();
    let b = mk();
    let got = ca.decode_request(&a.der).unwrap();
    let rep = ca.respond(&got, &Decision::Pending).unwrap();
    // Same transactionID (derived from the key) but another nonce.
    assert!(matches!(
        b.open_response(&rep, k.as_ref(), &[]),
        Err(Error::Mismatch(_))
    ));
}

#[test]
fn wrong_key_cannot_open_and_gets_typed_error() {
    let ca = the_ca();
    let k = key(1);
    let other = key(2);
    let signer = client_signer(k.as_ref(), "device-1");
    let csr_der = csr(k.as_ref(), None);
    // Encrypted to a certificate whose key the CA does not hold.
    let foreign = client_signer(other.as_ref(), "not the CA");
    for cipher in [ContentCipher::DesCbc, ContentCipher::Aes256Cbc] {
        let req = client::pkcs_req(
            &csr_der,
            &signer,
            k.as_ref(),
            &foreign,
            DigestAlgorithm::Sha256,
            cipher,
        )
        .unwrap();
        let err = ca.decode_request(&req.der).unwrap_err();
        assert!(matches!(err, Error::Decrypt(_)), "{err}");
        assert_eq!(
            scep_proto::ca::fail_info_for(&err),
            FailInfo::BAD_MESSAGE_CHECK
        );
        assert!(
            ca.failure_reply(&req.der, FailInfo::BAD_MESSAGE_CHECK)
                .is_some()
        );
    }
}

#[test]
fn tampered_signature_is_rejected() {
    let ca = the_ca();
    let k = key(1);
    let signer = client_signer(k.as_ref(), "device-1");
    let req = client::pkcs_req(
        &csr(k.as_ref(), None),
        &signer,
        k.as_ref(),
        ca.certificate(),
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();
    // Flip the last byte (inside the signature value).
    let mut der = req.der.clone();
    let n = der.len();
    der[n - 1] ^= 0x01;
    assert!(matches!(
        ca.decode_request(&der),
        Err(Error::BadSignature(_))
    ));
}

#[test]
fn detached_signature_and_certs_only_round_trip() {
    let k = key(1);
    let cert = client_signer(k.as_ref(), "device-1");
    let body = b"<plist>check-in</plist>";
    let sig = cms::sign_detached(body, &cert, k.as_ref(), DigestAlgorithm::Sha256).unwrap();
    assert_eq!(cms::verify_detached(body, &sig).unwrap(), cert);
    assert!(cms::verify_detached(b"other body", &sig).is_err());
    // The header forms (Mdm-Signature, proxy headers) are mdm-proto's: see its
    // `signature` tests.
    let der = cms::certs_only(&[&cert]).unwrap();
    let cert_der = cms::parse_certs_only(&der).unwrap()[0].clone();
    assert_eq!(cert_der, cert);
}

#[test]
fn get_ca_cert_and_next_ca() {
    let ca = the_ca();
    let (ct, body) = ca.get_ca_cert().unwrap();
    assert_eq!(ct, "application/x-x509-ca-cert");
    assert_eq!(
        cms::parse_certificates(&body).unwrap()[0],
        *ca.certificate()
    );
    assert!(ca.get_next_ca_cert().unwrap().is_none());
    let ca2 = the_ca().with_next_ca(ca.certificate().clone());
    assert!(
        ca2.capabilities()
            .has(&scep_proto::Capability::GetNextCaCert)
    );
    let (ct, body) = ca2.get_next_ca_cert().unwrap().unwrap();
    assert_eq!(ct, "application/x-x509-next-ca-cert");
    let sd = cms::SignedData::parse(&body).unwrap();
    sd.verify(
        0,
        &cms::SignedData::parse(&body).unwrap().certificates_der[0],
        None,
    )
    .unwrap();
    let (ra_cert, ra_key) = (client_signer(key(2).as_ref(), "RA"), key(2));
    let with_ra = the_ca().with_ra(ra_cert.clone(), ra_key);
    let (ct, body) = with_ra.get_ca_cert().unwrap();
    assert_eq!(ct, "application/x-x509-ca-ra-cert");
    let certs = cms::parse_certificates(&body).unwrap();
    assert_eq!(certs.len(), 2);
    // A client encrypting to the RA gets through.
    let k = key(1);
    let signer = client_signer(k.as_ref(), "device-1");
    let req = client::pkcs_req(
        &csr(k.as_ref(), None),
        &signer,
        k.as_ref(),
        &ra_cert,
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();
    let got = with_ra.decode_request(&req.der).unwrap();
    let rep = with_ra.respond(&got, &Decision::Pending).unwrap();
    let m = PkiMessage::decode(&rep).unwrap();
    assert_eq!(m.verify(&[]).unwrap(), ra_cert);
}

/// The three-call flow: the algorithms come from GetCACaps, PENDING is polled with the same
/// transactionID, and the certificate issued at the poll opens.
#[test]
fn enrollment_builder_negotiates_polls_and_opens() {
    let ca = the_ca();
    let ca_certs = vec![ca.certificate().clone()];
    let caps = scep_proto::Capabilities::parse("POSTPKIOperation\nSHA-512\nDES3\n");
    let k = key(1);
    let subject = issue::name_from_str("CN=device-2,O=Example").unwrap();
    let enrollment = scep_proto::Enrollment::new(k.as_ref(), subject.clone()).challenge("pw");
    let request = enrollment.request(&ca_certs, &caps, NOW).unwrap();
    let got = ca.decode_request(&request.der).unwrap();
    assert_eq!(got.message.digest, DigestAlgorithm::Sha512);
    assert_eq!(got.cipher, ContentCipher::DesEde3Cbc);
    assert_eq!(got.csr().unwrap().challenge_password.as_deref(), Some("pw"));
    let pending = ca.respond(&got, &Decision::Pending).unwrap();
    assert!(matches!(
        request
            .open_response(&pending, k.as_ref(), &ca_certs)
            .unwrap(),
        CertRepOutcome::Pending
    ));

    let poll = enrollment.poll(&request, &ca_certs, &caps).unwrap();
    assert_eq!(poll.transaction_id, request.transaction_id);
    let got_poll = ca.decode_request(&poll.der).unwrap();
    assert!(matches!(&got_poll.body, RequestBody::CertPoll { subject: s, .. } if s == &subject));
    let cert = issue_for(&ca, got.csr().unwrap());
    let issued = ca
        .respond(&got_poll, &Decision::Issue(Box::new(cert.clone())))
        .unwrap();
    match poll.open_response(&issued, k.as_ref(), &ca_certs).unwrap() {
        CertRepOutcome::Issued { certificate, .. } => assert_eq!(*certificate, cert),
        other => panic!("{other:?}"),
    }

    // Without a CA certificate there is nothing to encrypt to.
    assert!(matches!(
        enrollment.request(&[], &caps, NOW),
        Err(Error::Missing(_))
    ));
}
