#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod open_enum;

pub mod bypass;
pub mod endpoint;
pub mod error;
pub mod generated;
pub mod session;
pub mod sync;
pub mod token;
pub mod types;

#[doc(hidden)]
pub mod fuzzing;

#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod client;
#[cfg(feature = "client")]
#[cfg_attr(docsrs, doc(cfg(feature = "client")))]
pub mod driver;
#[cfg(feature = "mock")]
#[cfg_attr(docsrs, doc(cfg(feature = "mock")))]
pub mod mock;

pub use bypass::BypassCode;
pub use endpoint::{
    Config, DEFAULT_BASE_URL, Endpoint, MAX_PAGE_LIMIT, PROTOCOL_VERSION, parse, parse_response,
    parse_session_response,
};
pub use error::{ApiError, Error};
pub use session::OAuthParams;
pub use types::*;

#[doc(hidden)]
pub use open_enum::PrivOwnedStr;
