//! The facts of Apple's schema as data, shared by the generated code of mdm-commands and
//! mdm-checkin: the keys of an item and their types, and `supportedOS` per platform.

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

/// One key of a schema item (a command, a check-in, a response or error body), as the
/// schema describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
// Not `#[non_exhaustive]`: the generated tables of mdm-commands and mdm-checkin build it with
// struct literals in statics, which other crates cannot do with a non-exhaustive struct.
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
// Not `#[non_exhaustive]`: the generated tables of mdm-commands and mdm-checkin build it with
// struct literals in statics, which other crates cannot do with a non-exhaustive struct.
pub struct OsSupport {
    /// `iOS`, `macOS`, `tvOS`, `visionOS` or `watchOS` (or a platform added later).
    pub platform: &'static str,
    /// The first version that has the item; `n/a` when the platform never had it.
    pub introduced: Option<&'static str>,
    /// The version that deprecated it.
    pub deprecated: Option<&'static str>,
    /// The version that removed it (for items Apple removed, the release whose schema no
    /// longer has them).
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
    /// True when the platform has the item at all (`introduced` is not `n/a`).
    pub fn is_supported(&self) -> bool {
        !matches!(self.introduced, Some("n/a") | None)
    }
}

/// Everything the schema says about one item that is not a command: a check-in message
/// (with the keys of its response body) or an error body.
#[derive(Debug, Clone, Copy, PartialEq)]
// Not `#[non_exhaustive]`: the generated tables of mdm-commands and mdm-checkin build it with
// struct literals in statics, which other crates cannot do with a non-exhaustive struct.
pub struct ItemSpec {
    /// What names the item on the wire: the `MessageType`, or the error body's `code`.
    pub id: &'static str,
    /// The schema's title.
    pub title: &'static str,
    /// The YAML file it was generated from (`mdm/checkin/returntoservice.yaml`).
    pub path: &'static str,
    /// The release of Apple's schema that removed the item, for one kept from an older
    /// release.
    pub removed_in: Option<&'static str>,
    /// `supportedOS`, one entry per platform.
    pub supported_os: &'static [OsSupport],
    /// `payloadkeys`: the item's keys.
    pub payload: &'static [KeySpec],
    /// `responsekeys`: the keys of the server's answer (check-ins).
    pub response: &'static [KeySpec],
}

impl ItemSpec {
    /// `supportedOS` of one platform (`iOS`, `macOS`…), compared without case.
    pub fn os(&self, platform: &str) -> Option<&'static OsSupport> {
        self.supported_os
            .iter()
            .find(|o| o.platform.eq_ignore_ascii_case(platform))
    }
}
