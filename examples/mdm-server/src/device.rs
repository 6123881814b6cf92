//! Decoding what devices send to `/mdm/checkin` and `/mdm`: `mdm-checkin`'s
//! [`device_body`](mdm_checkin::device_body), which tells check-ins, command reports and
//! bodies that cannot be used apart (sans I/O).

pub use mdm_checkin::CheckinMessage;
pub use mdm_checkin::device_body::{BodyError, DeviceMessage, Endpoint, Undecodable, decode};
