//! Configuration profiles (`.mobileconfig`) and the enrollment profile an MDM server hands out.
//!
//! A profile is a `Configuration` dictionary whose `PayloadContent` is a list of payloads.
//! [`Profile`] and [`Payload`] type the common keys and keep every other key, so a profile
//! decodes and encodes without loss. [`EnrollmentProfile`] builds the profile that enrolls
//! a device: a SCEP payload for the device identity, the `com.apple.mdm` payload, and
//! optionally the CA certificate to trust. Signing a profile (CMS) is done by the caller,
//! for example with `scep-proto`'s CMS module.

use crate::body::{Limits, parse_dictionary, to_xml};
use crate::error::{Error, Result};
use crate::fields::{Data, DictWriter, Fields, FromValue, ToValue};
use plist::{Dictionary, Value};

/// `PayloadType` of a top-level profile.
pub const CONFIGURATION: &str = "Configuration";

/// One payload of a profile's `PayloadContent`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Payload {
    /// `PayloadType`, such as `com.apple.mdm`.
    pub payload_type: String,
    /// `PayloadIdentifier`, reverse-DNS and unique within the profile.
    pub identifier: String,
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadVersion` (1).
    pub version: i64,
    /// `PayloadDisplayName`.
    pub display_name: Option<String>,
    /// `PayloadDescription`.
    pub description: Option<String>,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// The payload's own keys, and any other key, as sent.
    pub keys: Dictionary,
}

impl Payload {
    /// A payload with its required keys and no others.
    pub fn new(
        payload_type: impl Into<String>,
        identifier: impl Into<String>,
        uuid: impl Into<String>,
    ) -> Self {
        Payload {
            payload_type: payload_type.into(),
            identifier: identifier.into(),
            uuid: uuid.into(),
            version: 1,
            display_name: None,
            description: None,
            organization: None,
            keys: Dictionary::new(),
        }
    }

    /// Sets a payload-specific key.
    pub fn with_key(mut self, key: &str, value: impl ToValue) -> Self {
        self.keys.insert(key.to_owned(), value.to_value());
        self
    }

    /// Sets `PayloadDisplayName`.
    pub fn with_display_name(mut self, name: impl Into<String>) -> Self {
        self.display_name = Some(name.into());
        self
    }
}

impl FromValue for Payload {
    fn from_value(value: Value, path: &str) -> Result<Self> {
        let mut f = Fields::new(Dictionary::from_value(value, path)?, path);
        Ok(Payload {
            payload_type: f.required("PayloadType")?,
            identifier: f.required("PayloadIdentifier")?,
            uuid: f.required("PayloadUUID")?,
            version: version(&mut f)?,
            display_name: f.optional("PayloadDisplayName")?,
            description: f.optional("PayloadDescription")?,
            organization: f.optional("PayloadOrganization")?,
            keys: f.rest(),
        })
    }
}

/// `PayloadVersion` is an integer; Apple's own tools sometimes write `<real>1</real>`, which
/// is then kept among the extra keys so that it encodes back unchanged.
fn version(f: &mut Fields) -> Result<i64> {
    match f.peek("PayloadVersion") {
        Some(Value::Real(_)) => Ok(1),
        Some(_) => f.required("PayloadVersion"),
        None => Ok(1),
    }
}

fn put_version(out: &mut DictWriter, version: i64, keys: &Dictionary) {
    if !keys.contains_key("PayloadVersion") {
        out.put("PayloadVersion", &version);
    }
}

impl ToValue for Payload {
    fn to_value(&self) -> Value {
        let mut out = DictWriter::new();
        out.put("PayloadType", &self.payload_type)
            .put("PayloadIdentifier", &self.identifier)
            .put("PayloadUUID", &self.uuid);
        put_version(&mut out, self.version, &self.keys);
        out.put_opt("PayloadDisplayName", &self.display_name)
            .put_opt("PayloadDescription", &self.description)
            .put_opt("PayloadOrganization", &self.organization)
            .extend(&self.keys);
        Value::Dictionary(out.finish())
    }
}

/// A configuration profile.
///
/// ```
/// use mdm_proto::{Payload, Profile};
///
/// let mut profile = Profile::new("org.example.wifi", "8C6A5B49-0000-4000-8000-000000000001");
/// profile.content.push(
///     Payload::new("com.apple.wifi.managed", "org.example.wifi.1", "8C6A5B49-0000-4000-8000-000000000002")
///         .with_key("SSID_STR", "Example"),
/// );
/// let bytes = profile.encode()?;
/// let back = Profile::decode(&bytes)?;
/// assert_eq!(back, profile);
/// assert!(back.payload("com.apple.wifi.managed").is_some_and(|p| p.keys.contains_key("SSID_STR")));
/// # Ok::<(), mdm_proto::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Profile {
    /// `PayloadIdentifier`.
    pub identifier: String,
    /// `PayloadUUID`.
    pub uuid: String,
    /// `PayloadVersion` (1).
    pub version: i64,
    /// `PayloadDisplayName`.
    pub display_name: Option<String>,
    /// `PayloadDescription`.
    pub description: Option<String>,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// `PayloadRemovalDisallowed`.
    pub removal_disallowed: Option<bool>,
    /// `PayloadScope` (`System` or `User`, macOS).
    pub scope: Option<String>,
    /// `PayloadContent`: the payloads.
    pub content: Vec<Payload>,
    /// Every other top-level key, as sent.
    pub extra: Dictionary,
}

