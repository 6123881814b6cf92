//! A configuration profile (`.mobileconfig`): its own keys, and its payloads typed where the
//! schema knows their PayloadType, unknown ones kept side by side.
//!
//! Decoding never loses a key: a payload of an unknown type, or one whose keys do not have
//! the schema's types, is kept untyped ([`AnyPayload::Unknown`]) with the reason, and
//! [`Profile::to_dictionary`] gives back the plist that was read, keys in their order.

use crate::body::PayloadBody;
use crate::error::{Error, Result};
use crate::generated::registry::{AnyPayload, decode_payload};
use mdm_proto::fields::kind_of;
use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{Format, Limits};

/// The keys every payload has, which [`Payload::common`] holds (the schema's
/// `CommonPayloadKeys`).
pub const COMMON_KEYS: &[&str] = &[
    "PayloadType",
    "PayloadVersion",
    "PayloadIdentifier",
    "PayloadUUID",
    "PayloadDisplayName",
    "PayloadDescription",
    "PayloadOrganization",
];

/// The `PayloadType` of a profile itself.
pub const CONFIGURATION: &str = "Configuration";

/// Limits for profiles: those of MDM bodies (10 MiB, 64 levels, 1,000,000 objects).
pub const LIMITS: Limits = Limits::MDM;

/// Who signed a CMS-signed profile; the signature was verified when it was decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signature {
    /// The signer's certificate (DER).
    pub signer_der: Vec<u8>,
    /// Every certificate the signature carries (DER), the signer's among them.
    pub certificates_der: Vec<Vec<u8>>,
}

/// One payload of a profile's `PayloadContent`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Payload {
    /// The keys every payload has ([`COMMON_KEYS`]) that it has, as sent.
    pub common: Dictionary,
    /// The payload's own keys: typed when the schema knows its PayloadType, else as sent.
    pub body: AnyPayload,
    /// Why a payload of a known type was kept untyped (a key of the wrong type, a missing
    /// required key), for [`AnyPayload::Unknown`] bodies.
    pub untyped_reason: Option<String>,
    /// The order of the keys as read, so that encoding keeps it.
    order: Vec<String>,
}

fn string<'a>(d: &'a Dictionary, key: &str) -> Option<&'a str> {
    d.get(key).and_then(Value::as_string)
}

impl Payload {
    /// A payload of a generated type with its identifier and UUID (`PayloadVersion` 1).
    ///
    /// ```
    /// use mdm_profiles::{Payload, PayloadBody, prelude::WifiManaged};
    /// let mut wifi = WifiManaged::new();
    /// wifi.ssid_str = Some("Office".into());
    /// let p = Payload::new("org.example.wifi", "7A3B3C4D-0000-4000-8000-000000000001", wifi);
    /// assert_eq!(p.payload_type(), Some("com.apple.wifi.managed"));
    /// assert_eq!(p.typed::<WifiManaged>().and_then(|w| w.ssid_str.as_deref()), Some("Office"));
    /// ```
    pub fn new<T: PayloadBody>(
        identifier: impl Into<String>,
        uuid: impl Into<String>,
        body: T,
    ) -> Self {
        let mut common = Dictionary::new();
        common.insert("PayloadType".into(), Value::String(T::PAYLOAD_TYPE.into()));
        common.insert("PayloadVersion".into(), Value::Integer(1.into()));
        common.insert("PayloadIdentifier".into(), Value::String(identifier.into()));
        common.insert("PayloadUUID".into(), Value::String(uuid.into()));
        Payload {
            common,
            body: body.into(),
            untyped_reason: None,
            order: Vec::new(),
        }
    }

    /// Reads a payload dictionary; never fails (see the module documentation).
    pub fn from_dictionary(dict: Dictionary) -> Self {
        let order: Vec<String> = dict.keys().cloned().collect();
        let mut common = Dictionary::new();
        let mut rest = Dictionary::new();
        for (k, v) in dict {
            if COMMON_KEYS.contains(&k.as_str()) {
                common.insert(k, v);
            } else {
                rest.insert(k, v);
            }
        }
        let payload_type = string(&common, "PayloadType")
            .unwrap_or_default()
            .to_owned();
        let (body, untyped_reason) =
            match decode_payload(&payload_type, Value::Dictionary(rest.clone()), "") {
                None => (AnyPayload::Unknown(rest), None),
                Some(Err(e)) => (AnyPayload::Unknown(rest), Some(e.to_string())),
                // The typed form must give back exactly what was read; else keep it as sent.
                Some(Ok(typed)) => match typed.to_value() {
                    Value::Dictionary(d) if d == rest => (typed, None),
                    _ => (
                        AnyPayload::Unknown(rest),
                        Some("the typed form would not encode back identically".to_owned()),
                    ),
                },
            };
        Payload {
            common,
            body,
            untyped_reason,
            order,
        }
    }

