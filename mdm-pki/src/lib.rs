#![doc = include_str!("../README.md")]

pub mod algorithm;
pub mod asn1;
pub mod cms;
pub mod csr;
pub mod ct;
mod error;
pub mod hex;
pub mod issue;
pub mod key;
pub mod oids;
pub mod pem;
pub mod pkcs12;
pub mod validate;

#[doc(hidden)]
pub mod fuzzing;

pub use algorithm::{ContentCipher, DigestAlgorithm};
pub use cms::{LenientCertificate, parse_certificate, parse_certificates};
pub use csr::Csr;
pub use ct::constant_time_eq;
pub use error::{Error, Result};
#[cfg(feature = "aws-lc-rs")]
pub use key::AwsLcRsaKey;
pub use key::{EcKey, PrivateKey, RsaKey};

pub use der;
pub use x509_cert;
pub use x509_cert::Certificate;
