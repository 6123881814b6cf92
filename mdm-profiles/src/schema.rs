//! The schema's facts as data: for every payload type, its platforms and versions and the
//! type, allowed values, range, presence and `supportedOS` of every key, with subkeys.
//! Generated from Apple's `mdm/profiles` YAML; the linter reads nothing else.

pub use mdm_proto::schema::{Kind, OsSupport};

/// One key of a payload (or a subkey), as the schema describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
// Not `#[non_exhaustive]`: the generated tables build it with struct literals in statics.
pub struct KeySpec {
    /// The key. `ANY …` stands for any key of its dictionary.
    pub key: &'static str,
    /// The schema's title.
    pub title: Option<&'static str>,
    /// Its type.
    pub kind: Kind,
    /// True when the schema says `presence: required`.
    pub required: bool,
    /// The allowed values (`rangelist`), as text; empty when any value is allowed.
    pub values: &'static [&'static str],
    /// `range.min`, for numbers.
    pub min: Option<f64>,
    /// `range.max`, for numbers.
    pub max: Option<f64>,
    /// `default`, as text.
    pub default: Option<&'static str>,
    /// The key's own `supportedOS`; a fact it leaves out is its payload's.
    pub supported_os: &'static [OsSupport],
    /// The keys of a dictionary, or the item (or alternatives) of an array.
    pub children: &'static [KeySpec],
}

impl KeySpec {
    /// True for the schema's wildcard keys (`ANY`, `ANY app identifier`).
    pub fn is_wildcard(&self) -> bool {
        self.key == "ANY" || self.key.starts_with("ANY ")
    }

    /// The key's own `supportedOS` for one platform, compared without case.
    pub fn os(&self, platform: &str) -> Option<&'static OsSupport> {
        os_of(self.supported_os, platform)
    }

    /// The child spec for `key` in a dictionary: the named key, else a wildcard.
    pub fn child(&self, key: &str) -> Option<&'static KeySpec> {
        find_key(self.children, key)
    }
}

/// Everything the schema says about one payload type.
#[derive(Debug, Clone, Copy, PartialEq)]
// Not `#[non_exhaustive]`: the generated tables build it with struct literals in statics.
pub struct PayloadSpec {
    /// `PayloadType` (`com.apple.wifi.managed`); `Configuration` for the profile itself.
    pub payload_type: &'static str,
    /// The schema's title.
    pub title: &'static str,
    /// The YAML files it was generated from, under `mdm/profiles/` (several files can
    /// describe one PayloadType: their keys are merged).
    pub files: &'static [&'static str],
    /// The release of Apple's schema that removed the payload type, for one kept from an
    /// older release.
    pub removed_in: Option<&'static str>,
    /// `supportedOS`, one entry per platform.
    pub supported_os: &'static [OsSupport],
    /// `payloadkeys`, without the keys every payload has ([`common`]).
    pub keys: &'static [KeySpec],
}

impl PayloadSpec {
    /// `supportedOS` of one platform (`iOS`, `macOS`…), compared without case.
    pub fn os(&self, platform: &str) -> Option<&'static OsSupport> {
        os_of(self.supported_os, platform)
    }

    /// The spec of one of the payload's own keys (or the wildcard that covers it).
    pub fn key(&self, key: &str) -> Option<&'static KeySpec> {
        find_key(self.keys, key)
    }
}

fn os_of(list: &'static [OsSupport], platform: &str) -> Option<&'static OsSupport> {
    list.iter()
        .find(|o| o.platform.eq_ignore_ascii_case(platform))
}

/// The spec of `key` among `keys`: the named key, else a wildcard key.
pub fn find_key(keys: &'static [KeySpec], key: &str) -> Option<&'static KeySpec> {
    keys.iter()
        .find(|k| k.key == key)
        .or_else(|| keys.iter().find(|k| k.is_wildcard()))
}

/// The facts of every payload type of the schema, sorted by PayloadType.
pub fn all() -> &'static [&'static PayloadSpec] {
    crate::generated::registry::ALL
}

/// The facts of one payload type.
pub fn spec(payload_type: &str) -> Option<&'static PayloadSpec> {
    all()
        .binary_search_by(|s| s.payload_type.cmp(payload_type))
        .ok()
        .and_then(|i| all().get(i).copied())
}

/// The facts of the profile's own keys (`TopLevel.yaml`: `PayloadType` `Configuration`).
pub fn top_level() -> &'static PayloadSpec {
    &crate::generated::top_level::SPEC
}

/// The facts of the keys every payload has (`CommonPayloadKeys.yaml`).
pub fn common() -> &'static PayloadSpec {
    &crate::generated::common_payload_keys::SPEC
}
