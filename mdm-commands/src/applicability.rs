//! Can a command run on a device? The schema's `supportedOS` facts, checked against what a
//! server knows of an enrollment, so it can refuse a command before queueing it.

use crate::schema::{CommandSpec, OsSupport};
use mdm_proto::Channel;

/// What a server knows of a device and the channel a command would go to. Unknown facts
/// (`None`) never make a check fail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceFacts {
    /// `iOS`, `macOS`, `tvOS`, `visionOS` or `watchOS` (iPadOS is `iOS` in the schema).
    pub platform: String,
    /// The OS version (`17.4.1`), when known.
    pub os_version: Option<String>,
    /// The channel the command goes to.
    pub channel: Channel,
    /// Whether the device is supervised, when known.
    pub supervised: Option<bool>,
    /// Whether the enrollment is a User Enrollment.
    pub user_enrollment: bool,
    /// Whether the device is a Shared iPad.
    pub shared_ipad: bool,
    /// Whether the device enrolled through Automated Device Enrollment (DEP), when known.
    pub dep: Option<bool>,
}

impl DeviceFacts {
    /// Facts for the device channel of a platform, everything else unknown or false.
    pub fn new(platform: impl Into<String>) -> Self {
        DeviceFacts {
            platform: platform.into(),
            os_version: None,
            channel: Channel::Device,
            supervised: None,
            user_enrollment: false,
            shared_ipad: false,
            dep: None,
        }
    }

    /// Sets the OS version.
    pub fn with_os_version(mut self, version: impl Into<String>) -> Self {
        self.os_version = Some(version.into());
        self
    }

    /// Sets the channel.
    pub fn with_channel(mut self, channel: Channel) -> Self {
        self.channel = channel;
        self
    }

    /// Sets whether the device is supervised.
    pub fn with_supervised(mut self, supervised: bool) -> Self {
        self.supervised = Some(supervised);
        self
    }

    /// Marks a User Enrollment.
    pub fn with_user_enrollment(mut self, user_enrollment: bool) -> Self {
        self.user_enrollment = user_enrollment;
        self
    }

    /// Marks a Shared iPad.
    pub fn with_shared_ipad(mut self, shared_ipad: bool) -> Self {
        self.shared_ipad = shared_ipad;
        self
    }

    /// Sets whether the device enrolled through DEP.
    pub fn with_dep(mut self, dep: bool) -> Self {
        self.dep = Some(dep);
        self
    }
}

/// Why a command cannot run on a device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotApplicable {
    /// The schema does not have this RequestType.
    #[error("{0} is not a command of the schema")]
    UnknownCommand(String),
    /// The platform never had the command.
    #[error("{request_type} is not available on {platform}")]
    Platform {
        /// The command.
        request_type: &'static str,
        /// The device's platform.
        platform: String,
    },
    /// The device's OS is older than the command.
    #[error("{request_type} needs {platform} {introduced} or later, the device runs {version}")]
    TooOld {
        /// The command.
        request_type: &'static str,
        /// The platform.
        platform: &'static str,
        /// The first version with the command.
        introduced: &'static str,
        /// The device's version.
        version: String,
    },
    /// The device's OS no longer has the command.
    #[error("{request_type} was removed in {platform} {removed}, the device runs {version}")]
    Removed {
        /// The command.
        request_type: &'static str,
        /// The platform.
        platform: &'static str,
        /// The version that removed it.
        removed: &'static str,
        /// The device's version.
        version: String,
    },
    /// The device must be supervised.
    #[error("{0} needs a supervised device")]
    NeedsSupervision(&'static str),
    /// The device must have enrolled through Automated Device Enrollment.
    #[error("{0} needs a device enrolled through Automated Device Enrollment")]
    NeedsDep(&'static str),
    /// The command does not run on this channel.
    #[error("{request_type} does not run on the {channel} channel")]
    Channel {
        /// The command.
        request_type: &'static str,
        /// `device` or `user`.
        channel: &'static str,
    },
    /// The command is forbidden (or, `required`, only allowed) on User Enrollment.
    #[error("{request_type} is {mode} on User Enrollment")]
    UserEnrollment {
        /// The command.
        request_type: &'static str,
        /// The schema's mode: `forbidden` or `required`.
        mode: &'static str,
    },
    /// The schema does not have this key in the command.
    #[error("{request_type} has no key {path}")]
    UnknownKey {
        /// The command.
        request_type: &'static str,
        /// The key path asked about.
        path: String,
    },
    /// One key of the command cannot be used on this device.
    #[error("key {path}: {reason}")]
    Key {
        /// The key path.
        path: String,
        /// Why not.
        reason: Box<NotApplicable>,
    },
    /// The command is forbidden (or, `required`, only allowed) on Shared iPad.
    #[error("{request_type} is {mode} on Shared iPad")]
    SharedIpad {
        /// The command.
        request_type: &'static str,
        /// The schema's mode: `forbidden` or `required`.
        mode: &'static str,
    },
}

/// Compares dotted versions numerically (`10.13` < `10.13.1` < `11`); non-numeric parts
/// count as 0.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |s: &str| -> Vec<u64> {
        s.split('.')
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    let (x, y) = (parse(a), parse(b));
    let n = x.len().max(y.len());
    for i in 0..n {
        let (p, q) = (
            x.get(i).copied().unwrap_or(0),
            y.get(i).copied().unwrap_or(0),
        );
        match p.cmp(&q) {
            std::cmp::Ordering::Equal => {}
            other => return other,
        }
    }
    std::cmp::Ordering::Equal
}

