//! Signed profiles against OpenSSL: a profile mdm-profiles signs verifies with
//! `openssl cms -verify` (with `-noverify`, and against the CA with `-CAfile`), and
//! profiles OpenSSL signs (`openssl cms -sign -nodetach -outform DER`, EC and RSA) decode
//! and verify here; a broken signature is a typed error. Skipped visibly without openssl.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_pki::cms::cert_der;
use mdm_pki::issue::{IssueOptions, common_name, issue, self_signed};
use mdm_pki::{Certificate, Csr, DigestAlgorithm, EcKey};
use mdm_profiles::prelude::WifiManaged;
use mdm_profiles::{Error, Payload, Profile};
use mdm_test_support::TempDir;
use std::path::{Path, PathBuf};
use std::process::Command;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Pki {
    ca: Certificate,
    signer: Certificate,
    key: EcKey,
    ca_pem: PathBuf,
    signer_pem: PathBuf,
    key_pem: PathBuf,
}

fn pki(dir: &Path) -> Pki {
    let ca_key = EcKey::generate().unwrap();
    let ca = self_signed(
        &ca_key,
        &common_name("mdm-profiles test CA"),
        true,
        &IssueOptions::new(vec![1], now() - 60, 86_400),
    )
    .unwrap();
    let key = EcKey::generate().unwrap();
    let csr = Csr::build(
        &key,
        &common_name("mdm-profiles test signer"),
        None,
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let signer = issue(
        &Csr::parse(&csr).unwrap(),
        &ca,
        &ca_key,
        &IssueOptions::new(vec![2], now() - 60, 86_400),
    )
    .unwrap();
    let pem = |c: &Certificate| mdm_pki::pem::encode("CERTIFICATE", &cert_der(c).unwrap());
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca_pem: write("ca.pem", pem(&ca)),
        signer_pem: write("signer.pem", pem(&signer)),
        key_pem: write("signer.key", key.to_pkcs8_pem().unwrap()),
        ca,
        signer,
        key,
    }
}

fn profile() -> Profile {
    let mut wifi = WifiManaged::new();
    wifi.ssid_str = Some("Office".into());
    wifi.auto_join = Some(true);
    Profile::new("org.example.signed", "0B5E0000-0000-4000-8000-000000000000").with_payload(
        Payload::new(
            "org.example.signed.wifi",
            "0B5E0000-0000-4000-8000-000000000001",
            wifi,
        ),
    )
}

fn openssl(args: &[&str]) -> std::process::Output {
    Command::new("openssl").args(args).output().unwrap()
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn openssl_verifies_what_we_sign() {
    if !mdm_test_support::tool("openssl") {
        return;
    }
    let dir = TempDir::new("profiles-openssl-ours");
    let pki = pki(dir.path());
    let p = profile();
    let signed = dir.path().join("signed.mobileconfig");
    std::fs::write(&signed, p.sign(&pki.signer, &pki.key, &[]).unwrap()).unwrap();
    let content = dir.path().join("content.plist");

    // The signature alone (no trust decision).
    let out = openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-noverify",
        "-in",
        s(&signed),
        "-out",
        s(&content),
    ]);
    ok(&out, "openssl cms -verify -noverify");
    assert_eq!(std::fs::read(&content).unwrap(), p.encode().unwrap());

    // And the chain to the CA (any purpose: the signer is an MDM-style client certificate).
    let out = openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-CAfile",
        s(&pki.ca_pem),
        "-purpose",
        "any",
        "-in",
        s(&signed),
        "-out",
        s(&content),
    ]);
    ok(&out, "openssl cms -verify -CAfile");

    // A CA that did not issue the signer: OpenSSL refuses too.
    let other_dir = TempDir::new("profiles-openssl-other");
    let other = pki_files_only(other_dir.path());
    let out = openssl(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-CAfile",
        s(&other),
        "-purpose",
        "any",
        "-in",
        s(&signed),
        "-out",
        s(&content),
    ]);
    assert!(!out.status.success(), "openssl trusted another CA");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Verification failure"), "{err}");
}

fn pki_files_only(dir: &Path) -> PathBuf {
    pki(dir).ca_pem
}

#[test]
fn we_verify_what_openssl_signs() {
    if !mdm_test_support::tool("openssl") {
        return;
    }
    let dir = TempDir::new("profiles-openssl-theirs");
    let pki = pki(dir.path());
    let p = profile();
    let plain = dir.path().join("profile.mobileconfig");
    std::fs::write(&plain, p.encode().unwrap()).unwrap();
    let signed = dir.path().join("signed.mobileconfig");
    let out = openssl(&[
        "cms",
        "-sign",
        "-nodetach",
        "-outform",
        "DER",
        "-md",
        "sha256",
        "-signer",
        s(&pki.signer_pem),
        "-inkey",
        s(&pki.key_pem),
        "-in",
        s(&plain),
        "-out",
        s(&signed),
        "-binary",
    ]);
    ok(&out, "openssl cms -sign");
    let bytes = std::fs::read(&signed).unwrap();
    let back = Profile::decode(&bytes).unwrap();
    assert_eq!(back.to_dictionary(), p.to_dictionary());
    let signature = back.signature.as_ref().unwrap();
    assert_eq!(signature.signer_der, cert_der(&pki.signer).unwrap());
    assert_eq!(
        signature
            .verify_trust(std::slice::from_ref(&pki.ca), now())
            .unwrap(),
        0
    );
    // Not trusted by another CA: a typed error.
    let other_dir = TempDir::new("profiles-openssl-other2");
    let other = self::pki(other_dir.path()).ca;
    assert!(matches!(
        signature.verify_trust(&[other], now()),
        Err(Error::Untrusted { .. })
    ));

    // One byte of the profile changed inside the signature: the digest no longer matches.
    let mut broken = bytes.clone();
    let at = broken
        .windows(6)
        .position(|w| w == b"Office")
        .expect("the profile is in the signature");
    broken[at] = b'o';
    match Profile::decode(&broken) {
        Err(Error::BrokenSignature { reason }) => {
            assert!(reason.contains("does not verify"), "{reason}");
        }
        other => panic!("a broken signature decoded: {other:?}"),
    }
    // Cut short: not a SignedData any more.
    assert!(matches!(
        Profile::decode(&bytes[..bytes.len() / 2]),
        Err(Error::BrokenSignature { .. })
    ));
}

#[test]
fn we_verify_what_openssl_signs_with_rsa() {
    if !mdm_test_support::tool("openssl") {
        return;
    }
    let dir = TempDir::new("profiles-openssl-rsa");
    let d = |n: &str| dir.path().join(n);
    let out = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        s(&d("rsa.key")),
        "-out",
        s(&d("rsa.pem")),
        "-days",
        "1",
        "-subj",
        "/CN=openssl RSA signer",
    ]);
    ok(&out, "openssl req -x509");
    let p = profile();
    std::fs::write(d("profile.mobileconfig"), p.encode().unwrap()).unwrap();
    let out = openssl(&[
        "cms",
        "-sign",
        "-nodetach",
        "-outform",
        "DER",
        "-signer",
        s(&d("rsa.pem")),
        "-inkey",
        s(&d("rsa.key")),
        "-in",
        s(&d("profile.mobileconfig")),
        "-out",
        s(&d("signed.mobileconfig")),
        "-binary",
    ]);
    ok(&out, "openssl cms -sign (RSA)");
    let back = Profile::decode(&std::fs::read(d("signed.mobileconfig")).unwrap()).unwrap();
    assert_eq!(back.to_dictionary(), p.to_dictionary());
    assert!(back.signature.is_some());
}
