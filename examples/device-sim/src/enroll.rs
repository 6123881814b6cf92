//! Enrollment as a device does it from an enrollment profile: fetch the profile, read its
//! SCEP and MDM payloads, get an identity certificate by SCEP, then sign every request with
//! it (`Mdm-Signature`) and check in.

use std::sync::Arc;

use mdm_proto::plist::Value;
use mdm_proto::signature::{Certificate, PrivateKey, RsaKey};
use mdm_proto::{EnrollmentProfile, Profile};
use scep_proto::cms::{CertParts, SignedData};

use crate::{Endpoints, Error, RequestSigner};

/// `PayloadType` of the SCEP payload.
pub const SCEP_PAYLOAD: &str = "com.apple.security.scep";
/// `PayloadType` of the MDM payload.
pub const MDM_PAYLOAD: &str = "com.apple.mdm";
/// `PayloadType` of a trusted root certificate payload.
pub const ROOT_PAYLOAD: &str = "com.apple.security.root";

/// Largest enrollment profile the device reads, in bytes.
pub const MAX_PROFILE: usize = 1024 * 1024;

/// How a simulated device enrolls.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct EnrollOptions {
    /// Size of the RSA key to generate; `None` takes the profile's `Keysize` (2048 when
    /// absent). 1024 makes tests and large simulations faster.
    pub key_bits: Option<usize>,
    /// A key to use instead of generating one (several simulated devices may share one).
    pub key: Option<Arc<dyn PrivateKey>>,
    /// Fetch the plain profile (`?unsigned=1`) instead of the CMS-signed one.
    pub unsigned_profile: bool,
    /// Sign every request even when the profile's `SignMessage` is false.
    pub always_sign: bool,
    /// The current time (Unix seconds) for the temporary SCEP signer certificate; `None`
    /// reads the clock.
    pub now: Option<i64>,
    /// The enrollment token sent with the profile request (`/mdm/enroll?token=...`), as
    /// the enrollment link an administrator sends carries it.
    pub token: Option<String>,
    /// The HTTP client (a CA file for a server with its own certificate; one shared by
    /// many devices); `None` takes the default one (system roots).
    pub http: Option<crate::http::Client>,
}

impl EnrollOptions {
    /// Generate keys of `bits` bits whatever the profile asks.
    pub fn with_key_bits(mut self, bits: usize) -> Self {
        self.key_bits = Some(bits);
        self
    }

    /// Use this key instead of generating one.
    pub fn with_key(mut self, key: Arc<dyn PrivateKey>) -> Self {
        self.key = Some(key);
        self
    }

    /// Fetch the unsigned profile.
    pub fn with_unsigned_profile(mut self, unsigned: bool) -> Self {
        self.unsigned_profile = unsigned;
        self
    }

    /// Talk HTTP through this client (see [`crate::http::Client`]).
    pub fn with_http_client(mut self, client: crate::http::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Fetch the profile with this enrollment token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Sign every request, whatever `SignMessage` says.
    pub fn with_always_sign(mut self, always: bool) -> Self {
        self.always_sign = always;
        self
    }
}

/// What a device takes out of an enrollment profile.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ProfileFacts {
    /// The profile as decoded (after the signature was taken off).
    pub profile: Profile,
    /// `ServerURL`, `CheckInURL` (the ServerURL when absent) and `Topic`.
    pub endpoints: Endpoints,
    /// `SignMessage` of the MDM payload (false when absent).
    pub sign_message: bool,
    /// `IdentityCertificateUUID` of the MDM payload.
    pub identity_certificate_uuid: Option<String>,
    /// `URL` of the SCEP payload.
    pub scep_url: String,
    /// `Challenge` of the SCEP payload.
    pub scep_challenge: Option<String>,
    /// `Subject` of the SCEP payload, as (attribute, value) pairs such as `("CN", "x")`.
    pub scep_subject: Vec<(String, String)>,
    /// `Keysize` of the SCEP payload, when the profile gives one.
    pub scep_key_size: Option<i64>,
    /// DER certificates of the `com.apple.security.root` payloads.
    pub trusted_ca_der: Vec<Vec<u8>>,
    /// DER certificate that signed the profile, when it was signed.
    pub signer_der: Option<Vec<u8>>,
}