impl Profile {
    /// A profile with its required keys and no payloads.
    pub fn new(identifier: impl Into<String>, uuid: impl Into<String>) -> Self {
        Profile {
            identifier: identifier.into(),
            uuid: uuid.into(),
            version: 1,
            display_name: None,
            description: None,
            organization: None,
            removal_disallowed: None,
            scope: None,
            content: Vec::new(),
            extra: Dictionary::new(),
        }
    }

    /// Decodes an unsigned profile (XML or binary plist).
    ///
    /// A CMS-signed profile (DER, starting with a SEQUENCE) is refused with a clear error:
    /// take its content out with a CMS library first.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.first() == Some(&0x30) {
            return Err(Error::NotAPlist {
                reason: "it looks like a CMS-signed profile (DER); unwrap the signature first",
            });
        }
        Self::from_dictionary(parse_dictionary(bytes, &Limits::MDM)?)
    }

    /// Reads a profile from a dictionary.
    pub fn from_dictionary(dict: Dictionary) -> Result<Self> {
        let mut f = Fields::new(dict, "");
        let payload_type: String = f.required("PayloadType")?;
        if payload_type != CONFIGURATION {
            return Err(Error::InvalidValue {
                path: "PayloadType".into(),
                reason: format!(
                    "a profile's PayloadType is `{CONFIGURATION}`, not `{payload_type}`"
                ),
            });
        }
        Ok(Profile {
            identifier: f.required("PayloadIdentifier")?,
            uuid: f.required("PayloadUUID")?,
            version: version(&mut f)?,
            display_name: f.optional("PayloadDisplayName")?,
            description: f.optional("PayloadDescription")?,
            organization: f.optional("PayloadOrganization")?,
            removal_disallowed: f.optional("PayloadRemovalDisallowed")?,
            scope: f.optional("PayloadScope")?,
            content: f.optional("PayloadContent")?.unwrap_or_default(),
            extra: f.rest(),
        })
    }

    /// The profile as a dictionary.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut out = DictWriter::new();
        out.put("PayloadType", &CONFIGURATION.to_owned())
            .put("PayloadIdentifier", &self.identifier)
            .put("PayloadUUID", &self.uuid);
        put_version(&mut out, self.version, &self.extra);
        out.put_opt("PayloadDisplayName", &self.display_name)
            .put_opt("PayloadDescription", &self.description)
            .put_opt("PayloadOrganization", &self.organization)
            .put_opt("PayloadRemovalDisallowed", &self.removal_disallowed)
            .put_opt("PayloadScope", &self.scope)
            .put("PayloadContent", &self.content)
            .extend(&self.extra);
        out.finish()
    }

    /// Encodes the profile as an XML plist (unsigned).
    pub fn encode(&self) -> Result<Vec<u8>> {
        to_xml(&Value::Dictionary(self.to_dictionary()))
    }

    /// The first payload of a type.
    pub fn payload(&self, payload_type: &str) -> Option<&Payload> {
        self.content.iter().find(|p| p.payload_type == payload_type)
    }
}

/// `AccessRights` granting everything (8191): what most servers ask for.
pub const ALL_ACCESS_RIGHTS: i64 = 8191;

