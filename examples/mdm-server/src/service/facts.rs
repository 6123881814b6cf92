//! Device facts for the applicability check (sans I/O): what the server knows of an
//! enrollment's device (platform, OS version, supervised, channel), as `mdm-commands`'
//! own input type [`DeviceFacts`]. They are derived when the device tells (Authenticate,
//! TokenUpdate, a `DeviceInformation` answer), stored with the enrollment, and read back
//! when a command is queued; nothing is guessed per request.

use mdm_checkin::Authenticate;
use mdm_commands::applicability::DeviceFacts;
use mdm_proto::{Channel, Enrollment, EnrollmentType};

/// The platform of a device model, from its `ProductName` (or `Model`): `iOS` (iPhone,
/// iPad, iPod), `macOS`, `tvOS`, `watchOS`, `visionOS`; `None` when unknown.
pub fn platform_of(product: &str) -> Option<&'static str> {
    if ["iPhone", "iPad", "iPod"]
        .iter()
        .any(|p| product.starts_with(p))
    {
        Some("iOS")
    } else if product.starts_with("AppleTV") {
        Some("tvOS")
    } else if product.starts_with("Watch") {
        Some("watchOS")
    } else if product.starts_with("RealityDevice") {
        Some("visionOS")
    } else if product.contains("Mac") {
        Some("macOS")
    } else {
        None
    }
}

/// `facts` as they apply to `enrollment`'s channel: the channel, User Enrollment and
/// Shared iPad from the enrollment's type.
pub fn for_enrollment(facts: DeviceFacts, enrollment: &Enrollment) -> DeviceFacts {
    for_channel(
        facts,
        &enrollment.id,
        &enrollment.device_id,
        enrollment.kind.as_str(),
    )
}

/// `facts` as they apply to the channel `id` of device `device_id`, an enrollment of type
/// `kind` (`Device`, `User`, `UserEnrollment`, `SharediPad`...).
pub fn for_channel(facts: DeviceFacts, id: &str, device_id: &str, kind: &str) -> DeviceFacts {
    let channel = if id == device_id {
        Channel::Device
    } else {
        Channel::User
    };
    facts
        .with_channel(channel)
        .with_user_enrollment(
            kind == EnrollmentType::UserEnrollment.as_str()
                || kind == EnrollmentType::UserEnrollmentDevice.as_str(),
        )
        .with_shared_ipad(kind == EnrollmentType::SharediPad.as_str())
}

/// The facts a stored `Authenticate` body (XML plist) tells, for the channel `id` of device
/// `device_id`, an enrollment of type `kind`: how enrollments stored before facts were
/// kept get theirs. `None` when the body is not an Authenticate or the platform cannot be
/// told.
pub fn from_stored_authenticate(
    raw: &[u8],
    id: &str,
    device_id: &str,
    kind: &str,
) -> Option<DeviceFacts> {
    let message = mdm_checkin::CheckinMessage::decode_with_limits(raw, &mdm_proto::Limits::MDM);
    let Ok(mdm_checkin::CheckinMessage::Authenticate(auth)) = message else {
        return None;
    };
    let product = auth.product_name.as_deref().or(auth.model.as_deref())?;
    let mut facts = DeviceFacts::new(platform_of(product)?);
    if let Some(version) = &auth.os_version {
        facts = facts.with_os_version(version.clone());
    }
    Some(for_channel(facts, id, device_id, kind))
}

/// The facts an `Authenticate` tells: platform (from `ProductName`, else `Model`) and OS
/// version; `None` when the platform cannot be told. `previous` (the stored facts) keeps
/// what Authenticate does not say (supervised, DEP).
pub fn from_authenticate(
    auth: &Authenticate,
    enrollment: &Enrollment,
    previous: Option<&DeviceFacts>,
) -> Option<DeviceFacts> {
    let product = auth.product_name.as_deref().or(auth.model.as_deref())?;
    let platform = platform_of(product)?;
    let mut facts = DeviceFacts::new(platform);
    if let Some(version) = &auth.os_version {
        facts = facts.with_os_version(version.clone());
    }
    if let Some(previous) = previous.filter(|p| p.platform == platform) {
        facts.supervised = previous.supervised;
        facts.dep = previous.dep;
    }
    Some(for_enrollment(facts, enrollment))
}

