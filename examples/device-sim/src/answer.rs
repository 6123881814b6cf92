//! How a simulated device answers each command: pure functions from command to report.

use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{DictWriter, Profile};

use crate::DeviceInfo;

/// A profile the simulated device has installed.
#[derive(Debug, Clone, PartialEq)]
pub struct InstalledProfile {
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadDisplayName`.
    pub display_name: Option<String>,
}

/// What the device holds that commands can read or change.
#[derive(Debug, Clone, Default)]
pub struct DeviceState {
    /// Installed profiles, the enrollment profile first.
    pub profiles: Vec<InstalledProfile>,
    /// DER of the device's identity certificate, if it has one.
    pub identity_der: Option<Vec<u8>>,
}

/// The outcome of one command, before identity keys are added.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `Status`.
    pub status: &'static str,
    /// Response keys (or `ErrorChain`).
    pub keys: Dictionary,
}

impl Outcome {
    fn ok(keys: Dictionary) -> Self {
        Outcome {
            status: "Acknowledged",
            keys,
        }
    }

    /// An `Error` outcome with a one-entry `ErrorChain`.
    pub fn error(domain: &str, code: i64, text: &str) -> Self {
        let mut item = DictWriter::new();
        item.put("ErrorCode", &code)
            .put("ErrorDomain", &domain.to_owned())
            .put("LocalizedDescription", &text.to_owned())
            .put("USEnglishDescription", &text.to_owned());
        let mut keys = Dictionary::new();
        keys.insert(
            "ErrorChain".into(),
            Value::Array(vec![Value::Dictionary(item.finish())]),
        );
        Outcome {
            status: "Error",
            keys,
        }
    }
}

fn one(key: &str, value: Value) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert(key.into(), value);
    d
}

/// Answers one command (the `Command` dictionary of a command plist).
pub fn answer(info: &DeviceInfo, state: &mut DeviceState, command: &Dictionary) -> Outcome {
    let request_type = command
        .get("RequestType")
        .and_then(Value::as_string)
        .unwrap_or_default();
    match request_type {
        "DeviceInformation" => device_information(info, command),
        "SecurityInfo" => {
            let mut s = DictWriter::new();
            s.put("HardwareEncryptionCaps", &3i64)
                .put("PasscodePresent", &false)
                .put("PasscodeCompliant", &true)
                .put("PasscodeCompliantWithProfiles", &true);
            Outcome::ok(one("SecurityInfo", Value::Dictionary(s.finish())))
        }
        "ProfileList" => {
            let list = state
                .profiles
                .iter()
                .map(|p| {
                    let mut d = DictWriter::new();
                    d.put("PayloadIdentifier", &p.identifier)
                        .put("PayloadUUID", &p.uuid)
                        .put("PayloadVersion", &1i64)
                        .put_opt("PayloadDisplayName", &p.display_name)
                        .put("IsManaged", &true);
                    Value::Dictionary(d.finish())
                })
                .collect();
            Outcome::ok(one("ProfileList", Value::Array(list)))
        }
        "InstallProfile" => match command.get("Payload") {
            Some(Value::Data(bytes)) => match Profile::decode(bytes) {
                Ok(profile) => {
                    state
                        .profiles
                        .retain(|p| p.identifier != profile.identifier);
                    state.profiles.push(InstalledProfile {
                        identifier: profile.identifier,
                        uuid: profile.uuid,
                        display_name: profile.display_name,
                    });
                    Outcome::ok(Dictionary::new())
                }
                Err(e) => Outcome::error(
                    "MCProfileErrorDomain",
                    1000,
                    &format!("The profile could not be read: {e}"),
                ),
            },
            _ => Outcome::error(
                "MDMClientError",
                97,
                "The command is missing the required key 'Payload'.",
            ),
        },
        "RemoveProfile" => {
            let identifier = command.get("Identifier").and_then(Value::as_string);
            match identifier {
                Some(id) if state.profiles.iter().any(|p| p.identifier == id) => {
                    state.profiles.retain(|p| p.identifier != id);
                    Outcome::ok(Dictionary::new())
                }
                Some(id) => Outcome::error(
                    "MCMDMErrorDomain",
                    12013,
                    &format!("The profile “{id}” is not managed by MDM."),
                ),
                None => Outcome::error(
                    "MDMClientError",
                    97,
                    "The command is missing the required key 'Identifier'.",
                ),
            }
        }
        "CertificateList" => {
            let list = state
                .identity_der
                .iter()
                .map(|der| {
                    let mut d = DictWriter::new();
                    d.put("CommonName", &info.udid)
                        .put("Data", &mdm_proto::Data(der.clone()))
                        .put("IsIdentity", &true);
                    Value::Dictionary(d.finish())
                })
                .collect();
            Outcome::ok(one("CertificateList", Value::Array(list)))
        }
        "InstalledApplicationList" => {
            let apps = [
                ("com.apple.mobilesafari", "Safari", "18.1"),
                ("com.example.notes", "Notes Example", "2.3.1"),
            ]
            .iter()
            .map(|(id, name, version)| {
                let mut d = DictWriter::new();
                d.put("Identifier", &(*id).to_owned())
                    .put("Name", &(*name).to_owned())
                    .put("ShortVersion", &(*version).to_owned())
                    .put("Version", &(*version).to_owned())
                    .put("BundleSize", &12_345_678i64);
                Value::Dictionary(d.finish())
            })
            .collect();
            Outcome::ok(one("InstalledApplicationList", Value::Array(apps)))
        }
        other => Outcome::error(
            "MCMDMErrorDomain",
            12021,
            &format!("“{other}” is not a valid request type."),
        ),
    }
}

fn device_information(info: &DeviceInfo, command: &Dictionary) -> Outcome {
    let all = info.query_responses();
    let responses = match command.get("Queries").and_then(Value::as_array) {
        Some(queries) => queries
            .iter()
            .filter_map(Value::as_string)
            .filter_map(|q| all.get(q).map(|v| (q.to_owned(), v.clone())))
            .collect(),
        None => all,
    };
    Outcome::ok(one("QueryResponses", Value::Dictionary(responses)))
}
