//! micromdm/scep's `scepclient` enrolls against our scep-server over loopback HTTP, a wrong
//! challenge gets a FAILURE, and OpenSSL opens and verifies what our CA sends.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{start_server, tempdir, tool};

fn scepclient(dir: &Path, url: &str, challenge: &str, cn: &str) -> std::process::Output {
    scepclient_bits(dir, url, challenge, cn, 1024)
}

fn scepclient_bits(
    dir: &Path,
    url: &str,
    challenge: &str,
    cn: &str,
    bits: u32,
) -> std::process::Output {
    // scepclient writes csr.pem and self.pem in its working directory: one per run.
    let work = dir.join(format!("work-{cn}"));
    std::fs::create_dir_all(&work).unwrap();
    Command::new("scepclient")
        .current_dir(&work)
        .args([
            "-server-url",
            url,
            "-challenge",
            challenge,
            "-cn",
            cn,
            "-keySize",
            &bits.to_string(),
        ])
        .arg("-private-key")
        .arg(work.join("key.pem"))
        .arg("-certificate")
        .arg(work.join("cert.pem"))
        .output()
        .unwrap()
}

#[test]
fn scepclient_enrolls_and_wrong_challenge_fails() {
    if !tool("scepclient") {
        return;
    }
    let dir = tempdir("scepclient");
    let server = start_server(&dir, Some("s3cret"), &[]);

    let out = scepclient(&dir, &server.url, "s3cret", "good-device");
    assert!(
        out.status.success(),
        "scepclient failed: {}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
    let pem = std::fs::read(dir.join("work-good-device/cert.pem")).unwrap();
    let certs = scep_proto::cms::parse_certificates(&pem).unwrap();
    assert!(
        certs[0]
            .tbs_certificate()
            .subject()
            .to_string()
            .contains("good-device")
    );
    let ca_pem = std::fs::read(dir.join("ca/ca.pem")).unwrap();
    let ca = scep_proto::cms::parse_certificates(&ca_pem)
        .unwrap()
        .remove(0);
    assert_eq!(
        certs[0].tbs_certificate().issuer(),
        ca.tbs_certificate().subject()
    );

    let out = scepclient(&dir, &server.url, "wrong", "bad-device");
    assert!(
        !out.status.success(),
        "a wrong challenge must fail: {}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
    assert!(!dir.join("work-bad-device/cert.pem").exists());
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("wrong challengePassword"), "server log: {log}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn our_client_against_our_server_and_openssl_checks_the_certrep() {
    use scep_proto::http_client::{EnrollOptions, HttpClient, enroll};
    use scep_proto::{ContentCipher, DigestAlgorithm, RsaKey, client, issue};
    if !tool("openssl") {
        return;
    }
    let dir = tempdir("openssl");
    let server = start_server(&dir, Some("pw"), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let key = RsaKey::generate(1024).unwrap();
    let http = HttpClient::new(&server.url).unwrap();
    let now = 1_764_000_000;

    // Full enrollment with every cipher and digest through the HTTP client.
    for (cipher, digest) in [
        ContentCipher::DesCbc,
        ContentCipher::DesEde3Cbc,
        ContentCipher::Aes128Cbc,
        ContentCipher::Aes192Cbc,
        ContentCipher::Aes256Cbc,
    ]
    .into_iter()
    .flat_map(|c| {
        [
            DigestAlgorithm::Sha1,
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha512,
        ]
        .map(|d| (c, d))
    }) {
        let mut opts = EnrollOptions::new(now);
        opts.challenge = Some("pw".into());
        opts.cipher = Some(cipher);
        opts.digest = Some(digest);
        let e = rt
            .block_on(enroll(&http, &key, &issue::common_name("ours"), &opts))
            .unwrap_or_else(|err| panic!("{cipher:?}/{digest:?}: {err}"));
        assert!(
            e.certificate
                .tbs_certificate()
                .subject()
                .to_string()
                .contains("ours")
        );
    }
    let mut opts = EnrollOptions::new(now);
    opts.challenge = Some("nope".into());
    let err = rt
        .block_on(enroll(&http, &key, &issue::common_name("ours"), &opts))
        .unwrap_err();
    assert!(err.to_string().contains("badRequest"), "{err}");

    // A raw PKCSReq by GET, answer saved for OpenSSL.
    let ca_certs = rt.block_on(http.get_ca_cert()).unwrap();
    let subject = issue::common_name("openssl-check");
    let csr =
        scep_proto::Csr::build(&key, &subject, Some("pw"), &[], DigestAlgorithm::Sha256).unwrap();
    let signer = issue::self_signed(
        &key,
        &subject,
        false,
        &issue::IssueOptions::new(vec![9], now, 86_400),
    )
    .unwrap();
    let req = client::pkcs_req(
        &csr,
        &signer,
        &key,
        &ca_certs[0],
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();
    let rep = rt.block_on(http.pki_operation(&req.der, false)).unwrap();
    std::fs::write(dir.join("rep.der"), &rep).unwrap();
    std::fs::write(dir.join("key.pem"), key.to_pkcs8_pem().unwrap()).unwrap();
    let signer_der = {
        use scep_proto::der::Encode as _;
        signer.to_der().unwrap()
    };
    std::fs::write(
        dir.join("signer.pem"),
        scep_proto::key::pem_encode("CERTIFICATE", &signer_der),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    run(&[
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        "rep.der",
        "-CAfile",
        "ca/ca.pem",
        "-purpose",
        "any",
        "-out",
        "env.der",
        "-binary",
    ]);
    run(&[
        "cms",
        "-decrypt",
        "-inform",
        "DER",
        "-in",
        "env.der",
        "-recip",
        "signer.pem",
        "-inkey",
        "key.pem",
        "-out",
        "certs.p7",
        "-binary",
    ]);
    let printed = run(&["pkcs7", "-inform", "DER", "-in", "certs.p7", "-print_certs"]);
    let text = String::from_utf8_lossy(&printed);
    assert!(text.contains("openssl-check"), "{text}");
    run(&["asn1parse", "-inform", "DER", "-in", "rep.der"]);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scepclient_every_key_size_against_an_aws_lc_ca_and_again_with_the_same_key() {
    if !tool("scepclient") {
        return;
    }
    let dir = tempdir("keysizes");
    // A 2048-bit CA: the aws-lc-rs backend (1024-bit CAs fall back to pure Rust).
    let server = start_server(&dir, Some("pw"), &["--key-bits", "2048"]);
    for bits in [1024, 2048, 4096] {
        let cn = format!("dev-{bits}");
        let out = scepclient_bits(&dir, &server.url, "pw", &cn, bits);
        assert!(
            out.status.success(),
            "scepclient -keySize {bits} failed: {}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            server.log_text()
        );
        let pem = std::fs::read(dir.join(format!("work-{cn}/cert.pem"))).unwrap();
        let cert = scep_proto::cms::parse_certificates(&pem).unwrap().remove(0);
        assert!(cert.tbs_certificate().subject().to_string().contains(&cn));
    }
    // Enroll the same key again (a reinstalled device keeps its key).
    std::fs::remove_file(dir.join("work-dev-2048/cert.pem")).unwrap();
    let out = scepclient_bits(&dir, &server.url, "pw", "dev-2048", 2048);
    assert!(
        out.status.success(),
        "second run failed: {}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_text()
    );
    let log = server.log_text();
    assert!(!log.contains("pure-Rust backend"), "{log}");
    assert_eq!(log.matches("SUCCESS").count(), 4, "{log}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
