//! The trait every generated payload type implements.

use crate::generated::registry::AnyPayload;
use crate::schema::PayloadSpec;
use mdm_proto::fields::{FromValue, ToValue};

/// A payload type's own keys (the keys every payload has are [`Payload`](crate::Payload)'s).
///
/// ```
/// use mdm_profiles::{PayloadBody, prelude::WifiManaged};
/// assert_eq!(WifiManaged::PAYLOAD_TYPE, "com.apple.wifi.managed");
/// assert!(WifiManaged::spec().os("iOS").is_some());
/// ```
pub trait PayloadBody: FromValue + ToValue + Into<AnyPayload> + Clone {
    /// The `PayloadType` it is sent with.
    const PAYLOAD_TYPE: &'static str;

    /// The schema's facts of the payload type.
    fn spec() -> &'static PayloadSpec;

    /// The value, when `any` holds this type.
    fn from_any(any: &AnyPayload) -> Option<&Self>;
}
