//! OpenSSL-made CMS: envelopes (DES, 3DES, AES; BER from `-stream`) open with our code, and
//! detached signatures (RSA, ECDSA P-256) verify; what we sign with an EC key OpenSSL
//! verifies, and a certificate issued by our EC CA passes `openssl verify`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{client_signer, key};
use mdm_pki::{ContentCipher, cms};

fn openssl_available() -> bool {
    mdm_test_support::tool("openssl")
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mdm-pki-openssl-{tag}-{}", std::process::id()));
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

fn write_cert(dir: &Path, name: &str, cert: &mdm_pki::Certificate) {
    use mdm_pki::der::Encode as _;
    std::fs::write(
        dir.join(name),
        mdm_pki::key::pem_encode("CERTIFICATE", &cert.to_der().unwrap()),
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
        mdm_pki::DigestAlgorithm::Sha256,
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
    let c = cms::verify_detached(b"<plist>body</plist>", &sig).unwrap();
    assert!(
        c.tbs_certificate()
            .subject()
            .to_string()
            .contains("ec-device")
    );
    assert!(cms::verify_detached(b"<plist>other</plist>", &sig).is_err());

    // OpenSSL's SEC1 key through our PEM reader signs a CMS that `openssl cms -verify` accepts,
    // with the certificate OpenSSL made for it; and the PKCS#8 form reads the same.
    let ec_pem = std::fs::read_to_string(dir.join("ec.key")).unwrap();
    let ec_key = mdm_pki::EcKey::from_pem(&ec_pem, None).unwrap();
    let p8 = openssl(&dir, &["pkey", "-in", "ec.key"]);
    let p8_key = mdm_pki::EcKey::from_pem(std::str::from_utf8(&p8).unwrap(), None).unwrap();
    use mdm_pki::PrivateKey as _;
    assert_eq!(p8_key.public_key_der(), ec_key.public_key_der());
    for md in [
        mdm_pki::DigestAlgorithm::Sha256,
        mdm_pki::DigestAlgorithm::Sha384,
    ] {
        let ours = cms::sign_detached(b"<plist>body</plist>", &c, &ec_key, md).unwrap();
        std::fs::write(dir.join("ours-ec.der"), ours).unwrap();
        openssl(
            &dir,
            &[
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                "ours-ec.der",
                "-content",
                "body.plist",
                "-noverify",
                "-out",
                "/dev/null",
            ],
        );
    }

    // A CA on that EC key issues an RSA device certificate that OpenSSL validates.
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap();
    let ec_ca = mdm_pki::issue::self_signed(
        &ec_key,
        &mdm_pki::issue::common_name("EC test CA"),
        true,
        &mdm_pki::issue::IssueOptions::new(vec![1], now - 60, 3600),
    )
    .unwrap();
    let csr = mdm_pki::Csr::parse(
        &mdm_pki::Csr::build(
            k.as_ref(),
            &mdm_pki::issue::common_name("rsa device"),
            None,
            &[],
            mdm_pki::DigestAlgorithm::Sha256,
        )
        .unwrap(),
    )
    .unwrap();
    let leaf = mdm_pki::issue::issue(
        &csr,
        &ec_ca,
        &ec_key,
        &mdm_pki::issue::IssueOptions::new(vec![2], now - 60, 3600),
    )
    .unwrap();
    write_cert(&dir, "ec-ca.pem", &ec_ca);
    write_cert(&dir, "ec-leaf.pem", &leaf);
    openssl(&dir, &["verify", "-CAfile", "ec-ca.pem", "ec-leaf.pem"]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// What we build, OpenSSL reads: envelopes with every cipher (`cms -decrypt`, the legacy
/// provider for DES), attached SignedData with every digest (`cms -verify`), certs-only
/// bundles (`pkcs7 -print_certs`) and issued certificates (`verify`).
#[test]
fn openssl_opens_and_verifies_what_we_build() {
    if !openssl_available() {
        return;
    }
    use mdm_pki::DigestAlgorithm;
    use mdm_pki::cms::Signer;
    let dir = tempdir("ours");
    let k = key(1);
    let cert = client_signer(k.as_ref(), "recipient");
    write_cert(&dir, "cert.pem", &cert);
    std::fs::write(dir.join("key.pem"), k.to_pkcs8_pem().unwrap()).unwrap();
    let msg = b"the content, longer than one block of any cipher".repeat(3);
    for cipher in [
        ContentCipher::DesCbc,
        ContentCipher::DesEde3Cbc,
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
    ] {
        let env = cms::envelope(&msg, &cert, cipher).unwrap();
        std::fs::write(dir.join("env.der"), &env).unwrap();
        let mut args = vec![
            "cms", "-decrypt", "-inform", "DER", "-in", "env.der", "-inkey", "key.pem", "-recip",
            "cert.pem",
        ];
        if cipher == ContentCipher::DesCbc {
            args.extend(["-provider", "legacy", "-provider", "default"]);
        }
        assert_eq!(openssl(&dir, &args), msg, "{cipher:?}");
    }
    for digest in [
        DigestAlgorithm::Sha1,
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ] {
        let signed = cms::sign(
            &mdm_pki::oids::DATA,
            &msg,
            false,
            &Signer {
                cert: &cert,
                key: k.as_ref(),
                digest,
            },
            &[],
            &[],
        )
        .unwrap();
        std::fs::write(dir.join("signed.der"), &signed).unwrap();
        let out = openssl(
            &dir,
            &[
                "cms",
                "-verify",
                "-inform",
                "DER",
                "-in",
                "signed.der",
                "-noverify",
            ],
        );
        assert_eq!(out, msg, "{digest:?}");
    }
    let bundle = cms::certs_only(&[&cert]).unwrap();
    std::fs::write(dir.join("bundle.der"), &bundle).unwrap();
    let out = openssl(
        &dir,
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "bundle.der",
            "-print_certs",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out).contains("CN=recipient")
            || String::from_utf8_lossy(&out).contains("CN = recipient")
    );
    // A certificate our issuer makes chains to our CA for OpenSSL.
    let (ca_cert, ca_key) = common::ca();
    let csr = mdm_pki::Csr::parse(
        &mdm_pki::Csr::build(
            k.as_ref(),
            &mdm_pki::issue::common_name("device"),
            None,
            &[],
            DigestAlgorithm::Sha256,
        )
        .unwrap(),
    )
    .unwrap();
    let issued = mdm_pki::issue::issue(
        &csr,
        &ca_cert,
        ca_key.as_ref(),
        &mdm_pki::issue::IssueOptions::new(vec![9], common::NOW, 86_400),
    )
    .unwrap();
    write_cert(&dir, "ca.pem", &ca_cert);
    write_cert(&dir, "issued.pem", &issued);
    let at = common::NOW + 60;
    let out = openssl(
        &dir,
        &[
            "verify",
            "-attime",
            &at.to_string(),
            "-CAfile",
            "ca.pem",
            "issued.pem",
        ],
    );
    assert!(String::from_utf8_lossy(&out).contains("OK"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// PKCS#12 files OpenSSL exports (PBES2/AES-256 by default, and the legacy RC2-40 + 3DES of
/// older exports) open with our reader; a wrong password is a `Passphrase` error.
#[test]
fn openssl_pkcs12_files_open() {
    if !openssl_available() {
        return;
    }
    let dir = tempdir("p12");
    let k = key(1);
    let cert = client_signer(k.as_ref(), "p12");
    write_cert(&dir, "cert.pem", &cert);
    std::fs::write(dir.join("key.pem"), k.to_pkcs8_pem().unwrap()).unwrap();
    for extra in [&[][..], &["-legacy"][..]] {
        let mut args = vec![
            "pkcs12",
            "-export",
            "-in",
            "cert.pem",
            "-inkey",
            "key.pem",
            "-passout",
            "pass:secret",
            "-out",
            "id.p12",
        ];
        args.extend_from_slice(extra);
        openssl(&dir, &args);
        let p12 = std::fs::read(dir.join("id.p12")).unwrap();
        let (chain, key_der) = mdm_pki::pkcs12::read(&p12, "secret").unwrap();
        assert_eq!(chain[0], cms::cert_der(&cert).unwrap(), "{extra:?}");
        key_der.matches_certificate(&chain[0]).unwrap();
        assert!(matches!(
            mdm_pki::pkcs12::read(&p12, "wrong"),
            Err(mdm_pki::Error::Passphrase(_))
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
