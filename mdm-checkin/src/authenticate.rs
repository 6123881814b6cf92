//! `Authenticate`: the first message of an enrollment.

use crate::error::Result;
use crate::message::{Message, read_message, write_message};
use crate::message_type::MessageType;
use mdm_proto::Identity;
use plist::Dictionary;

/// `Authenticate`: the device asks to enroll. The server answers with an empty 200 to
/// accept it, or an error status to refuse it.
///
/// Old iOS versions send no `DeviceName`, `Model` or `ModelName` although the schema marks
/// them required, so they are optional here. macOS also sends a `Challenge` (data) that is
/// not in the schema; it is kept in [`Authenticate::extra`].
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Authenticate {
    /// `Topic`: the push topic the device subscribes to (must match the push certificate).
    pub topic: String,
    /// `DeviceName`: the device's name (macOS).
    pub device_name: Option<String>,
    /// `ModelName`: the device's model name (macOS), such as `iMac`.
    pub model_name: Option<String>,
    /// `Model`: the device's model (macOS), such as `iMac14,2`.
    pub model: Option<String>,
    /// `OSVersion`.
    pub os_version: Option<String>,
    /// `BuildVersion`.
    pub build_version: Option<String>,
    /// `ProductName`, such as `iPhone3,1`.
    pub product_name: Option<String>,
    /// `SerialNumber` (absent on User Enrollment).
    pub serial_number: Option<String>,
    /// `IMEI` (cellular devices).
    pub imei: Option<String>,
    /// `MEID` (cellular devices).
    pub meid: Option<String>,
    /// The identity keys (`UDID`, or `EnrollmentID` on User Enrollment).
    pub identity: Identity,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl Authenticate {
    /// An `Authenticate` from `identity` for push topic `topic`.
    pub fn new(identity: Identity, topic: impl Into<String>) -> Self {
        Authenticate {
            topic: topic.into(),
            identity,
            ..Authenticate::default()
        }
    }
}

impl Message for Authenticate {
    const MESSAGE_TYPE: MessageType = MessageType::Authenticate;

    fn from_dictionary(dict: Dictionary) -> Result<Self> {
        read_message(dict, &Self::MESSAGE_TYPE, |mut f| {
            Ok(Authenticate {
                topic: f.required("Topic")?,
                device_name: f.optional("DeviceName")?,
                model_name: f.optional("ModelName")?,
                model: f.optional("Model")?,
                os_version: f.optional("OSVersion")?,
                build_version: f.optional("BuildVersion")?,
                product_name: f.optional("ProductName")?,
                serial_number: f.optional("SerialNumber")?,
                imei: f.optional("IMEI")?,
                meid: f.optional("MEID")?,
                identity: Identity::take(&mut f)?,
                extra: f.rest(),
            })
        })
    }

    fn into_dictionary(self) -> Dictionary {
        write_message(&Self::MESSAGE_TYPE, &self.identity, self.extra, |out| {
            out.put("Topic", &self.topic)
                .put_opt("DeviceName", &self.device_name)
                .put_opt("ModelName", &self.model_name)
                .put_opt("Model", &self.model)
                .put_opt("OSVersion", &self.os_version)
                .put_opt("BuildVersion", &self.build_version)
                .put_opt("ProductName", &self.product_name)
                .put_opt("SerialNumber", &self.serial_number)
                .put_opt("IMEI", &self.imei)
                .put_opt("MEID", &self.meid);
        })
    }

    fn identity(&self) -> &Identity {
        &self.identity
    }
}
