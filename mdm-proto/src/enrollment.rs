//! Who a message comes from: the device and user channels, and their normalised IDs.
//!
//! Every check-in and command report carries identity keys. Which keys appear depends on
//! the enrollment:
//!
//! | enrollment | keys | normalised ID |
//! |---|---|---|
//! | device channel | `UDID` | `<UDID>` |
//! | User Enrollment, device channel | `EnrollmentID` | `<EnrollmentID>` |
//! | user channel (macOS) | `UDID`, `UserID` | `<UDID>:<UserID>` |
//! | Shared iPad user | `UDID`, `UserID` = `FFFFFFFF-…`, `UserShortName` | `<UDID>:<UserShortName>` |
//! | User Enrollment, user channel | `EnrollmentID`, `EnrollmentUserID` | `<EnrollmentID>:<EnrollmentUserID>` |
//!
//! The grammar is NanoMDM's, so enrollment IDs can move between the two servers.

use crate::error::{Error, Result};
use crate::fields::{DictWriter, Fields};

/// The `UserID` a Shared iPad sends on a user channel; the user is then named by `UserShortName`.
pub const SHARED_IPAD_USER_ID: &str = "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF";

crate::open_enum! {
    /// The kind of enrollment a message comes from.
    pub enum EnrollmentType {
        /// A device channel identified by its UDID.
        Device = "Device",
        /// A user channel on a device enrolled by UDID (macOS users).
        User = "User",
        /// The device channel of a User Enrollment (BYOD), identified by EnrollmentID.
        UserEnrollmentDevice = "UserEnrollmentDevice",
        /// The user channel of a User Enrollment, identified by EnrollmentUserID.
        UserEnrollment = "UserEnrollment",
        /// A user of a Shared iPad, named by UserShortName.
        SharediPad = "SharediPad",
    }
}

/// Which MDM channel a message travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Channel {
    /// The device channel.
    Device,
    /// A user channel.
    User,
}

/// The identity keys of a message, as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// `UDID`: the device's unique identifier (absent on User Enrollment).
    pub udid: Option<String>,
    /// `EnrollmentID`: the per-enrollment device identifier of a User Enrollment.
    pub enrollment_id: Option<String>,
    /// `UserID`: the user's identifier on a user channel.
    pub user_id: Option<String>,
    /// `UserShortName`: the user's short name (names the user on Shared iPad).
    pub user_short_name: Option<String>,
    /// `UserLongName`: the user's full name.
    pub user_long_name: Option<String>,
    /// `EnrollmentUserID`: the per-enrollment user identifier of a User Enrollment.
    pub enrollment_user_id: Option<String>,
}

/// A resolved enrollment: its type, channel and normalised IDs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Enrollment {
    /// What kind of enrollment this is.
    pub kind: EnrollmentType,
    /// The normalised ID of this channel (`<device id>` or `<device id>:<user id>`).
    pub id: String,
    /// The normalised ID of the device channel this enrollment belongs to.
    pub device_id: String,
}

impl Enrollment {
    /// The channel this enrollment is.
    pub fn channel(&self) -> Channel {
        if self.id == self.device_id {
            Channel::Device
        } else {
            Channel::User
        }
    }
}

impl Identity {
    /// The identity keys that a dictionary uses, all of them optional.
    pub const KEYS: [&'static str; 6] = [
        "UDID",
        "EnrollmentID",
        "UserID",
        "UserShortName",
        "UserLongName",
        "EnrollmentUserID",
    ];

    /// Takes the identity keys out of a dictionary being read.
    pub fn take(fields: &mut Fields) -> Result<Self> {
        Ok(Identity {
            udid: fields.optional("UDID")?,
            enrollment_id: fields.optional("EnrollmentID")?,
            user_id: fields.optional("UserID")?,
            user_short_name: fields.optional("UserShortName")?,
            user_long_name: fields.optional("UserLongName")?,
            enrollment_user_id: fields.optional("EnrollmentUserID")?,
        })
    }

    /// Writes the identity keys that are present.
    pub fn put(&self, out: &mut DictWriter) {
        out.put_opt("UDID", &self.udid)
            .put_opt("EnrollmentID", &self.enrollment_id)
            .put_opt("UserID", &self.user_id)
            .put_opt("UserShortName", &self.user_short_name)
            .put_opt("UserLongName", &self.user_long_name)
            .put_opt("EnrollmentUserID", &self.enrollment_user_id);
    }

