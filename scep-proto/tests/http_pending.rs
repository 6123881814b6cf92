//! The HTTP client polls while the CA answers PENDING (a tiny HTTP/1.1 server over the
//! sans-I/O `Ca`, on loopback), and both GET and POST PKIOperation work.
#![cfg(feature = "client")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use scep_proto::http_client::{EnrollOptions, HttpClient, enroll};
use scep_proto::issue::{self, IssueOptions};
use scep_proto::{Ca, Decision, Operation, RequestBody, operation};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

async fn serve_one(ca: &Ca, polls: &Mutex<u32>, caps: &str, mut sock: tokio::net::TcpStream) {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let (head_end, content_len) = loop {
        let n = sock.read(&mut tmp).await.unwrap();
        assert!(n > 0, "client closed early");
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse::<usize>().unwrap())
                .unwrap_or(0);
            break (i + 4, len);
        }
    };
    while buf.len() < head_end + content_len {
        let n = sock.read(&mut tmp).await.unwrap();
        buf.extend_from_slice(&tmp[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let first = head.lines().next().unwrap();
    let mut parts = first.split(' ');
    let method = parts.next().unwrap();
    let target = parts.next().unwrap();
    let query = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    let body = &buf[head_end..head_end + content_len];
    let (ct, out): (&str, Vec<u8>) = match operation::parse_request(method, query, body).unwrap() {
        Operation::GetCaCaps => ("text/plain", caps.as_bytes().to_vec()),
        Operation::GetCaCert => {
            let (ct, b) = ca.get_ca_cert().unwrap();
            (ct, b)
        }
        Operation::PkiOperation(der) => {
            let req = ca.decode_request(&der).unwrap();
            let decision = match &req.body {
                RequestBody::Csr(_) => Decision::Pending,
                RequestBody::CertPoll { .. } => {
                    let mut p = polls.lock().unwrap();
                    *p += 1;
                    if *p < 2 {
                        Decision::Pending
                    } else {
                        // The CSR is not in a CertPoll: issue for the signer's key and subject.
                        let csr_like = scep_proto::Csr::build(
                            common::key(1).as_ref(),
                            &issue::common_name("poller"),
                            None,
                            &[],
                            scep_proto::DigestAlgorithm::Sha256,
                        )
                        .unwrap();
                        let csr = scep_proto::Csr::parse(&csr_like).unwrap();
                        let cert = issue::issue(
                            &csr,
                            ca.certificate(),
                            ca.key(),
                            &IssueOptions::new(vec![0x33], common::NOW, 3600),
                        )
                        .unwrap();
                        Decision::Issue(Box::new(cert))
                    }
                }
                _ => Decision::Reject(scep_proto::FailInfo::BAD_REQUEST),
            };
            (
                "application/x-pki-message",
                ca.respond(&req, &decision).unwrap(),
            )
        }
        other => panic!("unexpected {other:?}"),
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        out.len()
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&out).await.unwrap();
    sock.shutdown().await.unwrap();
}

fn run(caps: &'static str) -> u32 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let (c, k) = common::ca();
        let ca = Arc::new(Ca::new(c, k));
        let polls = Arc::new(Mutex::new(0u32));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (ca2, polls2) = (ca.clone(), polls.clone());
        let server = tokio::spawn(async move {
            loop {
                let (sock, _) = listener.accept().await.unwrap();
                serve_one(&ca2, &polls2, caps, sock).await;
            }
        });
        let http = HttpClient::new(&format!("http://127.0.0.1:{port}/scep")).unwrap();
        let mut opts = EnrollOptions::new(common::NOW);
        opts.poll_interval = std::time::Duration::from_millis(10);
        opts.max_polls = 4;
        let key = common::key(1);
        let got = enroll(&http, key.as_ref(), &issue::common_name("poller"), &opts)
            .await
            .unwrap();
        assert!(
            got.certificate
                .tbs_certificate()
                .subject()
                .to_string()
                .contains("poller")
        );
        server.abort();
        *polls.lock().unwrap()
    })
}

#[test]
fn enroll_polls_while_pending_over_post() {
    assert_eq!(run("POSTPKIOperation\nSHA-256\nAES\n"), 2);
}

#[test]
fn enroll_polls_while_pending_over_get() {
    assert_eq!(run("SHA-1\nDES3\n"), 2);
}
