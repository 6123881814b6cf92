//! OpenSSL-made CMS: envelopes (DES, 3DES, AES; BER from `-stream`) open with our code, and
//! detached signatures (RSA; ECDSA P-256 with aws-lc-rs) verify.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{client_signer, key};
use scep_proto::{ContentCipher, cms};

fn openssl_available() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is required in CI"
        );
        println!("SKIP: openssl not installed");
    }
    ok
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scep-proto-openssl-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn write_cert(dir: &Path, name: &str, cert: &scep_proto::Certificate) {
    use scep_proto::der::Encode as _;
    std::fs::write(
        dir.join(name),
        scep_proto::key::pem_encode("CERTIFICATE", &cert.to_der().unwrap()),
    )
    .unwrap();
}

#[test]
fn openssl_envelopes_open() {
    if !openssl_available() {
        return;
    }
    let dir = tempdir("env");
    let k = key(1);
    let cert = client_signer(k.as_ref(), "recipient");
    write_cert(&dir, "rcpt.pem", &cert);
    std::fs::write(dir.join("msg.bin"), b"the content of the envelope").unwrap();
    for (flag, cipher) in [
        ("-des", ContentCipher::DesCbc),
        ("-des3", ContentCipher::DesEde3Cbc),
        ("-aes128", ContentCipher::Aes128Cbc),
        ("-aes192", ContentCipher::Aes192Cbc),
        ("-aes256", ContentCipher::Aes256Cbc),
    ] {
        for stream in [false, true] {
            let mut args = vec![
                "cms", "-encrypt", "-binary", "-in", "msg.bin", "-outform", "DER", "-out",
                "env.der", flag,
            ];
            if stream {
                args.push("-stream");
            }
            if cipher == ContentCipher::DesCbc {
                args.extend(["-provider", "legacy", "-provider", "default"]);
            }
            args.push("rcpt.pem");
            openssl(&dir, &args);
            let der = std::fs::read(dir.join("env.der")).unwrap();
            let (plain, got) = cms::open_envelope(&der, k.as_ref(), Some(&cert))
                .unwrap_or_else(|e| panic!("{flag} stream={stream}: {e}"));
            assert_eq!(plain, b"the content of the envelope");
            assert_eq!(got, cipher);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn openssl_detached_signatures_verify() {
    if !openssl_available() {
        return;
    }
    let dir = tempdir("sig");
    let k = key(1);
    let cert = client_signer(k.as_ref(), "signer");
    write_cert(&dir, "signer.pem", &cert);
    std::fs::write(dir.join("key.pem"), k.to_pkcs8_pem().unwrap()).unwrap();
    std::fs::write(dir.join("body.plist"), b"<plist>body</plist>").unwrap();
    for md in ["sha1", "sha256", "sha512"] {
        openssl(
            &dir,
            &[
                "cms",
                "-sign",
                "-binary",
                "-in",
                "body.plist",
                "-signer",
                "signer.pem",
                "-inkey",
                "key.pem",
                "-md",
                md,
                "-outform",
                "DER",
                "-out",
                "sig.der",
            ],
        );
        let sig = std::fs::read(dir.join("sig.der")).unwrap();
        assert_eq!(
            cms::verify_detached(b"<plist>body</plist>", &sig).unwrap(),
            cert
        );
        assert!(cms::verify_detached(b"<plist>other</plist>", &sig).is_err());
    }
    // And OpenSSL verifies ours.
    let sig = cms::sign_detached(
        b"<plist>body</plist>",
        &cert,
        k.as_ref(),
        scep_proto::DigestAlgorithm::Sha256,
    )
    .unwrap();
    std::fs::write(dir.join("ours.der"), sig).unwrap();
    openssl(
        &dir,
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "ours.der",
            "-content",
            "body.plist",
            "-noverify",
            "-out",
            "/dev/null",
        ],
    );

    // ECDSA P-256.
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.key",
        ],
    );
    openssl(
        &dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "ec.key",
            "-subj",
            "/CN=ec-device",
            "-days",
            "1",
            "-out",
            "ec.pem",
        ],
    );
    openssl(
        &dir,
        &[
            "cms",
            "-sign",
            "-binary",
            "-in",
            "body.plist",
            "-signer",
            "ec.pem",
            "-inkey",
            "ec.key",
            "-md",
            "sha256",
            "-outform",
            "DER",
            "-out",
            "ec.der",
        ],
    );
    let sig = std::fs::read(dir.join("ec.der")).unwrap();
    let r = cms::verify_detached(b"<plist>body</plist>", &sig);
    if cfg!(feature = "aws-lc-rs") {
        let c = r.unwrap();
        assert!(
            c.tbs_certificate()
                .subject()
                .to_string()
                .contains("ec-device")
        );
        assert!(cms::verify_detached(b"<plist>other</plist>", &sig).is_err());
    } else {
        assert!(matches!(r, Err(scep_proto::Error::Unsupported { .. })));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

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
