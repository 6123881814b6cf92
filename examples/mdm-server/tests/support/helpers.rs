//! Helpers shared by the integration tests: temporary folders and PostgreSQL schemas.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

/// A fresh schema per test on the server `MDM_TEST_POSTGRES_URL` names (mdm-test-support).
#[allow(unused_imports)]
pub use mdm_test_support::postgres::PgSchema;

/// A fresh temporary folder (removed when dropped).
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

/// The PEM files of one test CA (1024-bit RSA: key generation is slow in debug builds),
/// made once per test binary.
fn test_ca_files() -> &'static (Vec<u8>, Vec<u8>) {
    static CA: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    CA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("mdm-server-ca-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        mdm_server::pki::Pki::load_or_create(&dir, Some("unused"), 1024).unwrap();
        let files = (
            std::fs::read(dir.join(mdm_server::pki::CA_CERT_FILE)).unwrap(),
            std::fs::read(dir.join(mdm_server::pki::CA_KEY_FILE)).unwrap(),
        );
        let _ = std::fs::remove_dir_all(&dir);
        files
    })
}

/// Puts the test CA into a data folder, so a server starting there does not generate one.
pub fn seed_ca(dir: &std::path::Path) {
    let (cert, key) = test_ca_files();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(mdm_server::pki::CA_CERT_FILE), cert).unwrap();
    std::fs::write(dir.join(mdm_server::pki::CA_KEY_FILE), key).unwrap();
}

impl TempDir {
    /// A new folder holding the test CA (see [`seed_ca`]).
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("mdm-server-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        seed_ca(&dir);
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The workspace's raw HTTP/1.1 test client (mdm-test-support).
#[allow(unused_imports)]
pub use mdm_test_support::http::{Response, request};

/// A device message plist around `inner` (mdm-test-support).
#[allow(unused_imports)]
pub use mdm_test_support::plist::dict as plist;

/// Creates an enrollment token through the admin API (`POST /v1/enrollment-tokens` with the
/// JSON `body`) and returns the answer (`token`, `url`, `id`...).
pub async fn enrollment_token(
    addr: std::net::SocketAddr,
    api_key: &str,
    body: &str,
) -> serde_json::Value {
    let auth = format!("Bearer {api_key}");
    let r = request(
        addr,
        "POST",
        "/v1/enrollment-tokens",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

/// A server running in this process, on a port of its own.
pub struct Running {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Starts a server with `config` and serves until [`Running::stop`].
    pub async fn start(config: &mdm_server::app::Config) -> Self {
        let server = mdm_server::app::Server::start(config).await.unwrap();
        let addr = server.local_addr;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            server
                .serve(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Running {
            addr,
            stop: Some(tx),
            task,
        }
    }

    /// Stops it gracefully and waits (at most 10 s) until it has.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(10), &mut self.task)
            .await
            .expect("server did not stop")
            .unwrap();
    }
}