    /// `PayloadType`.
    pub fn payload_type(&self) -> Option<&str> {
        string(&self.common, "PayloadType")
    }

    /// `PayloadIdentifier`.
    pub fn identifier(&self) -> Option<&str> {
        string(&self.common, "PayloadIdentifier")
    }

    /// `PayloadUUID`.
    pub fn uuid(&self) -> Option<&str> {
        string(&self.common, "PayloadUUID")
    }

    /// `PayloadDisplayName`.
    pub fn display_name(&self) -> Option<&str> {
        string(&self.common, "PayloadDisplayName")
    }

    /// The body as a generated type, when it is one.
    pub fn typed<T: PayloadBody>(&self) -> Option<&T> {
        T::from_any(&self.body)
    }

    /// The payload as a dictionary: the common keys and the body's, in the order read.
    pub fn to_dictionary(&self) -> Dictionary {
        let mut all = self.common.clone();
        if let Value::Dictionary(d) = self.body.to_value() {
            for (k, v) in d {
                all.insert(k, v);
            }
        }
        reorder(all, &self.order)
    }
}

/// `dict` with the keys named in `order` first, in that order, then the others.
fn reorder(mut dict: Dictionary, order: &[String]) -> Dictionary {
    if order.is_empty() {
        return dict;
    }
    let mut out = Dictionary::new();
    for k in order {
        if let Some(v) = dict.remove(k) {
            out.insert(k.clone(), v);
        }
    }
    for (k, v) in dict {
        out.insert(k, v);
    }
    out
}

/// A configuration profile.
///
/// ```
/// use mdm_profiles::{Profile, Payload, prelude::WifiManaged};
/// let mut wifi = WifiManaged::new();
/// wifi.ssid_str = Some("Office".into());
/// let profile = Profile::new("org.example.profile", "7A3B3C4D-0000-4000-8000-000000000000")
///     .with_payload(Payload::new("org.example.wifi", "7A3B3C4D-0000-4000-8000-000000000001", wifi));
/// let bytes = profile.encode()?;
/// let back = Profile::decode(&bytes)?;
/// assert_eq!(back.to_dictionary(), profile.to_dictionary());
/// assert!(back.payloads[0].typed::<WifiManaged>().is_some());
/// # Ok::<(), mdm_profiles::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Profile {
    /// The profile's own keys other than `PayloadContent`, as sent.
    pub keys: Dictionary,
    /// `PayloadContent`, when it is a list of dictionaries (else it stays in
    /// [`Profile::keys`], as sent, for the linter to report).
    pub payloads: Vec<Payload>,
    /// Where `PayloadContent` was among the keys (`None`: absent or kept in `keys`).
    content_at: Option<usize>,
    /// The plist format it was read in (XML for a new profile).
    pub format: Format,
    /// The verified signature of a CMS-signed profile.
    pub signature: Option<Signature>,
}

impl Profile {
    /// A profile with its required keys (`PayloadType` `Configuration`, `PayloadVersion`
    /// 1) and no payloads.
    pub fn new(identifier: impl Into<String>, uuid: impl Into<String>) -> Self {
        let mut keys = Dictionary::new();
        keys.insert("PayloadType".into(), Value::String(CONFIGURATION.into()));
        keys.insert("PayloadVersion".into(), Value::Integer(1.into()));
        keys.insert("PayloadIdentifier".into(), Value::String(identifier.into()));
        keys.insert("PayloadUUID".into(), Value::String(uuid.into()));
        Profile {
            keys,
            payloads: Vec::new(),
            content_at: Some(4),
            format: Format::Xml,
            signature: None,
        }
    }

    /// Adds a payload.
    pub fn with_payload(mut self, payload: Payload) -> Self {
        self.payloads.push(payload);
        self
    }