/// Says whether the command named `request_type` can run on the device, and why not.
pub fn check(request_type: &str, facts: &DeviceFacts) -> Result<(), NotApplicable> {
    let spec = crate::schema::spec(request_type)
        .ok_or_else(|| NotApplicable::UnknownCommand(request_type.to_owned()))?;
    check_spec(spec, facts)
}

/// [`check`] for a command's spec.
pub fn check_spec(spec: &CommandSpec, facts: &DeviceFacts) -> Result<(), NotApplicable> {
    let rt = spec.request_type;
    let os: &OsSupport = spec
        .os(&facts.platform)
        .filter(|o| o.is_supported())
        .ok_or_else(|| NotApplicable::Platform {
            request_type: rt,
            platform: facts.platform.clone(),
        })?;
    if let Some(version) = &facts.os_version {
        if let Some(introduced) = os.introduced
            && compare_versions(version, introduced).is_lt()
        {
            return Err(NotApplicable::TooOld {
                request_type: rt,
                platform: os.platform,
                introduced,
                version: version.clone(),
            });
        }
        if let Some(removed) = os.removed
            && removed != "n/a"
            && compare_versions(version, removed).is_ge()
        {
            return Err(NotApplicable::Removed {
                request_type: rt,
                platform: os.platform,
                removed,
                version: version.clone(),
            });
        }
    }
    if os.supervised == Some(true) && facts.supervised == Some(false) {
        return Err(NotApplicable::NeedsSupervision(rt));
    }
    if os.requires_dep == Some(true) && facts.dep == Some(false) {
        return Err(NotApplicable::NeedsDep(rt));
    }
    match (os.user_enrollment, facts.user_enrollment) {
        (Some(mode @ "forbidden"), true) | (Some(mode @ "required"), false) => {
            return Err(NotApplicable::UserEnrollment {
                request_type: rt,
                mode,
            });
        }
        _ => {}
    }
    match (os.shared_ipad, facts.shared_ipad) {
        (Some(mode @ "forbidden"), true) | (Some(mode @ "required"), false) => {
            return Err(NotApplicable::SharedIpad {
                request_type: rt,
                mode,
            });
        }
        _ => {}
    }
    let user = matches!(facts.channel, Channel::User);
    let channel_ok = match user {
        false => {
            if facts.shared_ipad {
                os.shared_ipad_device_channel != Some(false)
            } else {
                os.device_channel != Some(false)
            }
        }
        true => {
            if facts.shared_ipad {
                os.shared_ipad_user_channel == Some(true)
            } else {
                os.user_channel == Some(true)
            }
        }
    };
    if !channel_ok {
        return Err(NotApplicable::Channel {
            request_type: rt,
            channel: if user { "user" } else { "device" },
        });
    }
    Ok(())
}