/// What an enrollment profile needs; build it with [`EnrollmentProfile::new`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EnrollmentProfile {
    /// The profile's `PayloadIdentifier` (payload identifiers are derived from it).
    pub identifier: String,
    /// `PayloadDisplayName`.
    pub display_name: String,
    /// `PayloadOrganization`.
    pub organization: Option<String>,
    /// `ServerURL`: where the device asks for commands.
    pub server_url: String,
    /// `CheckInURL`: where the device checks in (absent: the ServerURL takes check-ins).
    pub checkin_url: Option<String>,
    /// `Topic`: the push certificate's topic (`com.apple.mgmt.External.<uuid>`).
    pub topic: String,
    /// `SignMessage`: the device signs every request with `Mdm-Signature`.
    pub sign_message: bool,
    /// `AccessRights`.
    pub access_rights: i64,
    /// `CheckOutWhenRemoved`.
    pub check_out_when_removed: bool,
    /// `ServerCapabilities`.
    pub server_capabilities: Vec<String>,
    /// `URL` of the SCEP payload.
    pub scep_url: String,
    /// `Challenge` of the SCEP payload.
    pub scep_challenge: Option<String>,
    /// `Name` of the SCEP payload (the CA's name, if the server needs one).
    pub scep_name: Option<String>,
    /// `Subject` of the certificate requested, as `[[["CN", "value"]]]`.
    pub scep_subject: Option<Vec<(String, String)>>,
    /// `Keysize` of the SCEP key (2048).
    pub scep_key_size: i64,
    /// DER certificate of a CA to install as trusted (`com.apple.security.root`).
    pub trust_ca_der: Option<Vec<u8>>,
    /// UUIDs for the profile, the SCEP, MDM and root payloads, in that order.
    pub uuids: [String; 4],
}

impl EnrollmentProfile {
    /// The options with sensible defaults: SignMessage, all access rights, CheckOut when
    /// removed, per-user connections, bootstrap tokens and GetToken advertised.
    pub fn new(
        identifier: impl Into<String>,
        server_url: impl Into<String>,
        topic: impl Into<String>,
        scep_url: impl Into<String>,
        uuids: [String; 4],
    ) -> Self {
        EnrollmentProfile {
            identifier: identifier.into(),
            display_name: "MDM Enrollment".into(),
            organization: None,
            server_url: server_url.into(),
            checkin_url: None,
            topic: topic.into(),
            sign_message: true,
            access_rights: ALL_ACCESS_RIGHTS,
            check_out_when_removed: true,
            server_capabilities: vec![
                "com.apple.mdm.per-user-connections".into(),
                "com.apple.mdm.bootstraptoken".into(),
                "com.apple.mdm.token".into(),
            ],
            scep_url: scep_url.into(),
            scep_challenge: None,
            scep_name: None,
            scep_subject: None,
            scep_key_size: 2048,
            trust_ca_der: None,
            uuids,
        }
    }

    /// Builds the profile.
    pub fn build(&self) -> Profile {
        let [profile_uuid, scep_uuid, mdm_uuid, root_uuid] = self.uuids.clone();
        let mut scep = Dictionary::new();
        scep.insert("URL".into(), Value::String(self.scep_url.clone()));
        if let Some(challenge) = &self.scep_challenge {
            scep.insert("Challenge".into(), Value::String(challenge.clone()));
        }
        if let Some(name) = &self.scep_name {
            scep.insert("Name".into(), Value::String(name.clone()));
        }
        if let Some(subject) = &self.scep_subject {
            let rdns = subject
                .iter()
                .map(|(k, v)| {
                    Value::Array(vec![Value::Array(vec![
                        Value::String(k.clone()),
                        Value::String(v.clone()),
                    ])])
                })
                .collect();
            scep.insert("Subject".into(), Value::Array(rdns));
        }
        scep.insert("Keysize".into(), Value::Integer(self.scep_key_size.into()));
        scep.insert("Key Type".into(), Value::String("RSA".into()));
        scep.insert("Key Usage".into(), Value::Integer(5.into()));
        let scep_payload = Payload::new(
            "com.apple.security.scep",
            format!("{}.scep", self.identifier),
            scep_uuid.clone(),
        )
        .with_display_name("Device identity")
        .with_key("PayloadContent", Value::Dictionary(scep));

        let mut mdm = Payload::new(
            "com.apple.mdm",
            format!("{}.mdm", self.identifier),
            mdm_uuid,
        )
        .with_display_name("Device management")
        .with_key("IdentityCertificateUUID", scep_uuid)
        .with_key("Topic", self.topic.clone())
        .with_key("ServerURL", self.server_url.clone())
        .with_key("SignMessage", self.sign_message)
        .with_key("AccessRights", self.access_rights)
        .with_key("CheckOutWhenRemoved", self.check_out_when_removed)
        .with_key("ServerCapabilities", self.server_capabilities.clone());
        if let Some(url) = &self.checkin_url {
            mdm = mdm.with_key("CheckInURL", url.clone());
        }

        let mut profile = Profile::new(self.identifier.clone(), profile_uuid);
        profile.display_name = Some(self.display_name.clone());
        profile.organization = self.organization.clone();
        if let Some(der) = &self.trust_ca_der {
            profile.content.push(
                Payload::new(
                    "com.apple.security.root",
                    format!("{}.ca", self.identifier),
                    root_uuid,
                )
                .with_display_name("Certificate authority")
                .with_key("PayloadContent", Data(der.clone())),
            );
        }
        profile.content.push(scep_payload);
        profile.content.push(mdm);
        profile
    }
}

