//! Our client enrolls against micromdm/scep's `scepserver` over loopback HTTP with DES, 3DES,
//! AES-128 and AES-256, signing with SHA-1, SHA-256 and SHA-512 (scepserver answers with
//! DES and SHA-1 whatever we send, which our client opens).
//!
//! `scepserver` listens on every interface, so the test re-runs itself inside a private
//! network namespace (`unshare -n`) where only loopback exists.
#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::{Duration, Instant};

use scep_proto::http_client::{EnrollOptions, HttpClient, enroll};
use scep_proto::{ContentCipher, DigestAlgorithm, RsaKey, issue};

const INNER: &str = "SCEP_PROTO_INTEROP_INNER";

#[test]
fn our_client_enrolls_against_scepserver() {
    if std::env::var_os(INNER).is_some() {
        inner();
        return;
    }
    for tool in ["scepserver", "unshare", "ip"] {
        if !mdm_test_support::tool(tool) {
            return;
        }
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(exe)
        .args([
            "--exact",
            "our_client_enrolls_against_scepserver",
            "--nocapture",
        ])
        .env(INNER, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() && text.contains("unshare failed") {
        mdm_test_support::skip(
            "network namespaces",
            &format!("cannot create a network namespace: {text}"),
        );
        return;
    }
    assert!(out.status.success(), "inner run failed:\n{text}");
    assert!(text.contains("1 passed"), "{text}");
}

fn inner() {
    let dir = std::env::temp_dir().join(format!("scep-proto-interop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let depot = dir.join("depot");
    let st = Command::new("scepserver")
        .args(["ca", "-init", "-keySize", "2048", "-depot"])
        .arg(&depot)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let port = 18_080;
    let log = std::fs::File::create(dir.join("scepserver.log")).unwrap();
    let mut child = Command::new("scepserver")
        .args([
            "-port",
            &port.to_string(),
            "-challenge",
            "letmein",
            "-depot",
        ])
        .arg(&depot)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "scepserver did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let result = std::panic::catch_unwind(|| run_client(port));
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(dir.join("scepserver.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        eprintln!("scepserver log:\n{log}");
        std::panic::resume_unwind(e);
    }
}

fn run_client(port: u16) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = HttpClient::new(&format!("http://127.0.0.1:{port}/scep")).unwrap();
    let caps = rt.block_on(http.get_ca_caps()).unwrap();
    println!("scepserver capabilities: {caps:?}");
    let cas = rt.block_on(http.get_ca_cert()).unwrap();
    assert_eq!(cas.len(), 1);
    let key = RsaKey::generate(1024).unwrap();
    let now = 1_764_000_000;
    // scepserver refuses a second certificate for the same CN (its renewal window): one CN each.
    for (i, (cipher, digest)) in [
        (ContentCipher::DesCbc, DigestAlgorithm::Sha1),
        (ContentCipher::DesEde3Cbc, DigestAlgorithm::Sha256),
        (ContentCipher::Aes128Cbc, DigestAlgorithm::Sha256),
        (ContentCipher::Aes128Cbc, DigestAlgorithm::Sha1),
        (ContentCipher::Aes256Cbc, DigestAlgorithm::Sha256),
        (ContentCipher::Aes256Cbc, DigestAlgorithm::Sha512),
        (ContentCipher::DesCbc, DigestAlgorithm::Sha256),
    ]
    .into_iter()
    .enumerate()
    {
        let cn = format!("rust-client-{i}");
        let mut opts = EnrollOptions::new(now);
        opts.challenge = Some("letmein".into());
        opts.cipher = Some(cipher);
        opts.digest = Some(digest);
        let e = rt
            .block_on(enroll(&http, &key, &issue::common_name(&cn), &opts))
            .unwrap_or_else(|err| panic!("{cipher:?}/{digest:?}: {err}"));
        assert!(
            e.certificate
                .tbs_certificate()
                .subject()
                .to_string()
                .contains(&cn)
        );
        assert_eq!(
            e.certificate.tbs_certificate().issuer(),
            cas[0].tbs_certificate().subject()
        );
    }
    let mut opts = EnrollOptions::new(now);
    opts.challenge = Some("wrong".into());
    let err = rt
        .block_on(enroll(
            &http,
            &key,
            &issue::common_name("rust-client-x"),
            &opts,
        ))
        .unwrap_err();
    assert!(err.to_string().contains("FAILURE"), "{err}");
}
