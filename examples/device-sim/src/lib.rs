#![doc = include_str!("../README.md")]

pub mod answer;
pub mod enroll;
pub mod http;
pub mod wake;

pub use ::http::Method;

use std::sync::Arc;

use mdm_proto::plist::{Dictionary, Value};
use mdm_proto::{Data, DictWriter, Limits, parse_dictionary, to_xml};

pub use answer::{DeviceState, InstalledProfile, Outcome};
pub use enroll::{EnrollOptions, Identity, IdentitySigner, ProfileFacts};

/// What can go wrong while simulating a device.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The simulator was configured wrongly.
    #[error("configuration: {0}")]
    Config(String),
    /// No push came for the device within the time it waited ([`wake::PushWaker::wait`]).
    #[error("no push arrived within {0:?}")]
    NoPush(std::time::Duration),
    /// The network failed.
    #[error("network: {0}")]
    Io(#[from] std::io::Error),
    /// HTTP failed below the MDM protocol.
    #[error("http: {0}")]
    Http(String),
    /// The server answered with an unexpected status.
    #[error("{what}: the server answered HTTP {status}")]
    Status {
        /// What the device was doing.
        what: &'static str,
        /// The HTTP status.
        status: u16,
    },
    /// The server sent something the device cannot read.
    #[error("the server sent an unreadable {what}: {source}")]
    Protocol {
        /// What was being read.
        what: &'static str,
        /// Why it could not be read.
        source: mdm_proto::Error,
    },
    /// The enrollment profile lacks something a device needs, or its signature is bad.
    #[error("enrollment profile: {0}")]
    Profile(String),
    /// SCEP enrollment failed.
    #[error("SCEP enrollment at {url}: {source}")]
    Scep {
        /// The SCEP URL.
        url: String,
        /// Why it failed.
        source: scep_proto::Error,
    },
    /// Signing a request body failed.
    #[error("signing a request: {0}")]
    Signature(String),
}

/// Facts a simulated device reports about itself.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeviceInfo {
    /// `UDID`.
    pub udid: String,
    /// `SerialNumber`.
    pub serial_number: String,
    /// `DeviceName`.
    pub device_name: String,
    /// `Model`, such as `MN9H2LL/A`.
    pub model: String,
    /// `ModelName`, such as `iPhone`.
    pub model_name: String,
    /// `ProductName`, such as `iPhone15,2`.
    pub product_name: String,
    /// `OSVersion`.
    pub os_version: String,
    /// `BuildVersion`.
    pub build_version: String,
}

impl DeviceInfo {
    /// An iPhone with a UDID and serial number derived from `n`.
    pub fn iphone(n: u64) -> Self {
        DeviceInfo {
            udid: format!("00008110-{n:016X}"),
            serial_number: format!("SIM{n:09}"),
            device_name: format!("Simulated iPhone {n}"),
            model: "MN9H2LL/A".into(),
            model_name: "iPhone".into(),
            product_name: "iPhone15,2".into(),
            os_version: "18.1".into(),
            build_version: "22B83".into(),
        }
    }

    /// Every `DeviceInformation` query this device can answer.
    pub fn query_responses(&self) -> Dictionary {
        let mut d = DictWriter::new();
        d.put("UDID", &self.udid)
            .put("SerialNumber", &self.serial_number)
            .put("DeviceName", &self.device_name)
            .put("Model", &self.model)
            .put("ModelName", &self.model_name)
            .put("ProductName", &self.product_name)
            .put("OSVersion", &self.os_version)
            .put("BuildVersion", &self.build_version)
            .put("IsSupervised", &false)
            .put("IsMDMLostModeEnabled", &false);
        d.finish()
    }
}

/// How often the device refuses or fails commands, to exercise a server's queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Behaviour {
    /// Answer every n-th new command with `NotNow` (it is acknowledged when sent again).
    pub not_now_every: Option<u32>,
    /// Answer every n-th command with `Error`.
    pub error_every: Option<u32>,
}

/// Signs request bodies the way a device with `SignMessage` does: the value of the
/// `Mdm-Signature` header (base64 of a detached CMS signature by the device identity).
pub trait RequestSigner: Send + Sync + std::fmt::Debug {
    /// The header value for `body`.
    fn sign(&self, body: &[u8]) -> Result<String, Error>;
}

