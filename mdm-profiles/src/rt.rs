//! What the generated code refers to, under short paths.

pub(crate) use crate::schema::{KeySpec, Kind, OsSupport, PayloadSpec};
pub(crate) use mdm_proto::Result as ProtoResult;
pub(crate) use mdm_proto::fields::{Data, DictWriter, Fields, FromValue, ToValue};
pub(crate) use mdm_proto::plist::{Date, Dictionary, Value};

pub use crate::keyed::Keyed;
