//! Push certificates from ../shared/corpus/apns.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use apns_client::cert::{certificates_from_pem, check_key_matches, read_pkcs12};
use apns_client::{ApnsEnvironment, CertificateInfo, Error, PrivateKey, PushIdentity};

/// True when `shared/corpus/apns` is there; otherwise a visible skip.
fn have_corpus() -> bool {
    mdm_test_support::shared::corpus("apns").is_some()
}

/// A file of `shared/corpus/apns` (call [`have_corpus`] first).
fn corpus(name: &str) -> Vec<u8> {
    let dir = mdm_test_support::shared::locate()
        .expect("shared")
        .join("corpus/apns");
    std::fs::read(dir.join(name)).unwrap()
}

#[test]
fn real_apple_push_certificate() {
    if !have_corpus() {
        return;
    }
    let info = CertificateInfo::from_pem(&corpus("nanomdm_push.pem")).unwrap();
    assert_eq!(
        info.topic,
        "com.apple.mgmt.External.e0bd1eac-1f17-4c8e-8a63-dd17d3dd35d9"
    );
    assert_eq!(info.environment, Some(ApnsEnvironment::Production));
    assert!(
        info.issuer.contains("Apple Application Integration 2"),
        "{}",
        info.issuer
    );
    // notAfter 2022-02-10T17:44:47Z
    let not_after = SystemTime::UNIX_EPOCH + Duration::from_secs(1_644_515_087);
    assert_eq!(info.not_after, not_after);
    assert!(info.is_expired_at(not_after + Duration::from_secs(1)));
    assert!(!info.is_expired_at(not_after - Duration::from_secs(86400)));
}

#[test]
fn mock_push_certificate_topic() {
    if !have_corpus() {
        return;
    }
    let info = CertificateInfo::from_pem(&corpus("micromdm_mock_push_cert.pem")).unwrap();
    assert!(
        info.topic.starts_with("com.apple.mgmt.External.18a16429-"),
        "{}",
        info.topic
    );
    assert_eq!(info.environment, None);
}

#[test]
fn certificate_without_uid_is_rejected() {
    if !have_corpus() {
        return;
    }
    let err = CertificateInfo::from_pem(&corpus("micromdm_mock_push_cert_no_uid.pem")).unwrap_err();
    assert!(matches!(err, Error::NotMdmPushCertificate(_)), "{err:?}");
    assert!(err.to_string().contains("no UID"), "{err}");
    let err = CertificateInfo::from_pem(&corpus("micromdm_pushcert.pem")).unwrap_err();
    assert!(matches!(err, Error::NotMdmPushCertificate(_)), "{err:?}");
}

#[test]
fn pkcs12_with_legacy_algorithms() {
    if !have_corpus() {
        return;
    }
    let p12 = corpus("micromdm_pushcert.p12");
    let (chain, key) = read_pkcs12(&p12, "secret").unwrap();
    let pem_chain = certificates_from_pem(&corpus("micromdm_pushcert.pem")).unwrap();
    assert_eq!(chain[0], pem_chain[0]);
    check_key_matches(&chain[0], &key).unwrap();
    // CN=mdmpush has no UID: a valid PKCS#12 that is not an MDM push certificate.
    let err = PushIdentity::from_pkcs12(&p12, "secret").unwrap_err();
    assert!(matches!(err, Error::NotMdmPushCertificate(_)), "{err:?}");
}

#[test]
fn pkcs12_wrong_password() {
    if !have_corpus() {
        return;
    }
    let err = read_pkcs12(&corpus("micromdm_pushcert.p12"), "wrong").unwrap_err();
    assert!(matches!(err, Error::KeyDecryption(_)), "{err:?}");
    assert!(err.to_string().contains("MAC"), "{err}");
}

#[test]
fn encrypted_pkcs1_key_needs_passphrase() {
    if !have_corpus() {
        return;
    }
    let pem = corpus("micromdm_ProviderPrivateKey.key");
    let err = PrivateKey::from_pem(&pem, None).unwrap_err();
    assert!(matches!(err, Error::KeyDecryption(_)), "{err:?}");
    let err = PrivateKey::from_pem(&pem, Some("not-it")).unwrap_err();
    assert!(matches!(err, Error::KeyDecryption(_)), "{err:?}");
    let key = PrivateKey::from_pem(&pem, Some("secret")).unwrap();
    assert_eq!(key.format(), apns_client::KeyFormat::Pkcs1);
}

#[test]
fn mismatched_key_is_rejected() {
    if !have_corpus() {
        return;
    }
    let err = PushIdentity::from_pem(
        &corpus("micromdm_pushcert.pem"),
        &corpus("micromdm_ProviderPrivateKey.key"),
        Some("secret"),
    )
    .unwrap_err();
    assert!(matches!(err, Error::KeyMismatch(_)), "{err:?}");
    // And the key from the PKCS#12 does not match the PEM key either.
    let (_, p12_key) = read_pkcs12(&corpus("micromdm_pushcert.p12"), "secret").unwrap();
    let pem_key =
        PrivateKey::from_pem(&corpus("micromdm_ProviderPrivateKey.key"), Some("secret")).unwrap();
    let cert = certificates_from_pem(&corpus("micromdm_pushcert.pem")).unwrap();
    assert!(check_key_matches(&cert[0], &p12_key).is_ok());
    assert!(check_key_matches(&cert[0], &pem_key).is_err());
}

#[test]
fn openssl_reexports_agree() {
    if !have_corpus() {
        return;
    }
    // Re-export the PKCS#12 key with openssl as plain PKCS#8, AES-256 PKCS#8 and legacy
    // AES-128 PEM, and check that each one loads and matches.
    if !mdm_test_support::tool("openssl") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("apns-client-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (chain, p12_key) = read_pkcs12(&corpus("micromdm_pushcert.p12"), "secret").unwrap();
    let plain = dir.join("plain.der");
    std::fs::write(&plain, p12_key.der()).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let p = plain.to_str().unwrap();
    let pkcs8_plain = run(&["pkey", "-inform", "DER", "-in", p]);
    let pkcs8_enc = run(&[
        "pkcs8",
        "-topk8",
        "-inform",
        "DER",
        "-in",
        p,
        "-v2",
        "aes-256-cbc",
        "-passout",
        "pass:pw",
    ]);
    let legacy = run(&[
        "rsa",
        "-inform",
        "DER",
        "-in",
        p,
        "-aes128",
        "-passout",
        "pass:pw",
        "-traditional",
    ]);
    for (name, pem) in [
        ("pkcs8", pkcs8_plain),
        ("pkcs8-enc", pkcs8_enc),
        ("legacy-aes", legacy),
    ] {
        let key = PrivateKey::from_pem(&pem, Some("pw")).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_key_matches(&chain[0], &key).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn truncated_containers_fail_cleanly() {
    if !have_corpus() {
        return;
    }
    for name in [
        "micromdm_pushcert.p12",
        "nanomdm_push.pem",
        "micromdm_ProviderPrivateKey.key",
    ] {
        let bytes = corpus(name);
        for cut in (0..bytes.len()).step_by(7) {
            apns_client::fuzzing::parse_certificate(&bytes[..cut]);
        }
    }
    let der = certificates_from_pem(&corpus("nanomdm_push.pem"))
        .unwrap()
        .remove(0);
    for cut in 0..der.len() {
        assert!(CertificateInfo::from_der(&der[..cut]).is_err());
    }
}
