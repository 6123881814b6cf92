#![doc = include_str!("../README.md")]

mod body;
pub mod builders;
pub mod error;
pub mod fuzzing;
pub mod generated;
mod keyed;
pub mod lint;
pub mod profile;
mod rt;
pub mod schema;
pub mod skeleton;
pub mod target;

pub use body::PayloadBody;
pub use error::{Error, Result};
pub use generated::prelude;
pub use generated::registry::AnyPayload;
pub use keyed::Keyed;
pub use lint::{Finding, Report, Severity, lint};
pub use profile::{Payload, Profile, Signature};
pub use target::Target;

pub use mdm_proto;
pub use mdm_proto::plist;