/// Says whether a key of a command (or a value of a string list such as DeviceInformation's
/// `Queries`) can be used on the device: the command's own check, then the `supportedOS`
/// facts of every key along `path` (`["Queries", "ProvisioningUDID"]`,
/// `["Settings", "DeviceName"]`).
pub fn check_key(
    request_type: &str,
    path: &[&str],
    facts: &DeviceFacts,
) -> Result<(), NotApplicable> {
    let spec = crate::schema::spec(request_type)
        .ok_or_else(|| NotApplicable::UnknownCommand(request_type.to_owned()))?;
    check_spec(spec, facts)?;
    let rt = spec.request_type;
    let mut keys = spec.payload;
    let mut walked: Vec<&str> = Vec::new();
    for name in path {
        walked.push(name);
        let mut found = keys.iter().find(|k| k.key == *name);
        // An array's or a string list's item stands between a key and its subkeys.
        let mut level = keys;
        while found.is_none() {
            match level {
                [item] if !item.children.is_empty() => {
                    level = item.children;
                    found = level.iter().find(|k| k.key == *name);
                }
                _ => break,
            }
        }
        let key = found.ok_or_else(|| NotApplicable::UnknownKey {
            request_type: rt,
            path: walked.join("."),
        })?;
        if let Some(os) = key.os(&facts.platform) {
            key_facts(rt, os, facts).map_err(|reason| NotApplicable::Key {
                path: walked.join("."),
                reason: Box::new(reason),
            })?;
        }
        keys = key.children;
    }
    Ok(())
}

