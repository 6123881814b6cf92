//! What the generated code refers to, under short paths.

pub(crate) use crate::schema::{CommandSpec, KeySpec, Kind, OsSupport};
pub(crate) use mdm_proto::Result as ProtoResult;
pub(crate) use mdm_proto::fields::{Data, DictWriter, Fields, FromValue, ToValue};
pub(crate) use mdm_proto::plist::{Date, Dictionary, Value};

pub use crate::keyed::Keyed;