/// Where the device talks to, from its enrollment profile.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoints {
    /// `ServerURL`.
    pub server_url: String,
    /// `CheckInURL` (the ServerURL when absent from the profile).
    pub checkin_url: String,
    /// `Topic`.
    pub topic: String,
}

impl Endpoints {
    /// Endpoints on a server with the usual paths (`/mdm`, `/mdm/checkin`).
    pub fn on(base: &str, topic: &str) -> Self {
        let base = base.trim_end_matches('/');
        Endpoints {
            server_url: format!("{base}/mdm"),
            checkin_url: format!("{base}/mdm/checkin"),
            topic: topic.to_owned(),
        }
    }
}

/// What one connection (device session) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Commands received.
    pub commands: u32,
    /// Commands acknowledged.
    pub acknowledged: u32,
    /// Commands answered NotNow.
    pub not_now: u32,
    /// Commands answered with an error.
    pub errors: u32,
}

/// A simulated device.
#[derive(Debug)]
pub struct Device {
    /// What the device says about itself.
    pub info: DeviceInfo,
    /// Profiles and certificates.
    pub state: DeviceState,
    /// How it misbehaves.
    pub behaviour: Behaviour,
    endpoints: Endpoints,
    connection: http::Connection,
    signer: Option<Arc<dyn RequestSigner>>,
    push_token: [u8; 32],
    push_magic: String,
    seen: u64,
    deferred: Vec<String>,
    /// How long each request to the server took, in order.
    pub timings: Vec<std::time::Duration>,
}

impl Device {
    /// A device that talks to `endpoints`.
    pub fn new(info: DeviceInfo, endpoints: Endpoints) -> Result<Self, Error> {
        let connection = http::Connection::new(&endpoints.server_url)?;
        let mut push_token = [0u8; 32];
        push_token.copy_from_slice(&uuid_bytes_twice());
        Ok(Device {
            info,
            state: DeviceState::default(),
            behaviour: Behaviour::default(),
            endpoints,
            connection,
            signer: None,
            push_token,
            push_magic: uuid::Uuid::new_v4().to_string().to_uppercase(),
            seen: 0,
            deferred: Vec::new(),
            timings: Vec::new(),
        })
    }

    /// Talks to the server through `client` (a CA file for HTTPS, or one client shared
    /// by many devices).
    pub fn with_http_client(mut self, client: http::Client) -> Result<Self, Error> {
        self.connection = http::Connection::with_client(&self.endpoints.server_url, client)?;
        Ok(self)
    }

