#![doc = include_str!("../README.md")]

pub mod applicability;
pub mod command;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
#[allow(
    clippy::too_many_arguments,
    reason = "constructors take every key the schema marks required"
)]
#[allow(
    clippy::large_enum_variant,
    reason = "AnyCommand and AnyResponse hold command values inline, like the typed structs"
)]
pub mod generated;
pub mod json;
mod keyed;
pub mod response;
mod rt;
pub mod schema;

pub use command::{Command, CommandEnvelope, CommandHeader, RawCommand};
pub use error::{Error, Result};
pub use generated::prelude;
pub use generated::registry::{AnyCommand, AnyResponse, RequestType};
pub use keyed::Keyed;
pub use response::{decode_report, decode_response};

pub use mdm_proto;
pub use mdm_proto::plist;
