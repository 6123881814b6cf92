#![doc = include_str!("../README.md")]

mod algorithm;
pub(crate) mod asn1;
pub mod ca;
mod capabilities;
pub mod client;
pub mod cms;
mod codes;
mod csr;
mod error;
pub mod issue;
pub mod key;
pub mod oids;
pub mod operation;
pub mod pki_message;
pub mod policy;

#[cfg(feature = "client")]
pub mod http_client;

#[doc(hidden)]
pub mod fuzzing;

pub use algorithm::{ContentCipher, DigestAlgorithm};
pub use ca::{Ca, CaRequest, Decision, RequestBody};
pub use capabilities::{Capabilities, Capability};
pub use client::{CertRepOutcome, ClientRequest, PkiMessageBuilder};
pub use codes::{FailInfo, MessageType, PkiStatus};
pub use csr::Csr;
pub use error::{Error, Result};
#[cfg(feature = "aws-lc-rs")]
pub use key::AwsLcRsaKey;
pub use key::{PrivateKey, RsaKey};
pub use operation::Operation;
pub use pki_message::{PkiMessage, new_nonce, transaction_id_for_key};

pub use der;
pub use x509_cert;
pub use x509_cert::Certificate;
