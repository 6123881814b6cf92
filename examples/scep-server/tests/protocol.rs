//! SCEP beyond a plain enrollment, over real HTTP against the scep-server binary: PENDING end
//! to end with mdmctl, GetNextCACert, GetCert, GetCRL refusal, RenewalReq, the mdmb POST shape,
//! GET base64, and FAILURE replies (with a log line naming the reason) for bad requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Server, ca_cert, raw_http, start_server, tempdir, tool};
use scep_proto::client::{self, CertRepOutcome, ClientRequest};
use scep_proto::http_client::{EnrollOptions, HttpClient, enroll};
use scep_proto::issue::{self, IssueOptions};
use scep_proto::{
    Certificate, ContentCipher, Csr, DigestAlgorithm, FailInfo, PkiMessage, PkiStatus, RsaKey,
};

const NOW: i64 = 1_764_000_000;

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn der(c: &Certificate) -> Vec<u8> {
    use scep_proto::der::Encode as _;
    c.to_der().unwrap()
}

/// A PKCSReq for `cn` with `challenge`, encrypted to the server's CA.
fn pkcs_req(server: &Server, key: &RsaKey, cn: &str, challenge: &str) -> ClientRequest {
    let subject = issue::common_name(cn);
    let csr = Csr::build(key, &subject, Some(challenge), &[], DigestAlgorithm::Sha256).unwrap();
    let signer = issue::self_signed(
        key,
        &subject,
        false,
        &IssueOptions::new(vec![5], NOW, 86_400 * 3650),
    )
    .unwrap();
    client::pkcs_req(
        &csr,
        &signer,
        key,
        &ca_cert(server),
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap()
}

/// POSTs a pkiMessage and opens the CertRep.
fn send(server: &Server, req: &ClientRequest, key: &RsaKey) -> CertRepOutcome {
    let (status, body) = raw_http(
        server.port,
        "POST",
        "/scep?operation=PKIOperation",
        &req.der,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    req.open_response(&body, key, &[ca_cert(server)]).unwrap()
}

fn failed_with(outcome: &CertRepOutcome) -> FailInfo {
    match outcome {
        CertRepOutcome::Failed { fail_info, .. } => *fail_info,
        other => panic!("expected FAILURE, got {other:?}"),
    }
}

fn issued(outcome: CertRepOutcome) -> Certificate {
    match outcome {
        CertRepOutcome::Issued { certificate, .. } => *certificate,
        other => panic!("expected SUCCESS, got {other:?}"),
    }
}

#[test]
fn post_with_binary_message_param_as_mdmb_sends_and_get_with_base64() {
    let dir = tempdir("mdmb");
    let server = start_server(&dir, Some("pw"), &[]);
    let key = RsaKey::generate(1024).unwrap();
    let req = pkcs_req(&server, &key, "mdmb-device", "pw");
    // mdmb: the DER in the body, and again raw binary in `message` (Go's QueryEscape).
    let mut q = String::from("/scep?operation=PKIOperation&message=");
    for &b in &req.der {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            q.push(char::from(b));
        } else {
            q.push_str(&format!("%{b:02X}"));
        }
    }
    let (status, body) = raw_http(server.port, "POST", &q, &req.der);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let cert = issued(req.open_response(&body, &key, &[ca_cert(&server)]).unwrap());
    assert!(
        cert.tbs_certificate()
            .subject()
            .to_string()
            .contains("mdmb-device")
    );

    // GET with URL-safe unpadded base64, and with '+' left unescaped.
    for (name, url_safe) in [("url-safe", true), ("plain", false)] {
        let req2 = pkcs_req(&server, &key, &format!("get-{name}"), "pw");
        let b64 = if url_safe {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&req2.der)
        } else {
            base64::engine::general_purpose::STANDARD.encode(&req2.der)
        };
        let (status, body) = raw_http(
            server.port,
            "GET",
            &format!("/scep?operation=PKIOperation&message={b64}"),
            b"",
        );
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
        issued(
            req2.open_response(&body, &key, &[ca_cert(&server)])
                .unwrap(),
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_requests_get_failure_or_4xx_and_a_log_line_with_the_reason() {
    let dir = tempdir("bad");
    let server = start_server(&dir, Some("pw"), &[]);
    let key = RsaKey::generate(1024).unwrap();

    // Not a pkiMessage at all: 400.
    let (status, _) = raw_http(
        server.port,
        "POST",
        "/scep?operation=PKIOperation",
        b"\x30\x03\x02\x01",
    );
    assert_eq!(status, 400);
    // Unknown operation: 400.
    let (status, _) = raw_http(server.port, "GET", "/scep?operation=Nope", b"");
    assert_eq!(status, 400);

    // A signature that does not verify: FAILURE badMessageCheck, before any CA key use.
    let req = pkcs_req(&server, &key, "tampered", "pw");
    let mut der = req.der.clone();
    // The signature is the last OCTET STRING of the SignerInfo: flip its final byte.
    let last = der.len() - 1;
    der[last] ^= 0x55;
    let (status, body) = raw_http(server.port, "POST", "/scep?operation=PKIOperation", &der);
    assert_eq!(status, 200);
    let msg = PkiMessage::decode(&body).unwrap();
    assert_eq!(msg.pki_status, Some(PkiStatus::FAILURE));
    assert_eq!(msg.fail_info, Some(FailInfo::BAD_MESSAGE_CHECK));
    assert_eq!(
        msg.recipient_nonce.as_deref(),
        Some(req.sender_nonce.as_slice())
    );

    // Wrong challenge: badRequest, logged.
    let out = send(&server, &pkcs_req(&server, &key, "wrong", "nope"), &key);
    assert_eq!(failed_with(&out), FailInfo::BAD_REQUEST);

    // A RenewalReq signed by a self-signed certificate: badMessageCheck.
    let subject = issue::common_name("fake-renewal");
    let csr = Csr::build(&key, &subject, None, &[], DigestAlgorithm::Sha256).unwrap();
    let signer = issue::self_signed(
        &key,
        &subject,
        false,
        &IssueOptions::new(vec![3], NOW, 86_400),
    )
    .unwrap();
    let r = client::renewal_req(
        &csr,
        &signer,
        &key,
        &ca_cert(&server),
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();
    assert_eq!(
        failed_with(&send(&server, &r, &key)),
        FailInfo::BAD_MESSAGE_CHECK
    );

    // CertPoll for a transaction the CA never saw: badCertId.
    let orig = pkcs_req(&server, &key, "never-sent", "pw");
    let poll = client::cert_poll(
        &orig,
        &issue::common_name("never-sent"),
        &key,
        &ca_cert(&server),
        DigestAlgorithm::Sha256,
        ContentCipher::Aes128Cbc,
    )
    .unwrap();
    assert_eq!(
        failed_with(&send(&server, &poll, &key)),
        FailInfo::BAD_CERT_ID
    );

    let log = server.log_text();
    for reason in [
        "rejecting PKIOperation",
        "unknown operation",
        "bad signature",
        "wrong challengePassword",
        "not issued by this CA",
        "CertPoll for an unknown transaction",
    ] {
        assert!(log.contains(reason), "no {reason:?} in the log:\n{log}");
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn get_cert_get_crl_and_renewal_signed_by_an_issued_identity() {
    let dir = tempdir("getcert");
    let server = start_server(&dir, Some("pw"), &[]);
    let ca = ca_cert(&server);
    let ca_subject = der(&ca);
    let ca_subject = scep_proto::cms::CertParts::parse(&ca_subject)
        .unwrap()
        .subject
        .to_vec();
    let key = RsaKey::generate(1024).unwrap();
    let cert = issued(send(
        &server,
        &pkcs_req(&server, &key, "identity", "pw"),
        &key,
    ));
    let cert_der = der(&cert);
    let serial = scep_proto::cms::CertParts::parse(&cert_der)
        .unwrap()
        .serial
        .to_vec();
    let build = |crl: bool, issuer: &[u8], serial: &[u8]| {
        let f = if crl {
            client::get_crl
        } else {
            client::get_cert
        };
        f(
            issuer,
            serial,
            &cert,
            &key,
            &ca,
            DigestAlgorithm::Sha256,
            ContentCipher::DesEde3Cbc,
        )
        .unwrap()
    };

    // GetCert by issuer and serial: the certificate we were issued.
    let got = issued(send(&server, &build(false, &ca_subject, &serial), &key));
    assert_eq!(der(&got), cert_der);
    // Unknown serial, or another issuer: badCertId.
    let unknown = [0x02, 0x02, 0x7f, 0x00];
    let out = send(&server, &build(false, &ca_subject, &unknown), &key);
    assert_eq!(failed_with(&out), FailInfo::BAD_CERT_ID);
    let other = issue::common_name("Another CA");
    let out = send(&server, &build(false, &other, &serial), &key);
    assert_eq!(failed_with(&out), FailInfo::BAD_CERT_ID);
    // GetCRL: this CA publishes none (badRequest); for an unknown certificate, badCertId.
    let out = send(&server, &build(true, &ca_subject, &serial), &key);
    assert_eq!(failed_with(&out), FailInfo::BAD_REQUEST);
    let out = send(&server, &build(true, &ca_subject, &unknown), &key);
    assert_eq!(failed_with(&out), FailInfo::BAD_CERT_ID);

    // RenewalReq signed by the issued identity, for a new key, without a challenge.
    let new_key = RsaKey::generate(1024).unwrap();
    let csr = Csr::build(
        &new_key,
        &issue::common_name("identity"),
        None,
        &[],
        DigestAlgorithm::Sha256,
    )
    .unwrap();
    let r = client::renewal_req(
        &csr,
        &cert,
        &key,
        &ca,
        DigestAlgorithm::Sha256,
        ContentCipher::Aes256Cbc,
    )
    .unwrap();
    let (status, body) = raw_http(server.port, "POST", "/scep?operation=PKIOperation", &r.der);
    assert_eq!(status, 200);
    // The CertRep is encrypted to the signer (the old identity); it carries the new cert.
    let renewed = match r
        .open_response(&body, &key, std::slice::from_ref(&ca))
        .unwrap_or_else(|e| {
            panic!("{e}\n{}", server.log_text());
        }) {
        CertRepOutcome::Issued { all, .. } => all,
        other => panic!("{other:?}\n{}", server.log_text()),
    };
    let new_spki = scep_proto::PrivateKey::public_key_der(&new_key);
    assert!(
        renewed.iter().any(|c| {
            scep_proto::cms::CertParts::parse(&der(c)).unwrap().spki == new_spki.as_slice()
        }),
        "the renewal carries a certificate for the new key"
    );
    let log = server.log_text();
    assert!(log.contains("RenewalReq"), "{log}");
    assert!(log.contains("GetCRL: this CA publishes no CRL"), "{log}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn get_next_ca_cert_announces_the_rollover_signed_by_the_current_ca() {
    let dir = tempdir("nextca");
    // The next CA, made beforehand and put in the CA directory.
    let next_key = RsaKey::generate(1024).unwrap();
    let next = issue::self_signed(
        &next_key,
        &issue::common_name("scep-server CA 2"),
        true,
        &IssueOptions::new(vec![2], NOW, 86_400 * 3650),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("ca")).unwrap();
    let next_pem = scep_proto::key::pem_encode("CERTIFICATE", &der(&next));
    std::fs::write(dir.join("ca/next-ca.pem"), &next_pem).unwrap();
    let server = start_server(&dir, Some("pw"), &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = HttpClient::new(&server.url).unwrap();
    let caps = rt.block_on(http.get_ca_caps()).unwrap();
    assert!(caps.has(&scep_proto::Capability::GetNextCaCert), "{caps:?}");
    let current = rt.block_on(http.get_ca_cert()).unwrap();
    let body = rt.block_on(http.get_next_ca_cert()).unwrap();
    let got = client::next_ca_certificates(&body, &current).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(der(&got[0]), der(&next));
    // Not signed by the CA we trust: refused.
    assert!(client::next_ca_certificates(&body, std::slice::from_ref(&next)).is_err());

    // OpenSSL agrees: the current CA signed it, and the content holds the next CA.
    if tool("openssl") {
        std::fs::write(dir.join("next.der"), &body).unwrap();
        let out = Command::new("openssl")
            .args(["cms", "-verify", "-inform", "DER", "-in"])
            .arg(dir.join("next.der"))
            .arg("-CAfile")
            .arg(server.ca_dir.join("ca.pem"))
            .args(["-purpose", "any", "-binary", "-out"])
            .arg(dir.join("inner.p7"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = Command::new("openssl")
            .args(["pkcs7", "-inform", "DER", "-print_certs", "-in"])
            .arg(dir.join("inner.p7"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("scep-server CA 2"));
    }
    // Without a next CA: 404, and the capability is not advertised.
    drop(server);
    std::fs::remove_file(dir.join("ca/next-ca.pem")).unwrap();
    let server = start_server(&dir, Some("pw"), &[]);
    let (status, _) = raw_http(server.port, "GET", "/scep?operation=GetNextCACert", b"");
    assert_eq!(status, 404);
    let caps = rt
        .block_on(HttpClient::new(&server.url).unwrap().get_ca_caps())
        .unwrap();
    assert!(!caps.has(&scep_proto::Capability::GetNextCaCert));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn pending_then_success_or_failure_with_the_library_client() {
    let dir = tempdir("pending-lib");
    let server = start_server(&dir, Some("pw"), &["--approve", "manual"]);
    let key = RsaKey::generate(1024).unwrap();
    let req = pkcs_req(&server, &key, "waiting", "pw");
    assert!(matches!(send(&server, &req, &key), CertRepOutcome::Pending));
    // The same PKCSReq again, and a CertPoll: still PENDING.
    assert!(matches!(send(&server, &req, &key), CertRepOutcome::Pending));
    let poll = || {
        client::cert_poll(
            &req,
            &issue::common_name("waiting"),
            &key,
            &ca_cert(&server),
            DigestAlgorithm::Sha256,
            ContentCipher::Aes128Cbc,
        )
        .unwrap()
    };
    assert!(matches!(
        send(&server, &poll(), &key),
        CertRepOutcome::Pending
    ));
    // Another key cannot collect it.
    let thief = RsaKey::generate(1024).unwrap();
    let thief_req = {
        let subject = issue::common_name("waiting");
        let signer = issue::self_signed(
            &thief,
            &subject,
            false,
            &IssueOptions::new(vec![9], NOW, 86_400),
        )
        .unwrap();
        scep_proto::PkiMessageBuilder::new(
            scep_proto::MessageType::CERT_POLL,
            &signer,
            &thief,
            &ca_cert(&server),
        )
        .transaction_id(req.transaction_id.clone())
        .build(&scep_proto_seq(&ca_cert(&server), &subject))
        .unwrap()
    };
    assert_eq!(
        failed_with(&send(&server, &thief_req, &thief)),
        FailInfo::BAD_MESSAGE_CHECK
    );
    // The operator approves (the file moves); the next poll gets the certificate.
    let pending = only_file(&server.ca_dir.join("pending"));
    let approved = server.ca_dir.join("approved");
    std::fs::create_dir_all(&approved).unwrap();
    std::fs::rename(&pending, approved.join(pending.file_name().unwrap())).unwrap();
    let cert = issued(send(&server, &poll(), &key));
    assert!(
        cert.tbs_certificate()
            .subject()
            .to_string()
            .contains("waiting")
    );
    // Polling again after SUCCESS returns the same certificate.
    assert_eq!(der(&issued(send(&server, &poll(), &key))), der(&cert));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

fn scep_proto_seq(ca: &Certificate, subject: &[u8]) -> Vec<u8> {
    // IssuerAndSubject: SEQUENCE { issuer Name, subject Name }.
    let ca_der = der(ca);
    let issuer = scep_proto::cms::CertParts::parse(&ca_der)
        .unwrap()
        .subject
        .to_vec();
    let mut content = issuer;
    content.extend_from_slice(subject);
    let mut out = vec![0x30];
    let len = content.len();
    if len < 128 {
        out.push(u8::try_from(len).unwrap());
    } else {
        out.push(0x82);
        out.extend_from_slice(&u16::try_from(len).unwrap().to_be_bytes());
    }
    out.extend_from_slice(&content);
    out
}

fn only_file(dir: &Path) -> PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

/// mdmctl, built next to scep-server by `cargo test --workspace`.
fn mdmctl() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_BIN_EXE_scep-server")).with_file_name("mdmctl");
    if p.exists() {
        return Some(p);
    }
    mdm_test_support::skip(
        "mdmctl",
        "mdmctl is not built beside scep-server (cargo test --workspace builds it)",
    );
    None
}

fn wait_for_file(dir: &Path, server: &Server) -> PathBuf {
    let start = Instant::now();
    loop {
        if let Ok(mut rd) = std::fs::read_dir(dir)
            && let Some(Ok(e)) = rd.next()
        {
            return e.path();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no pending request: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pending_end_to_end_with_mdmctl_enroll_pending_approve_and_reject() {
    let Some(mdmctl) = mdmctl() else {
        return;
    };
    let dir = tempdir("pending-mdmctl");
    let server = start_server(&dir, Some("pw"), &["--approve", "manual"]);
    let enroll = |name: &str| {
        Command::new(&mdmctl)
            .args(["scep", "enroll", "--url", &server.url, "--challenge", "pw"])
            .args(["--subject", &format!("CN={name}")])
            .args([
                "--key-bits",
                "1024",
                "--poll-interval",
                "1",
                "--max-polls",
                "60",
            ])
            .arg("--key")
            .arg(dir.join(format!("{name}.key")))
            .arg("--out")
            .arg(dir.join(format!("{name}.pem")))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let ctl = |args: &[&str]| {
        let out = Command::new(&mdmctl)
            .arg("scep")
            .args(args)
            .arg("--ca-dir")
            .arg(&server.ca_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mdmctl scep {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };

    // Approve: PENDING, listed, approved, then SUCCESS.
    let child = enroll("approved-device");
    let file = wait_for_file(&server.ca_dir.join("pending"), &server);
    let listed = ctl(&["pending"]);
    let items = listed["pending"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed}");
    assert!(
        items[0]["subject"]
            .as_str()
            .unwrap()
            .contains("approved-device")
    );
    let id = items[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        file.file_stem().unwrap().to_str().unwrap(),
        id,
        "the listed id names the file"
    );
    assert_eq!(ctl(&["approve", &id])["state"], "approved");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}\n{}", server.log_text());
    assert!(stderr.contains("PENDING"), "{stderr}");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(answer["pending_answers"].as_u64().unwrap() >= 1, "{answer}");
    assert!(
        answer["certificate"]["subject"]
            .as_str()
            .unwrap()
            .contains("approved-device")
    );
    assert!(dir.join("approved-device.pem").exists());

    // Reject by transactionID: the poll gets FAILURE and mdmctl fails.
    let child = enroll("rejected-device");
    let file = wait_for_file(&server.ca_dir.join("pending"), &server);
    let text = std::fs::read_to_string(&file).unwrap();
    let tid = text
        .lines()
        .find_map(|l| l.strip_prefix("transaction-id: "))
        .unwrap()
        .to_owned();
    assert_eq!(ctl(&["reject", &tid])["state"], "rejected");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("FAILURE (badRequest)"), "{stderr}");
    assert!(!dir.join("rejected-device.pem").exists());
    assert!(ctl(&["pending"])["pending"].as_array().unwrap().is_empty());
    let log = server.log_text();
    assert!(
        log.contains("PENDING") && log.contains("rejected by the operator"),
        "{log}"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn library_enroll_against_manual_approval_times_out_pending() {
    let dir = tempdir("pending-timeout");
    let server = start_server(&dir, None, &["--approve", "manual"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = HttpClient::new(&server.url).unwrap();
    let key = RsaKey::generate(1024).unwrap();
    let mut opts = EnrollOptions::new(now());
    opts.poll_interval = Duration::from_millis(10);
    opts.max_polls = 2;
    let err = rt
        .block_on(enroll(&http, &key, &issue::common_name("late"), &opts))
        .unwrap_err();
    assert!(err.to_string().contains("still PENDING"), "{err}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
