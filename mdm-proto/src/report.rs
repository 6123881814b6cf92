//! The device's command report: what it PUTs to the ServerURL.
//!
//! A report says the device is idle, or answers one command: `Status`, `CommandUUID`,
//! `ErrorChain`, the identity keys, and the command's own response keys. The command's keys
//! stay in [`CommandReport::response`] for `mdm-commands` to decode as the typed response of
//! the command the server sent.

use crate::body::{Limits, parse_dictionary};
use crate::enrollment::{Enrollment, Identity};
use crate::error::Result;
use crate::fields::{DictWriter, Fields, FromValue, ToValue};
use plist::{Dictionary, Value};

crate::open_enum! {
    /// `Status` of a command report.
    pub enum CommandStatus {
        /// The device has nothing to report and asks for the next command.
        Idle = "Idle",
        /// The command succeeded.
        Acknowledged = "Acknowledged",
        /// The command failed; `ErrorChain` says why.
        Error = "Error",
        /// The command was malformed.
        CommandFormatError = "CommandFormatError",
        /// The device cannot run the command now; the server should send it again later.
        NotNow = "NotNow",
    }
}

/// One entry of `ErrorChain`.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct ErrorChainItem {
    /// `ErrorCode`.
    pub error_code: Option<i64>,
    /// `ErrorDomain`.
    pub error_domain: Option<String>,
    /// `LocalizedDescription`.
    pub localized_description: Option<String>,
    /// `USEnglishDescription`.
    pub us_english_description: Option<String>,
    /// Keys this version does not model.
    pub extra: Dictionary,
}

impl FromValue for ErrorChainItem {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        let mut f = Fields::new(Dictionary::from_value(value, path)?, path);
        Ok(ErrorChainItem {
            error_code: f.optional("ErrorCode")?,
            error_domain: f.optional("ErrorDomain")?,
            localized_description: f.optional("LocalizedDescription")?,
            us_english_description: f.optional("USEnglishDescription")?,
            extra: f.rest(),
        })
    }
}

impl ToValue for ErrorChainItem {
    fn to_value(&self) -> Value {
        let mut out = DictWriter::new();
        out.put_opt("ErrorCode", &self.error_code)
            .put_opt("ErrorDomain", &self.error_domain)
            .put_opt("LocalizedDescription", &self.localized_description)
            .put_opt("USEnglishDescription", &self.us_english_description)
            .extend(&self.extra);
        Value::Dictionary(out.finish())
    }
}

/// A command report from a device.
///
/// ```
/// use mdm_proto::{CommandReport, CommandStatus};
///
/// let body = br#"<?xml version="1.0"?><plist version="1.0"><dict>
///   <key>Status</key><string>Error</string><key>UDID</key><string>0000-1111</string>
///   <key>CommandUUID</key><string>C-1</string>
///   <key>ErrorChain</key><array><dict><key>ErrorCode</key><integer>12021</integer>
///     <key>ErrorDomain</key><string>MCMDMErrorDomain</string></dict></array>
///   <key>FutureKey</key><true/>
/// </dict></plist>"#;
/// let report = CommandReport::decode(body)?;
/// assert_eq!(report.status, CommandStatus::Error);
/// assert_eq!(report.enrollment()?.id, "0000-1111");
/// assert_eq!(report.error_chain.as_ref().map(|c| c[0].error_code), Some(Some(12021)));
/// // Keys this version does not model are kept: re-encoding loses nothing.
/// assert!(report.to_dictionary().contains_key("FutureKey"));
/// # Ok::<(), mdm_proto::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CommandReport {
    /// `Status`.
    pub status: CommandStatus,
    /// `CommandUUID`: the command answered (absent when idle).
    pub command_uuid: Option<String>,
    /// `ErrorChain`, on `Error`.
    pub error_chain: Option<Vec<ErrorChainItem>>,
    /// The identity keys.
    pub identity: Identity,
    /// Every other key: the command's response keys, for `mdm-commands` to type.
    pub response: Dictionary,
}

impl CommandReport {
    /// The keys this type models; all others go to [`CommandReport::response`].
    pub const KEYS: [&'static str; 3] = ["Status", "CommandUUID", "ErrorChain"];

    /// A report with a status, for an enrollment.
    pub fn new(status: CommandStatus, identity: Identity) -> Self {
        CommandReport {
            status,
            command_uuid: None,
            error_chain: None,
            identity,
            response: Dictionary::new(),
        }
    }

    /// Decodes an untrusted report body with the default [`Limits`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_with_limits(bytes, &Limits::MDM)
    }

    /// Decodes an untrusted report body.
    pub fn decode_with_limits(bytes: &[u8], limits: &Limits) -> Result<Self> {
        Self::from_dictionary(parse_dictionary(bytes, limits)?)
    }

    /// Reads a report from a decoded dictionary.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        let mut f = Fields::new(dict, "");
        Ok(CommandReport {
            status: f.required("Status")?,
            command_uuid: f.optional("CommandUUID")?,
            error_chain: f.optional("ErrorChain")?,
            identity: Identity::take(&mut f)?,
            response: f.rest(),
        })
    }

    /// The report as a dictionary, every kept key included.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut out = DictWriter::new();
        self.identity.put(&mut out);
        out.put("Status", &self.status)
            .put_opt("CommandUUID", &self.command_uuid)
            .put_opt("ErrorChain", &self.error_chain)
            .extend(&self.response);
        out.finish()
    }

    /// Encodes the report as an XML plist.
    pub fn encode(&self) -> Result<Vec<u8>> {
        crate::body::to_xml(&Value::Dictionary(self.to_dictionary()))
    }

    /// The enrollment the report comes from.
    pub fn enrollment(&self) -> Result<Enrollment> {
        self.identity.resolve()
    }
}
