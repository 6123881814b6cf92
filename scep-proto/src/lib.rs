#![doc = include_str!("../README.md")]

pub mod ca;
mod capabilities;
pub mod client;
pub mod cms;
mod codes;
mod enrollment;
mod error;
pub mod oids;
pub mod operation;
pub mod pki_message;
pub mod policy;

#[cfg(feature = "client")]
pub mod http_client;

#[doc(hidden)]
pub mod fuzzing;

/// Re-export of [`mdm_pki::issue`] (the issuing helper moved there).
pub use mdm_pki::issue;
/// Re-export of [`mdm_pki::key`] (private keys moved there).
pub use mdm_pki::key;
pub(crate) use mdm_pki::{algorithm, asn1, csr};

pub use ca::{Ca, CaRequest, Decision, RequestBody};
pub use capabilities::{Capabilities, Capability};
pub use client::{CertRepOutcome, ClientRequest, PkiMessageBuilder};
pub use codes::{FailInfo, MessageType, PkiStatus};
pub use enrollment::Enrollment;
pub use error::{Error, Result};
/// Re-export of [`mdm_pki::AwsLcRsaKey`].
#[cfg(feature = "aws-lc-rs")]
pub use mdm_pki::AwsLcRsaKey;
/// Re-export of [`mdm_pki::Csr`].
pub use mdm_pki::Csr;
/// Re-exports of `mdm-pki` items (the generic PKI moved there).
pub use mdm_pki::{ContentCipher, DigestAlgorithm};
/// Re-exports of [`mdm_pki::PrivateKey`] and [`mdm_pki::RsaKey`].
pub use mdm_pki::{PrivateKey, RsaKey};
pub use operation::Operation;
pub use pki_message::{PkiMessage, new_nonce, transaction_id_for_key};

pub use mdm_pki;
/// Re-exports of `mdm-pki`'s foundations.
pub use mdm_pki::{Certificate, der, x509_cert};