fn key_facts(
    rt: &'static str,
    os: &'static OsSupport,
    facts: &DeviceFacts,
) -> Result<(), NotApplicable> {
    if os.introduced == Some("n/a") {
        return Err(NotApplicable::Platform {
            request_type: rt,
            platform: facts.platform.clone(),
        });
    }
    if let Some(version) = &facts.os_version {
        if let Some(introduced) = os.introduced
            && compare_versions(version, introduced).is_lt()
        {
            return Err(NotApplicable::TooOld {
                request_type: rt,
                platform: os.platform,
                introduced,
                version: version.clone(),
            });
        }
        if let Some(removed) = os.removed
            && removed != "n/a"
            && compare_versions(version, removed).is_ge()
        {
            return Err(NotApplicable::Removed {
                request_type: rt,
                platform: os.platform,
                removed,
                version: version.clone(),
            });
        }
    }
    if os.supervised == Some(true) && facts.supervised == Some(false) {
        return Err(NotApplicable::NeedsSupervision(rt));
    }
    if os.user_enrollment == Some("forbidden") && facts.user_enrollment {
        return Err(NotApplicable::UserEnrollment {
            request_type: rt,
            mode: "forbidden",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_needs_supervision_and_a_new_enough_os() {
        let ios = DeviceFacts::new("iOS").with_os_version("17.1");
        assert_eq!(
            check("RestartDevice", &ios.clone().with_supervised(true)),
            Ok(())
        );
        assert_eq!(
            check("RestartDevice", &ios.clone().with_supervised(false)),
            Err(NotApplicable::NeedsSupervision("RestartDevice"))
        );
        let old = DeviceFacts::new("iOS").with_os_version("9.3.5");
        assert!(matches!(
            check("RestartDevice", &old),
            Err(NotApplicable::TooOld {
                introduced: "10.3",
                ..
            })
        ));
        assert!(matches!(
            check("RestartDevice", &DeviceFacts::new("watchOS")),
            Err(NotApplicable::Platform { .. })
        ));
    }

    #[test]
    fn channels_user_enrollment_and_unknown_commands() {
        let mac_user = DeviceFacts::new("macOS").with_channel(Channel::User);
        assert_eq!(check("DeviceInformation", &mac_user), Ok(()));
        assert!(matches!(
            check("RestartDevice", &mac_user),
            Err(NotApplicable::Channel {
                channel: "user",
                ..
            })
        ));
        let byod = DeviceFacts::new("iOS").with_user_enrollment(true);
        assert!(matches!(
            check("RestartDevice", &byod),
            Err(NotApplicable::UserEnrollment {
                mode: "forbidden",
                ..
            })
        ));
        assert_eq!(
            check("NoSuchCommand", &byod),
            Err(NotApplicable::UnknownCommand("NoSuchCommand".into()))
        );
        let err = check("RestartDevice", &byod).unwrap_err().to_string();
        assert_eq!(err, "RestartDevice is forbidden on User Enrollment");
    }

    #[test]
    fn keys_have_their_own_facts() {
        let mac = DeviceFacts::new("macOS").with_os_version("11.0");
        let err =
            check_key("DeviceInformation", &["Queries", "ProvisioningUDID"], &mac).unwrap_err();
        assert!(matches!(err, NotApplicable::Key { .. }), "{err}");
        assert!(err.to_string().contains("11.3"), "{err}");
        let newer = DeviceFacts::new("macOS").with_os_version("12.0");
        assert_eq!(
            check_key(
                "DeviceInformation",
                &["Queries", "ProvisioningUDID"],
                &newer
            ),
            Ok(())
        );
        let ios = DeviceFacts::new("iOS").with_os_version("17.0");
        assert!(check_key("DeviceInformation", &["Queries", "ProvisioningUDID"], &ios).is_err());
        assert!(matches!(
            check_key("DeviceInformation", &["Queries", "Nope"], &ios),
            Err(NotApplicable::UnknownKey { .. })
        ));
        assert_eq!(check_key("RestartDevice", &["NotifyUser"], &newer), Ok(()));
    }

    #[test]
    fn a_removed_command_runs_on_26_and_is_refused_on_27() {
        let spec = crate::schema::spec("ScheduleOSUpdate").unwrap();
        assert_eq!(spec.removed_in, Some("27.0"));
        let ios26 = DeviceFacts::new("iOS")
            .with_os_version("26.4")
            .with_supervised(true);
        assert_eq!(check("ScheduleOSUpdate", &ios26), Ok(()));
        let ios27 = ios26.clone().with_os_version("27.0");
        assert_eq!(
            check("ScheduleOSUpdate", &ios27),
            Err(NotApplicable::Removed {
                request_type: "ScheduleOSUpdate",
                platform: "iOS",
                removed: "27.0",
                version: "27.0".into(),
            })
        );
        let mac27 = DeviceFacts::new("macOS").with_os_version("27.1");
        for rt in [
            "ScheduleOSUpdateScan",
            "AvailableOSUpdates",
            "OSUpdateStatus",
        ] {
            assert_eq!(crate::schema::spec(rt).unwrap().removed_in, Some("27.0"));
            assert!(
                matches!(check(rt, &mac27), Err(NotApplicable::Removed { .. })),
                "{rt}"
            );
        }
        // A key Apple removed in 27.0 inside a command it kept.
        let mac26 = DeviceFacts::new("macOS").with_os_version("26.0");
        assert_eq!(
            check_key(
                "DeviceInformation",
                &["Queries", "OSUpdateSettings"],
                &mac26
            ),
            Ok(())
        );
        assert!(matches!(
            check_key(
                "DeviceInformation",
                &["Queries", "OSUpdateSettings"],
                &mac27
            ),
            Err(NotApplicable::Key { .. })
        ));
        // A new 27.0 command is too new for a 26 device.
        assert!(matches!(
            check("TriggerEnhancedLogCollection", &ios26),
            Err(NotApplicable::TooOld {
                introduced: "27.0",
                ..
            })
        ));
        assert_eq!(
            crate::schema::spec("RestartDevice").unwrap().removed_in,
            None
        );
    }

    #[test]
    fn versions_compare_numerically() {
        use std::cmp::Ordering::*;
        assert_eq!(compare_versions("10.13", "10.13.0"), Equal);
        assert_eq!(compare_versions("10.9", "10.13"), Less);
        assert_eq!(compare_versions("11", "10.15.7"), Greater);
    }
}