    /// Decodes a profile: an XML or binary plist, or a CMS SignedData (DER or BER) that
    /// holds one, whose signature is verified with the signer certificate it carries (trust
    /// in that certificate is the caller's decision: see [`Profile::signature`]).
    ///
    /// # Errors
    /// [`Error::NotAPlist`], [`Error::NotADictionary`] or [`Error::BrokenSignature`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.first() == Some(&0x30) {
            let (content, signature) = open_signed(bytes)?;
            let mut p = Self::decode_plist(&content)?;
            p.signature = Some(signature);
            return Ok(p);
        }
        Self::decode_plist(bytes)
    }

    fn decode_plist(bytes: &[u8]) -> Result<Self> {
        let format = mdm_proto::body::sniff_format(bytes).map_err(Error::NotAPlist)?;
        match mdm_proto::parse_value(bytes, &LIMITS).map_err(Error::NotAPlist)? {
            Value::Dictionary(d) => {
                let mut p = Self::from_dictionary(d);
                p.format = format;
                Ok(p)
            }
            other => Err(Error::NotADictionary {
                found: kind_of(&other),
            }),
        }
    }

    /// Reads a profile from its dictionary; never fails: what is wrong in it is for the
    /// linter to say.
    pub fn from_dictionary(dict: Dictionary) -> Self {
        let mut keys = Dictionary::new();
        let mut payloads = Vec::new();
        let mut content_at = None;
        for (i, (k, v)) in dict.into_iter().enumerate() {
            if k == "PayloadContent"
                && let Value::Array(items) = &v
                && items.iter().all(|x| matches!(x, Value::Dictionary(_)))
            {
                content_at = Some(i);
                if let Value::Array(items) = v {
                    payloads = items
                        .into_iter()
                        .filter_map(|x| match x {
                            Value::Dictionary(d) => Some(Payload::from_dictionary(d)),
                            _ => None,
                        })
                        .collect();
                }
                continue;
            }
            keys.insert(k, v);
        }
        Profile {
            keys,
            payloads,
            content_at,
            format: Format::Xml,
            signature: None,
        }
    }

    /// True when `PayloadContent` is a list of dictionaries (read into
    /// [`Profile::payloads`]), or the profile was built with [`Profile::new`].
    pub fn has_content(&self) -> bool {
        self.content_at.is_some()
    }

    /// `PayloadIdentifier`.
    pub fn identifier(&self) -> Option<&str> {
        string(&self.keys, "PayloadIdentifier")
    }

    /// `PayloadUUID`.
    pub fn uuid(&self) -> Option<&str> {
        string(&self.keys, "PayloadUUID")
    }

    /// `PayloadDisplayName`.
    pub fn display_name(&self) -> Option<&str> {
        string(&self.keys, "PayloadDisplayName")
    }

    /// The payloads of one generated type.
    pub fn payloads_of<T: PayloadBody + 'static>(&self) -> impl Iterator<Item = &T> {
        self.payloads.iter().filter_map(Payload::typed::<T>)
    }

    /// The profile as a dictionary, keys in the order read.
    pub fn to_dictionary(&self) -> Dictionary {
        let content = Value::Array(
            self.payloads
                .iter()
                .map(|p| Value::Dictionary(p.to_dictionary()))
                .collect(),
        );
        let mut out = Dictionary::new();
        let mut placed = false;
        for (i, (k, v)) in self.keys.iter().enumerate() {
            if self.content_at == Some(i) {
                out.insert("PayloadContent".into(), content.clone());
                placed = true;
            }
            out.insert(k.clone(), v.clone());
        }
        let added = self.content_at.is_none()
            && !self.payloads.is_empty()
            && !self.keys.contains_key("PayloadContent");
        if !placed && (self.content_at.is_some() || added) {
            out.insert("PayloadContent".into(), content);
        }
        out
    }

    /// Encodes the profile as an XML plist (unsigned).
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_as(Format::Xml)
    }

    /// Encodes the profile as an XML or binary plist (unsigned).
    pub fn encode_as(&self, format: Format) -> Result<Vec<u8>> {
        let value = Value::Dictionary(self.to_dictionary());
        match format {
            Format::Binary => mdm_proto::to_binary(&value),
            _ => mdm_proto::to_xml(&value),
        }
        .map_err(Error::Encode)
    }
}

impl Profile {
    /// Encodes the profile (XML) and signs it: a CMS SignedData (DER) that holds the
    /// profile, signed with SHA-256 by `cert` and `key`, carrying `cert` and `chain` (the
    /// intermediates a device needs to reach its trusted root), as `openssl cms -sign
    /// -nodetach -outform DER` writes it. [`Profile::decode`] reads it back.
    ///
    /// ```
    /// use mdm_pki::issue::{IssueOptions, common_name, self_signed};
    /// use mdm_pki::{EcKey, cms::cert_der};
    /// use mdm_profiles::Profile;
    /// let key = EcKey::generate()?;
    /// let now = 1_700_000_000;
    /// let opts = IssueOptions::new(vec![1], now, 86_400);
    /// let cert = self_signed(&key, &common_name("Profile signer"), false, &opts)?;
    /// let profile = Profile::new("org.example.p", "0F4A0000-0000-4000-8000-000000000000");
    /// let signed = profile.sign(&cert, &key, &[])?;
    /// let back = Profile::decode(&signed)?;
    /// assert_eq!(back.to_dictionary(), profile.to_dictionary());
    /// let signature = back.signature.as_ref().expect("signed");
    /// assert_eq!(signature.signer_der, cert_der(&cert)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Encode`], or [`Error::Sign`] for a certificate or key mdm-pki refuses.
    pub fn sign(
        &self,
        cert: &mdm_pki::Certificate,
        key: &dyn mdm_pki::PrivateKey,
        chain: &[&mdm_pki::Certificate],
    ) -> Result<Vec<u8>> {
        let content = self.encode()?;
        let signer = mdm_pki::cms::Signer {
            cert,
            key,
            digest: mdm_pki::DigestAlgorithm::Sha256,
        };
        mdm_pki::cms::sign(&mdm_pki::oids::DATA, &content, false, &signer, &[], chain)
            .map_err(Error::Sign)
    }
}

