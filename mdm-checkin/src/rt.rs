//! What the generated code refers to, under short paths (the same names as mdm-commands').
#![allow(
    unused_imports,
    reason = "the generated code uses what the schema needs, which changes"
)]

pub(crate) use mdm_proto::Identity;
pub(crate) use mdm_proto::Result as ProtoResult;
pub(crate) use mdm_proto::fields::{Data, DictWriter, Fields, FromValue, ToValue};
pub(crate) use mdm_proto::plist::{Date, Dictionary, Value};
pub(crate) use mdm_proto::schema::{ItemSpec, KeySpec, Kind, OsSupport};

pub(crate) use crate::message::{non_empty, present, read_message, sorted_dictionary};
pub(crate) use crate::response::{decode_typed_body, encode_body, typed_body};
