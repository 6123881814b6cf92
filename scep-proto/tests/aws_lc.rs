//! The CA on the aws-lc-rs backend (the OpenSSL CMS interop tests moved to mdm-pki).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[cfg(feature = "aws-lc-rs")]
use common::{client_signer, key};
#[cfg(feature = "aws-lc-rs")]
use scep_proto::ContentCipher;

#[cfg(feature = "aws-lc-rs")]
#[test]
fn aws_lc_backend_runs_the_ca() {
    use scep_proto::{AwsLcRsaKey, Ca, Decision, DigestAlgorithm, client, issue};
    use std::sync::Arc;
    // aws-lc-rs refuses RSA keys under 2048 bits.
    let ca_key = scep_proto::RsaKey::generate(2048).unwrap();
    let ca_cert = issue::self_signed(
        &ca_key,
        &issue::common_name("aws-lc CA"),
        true,
        &issue::IssueOptions::new(vec![1], common::NOW, 86_400),
    )
    .unwrap();
    let fast = AwsLcRsaKey::from_rsa_key(&ca_key).unwrap();
    let ca = Ca::new(ca_cert.clone(), Arc::new(fast));
    let k = key(1);
    let signer = client_signer(k.as_ref(), "aws");
    let csr = scep_proto::Csr::build(
        k.as_ref(),
        &issue::common_name("aws"),
        None,
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    for digest in [DigestAlgorithm::Sha1, DigestAlgorithm::Sha256] {
        let req = client::pkcs_req(
            &csr,
            &signer,
            k.as_ref(),
            &ca_cert,
            digest,
            ContentCipher::Aes128Cbc,
        )
        .unwrap();
        let got = ca.decode_request(&req.der).unwrap();
        let cert = issue::issue(
            got.csr().unwrap(),
            ca.certificate(),
            ca.key(),
            &issue::IssueOptions::new(vec![5], common::NOW, 3600),
        )
        .unwrap();
        let rep = ca.respond(&got, &Decision::Issue(Box::new(cert))).unwrap();
        assert!(matches!(
            req.open_response(&rep, k.as_ref(), std::slice::from_ref(&ca_cert))
                .unwrap(),
            scep_proto::CertRepOutcome::Issued { .. }
        ));
    }
    // Encrypted to another key: a typed error, not a panic.
    let foreign = client_signer(key(2).as_ref(), "not the CA");
    let wrong = ca;
    let req = client::pkcs_req(
        &csr,
        &signer,
        k.as_ref(),
        &foreign,
        DigestAlgorithm::Sha256,
        ContentCipher::DesCbc,
    )
    .unwrap();
    assert!(matches!(
        wrong.decode_request(&req.der),
        Err(scep_proto::Error::Decrypt(_))
    ));
}