/// The facts after a `DeviceInformation` answer: `ProductName` (or `Model`), `OSVersion`
/// and `IsSupervised` override what was known; `None` when the platform is still unknown.
pub fn from_device_information(
    answer: &mdm_commands::generated::device_information::QueryResponses,
    enrollment: &Enrollment,
    previous: Option<&DeviceFacts>,
) -> Option<DeviceFacts> {
    let told = answer
        .product_name
        .as_deref()
        .or(answer.model.as_deref())
        .and_then(platform_of);
    let mut facts = match (told, previous) {
        (Some(platform), Some(p)) if p.platform == platform => p.clone(),
        (Some(platform), _) => DeviceFacts::new(platform),
        (None, Some(p)) => p.clone(),
        (None, None) => return None,
    };
    if let Some(version) = &answer.os_version {
        facts.os_version = Some(version.clone());
    }
    if let Some(supervised) = answer.is_supervised {
        facts.supervised = Some(supervised);
    }
    Some(for_enrollment(facts, enrollment))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enrollment(id: &str, device: &str, kind: EnrollmentType) -> Enrollment {
        let mut identity = mdm_proto::Identity::default();
        identity.udid = Some(device.to_owned());
        let mut e = identity.resolve().unwrap();
        e.id = id.to_owned();
        e.kind = kind;
        e
    }

    #[test]
    fn facts_for_a_user_channel_round_trip_through_storage() {
        let e = enrollment("D:U", "D", EnrollmentType::SharediPad);
        let facts = for_enrollment(
            DeviceFacts::new("iOS")
                .with_os_version("17.4")
                .with_supervised(true),
            &e,
        );
        assert_eq!(facts.channel, Channel::User);
        assert!(facts.shared_ipad);
        let stored = crate::storage::facts::to_json(&facts);
        assert_eq!(crate::storage::facts::from_json(&stored), Some(facts));
        assert_eq!(crate::storage::facts::from_json("{}"), None);
        assert_eq!(crate::storage::facts::from_json("not json"), None);
    }

    #[test]
    fn authenticate_and_device_information_tell_the_platform() {
        let e = enrollment("D", "D", EnrollmentType::Device);
        let mut auth = Authenticate::new(mdm_proto::Identity::default(), "topic");
        auth.product_name = Some("iPhone15,2".into());
        auth.os_version = Some("17.0".into());
        let facts = from_authenticate(&auth, &e, None).unwrap();
        assert_eq!(
            (facts.platform.as_str(), facts.os_version.as_deref()),
            ("iOS", Some("17.0"))
        );
        let mut answer = mdm_commands::generated::device_information::QueryResponses::default();
        answer.is_supervised = Some(true);
        answer.os_version = Some("17.1".into());
        let after = from_device_information(&answer, &e, Some(&facts)).unwrap();
        assert_eq!(after.supervised, Some(true));
        assert_eq!(after.os_version.as_deref(), Some("17.1"));
        // Authenticate again (after an update) keeps supervised.
        let again = from_authenticate(&auth, &e, Some(&after)).unwrap();
        assert_eq!(again.supervised, Some(true));
        auth.product_name = Some("Toaster1,1".into());
        assert_eq!(from_authenticate(&auth, &e, None), None);
    }

    #[test]
    fn a_stored_authenticate_tells_the_facts() {
        let raw = br#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict><key>MessageType</key><string>Authenticate</string>
<key>UDID</key><string>D</string><key>Topic</key><string>T</string>
<key>ProductName</key><string>Mac14,2</string><key>OSVersion</key><string>14.1</string>
</dict></plist>"#;
        let facts = from_stored_authenticate(raw, "D", "D", "Device").unwrap();
        assert_eq!(
            (facts.platform.as_str(), facts.os_version.as_deref()),
            ("macOS", Some("14.1"))
        );
        assert_eq!(facts.channel, Channel::Device);
        assert_eq!(from_stored_authenticate(b"junk", "D", "D", "Device"), None);
    }
}
