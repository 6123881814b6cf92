//! A fresh PostgreSQL schema per test, on the server [`postgres_url`](crate::postgres_url)
//! names.

use std::sync::atomic::{AtomicU64, Ordering};

/// The skip group of every test that needs PostgreSQL.
pub const GROUP: &str = "PostgreSQL";

/// A schema of its own on the test server: `url` connects with it as the search path.
/// Drop it with [`PgSchema::drop_schema`] (best effort).
#[derive(Debug)]
pub struct PgSchema {
    /// The schema's name (`<prefix>_<pid>_<n>_<nanos>`).
    pub name: String,
    /// [`postgres_url`](crate::postgres_url) with `search_path` set to the schema.
    pub url: String,
}

impl PgSchema {
    /// Creates a new schema, or returns `None` after a visible [`skip`](crate::skip) when the
    /// server cannot be reached (a failure under CI). `test` names the calling test in the
    /// skip report; `prefix` starts the schema's name.
    ///
    /// # Panics
    /// When the server is reachable but refuses `CREATE SCHEMA` (tests only).
    pub async fn create(test: &str, prefix: &str) -> Option<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = crate::postgres_url();
        let client = match tokio_postgres::connect(&base, tokio_postgres::NoTls).await {
            Ok((client, conn)) => {
                tokio::spawn(conn);
                client
            }
            Err(e) => {
                crate::skip(
                    GROUP,
                    &format!("{test}: PostgreSQL at {base} is not reachable: {e}"),
                );
                return None;
            }
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "{prefix}_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        if let Err(e) = client.batch_execute(&format!("CREATE SCHEMA {name}")).await {
            panic!("CREATE SCHEMA {name} on {base}: {e}");
        }
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-csearch_path%3D{name}");
        Some(PgSchema { name, url })
    }

    /// Drops the schema and everything in it (best effort).
    pub async fn drop_schema(&self) {
        let base = crate::postgres_url();
        if let Ok((client, conn)) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await {
            tokio::spawn(conn);
            let _ = client
                .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
                .await;
        }
    }
}
