//! The schema's facts as data: the keys of every command and response, and `supportedOS`
//! (the fact types are mdm-proto's, shared with the check-in messages).

pub use mdm_proto::schema::{KeySpec, Kind, OsSupport, find_key};

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
