#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod cert;
mod error;
mod reason;
mod request;
mod response;
#[cfg(any(feature = "client", feature = "mock"))]
mod tls;

#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "mock")]
pub mod mock;

#[doc(hidden)]
pub mod fuzzing;

pub use cert::{ApnsEnvironment, CertificateInfo, KeyFormat, PrivateKey, PushIdentity};
pub use error::Error;
pub use reason::ErrorReason;
pub use request::{
    ApnsId, DeviceToken, Endpoint, MAX_PUSH_MAGIC_LEN, MAX_TOKEN_LEN, MAX_TOPIC_LEN, MdmPush,
    Priority, PushMagic,
};
pub use response::{
    ApnsError, Disposition, MAX_RESPONSE_BODY, PushResponse, parse_error_body, parse_response,
};

/// Re-exported so that users build and inspect requests with the same `http` version.
pub use http;
