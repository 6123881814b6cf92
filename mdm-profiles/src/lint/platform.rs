//! The `supportedOS` rules: `P005 platform`, `P006 os-version`, `P007 supervised-only`,
//! `P008 user-enrollment`, `P009 removed`, `P010 deprecated`.
//!
//! A payload that a target cannot run is an error (the device refuses it); a key that a
//! target does not know is a warning (the device ignores it). Without targets only the
//! removals and deprecations that hold on every platform are reported.

use super::{
    DEPRECATED, OS_VERSION, PLATFORM, REMOVED, Report, Rule, SUPERVISED_ONLY, Severity,
    USER_ENROLLMENT,
};
use crate::schema::{KeySpec, OsSupport, PayloadSpec};
use crate::target::{Target, compare_versions};

/// What is checked: a payload (errors) or a key (warnings).
#[derive(Clone, Copy)]
struct Subject<'a> {
    what: &'a str,
    severe: Severity,
}

/// The payload-level facts of `spec` for every target.
pub(crate) fn check_payload(path: &str, spec: &PayloadSpec, targets: &[Target], r: &mut Report) {
    let what = format!("payload `{}`", spec.payload_type);
    let s = Subject {
        what: &what,
        severe: Severity::Error,
    };
    let at = if path.is_empty() {
        "PayloadType".to_owned()
    } else {
        format!("{path}.PayloadType")
    };
    if targets.is_empty() {
        if let Some(release) = spec.removed_in {
            r.push(
                &REMOVED,
                Severity::Warning,
                &at,
                format!(
                    "Apple removed {} from its schema in release {release}",
                    s.what
                ),
                None,
            );
        } else {
            untargeted(&at, s, spec.supported_os, r);
        }
        return;
    }
    for t in targets {
        match spec.os(&t.platform) {
            Some(os) if os.is_supported() => facts(&at, s, os, t, r),
            _ => r.push(
                &PLATFORM,
                Severity::Error,
                &at,
                format!("{} is not supported on {}", s.what, t.platform),
                Some(t),
            ),
        }
    }
}

/// The key-level facts of `spec` (only those the key gives itself: the others are its
/// payload's, checked once).
pub(crate) fn check_key(path: &str, spec: &KeySpec, targets: &[Target], r: &mut Report) {
    if spec.supported_os.is_empty() {
        return;
    }
    let what = format!("key `{}`", spec.key);
    let s = Subject {
        what: &what,
        severe: Severity::Warning,
    };
    if targets.is_empty() {
        untargeted(path, s, spec.supported_os, r);
        return;
    }
    for t in targets {
        match spec.os(&t.platform) {
            Some(os) if matches!(os.introduced, Some("n/a")) => r.push(
                &PLATFORM,
                Severity::Warning,
                path,
                format!("{} is not supported on {}", s.what, t.platform),
                Some(t),
            ),
            Some(os) => facts(path, s, os, t, r),
            None => {}
        }
    }
}

/// Removal and deprecation that hold on every platform that has the subject.
fn untargeted(path: &str, s: Subject<'_>, os: &[OsSupport], r: &mut Report) {
    let supported: Vec<&OsSupport> = os.iter().filter(|o| o.is_supported()).collect();
    if supported.is_empty() {
        return;
    }
    let all = |f: fn(&OsSupport) -> Option<&'static str>| -> Option<String> {
        let parts: Option<Vec<String>> = supported
            .iter()
            .map(|o| f(o).map(|v| format!("{} {v}", o.platform)))
            .collect();
        parts.map(|p| p.join(", "))
    };
    if let Some(when) = all(|o| o.removed) {
        r.push(
            &REMOVED,
            Severity::Warning,
            path,
            format!("Apple removed {} ({when})", s.what),
            None,
        );
    } else if let Some(when) = all(|o| o.deprecated) {
        r.push(
            &DEPRECATED,
            Severity::Info,
            path,
            format!("Apple deprecated {} ({when})", s.what),
            None,
        );
    }
}

fn facts(path: &str, s: Subject<'_>, os: &OsSupport, t: &Target, r: &mut Report) {
    let push = |r: &mut Report, rule: &'static Rule, sev: Severity, msg: String| {
        r.push(rule, sev, path, msg, Some(t));
    };
    if let Some(v) = t.version.as_deref() {
        if let Some(intro) = os.introduced
            && intro.starts_with(|c: char| c.is_ascii_digit())
            && compare_versions(v, intro).is_lt()
        {
            push(
                r,
                &OS_VERSION,
                s.severe,
                format!(
                    "{} needs {} {intro} or later (target: {v})",
                    s.what, t.platform
                ),
            );
        }
        if let Some(removed) = os.removed
            && compare_versions(v, removed).is_ge()
        {
            push(
                r,
                &REMOVED,
                s.severe,
                format!("{} was removed in {} {removed}", s.what, t.platform),
            );
        } else if let Some(dep) = os.deprecated
            && compare_versions(v, dep).is_ge()
        {
            push(
                r,
                &DEPRECATED,
                Severity::Warning,
                format!("{} is deprecated since {} {dep}", s.what, t.platform),
            );
        }
    }
    if os.supervised == Some(true) && !t.supervised {
        push(
            r,
            &SUPERVISED_ONLY,
            s.severe,
            format!(
                "{} needs a supervised device ({} target is not supervised)",
                s.what, t.platform
            ),
        );
    }
    if os.user_enrollment == Some("forbidden") && t.user_enrollment {
        push(
            r,
            &USER_ENROLLMENT,
            s.severe,
            format!("{} is not allowed under User Enrollment", s.what),
        );
    }
}
