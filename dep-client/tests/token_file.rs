//! Server token files made by OpenSSL the way Apple makes them decrypt with our key pair.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use dep_client::token::{KeyPair, decrypt_token_file};

fn keypair() -> &'static KeyPair {
    static KP: OnceLock<KeyPair> = OnceLock::new();
    KP.get_or_init(|| {
        KeyPair::generate("dep-client test", Duration::from_secs(365 * 24 * 3600)).unwrap()
    })
}

fn have_openssl() -> bool {
    mdm_test_support::tool("openssl")
}

const TOKEN_JSON: &str = r#"{"consumer_key":"CK_0123456789abcdef","consumer_secret":"CS_fedcba9876543210","access_token":"AT_O123456789","access_secret":"AS_secret","access_token_expiry":"2027-11-25T15:00:00Z"}"#;

fn encrypt_with_openssl(dir: &std::path::Path, cipher: &str) -> Vec<u8> {
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, keypair().certificate_pem().unwrap()).unwrap();
    let plain = dir.join("token.txt");
    std::fs::write(
        &plain,
        format!(
            "Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n-----BEGIN MESSAGE-----\n{TOKEN_JSON}\n-----END MESSAGE-----\n"
        ),
    )
    .unwrap();
    let out = dir.join(format!("token-{}.p7m", cipher.trim_start_matches('-')));
    let status = Command::new("openssl")
        .args(["smime", "-encrypt", cipher, "-in"])
        .arg(&plain)
        .arg("-out")
        .arg(&out)
        .arg(&cert)
        .status()
        .unwrap();
    assert!(status.success(), "openssl smime -encrypt {cipher} failed");
    std::fs::read(out).unwrap()
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "dep-client-{name}-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn openssl_token_files_decrypt() {
    if !have_openssl() {
        return;
    }
    let dir = tempdir("token");
    for cipher in ["-aes256", "-aes128", "-des3"] {
        let file = encrypt_with_openssl(&dir, cipher);
        assert!(String::from_utf8_lossy(&file).contains("application/"));
        let token = decrypt_token_file(&file, keypair()).unwrap();
        assert_eq!(token.consumer_key, "CK_0123456789abcdef");
        assert_eq!(token.consumer_secret, "CS_fedcba9876543210");
        assert_eq!(token.access_token, "AT_O123456789");
        assert_eq!(token.access_secret, "AS_secret");
        assert_eq!(
            token.access_token_expiry.as_deref(),
            Some("2027-11-25T15:00:00Z")
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_wrong_key_fails_with_a_typed_error() {
    if !have_openssl() {
        return;
    }
    let dir = tempdir("wrongkey");
    let file = encrypt_with_openssl(&dir, "-aes256");
    // Same certificate (so the recipient matches), other private key.
    let other = {
        let mut rng = rand::rng();
        rsa::PrivateKey::new(&mut rng, 1024).unwrap()
    };
    let wrong = KeyPair::from_private_key(other, "other", Duration::from_secs(3600)).unwrap();
    let err = decrypt_token_file(&file, &wrong).unwrap_err();
    assert!(err.to_string().contains("token file"), "{err}");
    // Corrupt base64 and truncated files fail cleanly too.
    let text = String::from_utf8(file.clone()).unwrap();
    let cut = &file[..file.len() / 2];
    assert!(decrypt_token_file(cut, keypair()).is_err());
    let broken = text.replacen('A', "*", 3);
    assert!(decrypt_token_file(broken.as_bytes(), keypair()).is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn generated_key_pair_works_with_openssl() {
    if !have_openssl() {
        return;
    }
    let dir = tempdir("kp");
    let kp = keypair();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, kp.certificate_pem().unwrap()).unwrap();
    std::fs::write(&key, kp.private_key_pem().unwrap()).unwrap();
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-in"])
        .arg(&cert)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("dep-client test"));
    // The key matches the certificate: OpenSSL decrypts what it encrypted to the cert.
    let file = encrypt_with_openssl(&dir, "-aes256");
    let p7m = dir.join("in.p7m");
    std::fs::write(&p7m, &file).unwrap();
    let out = Command::new("openssl")
        .args(["smime", "-decrypt", "-in"])
        .arg(&p7m)
        .arg("-inkey")
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("CK_0123456789abcdef"));
    // And the PEM files load back.
    let again = KeyPair::from_pem(
        &std::fs::read_to_string(&key).unwrap(),
        &std::fs::read(&cert).unwrap(),
    )
    .unwrap();
    assert_eq!(again.certificate_der, kp.certificate_der);
    let _ = std::fs::remove_dir_all(dir);
}
