#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod open_enum;

pub mod abm;
pub mod anb;
pub mod error;
pub mod gdmf;
pub mod generated;

pub use error::{ApiError, Error};

#[doc(hidden)]
pub use open_enum::PrivOwnedStr;