    /// Signs every request with this signer (the `SignMessage` behaviour).
    pub fn with_signer(mut self, signer: Arc<dyn RequestSigner>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Enrolls as a device installing the server's enrollment profile: fetches
    /// `<base_url>/mdm/enroll`, reads its MDM and SCEP payloads, generates a key (or takes
    /// `options.key`), gets an identity certificate by SCEP, keeps it in
    /// `state.identity_der`, signs every later request with it when the profile sets
    /// `SignMessage` (or `options.always_sign`), then checks in (Authenticate, TokenUpdate).
    pub async fn enroll_from_profile(
        info: DeviceInfo,
        base_url: &str,
        options: &EnrollOptions,
    ) -> Result<Self, Error> {
        let client = match &options.http {
            Some(client) => client.clone(),
            None => http::default_client()?,
        };
        let facts = Self::fetch_profile_on(
            &client,
            base_url,
            options.unsigned_profile,
            options.token.as_deref(),
        )
        .await?;
        let key = match &options.key {
            Some(key) => Arc::clone(key),
            None => {
                enroll::generate_key(options.key_bits.unwrap_or_else(|| facts.key_bits())).await?
            }
        };
        let subject = facts.subject_der(&info.udid);
        let identity = enroll::scep_enroll(
            &facts.scep_url,
            facts.scep_challenge.as_deref(),
            &subject,
            key,
            options.now,
            &client,
        )
        .await?;
        let mut device = Self::with_identity(info, &facts, &identity, options.always_sign)?
            .with_http_client(client)?;
        device.enroll().await?;
        Ok(device)
    }

    /// Fetches and reads the enrollment profile at `<base_url>/mdm/enroll` (signed, or
    /// plain with `unsigned`).
    pub async fn fetch_profile(base_url: &str, unsigned: bool) -> Result<ProfileFacts, Error> {
        Self::fetch_profile_with_token(base_url, unsigned, None).await
    }

    /// Like [`Device::fetch_profile`], sending an enrollment token (`?token=...`), as the
    /// enrollment link of a server that is not open to everyone needs. The token is sent
    /// as given (the server's tokens are hex).
    pub async fn fetch_profile_with_token(
        base_url: &str,
        unsigned: bool,
        token: Option<&str>,
    ) -> Result<ProfileFacts, Error> {
        Self::fetch_profile_on(&http::default_client()?, base_url, unsigned, token).await
    }

    /// Like [`Device::fetch_profile_with_token`], through `client`.
    pub async fn fetch_profile_on(
        client: &http::Client,
        base_url: &str,
        unsigned: bool,
        token: Option<&str>,
    ) -> Result<ProfileFacts, Error> {
        let base = base_url.trim_end_matches('/');
        let mut connection = http::Connection::with_client(base, client.clone())?;
        let mut query = Vec::new();
        if unsigned {
            query.push("unsigned=1".to_owned());
        }
        if let Some(token) = token {
            query.push(format!("token={token}"));
        }
        let url = if query.is_empty() {
            format!("{base}/mdm/enroll")
        } else {
            format!("{base}/mdm/enroll?{}", query.join("&"))
        };
        let answer = connection.send(Method::GET, &url, &[], Vec::new()).await?;
        if answer.status != 200 {
            return Err(Error::Status {
                what: "enrollment profile",
                status: answer.status,
            });
        }
        enroll::read_enrollment_profile(&answer.body)
    }

    /// A device set up from a profile and an identity it already has (no network): the
    /// endpoints and topic of the profile, the identity certificate in `state`, the profile
    /// among the installed ones, and the signer when `SignMessage` (or `always_sign`) asks.
    pub fn with_identity(
        info: DeviceInfo,
        facts: &ProfileFacts,
        identity: &Identity,
        always_sign: bool,
    ) -> Result<Self, Error> {
        let mut device = Device::new(info, facts.endpoints.clone())?;
        device.state.identity_der = Some(identity.certificate_der.clone());
        device.state.profiles.insert(
            0,
            InstalledProfile {
                identifier: facts.profile.identifier.clone(),
                uuid: facts.profile.uuid.clone(),
                display_name: facts.profile.display_name.clone(),
            },
        );
        if facts.sign_message || always_sign {
            device = device.with_signer(Arc::new(IdentitySigner::from_identity(identity)));
        }
        Ok(device)
    }

    /// Where the device talks to.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// True if the device signs its requests.
    pub fn signs_requests(&self) -> bool {
        self.signer.is_some()
    }

    /// The push token, as the server should store it (hex).
    pub fn push_token_hex(&self) -> String {
        hex::encode(self.push_token)
    }

    /// The push magic the device sent.
    pub fn push_magic(&self) -> &str {
        &self.push_magic
    }

    fn identity(&self, d: &mut DictWriter) {
        d.put("UDID", &self.info.udid)
            .put("Topic", &self.endpoints.topic);
    }

    /// The `Authenticate` check-in this device sends.
    pub fn authenticate_message(&self) -> Dictionary {
        let mut d = DictWriter::new();
        d.put("MessageType", &"Authenticate".to_owned());
        self.identity(&mut d);
        d.put("SerialNumber", &self.info.serial_number)
            .put("DeviceName", &self.info.device_name)
            .put("Model", &self.info.model)
            .put("ModelName", &self.info.model_name)
            .put("ProductName", &self.info.product_name)
            .put("OSVersion", &self.info.os_version)
            .put("BuildVersion", &self.info.build_version);
        d.finish()
    }

    /// The `TokenUpdate` check-in this device sends.
    pub fn token_update_message(&self) -> Dictionary {
        let mut d = DictWriter::new();
        d.put("MessageType", &"TokenUpdate".to_owned());
        self.identity(&mut d);
        d.put("Token", &Data(self.push_token.to_vec()))
            .put("PushMagic", &self.push_magic)
            .put("AwaitingConfiguration", &false);
        d.finish()
    }

    /// The `CheckOut` check-in this device sends.
    pub fn check_out_message(&self) -> Dictionary {
        let mut d = DictWriter::new();
        d.put("MessageType", &"CheckOut".to_owned());
        self.identity(&mut d);
        d.finish()
    }

    async fn put(&mut self, url_is_checkin: bool, dict: Dictionary) -> Result<http::Answer, Error> {
        let body = to_xml(&Value::Dictionary(dict)).map_err(|source| Error::Protocol {
            what: "message",
            source,
        })?;
        let mut headers = vec![("content-type", "application/x-apple-aspen-mdm".to_owned())];
        if let Some(signer) = &self.signer {
            headers.push(("mdm-signature", signer.sign(&body)?));
        }
        let url = if url_is_checkin {
            self.endpoints.checkin_url.clone()
        } else {
            self.endpoints.server_url.clone()
        };
        let started = std::time::Instant::now();
        let answer = self
            .connection
            .send(Method::PUT, &url, &headers, body)
            .await;
        self.timings.push(started.elapsed());
        answer
    }

    /// Sends a request of the device's own to the server (for example to an admin API).
    pub async fn request(
        &mut self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<http::Answer, Error> {
        self.connection.send(method, url, headers, body).await
    }

    async fn checkin(
        &mut self,
        what: &'static str,
        dict: Dictionary,
    ) -> Result<http::Answer, Error> {
        let answer = self.put(true, dict).await?;
        if answer.status != 200 {
            return Err(Error::Status {
                what,
                status: answer.status,
            });
        }
        Ok(answer)
    }

    /// Sends Authenticate, then TokenUpdate, as a device does when it installs the profile.
    pub async fn enroll(&mut self) -> Result<(), Error> {
        let message = self.authenticate_message();
        self.checkin("Authenticate", message).await?;
        let message = self.token_update_message();
        self.checkin("TokenUpdate", message).await?;
        Ok(())
    }

    /// Sends CheckOut, as a device does when its enrollment profile is removed.
    pub async fn check_out(&mut self) -> Result<(), Error> {
        let message = self.check_out_message();
        self.checkin("CheckOut", message).await.map(|_| ())
    }

    /// Builds the report for one command plist, applying the device's behaviour.
    pub fn report_for(&mut self, command_plist: &Dictionary) -> Dictionary {
        let uuid = command_plist
            .get("CommandUUID")
            .and_then(Value::as_string)
            .unwrap_or_default()
            .to_owned();
        let command = command_plist
            .get("Command")
            .and_then(Value::as_dictionary)
            .cloned()
            .unwrap_or_default();
        self.seen += 1;
        let every =
            |n: Option<u32>| n.is_some_and(|n| n > 0 && self.seen.is_multiple_of(u64::from(n)));
        let outcome = if every(self.behaviour.not_now_every) && !self.deferred.contains(&uuid) {
            self.deferred.push(uuid.clone());
            Outcome {
                status: "NotNow",
                keys: Dictionary::new(),
            }
        } else if every(self.behaviour.error_every) {
            Outcome::error("MCMDMErrorDomain", 12000, "Simulated failure.")
        } else {
            self.deferred.retain(|u| u != &uuid);
            answer::answer(&self.info, &mut self.state, &command)
        };
        let mut d = DictWriter::new();
        d.put("UDID", &self.info.udid)
            .put("Status", &outcome.status.to_owned())
            .put("CommandUUID", &uuid)
            .extend(&outcome.keys);
        d.finish()
    }

    /// Connects as after a push: reports Idle, answers every command the server sends, until
    /// the server has nothing more (an empty answer) or only commands it deferred are left.
    pub async fn connect(&mut self) -> Result<SessionStats, Error> {
        let mut stats = SessionStats::default();
        let mut idle = DictWriter::new();
        idle.put("UDID", &self.info.udid)
            .put("Status", &"Idle".to_owned());
        let mut next = idle.finish();
        loop {
            let answer = self.put(false, next).await?;
            if answer.status != 200 {
                return Err(Error::Status {
                    what: "command report",
                    status: answer.status,
                });
            }
            if answer.body.is_empty() {
                return Ok(stats);
            }
            let command =
                parse_dictionary(&answer.body, &Limits::MDM).map_err(|source| Error::Protocol {
                    what: "command",
                    source,
                })?;
            stats.commands += 1;
            next = self.report_for(&command);
            match next.get("Status").and_then(Value::as_string) {
                Some("Acknowledged") => stats.acknowledged += 1,
                Some("NotNow") => stats.not_now += 1,
                _ => stats.errors += 1,
            }
            // A device stops asking after a NotNow and waits for the next push.
            if stats.commands > 10_000 {
                return Err(Error::Config(
                    "the server sent more than 10,000 commands in one session".into(),
                ));
            }
        }
    }
}

#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for fuzz targets and the replay test: what the device reads from a server.

    use mdm_proto::{Limits, parse_dictionary};

    /// Reads an enrollment profile (CMS-signed or plain) as `enroll_from_profile` does.
    pub fn enrollment_profile(data: &[u8]) {
        if let Ok(facts) = crate::enroll::read_enrollment_profile(data) {
            let _ = facts.subject_der("fuzz");
            let _ = facts.key_bits();
        }
    }

    /// Answers a command plist as `Device::connect` does.
    pub fn command(data: &[u8]) {
        let Ok(command) = parse_dictionary(data, &Limits::MDM) else {
            return;
        };
        if let Ok(mut device) = crate::Device::new(
            crate::DeviceInfo::iphone(1),
            crate::Endpoints::on("http://127.0.0.1:9", "fuzz"),
        ) {
            let _ = device.report_for(&command);
            // Twice: the second answer depends on the state the first left.
            let _ = device.report_for(&command);
        }
    }
}

fn uuid_bytes_twice() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device::new(
            DeviceInfo::iphone(7),
            Endpoints::on("http://127.0.0.1:9", "topic"),
        )
        .unwrap()
    }

    fn command(uuid: &str, request_type: &str, extra: &[(&str, Value)]) -> Dictionary {
        let mut c = Dictionary::new();
        c.insert("RequestType".into(), Value::String(request_type.into()));
        for (k, v) in extra {
            c.insert((*k).into(), v.clone());
        }
        let mut d = Dictionary::new();
        d.insert("CommandUUID".into(), Value::String(uuid.into()));
        d.insert("Command".into(), Value::Dictionary(c));
        d
    }

    #[test]
    fn device_information_answers_only_the_queries_asked() {
        let mut dev = device();
        let q = Value::Array(vec![
            Value::String("OSVersion".into()),
            Value::String("Nope".into()),
        ]);
        let report = dev.report_for(&command("1", "DeviceInformation", &[("Queries", q)]));
        assert_eq!(
            report.get("Status").unwrap().as_string(),
            Some("Acknowledged")
        );
        let qr = report
            .get("QueryResponses")
            .unwrap()
            .as_dictionary()
            .unwrap();
        assert_eq!(qr.len(), 1);
        assert_eq!(qr.get("OSVersion").unwrap().as_string(), Some("18.1"));
    }

    #[test]
    fn not_now_is_followed_by_acknowledged_on_resend() {
        let mut dev = device();
        dev.behaviour.not_now_every = Some(1);
        let cmd = command("A", "SecurityInfo", &[]);
        let first = dev.report_for(&cmd);
        assert_eq!(first.get("Status").unwrap().as_string(), Some("NotNow"));
        let second = dev.report_for(&cmd);
        assert_eq!(
            second.get("Status").unwrap().as_string(),
            Some("Acknowledged")
        );
    }

    #[test]
    fn unknown_request_types_get_apples_error() {
        let mut dev = device();
        let report = dev.report_for(&command("B", "FutureCommand", &[]));
        assert_eq!(report.get("Status").unwrap().as_string(), Some("Error"));
        let decoded = mdm_proto::CommandReport::from_dictionary(report).unwrap();
        assert_eq!(decoded.error_chain.unwrap()[0].error_code, Some(12021));
    }

    #[test]
    fn install_then_list_then_remove_profile() {
        let mut dev = device();
        let profile = mdm_proto::Profile::new("org.example.wifi", "UUID-1");
        let payload = Value::Data(profile.encode().unwrap());
        let r = dev.report_for(&command("C", "InstallProfile", &[("Payload", payload)]));
        assert_eq!(r.get("Status").unwrap().as_string(), Some("Acknowledged"));
        let r = dev.report_for(&command("D", "ProfileList", &[]));
        assert_eq!(r.get("ProfileList").unwrap().as_array().unwrap().len(), 1);
        let id = Value::String("org.example.wifi".into());
        let r = dev.report_for(&command(
            "E",
            "RemoveProfile",
            &[("Identifier", id.clone())],
        ));
        assert_eq!(r.get("Status").unwrap().as_string(), Some("Acknowledged"));
        let r = dev.report_for(&command("F", "RemoveProfile", &[("Identifier", id)]));
        assert_eq!(r.get("Status").unwrap().as_string(), Some("Error"));
    }
}
