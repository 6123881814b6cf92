//! The linter: checks a [`Profile`] against Apple's schema for a list of [`Target`]s.
//!
//! Every finding has a stable rule ID ([`RULES`]), a [`Severity`], the key path it is
//! about and a message. The rule families are one module each: [`keys`] (the schema walk:
//! unknown keys, types, values, required keys), [`platform`] (platforms, versions,
//! supervision, User Enrollment, removal and deprecation) and [`identity`] (duplicate UUIDs
//! and identifiers, references between payloads). [`output`] writes findings as text, JSON
//! or SARIF.
//!
//! The walk is bounded ([`MAX_DEPTH`] levels) and visits every value once: it never panics
//! or loops, whatever the plist.
//!
//! ```
//! use mdm_profiles::{Profile, Target, lint::{self, Severity}};
//! let xml = br#"<plist><dict>
//!   <key>PayloadType</key><string>Configuration</string>
//!   <key>PayloadVersion</key><integer>1</integer>
//!   <key>PayloadIdentifier</key><string>org.example.p</string>
//!   <key>PayloadUUID</key><string>0F4A0000-0000-4000-8000-000000000000</string>
//!   <key>PayloadContent</key><array><dict>
//!     <key>PayloadType</key><string>com.apple.wifi.managed</string>
//!     <key>PayloadVersion</key><integer>1</integer>
//!     <key>PayloadIdentifier</key><string>org.example.p.wifi</string>
//!     <key>PayloadUUID</key><string>0F4A0000-0000-4000-8000-000000000001</string>
//!     <key>SSID_STR</key><string>Office</string>
//!     <key>AutoJion</key><true/>
//!   </dict></array>
//! </dict></plist>"#;
//! let profile = Profile::decode(xml)?;
//! let report = lint::lint(&profile, &["ios:17.0".parse::<Target>()?]);
//! let f = &report.findings[0];
//! assert_eq!((f.rule.id, f.path.as_str()), ("P001", "PayloadContent[0].AutoJion"));
//! assert!(f.message.contains("did you mean `AutoJoin`"));
//! assert_eq!(report.worst(), Some(Severity::Warning));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod identity;
pub mod keys;
pub mod output;
pub mod platform;

use crate::profile::Profile;
use crate::target::Target;
use std::fmt;

/// How deep the linter walks into nested values (the plist front door allows 64).
pub const MAX_DEPTH: usize = 64;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Severity {
    /// Worth knowing; the profile works as written.
    Info,
    /// The device ignores part of the profile, or will on a newer OS.
    Warning,
    /// The device refuses the profile or the payload.
    Error,
}

impl Severity {
    /// `info`, `warning` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lint rule: its stable ID and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rule {
    /// The stable ID (`P001`).
    pub id: &'static str,
    /// The stable name (`unknown-key`).
    pub name: &'static str,
    /// What it checks.
    pub summary: &'static str,
}

macro_rules! rules {
    ($($konst:ident = $id:literal, $name:literal, $summary:literal;)*) => {
        $(
            #[doc = concat!("`", $id, " ", $name, "`: ", $summary)]
            pub const $konst: Rule = Rule { id: $id, name: $name, summary: $summary };
        )*
        /// Every rule, by ID.
        pub const RULES: &[Rule] = &[$($konst),*];
    };
}

rules! {
    UNKNOWN_KEY = "P001", "unknown-key", "a key the schema does not have for its payload type (the device ignores it)";
    WRONG_TYPE = "P002", "wrong-type", "a value of another plist type than the schema's";
    VALUE_NOT_ALLOWED = "P003", "value-not-allowed", "a value outside the schema's allowed values or range";
    MISSING_REQUIRED = "P004", "missing-required", "a key the schema requires is absent";
    PLATFORM = "P005", "platform", "a payload or key a target platform does not have";
    OS_VERSION = "P006", "os-version", "a payload or key introduced after a target's OS version";
    SUPERVISED_ONLY = "P007", "supervised-only", "a payload or key that needs supervision, for an unsupervised target";
    USER_ENROLLMENT = "P008", "user-enrollment", "a payload or key User Enrollment does not allow";
    REMOVED = "P009", "removed", "a payload or key Apple removed (for a target's version, or from the schema)";
    DEPRECATED = "P010", "deprecated", "a payload or key Apple deprecated";
    DUPLICATE_UUID = "P011", "duplicate-uuid", "two payloads (or the profile and a payload) share a PayloadUUID";
    DUPLICATE_IDENTIFIER = "P012", "duplicate-identifier", "two payloads (or the profile and a payload) share a PayloadIdentifier";
    UNRESOLVED_REFERENCE = "P013", "unresolved-reference", "a certificate or identity UUID that names no payload of the profile";
    UNKNOWN_PAYLOAD_TYPE = "P014", "unknown-payload-type", "a PayloadType the schema does not have (on macOS: a custom preference domain)";
}

/// The rule of an ID (`P001`) or name (`unknown-key`).
pub fn rule(id_or_name: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|r| r.id.eq_ignore_ascii_case(id_or_name) || r.name == id_or_name)
}

/// One thing the linter found.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Finding {
    /// The rule.
    pub rule: &'static Rule,
    /// How bad it is.
    pub severity: Severity,
    /// The key path (`PayloadContent[0].AutoJoin`); empty for the profile itself.
    pub path: String,
    /// What is wrong, in a sentence.
    pub message: String,
    /// The target it is about, for the platform rules.
    pub target: Option<String>,
}

/// Every finding of one profile, in the order of the profile's keys.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Report {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The worst severity found; `None` when nothing was found.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The number of findings of a severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    /// `(rule ID, path)` of every finding: a short form for tests.
    pub fn ids(&self) -> Vec<(&'static str, String)> {
        self.findings
            .iter()
            .map(|f| (f.rule.id, f.path.clone()))
            .collect()
    }

    pub(crate) fn push(
        &mut self,
        rule: &'static Rule,
        severity: Severity,
        path: &str,
        message: String,
        target: Option<&Target>,
    ) {
        self.findings.push(Finding {
            rule,
            severity,
            path: path.to_owned(),
            message,
            target: target.map(ToString::to_string),
        });
    }
}

/// Lints a profile for `targets` (none: the checks that need no target).
pub fn lint(profile: &Profile, targets: &[Target]) -> Report {
    let mut report = Report::default();
    keys::check_profile(profile, targets, &mut report);
    identity::check(profile, &mut report);
    report
}
