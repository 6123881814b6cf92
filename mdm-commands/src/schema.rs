//! The schema's facts as data: the keys of every command and response, and `supportedOS`.

/// The plist type the schema gives a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Kind {
    /// `<string>`.
    String,
    /// `<boolean>`.
    Boolean,
    /// `<integer>`.
    Integer,
    /// `<real>`.
    Real,
    /// `<data>`.
    Data,
    /// `<date>`.
    Date,
    /// `<dictionary>`.
    Dictionary,
    /// `<array>`.
    Array,
    /// `<any>`, or a type this version does not know.
    Any,
}

/// One key of a command or response, as the schema describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct KeySpec {
    /// The key. `ANY …` stands for any key of its dictionary.
    pub key: &'static str,
    /// Its type.
    pub kind: Kind,
    /// True when the schema says `presence: required`.
    pub required: bool,
    /// The allowed values (`rangelist`), as strings; empty when any value is allowed.
    pub values: &'static [&'static str],
    /// The key's own `supportedOS`, one entry per platform it says something about; a fact
    /// it leaves out (`None`) is the command's.
    pub supported_os: &'static [OsSupport],
    /// The keys of a dictionary, or the item (or tagged alternatives) of an array.
    pub children: &'static [KeySpec],
}

impl KeySpec {
    /// True for the schema's wildcard keys (`ANY`, `ANY app identifier`).
    pub fn is_wildcard(&self) -> bool {
        self.key == "ANY" || self.key.starts_with("ANY ")
    }

    /// The key's own `supportedOS` for one platform, compared without case.
    pub fn os(&self, platform: &str) -> Option<&'static OsSupport> {
        self.supported_os
            .iter()
            .find(|o| o.platform.eq_ignore_ascii_case(platform))
    }

    /// The child spec for `key` in a dictionary: the named key, else a wildcard.
    pub fn child(&self, key: &str) -> Option<&'static KeySpec> {
        find_key(self.children, key)
    }
}

/// The spec of `key` among `keys`: the named key, else a wildcard key.
pub fn find_key(keys: &'static [KeySpec], key: &str) -> Option<&'static KeySpec> {
    keys.iter()
        .find(|k| k.key == key)
        .or_else(|| keys.iter().find(|k| k.is_wildcard()))
}

/// `supportedOS` for one platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OsSupport {
    /// `iOS`, `macOS`, `tvOS`, `visionOS` or `watchOS` (or a platform added later).
    pub platform: &'static str,
    /// The first version that has the command; `n/a` when the platform never had it.
    pub introduced: Option<&'static str>,
    /// The version that deprecated it.
    pub deprecated: Option<&'static str>,
    /// The version that removed it.
    pub removed: Option<&'static str>,
    /// The access right the MDM profile must grant (`AllowPasscodeRemovalAndLock`…).
    pub access_rights: Option<&'static str>,
    /// True when the device must be supervised.
    pub supervised: Option<bool>,
    /// True when the device must be enrolled through DEP (Automated Device Enrollment).
    pub requires_dep: Option<bool>,
    /// Whether the device channel accepts it (macOS).
    pub device_channel: Option<bool>,
    /// Whether a user channel accepts it (macOS).
    pub user_channel: Option<bool>,
    /// User Enrollment: `allowed`, `forbidden` or `required`.
    pub user_enrollment: Option<&'static str>,
    /// Shared iPad: `allowed`, `forbidden` or `required`.
    pub shared_ipad: Option<&'static str>,
    /// On Shared iPad, whether the device channel accepts it.
    pub shared_ipad_device_channel: Option<bool>,
    /// On Shared iPad, whether the user channel accepts it.
    pub shared_ipad_user_channel: Option<bool>,
}

impl OsSupport {
    /// True when the platform has the command at all (`introduced` is not `n/a`).
    pub fn is_supported(&self) -> bool {
        !matches!(self.introduced, Some("n/a") | None)
    }
}

/// Everything the schema says about one command.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct CommandSpec {
    /// `RequestType`.
    pub request_type: &'static str,
    /// The schema's title.
    pub title: &'static str,
    /// The YAML file it was generated from, under `mdm/commands/`.
    pub file: &'static str,
    /// The release of Apple's schema that removed the command (`27.0`), for a command kept
    /// from an older release; its `supportedOS` facts then carry `removed` too, so
    /// [`applicability::check`](crate::applicability::check) refuses it for newer devices.
    pub removed_in: Option<&'static str>,
    /// `supportedOS`, one entry per platform.
    pub supported_os: &'static [OsSupport],
    /// `payloadkeys`: the command's keys.
    pub payload: &'static [KeySpec],
    /// `responsekeys`: the response's keys.
    pub response: &'static [KeySpec],
}

impl CommandSpec {
    /// `supportedOS` of one platform (`iOS`, `macOS`…), compared without case.
    pub fn os(&self, platform: &str) -> Option<&'static OsSupport> {
        self.supported_os
            .iter()
            .find(|o| o.platform.eq_ignore_ascii_case(platform))
    }
}

/// The facts of every command of the schema, sorted by RequestType.
pub fn all() -> &'static [&'static CommandSpec] {
    crate::generated::registry::ALL
}

/// The facts of one command.
pub fn spec(request_type: &str) -> Option<&'static CommandSpec> {
    all()
        .binary_search_by(|s| s.request_type.cmp(request_type))
        .ok()
        .and_then(|i| all().get(i).copied())
}
