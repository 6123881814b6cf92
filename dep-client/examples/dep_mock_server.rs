//! Runs the mock DEP service on loopback with some devices, writes its token to a file and
//! prints the base URL: `cargo run -p dep-client --features mock --example mock_server -- token.json 25`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dep_client::mock::{MockDep, OrgId};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let token_path = args.next().unwrap_or_else(|| "mock-token.json".into());
    let devices: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
    let mock = MockDep::start().await.expect("start the mock");
    mock.add_devices(OrgId(0), "MOCK", devices);
    let token = serde_json::to_vec_pretty(&mock.token(OrgId(0))).unwrap();
    std::fs::write(&token_path, token).expect("write the token");
    println!("{}", mock.base_url());
    dep_client::mock::serve_forever(mock).await;
}
