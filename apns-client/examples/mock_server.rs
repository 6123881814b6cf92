//! Runs the mock APNs server until killed, for trying clients by hand (e.g. `mdmctl push`).
//!
//! `cargo run -p apns-client --features mock --example mock_server -- DIR [TOKEN_HEX...]`
//! writes DIR/ca.pem (trust it), DIR/push.pem and DIR/push.key (a client push certificate
//! for topic com.apple.mgmt.External.mock), prints the URL, and answers 410 Unregistered
//! for each TOKEN_HEX given.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use apns_client::mock::{MockApns, MockReply, TestPki};
use base64::Engine as _;

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: mock_server DIR [TOKEN...]"));
    std::fs::create_dir_all(&dir).unwrap();
    let pki = TestPki::new().unwrap();
    let (chain, key) = pki.client_parts("com.apple.mgmt.External.mock").unwrap();
    std::fs::write(dir.join("ca.pem"), pem("CERTIFICATE", pki.ca_der())).unwrap();
    std::fs::write(dir.join("push.pem"), pem("CERTIFICATE", &chain[0])).unwrap();
    std::fs::write(dir.join("push.key"), pem("PRIVATE KEY", key.der())).unwrap();
    let mock = MockApns::builder(&pki).record(false).start().await.unwrap();
    for token in args {
        mock.reply_to_token(&token, MockReply::unregistered(1_700_000_000_000));
    }
    println!("{}", mock.url());
    tokio::signal::ctrl_c().await.unwrap();
    println!("{:?}", mock.stats());
}