impl Signature {
    /// Checks that the signer is trusted: a path from its certificate, through the other
    /// certificates the signature carries, to one of `anchors`, every certificate valid at
    /// `now` (Unix seconds). Returns the index of the anchor.
    ///
    /// # Errors
    /// [`Error::Untrusted`] naming why the path failed (or a carried certificate that does
    /// not parse).
    pub fn verify_trust(&self, anchors: &[mdm_pki::Certificate], now: i64) -> Result<usize> {
        let untrusted = |e: mdm_pki::Error| Error::Untrusted {
            reason: e.to_string(),
        };
        let leaf = mdm_pki::parse_certificate(&self.signer_der).map_err(untrusted)?;
        // The path search is bounded (mdm_pki::validate::MAX_CANDIDATES); the carried
        // certificates that do not parse strictly cannot be on it.
        let intermediates: Vec<mdm_pki::Certificate> = self
            .certificates_der
            .iter()
            .filter(|d| **d != self.signer_der)
            .take(mdm_pki::validate::MAX_CANDIDATES)
            .filter_map(|d| mdm_pki::parse_certificate(d).ok())
            .collect();
        mdm_pki::validate::validate_path(
            &leaf,
            &intermediates,
            anchors,
            &mdm_pki::validate::Validation::at(now),
        )
        .map(|p| p.anchor)
        .map_err(untrusted)
    }
}

fn broken(reason: impl Into<String>) -> Error {
    Error::BrokenSignature {
        reason: reason.into(),
    }
}

/// The content of a CMS SignedData and its verified signer.
fn open_signed(bytes: &[u8]) -> Result<(Vec<u8>, Signature)> {
    let sd = mdm_pki::cms::SignedData::parse(bytes).map_err(|e| broken(e.to_string()))?;
    let content = sd
        .content
        .clone()
        .ok_or_else(|| broken("the signature is detached: it holds no profile"))?;
    if sd.signers.is_empty() {
        return Err(broken("it has no signer"));
    }
    let (_, signer_der) = sd
        .signer_certificate(0)
        .ok_or_else(|| broken("the signer's certificate is not in the signature"))?;
    let signer_der = signer_der.to_vec();
    sd.verify(0, &signer_der, None)
        .map_err(|e| broken(format!("it does not verify: {e}")))?;
    Ok((
        content,
        Signature {
            signer_der,
            certificates_der: sd.certificates_der.clone(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_input_gets_typed_errors() {
        assert!(matches!(
            Profile::decode(b"hello"),
            Err(Error::NotAPlist(_))
        ));
        assert!(matches!(
            Profile::decode(b"<plist><array/></plist>"),
            Err(Error::NotADictionary { .. })
        ));
        assert!(matches!(
            Profile::decode(&[0x30, 0x03, 0x02, 0x01, 0x00]),
            Err(Error::BrokenSignature { .. })
        ));
    }

    #[test]
    fn wrongly_typed_payloads_stay_untyped_and_lossless() {
        let xml = br#"<plist><dict><key>PayloadType</key><string>Configuration</string>
<key>PayloadContent</key><array><dict><key>PayloadType</key><string>com.apple.wifi.managed</string>
<key>AutoJoin</key><string>yes</string></dict></array><key>PayloadUUID</key><string>x</string></dict></plist>"#;
        let p = Profile::decode(xml).unwrap();
        assert!(matches!(p.payloads[0].body, AnyPayload::Unknown(_)));
        assert!(p.payloads[0].untyped_reason.is_some());
        let again = mdm_proto::parse_dictionary(xml, &LIMITS).unwrap();
        assert_eq!(p.to_dictionary(), again);
        let keys: Vec<_> = p.to_dictionary().keys().cloned().collect();
        assert_eq!(keys, ["PayloadType", "PayloadContent", "PayloadUUID"]);
    }
}