impl EnrollmentProfile {
    /// Reads an enrollment profile back, as a device does: the `com.apple.mdm` payload, the
    /// identity payload its `IdentityCertificateUUID` names (else the first
    /// `com.apple.security.scep` payload) and the first `com.apple.security.root` payload.
    /// Keys the builder does not model are left in `profile`. Absent optional keys take
    /// Apple's defaults (`SignMessage` and `CheckOutWhenRemoved` false, `Keysize` 1024,
    /// `AccessRights` 0, which devices refuse). Errors name the key path, such as
    /// `PayloadContent[com.apple.mdm].ServerURL`.
    ///
    /// ```
    /// use mdm_proto::{EnrollmentProfile, Profile};
    ///
    /// let uuids = ["1", "2", "3", "4"].map(String::from);
    /// let built = EnrollmentProfile::new("org.example.mdm", "https://mdm.example.org/mdm",
    ///     "com.apple.mgmt.External.1", "https://mdm.example.org/scep", uuids);
    /// let bytes = built.build().encode()?;
    /// let read = EnrollmentProfile::from_profile(&Profile::decode(&bytes)?)?;
    /// assert_eq!(read.server_url, "https://mdm.example.org/mdm");
    /// # Ok::<(), mdm_proto::Error>(())
    /// ```
    pub fn from_profile(profile: &Profile) -> Result<Self> {
        const MDM: &str = "com.apple.mdm";
        const SCEP: &str = "com.apple.security.scep";
        const ROOT: &str = "com.apple.security.root";
        let mdm = profile.payload(MDM).ok_or_else(|| Error::MissingKey {
            path: format!("PayloadContent[{MDM}]"),
        })?;
        let mdm_path = format!("PayloadContent[{MDM}]");
        let mut m = Fields::new(mdm.keys.clone(), &mdm_path);
        let server_url: String = m.required("ServerURL")?;
        let topic: String = m.required("Topic")?;
        let checkin_url: Option<String> = m.optional("CheckInURL")?;
        let sign_message = m.optional("SignMessage")?.unwrap_or(false);
        let access_rights = m.optional("AccessRights")?.unwrap_or(0);
        let check_out_when_removed = m.optional("CheckOutWhenRemoved")?.unwrap_or(false);
        let server_capabilities: Vec<String> =
            m.optional("ServerCapabilities")?.unwrap_or_default();
        let identity_uuid: Option<String> = m.optional("IdentityCertificateUUID")?;

        let scep = match &identity_uuid {
            Some(uuid) => {
                let named = profile
                    .content
                    .iter()
                    .find(|p| &p.uuid == uuid)
                    .ok_or_else(|| Error::InvalidValue {
                        path: format!("{mdm_path}.IdentityCertificateUUID"),
                        reason: format!("`{uuid}` names no payload of the profile"),
                    })?;
                if named.payload_type != SCEP {
                    return Err(Error::InvalidValue {
                        path: format!("{mdm_path}.IdentityCertificateUUID"),
                        reason: format!(
                            "names a {} payload; only {SCEP} identities are read",
                            named.payload_type
                        ),
                    });
                }
                named
            }
            None => profile.payload(SCEP).ok_or_else(|| Error::MissingKey {
                path: format!("PayloadContent[{SCEP}]"),
            })?,
        };
        let scep_path = format!("PayloadContent[{SCEP}].PayloadContent");
        let scep_keys: Dictionary =
            Fields::new(scep.keys.clone(), &format!("PayloadContent[{SCEP}]"))
                .required("PayloadContent")?;
        let mut sc = Fields::new(scep_keys, &scep_path);
        let scep_url: String = sc.required("URL")?;
        let scep_challenge: Option<String> = sc.optional("Challenge")?;
        let scep_name: Option<String> = sc.optional("Name")?;
        let scep_key_size = sc.optional("Keysize")?.unwrap_or(1024);
        let scep_subject = match sc.peek("Subject") {
            None => None,
            Some(v) => Some(subject_pairs(v, &format!("{scep_path}.Subject"))?),
        };

        let root = profile.payload(ROOT);
        let trust_ca_der = match root {
            None => None,
            Some(root) => {
                let data: Data = Fields::new(root.keys.clone(), &format!("PayloadContent[{ROOT}]"))
                    .required("PayloadContent")?;
                Some(data.0)
            }
        };
        Ok(EnrollmentProfile {
            identifier: profile.identifier.clone(),
            display_name: profile.display_name.clone().unwrap_or_default(),
            organization: profile.organization.clone(),
            server_url,
            checkin_url,
            topic,
            sign_message,
            access_rights,
            check_out_when_removed,
            server_capabilities,
            scep_url,
            scep_challenge,
            scep_name,
            scep_subject,
            scep_key_size,
            trust_ca_der,
            uuids: [
                profile.uuid.clone(),
                scep.uuid.clone(),
                mdm.uuid.clone(),
                root.map(|r| r.uuid.clone()).unwrap_or_default(),
            ],
        })
    }
}

