//! What a profile is meant for: a platform, an OS version, supervision and User Enrollment.

use std::fmt;
use std::str::FromStr;

/// One kind of device a profile is linted for, as given on the command line:
/// `ios:17.0`, `macos:14`, `tvos`, `visionos:2.0`, `watchos:10`.
///
/// ```
/// use mdm_profiles::Target;
/// let t: Target = "ios:17.0".parse()?;
/// assert_eq!(t.platform, "iOS");
/// assert_eq!(t.version.as_deref(), Some("17.0"));
/// let t = t.supervised(true);
/// assert!(t.supervised);
/// # Ok::<(), mdm_profiles::target::TargetError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Target {
    /// The platform as the schema spells it: `iOS`, `macOS`, `tvOS`, `visionOS`, `watchOS`.
    pub platform: String,
    /// The OS version (`17.0`); `None`: any version (version rules are not checked).
    pub version: Option<String>,
    /// The device is supervised.
    pub supervised: bool,
    /// The device is enrolled through User Enrollment.
    pub user_enrollment: bool,
}

/// The platforms of Apple's schema.
pub const PLATFORMS: &[&str] = &["iOS", "macOS", "tvOS", "visionOS", "watchOS"];

/// A target that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "target `{given}`: {reason} (expected PLATFORM[:VERSION], PLATFORM one of ios, macos, tvos, visionos, watchos)"
)]
pub struct TargetError {
    /// What was given.
    pub given: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl Target {
    /// A target of `platform` (any spelling case: `ios`, `iOS`) and `version`.
    pub fn new(platform: &str, version: Option<&str>) -> Result<Self, TargetError> {
        let canonical = PLATFORMS
            .iter()
            .find(|p| p.eq_ignore_ascii_case(platform))
            .ok_or(TargetError {
                given: platform.to_owned(),
                reason: "unknown platform",
            })?;
        if let Some(v) = version
            && (v.is_empty()
                || !v
                    .split('.')
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
        {
            return Err(TargetError {
                given: format!("{platform}:{v}"),
                reason: "the version is not dotted numbers",
            });
        }
        Ok(Target {
            platform: (*canonical).to_owned(),
            version: version.map(str::to_owned),
            supervised: false,
            user_enrollment: false,
        })
    }

    /// The same target, supervised or not.
    pub fn supervised(mut self, supervised: bool) -> Self {
        self.supervised = supervised;
        self
    }

    /// The same target, under User Enrollment or not.
    pub fn user_enrollment(mut self, user_enrollment: bool) -> Self {
        self.user_enrollment = user_enrollment;
        self
    }
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some((p, v)) => Target::new(p, Some(v)),
            None => Target::new(s, None),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.platform)?;
        if let Some(v) = &self.version {
            write!(f, " {v}")?;
        }
        if self.supervised {
            f.write_str(" (supervised)")?;
        }
        if self.user_enrollment {
            f.write_str(" (User Enrollment)")?;
        }
        Ok(())
    }
}

/// Compares dotted versions numerically (`10.13` < `10.13.1` < `11`); a part that is not
/// a number counts as 0.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let mut x = a.split('.');
    let mut y = b.split('.');
    loop {
        match (x.next(), y.next()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (p, q) => {
                let num = |s: Option<&str>| -> u64 {
                    s.map(|s| {
                        s.chars()
                            .take_while(char::is_ascii_digit)
                            .take(18)
                            .collect::<String>()
                            .parse()
                            .unwrap_or(0)
                    })
                    .unwrap_or(0)
                };
                match num(p).cmp(&num(q)) {
                    std::cmp::Ordering::Equal => {}
                    other => return other,
                }
            }
        }
    }
}
