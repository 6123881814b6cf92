//! The profile check of the typed `InstallProfile` API (sans I/O): the profile is linted
//! with mdm-profiles for each target enrollment's device, as the server knows it (the
//! stored [`DeviceFacts`]: platform, OS version, supervision, User Enrollment). Errors
//! refuse the command (400, the findings as problem-details members); warnings and
//! information are returned with the 201. The raw NanoMDM enqueue is not checked.

use super::ServiceError;
use mdm_commands::applicability::DeviceFacts;
use mdm_profiles::lint::{Report, Severity, output};
use mdm_profiles::{Profile, Target};
use serde_json::{Value as Json, json};

/// The DER of the OID of CMS EnvelopedData (1.2.840.113549.1.7.3): an encrypted profile.
const ENVELOPED_DATA_OID: &[u8] = &[
    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x03,
];

/// True when `payload` is a CMS EnvelopedData (a profile encrypted to the device's
/// identity): the server cannot read it, so it is not linted.
pub fn is_encrypted(payload: &[u8]) -> bool {
    payload.first() == Some(&0x30)
        && payload.get(..32.min(payload.len())).is_some_and(|head| {
            head.windows(ENVELOPED_DATA_OID.len())
                .any(|w| w == ENVELOPED_DATA_OID)
        })
}

/// The lint target of a device: its platform and OS version, supervised unless the device
/// said it is not (a device that never answered `IsSupervised` gets the benefit of the
/// doubt: no supervised-only findings), User Enrollment from the enrollment type. `None`
/// for a platform the schema does not name.
pub fn target_of(facts: &DeviceFacts) -> Option<Target> {
    let target = Target::new(&facts.platform, facts.os_version.as_deref()).ok()?;
    Some(
        target
            .supervised(facts.supervised.unwrap_or(true))
            .user_enrollment(facts.user_enrollment),
    )
}

/// The lint of a profile for one enrollment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EnrollmentLint {
    /// The enrollment.
    pub enrollment_id: String,
    /// The target it was linted for (`None`: the server knows nothing of the device; only
    /// the checks that need no target ran).
    pub target: Option<Target>,
    /// The findings.
    pub report: Report,
}

impl EnrollmentLint {
    /// Lints `profile` for the enrollment `id` whose device facts are `facts`.
    pub fn new(profile: &Profile, id: &str, facts: Option<&DeviceFacts>) -> Self {
        let target = facts.and_then(target_of);
        let report = mdm_profiles::lint(profile, target.as_slice());
        EnrollmentLint {
            enrollment_id: id.to_owned(),
            target,
            report,
        }
    }

    /// `{enrollment_id, target, errors, warnings, findings}`.
    pub fn to_json(&self) -> Json {
        json!({
            "enrollment_id": self.enrollment_id,
            "target": self.target.as_ref().map(ToString::to_string),
            "errors": self.report.count(Severity::Error),
            "warnings": self.report.count(Severity::Warning),
            "findings": output::json(&self.report),
        })
    }
}

/// The lints that found something, as JSON.
pub fn lints_json(lints: &[EnrollmentLint]) -> Json {
    Json::Array(
        lints
            .iter()
            .filter(|l| !l.report.findings.is_empty())
            .map(EnrollmentLint::to_json)
            .collect(),
    )
}

/// The refusal of a profile whose lint found errors: a sentence naming the first one.
pub fn refusal(lints: &[EnrollmentLint]) -> Option<String> {
    let errors: usize = lints.iter().map(|l| l.report.count(Severity::Error)).sum();
    let (lint, first) = lints.iter().find_map(|l| {
        l.report
            .findings
            .iter()
            .find(|f| f.severity == Severity::Error)
            .map(|f| (l, f))
    })?;
    let at = if first.path.is_empty() {
        String::new()
    } else {
        format!(" at `{}`", first.path)
    };
    Some(format!(
        "the profile has {errors} lint error(s); for enrollment `{}`{}: {} {}{at}: {} \
         (the raw /v1/enqueue route sends profiles unchecked)",
        lint.enrollment_id,
        lint.target
            .as_ref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default(),
        first.rule.id,
        first.rule.name,
        first.message
    ))
}

/// Lints the profile `payload` for each `(enrollment ID, device facts)`. An encrypted
/// profile (CMS EnvelopedData) cannot be read and is not linted (empty result).
///
/// # Errors
/// [`ServiceError::BadRequest`] when the payload is not a profile (not a plist, not a
/// dictionary, a broken signature); [`ServiceError::ProfileRefused`] when the lint finds
/// errors for any enrollment.
pub fn check(
    payload: &[u8],
    devices: &[(String, Option<DeviceFacts>)],
) -> Result<Vec<EnrollmentLint>, ServiceError> {
    if is_encrypted(payload) {
        return Ok(Vec::new());
    }
    let profile = Profile::decode(payload).map_err(|e| {
        ServiceError::BadRequest(format!("the InstallProfile `Payload` was refused: {e}"))
    })?;
    let lints: Vec<EnrollmentLint> = devices
        .iter()
        .map(|(id, facts)| EnrollmentLint::new(&profile, id, facts.as_ref()))
        .collect();
    if let Some(detail) = refusal(&lints) {
        return Err(ServiceError::ProfileRefused {
            detail,
            findings: lints_json(&lints),
        });
    }
    Ok(lints)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_follow_the_facts() {
        let facts = DeviceFacts::new("iOS").with_os_version("17.0".to_owned());
        let t = target_of(&facts).unwrap();
        assert_eq!(
            (t.platform.as_str(), t.version.as_deref()),
            ("iOS", Some("17.0"))
        );
        assert!(
            t.supervised,
            "unknown supervision: no supervised-only findings"
        );
        let t = target_of(&facts.clone().with_supervised(false)).unwrap();
        assert!(!t.supervised);
        let t = target_of(&facts.with_user_enrollment(true)).unwrap();
        assert!(t.user_enrollment);
        assert!(target_of(&DeviceFacts::new("Android")).is_none());
    }

    #[test]
    fn encrypted_profiles_are_told_apart() {
        let mut enveloped = vec![0x30, 0x80];
        enveloped.extend_from_slice(ENVELOPED_DATA_OID);
        assert!(is_encrypted(&enveloped));
        assert!(!is_encrypted(b"<plist/>"));
        assert!(!is_encrypted(&[0x30]));
        assert!(!is_encrypted(&[]));
    }
}
