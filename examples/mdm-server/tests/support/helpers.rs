//! Helpers shared by the integration tests: temporary folders and PostgreSQL schemas.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

/// The PostgreSQL server the tests use.
pub const PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A fresh temporary folder (removed when dropped).
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("mdm-server-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
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

/// A fresh schema on the test PostgreSQL server, dropped when this value is dropped
/// (best effort), or `None` (after printing SKIP) when the server is not reachable and
/// `CI` is not set. With `CI` set, an unreachable server fails the test.
#[derive(Debug)]
pub struct PgSchema {
    pub name: String,
    pub url: String,
}

impl PgSchema {
    pub async fn create(test: &str) -> Option<Self> {
        let client = match tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                client
            }
            Err(e) => {
                if std::env::var_os("CI").is_some() {
                    panic!("PostgreSQL at {PG_URL} is required when CI is set: {e}");
                }
                println!("SKIP: {test}: PostgreSQL at {PG_URL} is not reachable: {e}");
                return None;
            }
        };
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        client
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        let url = format!("{PG_URL}?options=-csearch_path%3D{name}");
        Some(PgSchema { name, url })
    }

    pub async fn drop_schema(&self) {
        if let Ok((client, conn)) = tokio_postgres::connect(PG_URL, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
                .await;
        }
    }
}
