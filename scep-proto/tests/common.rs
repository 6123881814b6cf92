//! Shared test helpers (keys generated once per test binary).
#![allow(dead_code, missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, OnceLock};

use scep_proto::issue::{self, IssueOptions};
use scep_proto::{Certificate, RsaKey};

pub fn key(i: usize) -> Arc<RsaKey> {
    static KEYS: OnceLock<Vec<Arc<RsaKey>>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..3)
            .map(|_| Arc::new(RsaKey::generate(1024).expect("keygen")))
            .collect()
    })[i]
        .clone()
}

pub const NOW: i64 = 1_764_000_000;

pub fn ca() -> (Certificate, Arc<RsaKey>) {
    static CA: OnceLock<Certificate> = OnceLock::new();
    let k = key(0);
    let c = CA
        .get_or_init(|| {
            issue::self_signed(
                k.as_ref(),
                &issue::name_from_str("CN=Test SCEP CA,O=scep-proto").unwrap(),
                true,
                &IssueOptions::new(vec![1], NOW - 3600, 86_400 * 365),
            )
            .unwrap()
        })
        .clone();
    (c, k)
}

pub fn client_signer(k: &RsaKey, cn: &str) -> Certificate {
    issue::self_signed(
        k,
        &issue::common_name(cn),
        false,
        &IssueOptions::new(vec![7], NOW - 3600, 86_400),
    )
    .unwrap()
}