/// `[[["CN", "value"]], [["O", "org"]]]`: a list of RDNs, each a list of (name, value) pairs.
fn subject_pairs(value: &Value, path: &str) -> Result<Vec<(String, String)>> {
    let bad = || Error::InvalidValue {
        path: path.to_owned(),
        reason: "not a list of [[name, value]] lists".into(),
    };
    let mut out = Vec::new();
    for rdn in value.as_array().ok_or_else(bad)? {
        for pair in rdn.as_array().ok_or_else(bad)? {
            match pair.as_array().map(Vec::as_slice) {
                Some([Value::String(k), Value::String(v)]) => out.push((k.clone(), v.clone())),
                _ => return Err(bad()),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuids() -> [String; 4] {
        ["A", "B", "C", "D"].map(|s| format!("00000000-0000-0000-0000-00000000000{s}"))
    }

    #[test]
    fn enrollment_profile_links_mdm_to_scep_identity() {
        let mut opts = EnrollmentProfile::new(
            "org.example.mdm",
            "https://mdm.example.org/mdm",
            "com.apple.mgmt.External.1234",
            "https://mdm.example.org/scep",
            uuids(),
        );
        opts.scep_challenge = Some("secret".into());
        opts.trust_ca_der = Some(vec![0x30, 0x00]);
        let profile = opts.build();
        let bytes = profile.encode().unwrap();
        let back = Profile::decode(&bytes).unwrap();
        assert_eq!(back, profile);
        let mdm = back.payload("com.apple.mdm").unwrap();
        let scep = back.payload("com.apple.security.scep").unwrap();
        assert_eq!(
            mdm.keys.get("IdentityCertificateUUID"),
            Some(&Value::String(scep.uuid.clone()))
        );
        assert_eq!(mdm.keys.get("SignMessage"), Some(&Value::Boolean(true)));
        assert_eq!(back.content.len(), 3);
    }

    #[test]
    fn signed_profiles_and_wrong_types_are_refused() {
        assert!(matches!(
            Profile::decode(&[0x30, 0x82, 0x01]),
            Err(Error::NotAPlist { .. })
        ));
        let body =
            br#"<plist><dict><key>PayloadType</key><string>com.apple.mdm</string></dict></plist>"#;
        let err = Profile::decode(body).unwrap_err();
        assert!(err.to_string().contains("PayloadType"), "{err}");
    }
}
