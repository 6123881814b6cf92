#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod declarative_management;
pub mod device_body;
pub mod error;
pub mod error_body;
#[allow(
    clippy::too_many_arguments,
    reason = "constructors take every key the schema marks required"
)]
mod generated;
pub mod message;
pub mod overrides;
pub mod response;
mod rt;
mod set_bootstrap_token;

pub use error::{Error, Result};
pub use error_body::{ErrorBody, ErrorCode};
pub use generated::checkin::{
    Authenticate, CheckOut, DeclarativeManagement, GetBootstrapToken, GetToken, MessageType,
    ReturnToService, ReturnToServiceResponse, ReturnToServiceSettings, SetBootstrapToken,
    TokenParameters, TokenServiceType, TokenUpdate, UserAuthenticate,
};
pub use message::{CheckinMessage, Message, UnknownMessage};
pub use response::{GetBootstrapTokenResponse, GetTokenResponse, UserAuthenticateResponse};

pub use mdm_proto;
pub use mdm_proto::{Enrollment, EnrollmentType, Identity, Limits};

pub mod facts {
    //! The schema's facts of every check-in message (its keys, the keys of the server's
    //! answer, `supportedOS`), generated from `mdm/checkin`.

    pub use crate::generated::facts::*;
    pub use mdm_proto::schema::{ItemSpec, KeySpec, Kind, OsSupport};

    /// The facts of one `MessageType`.
    pub fn spec(message_type: &str) -> Option<&'static ItemSpec> {
        ALL.iter().copied().find(|s| s.id == message_type)
    }
}

/// Decodes an untrusted check-in body: shorthand for [`CheckinMessage::decode`].
pub fn decode(bytes: &[u8]) -> Result<CheckinMessage> {
    CheckinMessage::decode(bytes)
}

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for fuzz targets and the fuzz-corpus replay test.

    use crate::{
        CheckinMessage, GetBootstrapTokenResponse, GetTokenResponse, UserAuthenticateResponse,
    };

    /// Decodes a check-in; when it decodes, checks that encoding and decoding again gives
    /// the same message and the same dictionary as the input. Also runs the response
    /// decoders over the same bytes.
    pub fn decode(data: &[u8]) {
        if let Ok(message) = CheckinMessage::decode(data) {
            let dict = message.to_dictionary();
            if let Ok(original) = mdm_proto::parse_dictionary(data, &mdm_proto::Limits::MDM) {
                assert_eq!(original, dict, "re-encoding lost or changed keys");
            }
            let bytes = message.encode();
            assert!(bytes.is_ok(), "a decoded message does not encode");
            if let Ok(bytes) = bytes {
                let again = CheckinMessage::decode(&bytes);
                assert!(again.is_ok(), "an encoded message does not decode");
                if let Ok(again) = again {
                    assert_eq!(again, message, "decode(encode(m)) != m");
                }
            }
        }
        if let Ok(r) = UserAuthenticateResponse::decode(data) {
            assert_eq!(
                UserAuthenticateResponse::from_dictionary(r.to_dictionary()).ok(),
                Some(r)
            );
        }
        if let Ok(r) = GetBootstrapTokenResponse::decode(data) {
            assert_eq!(
                GetBootstrapTokenResponse::from_dictionary(r.to_dictionary()).ok(),
                Some(r)
            );
        }
        if let Ok(r) = crate::ReturnToServiceResponse::decode(data) {
            assert_eq!(
                crate::ReturnToServiceResponse::from_dictionary(r.to_dictionary()).ok(),
                Some(r)
            );
        }
        if let Ok(r) = crate::ErrorBody::decode(data) {
            assert_eq!(
                crate::ErrorBody::from_dictionary(r.to_dictionary()).ok(),
                Some(r)
            );
        }
        if let Ok(r) = GetTokenResponse::decode(data) {
            assert_eq!(
                GetTokenResponse::from_dictionary(r.to_dictionary()).ok(),
                Some(r)
            );
        }
    }

    /// Reads a device body as it would arrive on each of the server's two URLs.
    pub fn device_body(data: &[u8]) {
        use crate::device_body::{DeviceMessage, Endpoint, decode};
        let limits = mdm_proto::Limits::MDM;
        let on_server = decode(data, Endpoint::Server, &limits);
        let on_checkin = decode(data, Endpoint::Checkin, &limits);
        if let DeviceMessage::Checkin(message) = &on_checkin {
            assert!(
                matches!(&on_server, DeviceMessage::Checkin(m) if m == message),
                "a check-in reads differently on the server URL"
            );
        }
    }
}