fn profile_error(reason: impl Into<String>) -> Error {
    Error::Profile(reason.into())
}

/// Takes the plist out of a CMS-signed profile, checking the signature with the certificate
/// the SignedData carries. Returns the content and the signer's certificate.
pub fn unwrap_signed_profile(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let sd = SignedData::parse(der)
        .map_err(|e| profile_error(format!("the signed profile is not SignedData: {e}")))?;
    let content = sd
        .content
        .clone()
        .ok_or_else(|| profile_error("the signed profile has no content"))?;
    let (_, signer_der) = sd
        .signer_certificate(0)
        .ok_or_else(|| profile_error("the signed profile does not carry its signer certificate"))?;
    let signer_der = signer_der.to_vec();
    sd.verify(0, &signer_der, None)
        .map_err(|e| profile_error(format!("the profile signature does not verify: {e}")))?;
    Ok((content, signer_der))
}

/// Reads an enrollment profile: CMS-signed (DER) or a plain plist.
pub fn read_enrollment_profile(bytes: &[u8]) -> Result<ProfileFacts, Error> {
    if bytes.len() > MAX_PROFILE {
        return Err(profile_error(format!(
            "the profile is {} bytes, more than the {MAX_PROFILE} accepted",
            bytes.len()
        )));
    }
    let (plist, signer_der) = if bytes.first() == Some(&0x30) {
        let (content, signer) = unwrap_signed_profile(bytes)?;
        (content, Some(signer))
    } else {
        (bytes.to_vec(), None)
    };
    let profile = Profile::decode(&plist).map_err(|source| Error::Protocol {
        what: "enrollment profile",
        source,
    })?;
    let read = EnrollmentProfile::from_profile(&profile).map_err(|source| Error::Protocol {
        what: "enrollment profile",
        source,
    })?;
    let identity_certificate_uuid = profile
        .payload(MDM_PAYLOAD)
        .and_then(|mdm| mdm.keys.get("IdentityCertificateUUID"))
        .and_then(Value::as_string)
        .map(str::to_owned);
    let scep_key_size = profile
        .content
        .iter()
        .find(|p| p.uuid == read.uuids[1])
        .and_then(|p| p.keys.get("PayloadContent"))
        .and_then(Value::as_dictionary)
        .is_some_and(|keys| keys.contains_key("Keysize"))
        .then_some(read.scep_key_size);
    let trusted_ca_der = profile
        .content
        .iter()
        .filter(|p| p.payload_type == ROOT_PAYLOAD)
        .filter_map(|p| match p.keys.get("PayloadContent") {
            Some(Value::Data(d)) => Some(d.clone()),
            _ => None,
        })
        .collect();
    Ok(ProfileFacts {
        endpoints: Endpoints {
            checkin_url: read.checkin_url.unwrap_or_else(|| read.server_url.clone()),
            server_url: read.server_url,
            topic: read.topic,
        },
        sign_message: read.sign_message,
        identity_certificate_uuid,
        scep_url: read.scep_url,
        scep_challenge: read.scep_challenge,
        scep_subject: read.scep_subject.unwrap_or_default(),
        scep_key_size,
        trusted_ca_der,
        signer_der,
        profile,
    })
}

impl ProfileFacts {
    /// The DER subject Name to request: the profile's `Subject`, else `CN=<fallback_cn>`.
    /// Attributes other than CN, O, OU, C, L and ST are left out.
    pub fn subject_der(&self, fallback_cn: &str) -> Vec<u8> {
        let known = |k: &str| matches!(k, "CN" | "O" | "OU" | "C" | "L" | "ST");
        let text: Vec<String> = self
            .scep_subject
            .iter()
            .filter(|(k, _)| known(&k.to_ascii_uppercase()))
            // The simple name parser splits on ',' and '/': keep them out of values.
            .map(|(k, v)| format!("{k}={}", v.replace([',', '/', '='], " ")))
            .collect();
        if !text.is_empty()
            && let Ok(der) = scep_proto::issue::name_from_str(&text.join(","))
        {
            return der;
        }
        scep_proto::issue::common_name(fallback_cn)
    }

