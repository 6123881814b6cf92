//! Helpers the workspace's tests share (not published).
//!
//! - [`shared`]: where `../shared` (Apple's schemas, the corpus) is, or a visible skip when it
//!   is missing.
//! - [`skip`]: a skip that prints a `SKIP:` line, records it for the run's skip report
//!   (`cargo run -p xtask -- test` prints the report), and fails the test when `CI` is set.
//! - [`tool`]: whether a command-line peer (openssl, plistutil, scepserver, ...) is installed.
//! - [`postgres_url`]: the PostgreSQL server the tests use, from `MDM_TEST_POSTGRES_URL`.
//! - [`TempDir`]: a temporary folder removed on drop.
//! - [`http`]: the raw HTTP/1.1 test client (blocking; async with feature `tokio`).
//! - [`plist`]: device message plists laid out as devices send them.
//! - `postgres::PgSchema` (feature `postgres`): a fresh schema per test on that server.
//! - `services_mock` (feature `services-mock`): mocks of Apple's web services (GDMF) over
//!   real HTTP.
//!
//! ```no_run
//! let Some(corpus) = mdm_test_support::shared::corpus("checkin") else { return };
//! for file in mdm_test_support::shared::files_in(&corpus) {
//!     let _bytes = std::fs::read(file).unwrap();
//! }
//! ```

#![allow(
    clippy::panic,
    reason = "test helpers: a panic fails the calling test, which is what they are for"
)]

pub mod http;
pub mod plist;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "services-mock")]
pub mod services_mock;
pub mod shared;
mod skip;
mod temp;

pub use skip::{SKIP_LOG_ENV, in_ci, skip, tool};
pub use temp::TempDir;

/// The environment variable naming the PostgreSQL server the tests use.
pub const POSTGRES_URL_ENV: &str = "MDM_TEST_POSTGRES_URL";

/// The PostgreSQL server used when [`POSTGRES_URL_ENV`] is not set (the one `.ci/run` makes sure
/// is running).
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The PostgreSQL URL the tests use: `MDM_TEST_POSTGRES_URL`, else [`DEFAULT_POSTGRES_URL`].
pub fn postgres_url() -> String {
    std::env::var(POSTGRES_URL_ENV)
        .ok()
        .filter(|url| !url.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned())
}