    /// An identity for a device channel.
    pub fn device(udid: impl Into<String>) -> Self {
        Identity {
            udid: Some(udid.into()),
            ..Identity::default()
        }
    }

    /// Resolves the enrollment these keys identify.
    ///
    /// Empty strings count as absent. A Shared iPad user channel without `UserShortName`
    /// is an error, since it would otherwise collide with every other Shared iPad user.
    pub fn resolve(&self) -> Result<Enrollment> {
        fn present(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|s| !s.is_empty())
        }
        let (device_id, by_udid) = match (present(&self.udid), present(&self.enrollment_id)) {
            (Some(udid), _) => (udid.to_owned(), true),
            (None, Some(eid)) => (eid.to_owned(), false),
            (None, None) => return Err(Error::NoEnrollmentIdentity),
        };
        let user = if let Some(user_id) = present(&self.user_id) {
            if user_id.eq_ignore_ascii_case(SHARED_IPAD_USER_ID) {
                let short = present(&self.user_short_name).ok_or_else(|| Error::MissingKey {
                    path: "UserShortName".to_owned(),
                })?;
                Some((short.to_owned(), EnrollmentType::SharediPad))
            } else {
                Some((user_id.to_owned(), EnrollmentType::User))
            }
        } else {
            present(&self.enrollment_user_id)
                .map(|euid| (euid.to_owned(), EnrollmentType::UserEnrollment))
        };
        Ok(match user {
            Some((user_id, kind)) => Enrollment {
                kind,
                id: format!("{device_id}:{user_id}"),
                device_id,
            },
            None => Enrollment {
                kind: if by_udid {
                    EnrollmentType::Device
                } else {
                    EnrollmentType::UserEnrollmentDevice
                },
                id: device_id.clone(),
                device_id,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(pairs: &[(&str, &str)]) -> Identity {
        let mut id = Identity::default();
        for (k, v) in pairs {
            let v = Some((*v).to_owned());
            match *k {
                "UDID" => id.udid = v,
                "EnrollmentID" => id.enrollment_id = v,
                "UserID" => id.user_id = v,
                "UserShortName" => id.user_short_name = v,
                "EnrollmentUserID" => id.enrollment_user_id = v,
                _ => unreachable!(),
            }
        }
        id
    }

    #[test]
    fn every_enrollment_type_resolves() {
        type Case<'a> = (&'a [(&'a str, &'a str)], EnrollmentType, &'a str, &'a str);
        let cases: &[Case] = &[
            (&[("UDID", "U1")], EnrollmentType::Device, "U1", "U1"),
            (
                &[("UDID", "U1"), ("UserID", "USER")],
                EnrollmentType::User,
                "U1:USER",
                "U1",
            ),
            (
                &[("EnrollmentID", "E1")],
                EnrollmentType::UserEnrollmentDevice,
                "E1",
                "E1",
            ),
            (
                &[("EnrollmentID", "E1"), ("EnrollmentUserID", "EU")],
                EnrollmentType::UserEnrollment,
                "E1:EU",
                "E1",
            ),
            (
                &[
                    ("UDID", "U1"),
                    ("UserID", SHARED_IPAD_USER_ID),
                    ("UserShortName", "anna@example.org"),
                ],
                EnrollmentType::SharediPad,
                "U1:anna@example.org",
                "U1",
            ),
        ];
        for (keys, kind, id, device) in cases {
            let e = ident(keys).resolve().unwrap();
            assert_eq!(&e.kind, kind);
            assert_eq!(e.id, *id);
            assert_eq!(e.device_id, *device);
        }
    }

    #[test]
    fn udid_wins_over_enrollment_id_and_empty_is_absent() {
        let e = ident(&[("UDID", ""), ("EnrollmentID", "E1")])
            .resolve()
            .unwrap();
        assert_eq!(e.id, "E1");
        assert!(matches!(
            ident(&[]).resolve(),
            Err(Error::NoEnrollmentIdentity)
        ));
    }

    #[test]
    fn shared_ipad_without_short_name_is_refused() {
        let err = ident(&[("UDID", "U1"), ("UserID", SHARED_IPAD_USER_ID)])
            .resolve()
            .unwrap_err();
        assert!(err.to_string().contains("UserShortName"));
    }
}