    /// The key size to generate when the caller does not choose one.
    pub fn key_bits(&self) -> usize {
        self.scep_key_size
            .and_then(|k| usize::try_from(k).ok())
            .filter(|k| (1024..=4096).contains(k))
            .unwrap_or(2048)
    }
}

/// A device identity: the certificate a SCEP CA issued and its key.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The issued certificate.
    pub certificate: Certificate,
    /// Its DER.
    pub certificate_der: Vec<u8>,
    /// The private key.
    pub key: Arc<dyn PrivateKey>,
    /// The CA certificates from GetCACert.
    pub ca_certs: Vec<Certificate>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Generates an RSA key off the async runtime (slow: hundreds of milliseconds for 2048 bits
/// in a release build, far more in debug).
pub async fn generate_key(bits: usize) -> Result<Arc<dyn PrivateKey>, Error> {
    if !(512..=8192).contains(&bits) {
        return Err(Error::Config(format!(
            "a {bits}-bit RSA key is not supported"
        )));
    }
    let key = tokio::task::spawn_blocking(move || RsaKey::generate(bits))
        .await
        .map_err(|e| Error::Config(format!("key generation stopped: {e}")))?
        .map_err(|e| Error::Config(format!("generating a {bits}-bit RSA key: {e}")))?;
    Ok(Arc::new(key))
}

/// Enrolls `key` at the SCEP server `url` (GetCACaps, GetCACert, PKCSReq) with the
/// challenge, for the subject Name `subject_der`.
pub async fn scep_enroll(
    url: &str,
    challenge: Option<&str>,
    subject_der: &[u8],
    key: Arc<dyn PrivateKey>,
    now_secs: Option<i64>,
    http: &crate::http::Client,
) -> Result<Identity, Error> {
    use scep_proto::http_client::{EnrollOptions as ScepOptions, HttpClient, enroll};
    let scep_error = |source| Error::Scep {
        url: url.to_owned(),
        source,
    };
    let client = HttpClient::new(url)
        .map_err(scep_error)?
        .with_reqwest_client(http.reqwest().clone());
    let mut opts = ScepOptions::new(now_secs.unwrap_or_else(now));
    opts.challenge = challenge.map(str::to_owned);
    opts.poll_interval = std::time::Duration::from_millis(200);
    let enrolled = enroll(&client, key.as_ref(), subject_der, &opts)
        .await
        .map_err(scep_error)?;
    let certificate_der = mdm_proto::signature::certificate_der(&enrolled.certificate)
        .map_err(|e| Error::Signature(e.to_string()))?;
    Ok(Identity {
        certificate: enrolled.certificate,
        certificate_der,
        key,
        ca_certs: enrolled.ca_certs,
    })
}

/// Signs request bodies with a device identity (the `Mdm-Signature` header).
#[derive(Debug, Clone)]
pub struct IdentitySigner {
    certificate: Certificate,
    key: Arc<dyn PrivateKey>,
}

impl IdentitySigner {
    /// A signer for this certificate and its key.
    pub fn new(certificate: Certificate, key: Arc<dyn PrivateKey>) -> Self {
        IdentitySigner { certificate, key }
    }

    /// A signer for an identity.
    pub fn from_identity(identity: &Identity) -> Self {
        Self::new(identity.certificate.clone(), Arc::clone(&identity.key))
    }
}

impl RequestSigner for IdentitySigner {
    fn sign(&self, body: &[u8]) -> Result<String, Error> {
        mdm_proto::signature::sign_mdm_signature(body, &self.certificate, self.key.as_ref())
            .map_err(|e| Error::Signature(e.to_string()))
    }
}

/// True if `cert_der` is signed by the key of `issuer_der` (to check an identity against the
/// CA a profile trusts).
pub fn issued_by(cert_der: &[u8], issuer_der: &[u8]) -> bool {
    match (CertParts::parse(cert_der), CertParts::parse(issuer_der)) {
        (Ok(cert), Ok(issuer)) => cert.verify_signed_by(issuer.spki).is_ok(),
        _ => false,
    }
}
