//! Building the HTTP/2 request for one MDM push (sans-I/O).

use std::fmt;

use http::{HeaderValue, Method, Request, Uri};

use crate::Error;

/// Longest device token accepted, in bytes (Apple's are 32 today; the limit leaves room).
pub const MAX_TOKEN_LEN: usize = 128;
/// Longest PushMagic accepted, in bytes (Apple's are a UUID string).
pub const MAX_PUSH_MAGIC_LEN: usize = 512;
/// Longest topic accepted, in bytes.
pub const MAX_TOPIC_LEN: usize = 255;

/// A device's APNs token: the `Token` of its TokenUpdate check-in, sent as hex in the path.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeviceToken {
    bytes: Box<[u8]>,
    hex: Box<str>,
}

impl DeviceToken {
    /// A token from its raw bytes (the `<data>` of a TokenUpdate).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.is_empty() || bytes.len() > MAX_TOKEN_LEN {
            return Err(Error::input(
                "device token",
                format!("{} bytes, expected 1 to {MAX_TOKEN_LEN}", bytes.len()),
            ));
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut hex = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            hex.push(HEX[usize::from(b >> 4)] as char);
            hex.push(HEX[usize::from(b & 15)] as char);
        }
        Ok(DeviceToken {
            bytes: bytes.into(),
            hex: hex.into(),
        })
    }

    /// A token from hex (either case).
    pub fn from_hex(hex: &str) -> Result<Self, Error> {
        let raw = hex.as_bytes();
        if !raw.len().is_multiple_of(2) {
            return Err(Error::input(
                "device token",
                format!("odd number of hex digits ({})", raw.len()),
            ));
        }
        if raw.len() > MAX_TOKEN_LEN * 2 {
            return Err(Error::input(
                "device token",
                format!("{} hex digits, at most {}", raw.len(), MAX_TOKEN_LEN * 2),
            ));
        }
        let mut bytes = Vec::with_capacity(raw.len() / 2);
        for (i, pair) in raw.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]);
            let lo = hex_val(pair[1]);
            match (hi, lo) {
                (Some(h), Some(l)) => bytes.push(h << 4 | l),
                _ => {
                    return Err(Error::input(
                        "device token",
                        format!("not hex at offset {}", i * 2),
                    ));
                }
            }
        }
        Self::from_bytes(&bytes)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Lowercase hex, as used in the request path.
    pub fn as_hex(&self) -> &str {
        &self.hex
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceToken({})", self.hex)
    }
}

impl fmt::Display for DeviceToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.hex)
    }
}

/// The `PushMagic` a device sent in its TokenUpdate: the whole body of an MDM push.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct PushMagic(Box<str>);

impl PushMagic {
    /// Checks that the value is non-empty, bounded and free of control characters.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value: String = value.into();
        if value.is_empty() || value.len() > MAX_PUSH_MAGIC_LEN {
            return Err(Error::input(
                "push magic",
                format!("{} bytes, expected 1 to {MAX_PUSH_MAGIC_LEN}", value.len()),
            ));
        }
        if let Some(pos) = value.chars().position(char::is_control) {
            return Err(Error::input(
                "push magic",
                format!("control character at char {pos}"),
            ));
        }
        Ok(PushMagic(value.into()))
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An `apns-id`: the UUID that names one notification.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ApnsId(pub uuid::Uuid);

impl ApnsId {
    /// A random (v4) identifier.
    pub fn random() -> Self {
        ApnsId(uuid::Uuid::new_v4())
    }

    /// Parses the canonical hyphenated form.
    pub fn parse(s: &str) -> Result<Self, Error> {
        uuid::Uuid::try_parse(s)
            .map(ApnsId)
            .map_err(|e| Error::input("apns-id", e.to_string()))
    }

    /// The header value: uppercase hyphenated, as Apple writes it.
    pub fn to_header_string(&self) -> String {
        let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
        self.0.hyphenated().encode_upper(&mut buf).to_owned()
    }
}

impl fmt::Display for ApnsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_header_string())
    }
}

/// `apns-priority`: 10 sends at once, 5 lets the device's power state decide, 1 is lowest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Priority(u8);

impl Priority {
    /// Send immediately (the default for MDM pushes).
    pub const IMMEDIATE: Priority = Priority(10);
    /// Send with power considerations.
    pub const POWER_CONSIDERATE: Priority = Priority(5);
    /// Lowest priority.
    pub const LOW: Priority = Priority(1);

    /// The numeric value.
    pub fn value(self) -> u8 {
        self.0
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::IMMEDIATE
    }
}

/// Which APNs service to reach.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub enum Endpoint {
    /// `api.push.apple.com:443` (MDM push certificates work here).
    Production,
    /// `api.sandbox.push.apple.com:443`.
    Sandbox,
    /// `api.push.apple.com:2197`, for networks that block 443 outbound.
    ProductionPort2197,
    /// `api.sandbox.push.apple.com:2197`.
    SandboxPort2197,
    /// Any `https://host[:port]` base URL (tests, proxies, a mock).
    Custom(Uri),
}

impl Endpoint {
    /// An endpoint from a base URL such as `https://127.0.0.1:8443`.
    pub fn custom(url: &str) -> Result<Self, Error> {
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| Error::input("endpoint URL", e.to_string()))?;
        if uri.scheme_str() != Some("https") {
            return Err(Error::input("endpoint URL", "scheme must be https"));
        }
        if uri.host().is_none() {
            return Err(Error::input("endpoint URL", "no host"));
        }
        Ok(Endpoint::Custom(uri))
    }

    /// Host name to connect to and to present in TLS SNI.
    pub fn host(&self) -> &str {
        match self {
            Endpoint::Production | Endpoint::ProductionPort2197 => "api.push.apple.com",
            Endpoint::Sandbox | Endpoint::SandboxPort2197 => "api.sandbox.push.apple.com",
            Endpoint::Custom(uri) => uri.host().unwrap_or("localhost"),
        }
    }

    /// TCP port.
    pub fn port(&self) -> u16 {
        match self {
            Endpoint::Production | Endpoint::Sandbox => 443,
            Endpoint::ProductionPort2197 | Endpoint::SandboxPort2197 => 2197,
            Endpoint::Custom(uri) => uri.port_u16().unwrap_or(443),
        }
    }

    /// `host[:port]` for the `:authority` pseudo-header.
    pub fn authority(&self) -> String {
        match self.port() {
            443 => self.host().to_owned(),
            p => format!("{}:{p}", self.host()),
        }
    }
}

/// One MDM push: wake the device (or user channel) that registered `token` and `push_magic`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MdmPush {
    /// The enrollment's device token.
    pub token: DeviceToken,
    /// The enrollment's PushMagic.
    pub push_magic: PushMagic,
    /// `apns-topic`; when `None` the topic of the push certificate is used.
    pub topic: Option<String>,
    /// `apns-priority`.
    pub priority: Priority,
    /// `apns-expiration` in seconds since the Unix epoch (`Some(0)`: deliver once or drop).
    pub expiration: Option<u64>,
    /// `apns-id`; when `None` APNs (or the client) assigns one.
    pub apns_id: Option<ApnsId>,
}

impl MdmPush {
    /// A push with priority 10, no expiration and no explicit topic or id.
    pub fn new(token: DeviceToken, push_magic: PushMagic) -> Self {
        MdmPush {
            token,
            push_magic,
            topic: None,
            priority: Priority::default(),
            expiration: None,
            apns_id: None,
        }
    }

    /// Sets `apns-topic` (required when a client holds several certificates).
    pub fn with_topic(mut self, topic: impl Into<String>) -> Self {
        self.topic = Some(topic.into());
        self
    }

    /// Sets `apns-priority`.
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets `apns-expiration` (seconds since the Unix epoch).
    pub fn with_expiration(mut self, unix_seconds: u64) -> Self {
        self.expiration = Some(unix_seconds);
        self
    }

    /// Sets `apns-id`.
    pub fn with_apns_id(mut self, id: ApnsId) -> Self {
        self.apns_id = Some(id);
        self
    }

    /// The JSON body: `{"mdm":"<PushMagic>"}`.
    pub fn body(&self) -> Vec<u8> {
        let magic = self.push_magic.as_str().as_bytes();
        let mut out = Vec::with_capacity(magic.len() + 12);
        out.extend_from_slice(b"{\"mdm\":\"");
        // A PushMagic holds no control characters (checked by `PushMagic::new`), so JSON
        // needs only `"` and `\` escaped; the rest of the UTF-8 is copied as it is.
        for chunk in magic.split_inclusive(|b| *b == b'"' || *b == b'\\') {
            match chunk.split_last() {
                Some((last @ (b'"' | b'\\'), rest)) => {
                    out.extend_from_slice(rest);
                    out.push(b'\\');
                    out.push(*last);
                }
                _ => out.extend_from_slice(chunk),
            }
        }
        out.extend_from_slice(b"\"}");
        out
    }

    /// The path: `/3/device/<hex token>`.
    pub fn path(&self) -> String {
        format!("/3/device/{}", self.token.as_hex())
    }

    /// Builds the request. `default_topic` (normally the certificate's) is used when the push
    /// names none.
    ///
    /// ```
    /// use apns_client::{DeviceToken, Endpoint, MdmPush, PushMagic};
    /// let push = MdmPush::new(
    ///     DeviceToken::from_hex("00ff").unwrap(),
    ///     PushMagic::new("5C0F5EC4-0B9C-4A1B-9C43-0E7C1D1B2B3A").unwrap(),
    /// )
    /// .with_expiration(0);
    /// let req = push.to_request(&Endpoint::Production, Some("com.apple.mgmt.External.x")).unwrap();
    /// assert_eq!(req.method(), "POST");
    /// assert_eq!(req.uri(), "https://api.push.apple.com/3/device/00ff");
    /// assert_eq!(req.headers()["apns-topic"], "com.apple.mgmt.External.x");
    /// assert_eq!(req.headers()["apns-push-type"], "mdm");
    /// assert_eq!(req.headers()["apns-priority"], "10");
    /// assert_eq!(req.headers()["apns-expiration"], "0");
    /// assert_eq!(req.body(), br#"{"mdm":"5C0F5EC4-0B9C-4A1B-9C43-0E7C1D1B2B3A"}"#);
    /// ```
    pub fn to_request(
        &self,
        endpoint: &Endpoint,
        default_topic: Option<&str>,
    ) -> Result<Request<Vec<u8>>, Error> {
        let topic =
            self.topic.as_deref().or(default_topic).ok_or_else(|| {
                Error::input("topic", "the push names no topic and none is known")
            })?;
        RequestTemplate::new(endpoint, topic)?.request(self, self.apns_id)
    }
}

/// What every push to one endpoint on one topic shares (scheme, authority, `apns-topic`),
/// checked and encoded once, so that building each request costs only its own parts: the
/// client keeps one per topic. [`MdmPush::to_request`] builds one per call.
#[derive(Clone, Debug)]
pub(crate) struct RequestTemplate {
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    topic: HeaderValue,
}

const APNS_TOPIC: http::HeaderName = http::HeaderName::from_static("apns-topic");
const APNS_PUSH_TYPE: http::HeaderName = http::HeaderName::from_static("apns-push-type");
const APNS_PRIORITY: http::HeaderName = http::HeaderName::from_static("apns-priority");
const APNS_EXPIRATION: http::HeaderName = http::HeaderName::from_static("apns-expiration");
const APNS_ID: http::HeaderName = http::HeaderName::from_static("apns-id");

impl RequestTemplate {
    /// Checks the topic and the endpoint's authority.
    pub(crate) fn new(endpoint: &Endpoint, topic: &str) -> Result<Self, Error> {
        if topic.is_empty() || topic.len() > MAX_TOPIC_LEN {
            return Err(Error::input(
                "topic",
                format!("{} bytes, expected 1 to {MAX_TOPIC_LEN}", topic.len()),
            ));
        }
        let topic = HeaderValue::from_str(topic)
            .map_err(|_| Error::input("topic", "not a valid header value"))?;
        let authority = http::uri::Authority::try_from(endpoint.authority())
            .map_err(|e| Error::input("endpoint URL", e.to_string()))?;
        Ok(RequestTemplate {
            scheme: http::uri::Scheme::HTTPS,
            authority,
            topic,
        })
    }

    /// The request for `push` on this template's topic, with `apns_id` if given.
    ///
    /// The `apns-id` value is marked sensitive: HPACK then sends it as a literal that is
    /// never indexed, so that one-off ids do not push the constant headers out of the
    /// connection's header table.
    pub(crate) fn request(
        &self,
        push: &MdmPush,
        apns_id: Option<ApnsId>,
    ) -> Result<Request<Vec<u8>>, Error> {
        let mut path = String::with_capacity(10 + push.token.as_hex().len());
        path.push_str("/3/device/");
        path.push_str(push.token.as_hex());
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(self.authority.clone());
        parts.path_and_query = Some(
            http::uri::PathAndQuery::try_from(path)
                .map_err(|e| Error::input("device token", e.to_string()))?,
        );
        let uri =
            Uri::from_parts(parts).map_err(|e| Error::input("endpoint URL", e.to_string()))?;
        let mut request = Request::new(push.body());
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.reserve(5);
        headers.insert(APNS_TOPIC, self.topic.clone());
        headers.insert(APNS_PUSH_TYPE, HeaderValue::from_static("mdm"));
        let priority = match push.priority.0 {
            10 => HeaderValue::from_static("10"),
            5 => HeaderValue::from_static("5"),
            1 => HeaderValue::from_static("1"),
            other => HeaderValue::from(u16::from(other)),
        };
        headers.insert(APNS_PRIORITY, priority);
        if let Some(exp) = push.expiration {
            headers.insert(APNS_EXPIRATION, HeaderValue::from(exp));
        }
        if let Some(id) = apns_id {
            let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
            let text = id.0.hyphenated().encode_upper(&mut buf);
            let mut value = HeaderValue::from_str(text)
                .map_err(|_| Error::input("apns-id", "not a valid header value"))?;
            value.set_sensitive(true);
            headers.insert(APNS_ID, value);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hex() {
        let t = DeviceToken::from_hex("ABCDEF0123").unwrap();
        assert_eq!(t.as_hex(), "abcdef0123");
        assert_eq!(t.as_bytes(), &[0xab, 0xcd, 0xef, 0x01, 0x23]);
        assert!(DeviceToken::from_hex("abc").is_err());
        assert!(
            DeviceToken::from_hex("zz")
                .unwrap_err()
                .to_string()
                .contains("offset 0")
        );
        assert!(DeviceToken::from_hex("").is_err());
        assert!(DeviceToken::from_hex(&"00".repeat(MAX_TOKEN_LEN + 1)).is_err());
    }

    #[test]
    fn body_escapes() {
        let push = MdmPush::new(
            DeviceToken::from_hex("00").unwrap(),
            PushMagic::new("a\"b\\c").unwrap(),
        );
        assert_eq!(push.body(), br#"{"mdm":"a\"b\\c"}"#);
        for magic in [
            "plain",
            "\"",
            "\\",
            "a\"\"b",
            "\\\"x\\",
            "é/\u{2028}😀",
            "end\\",
        ] {
            let push = MdmPush::new(
                DeviceToken::from_hex("00").unwrap(),
                PushMagic::new(magic).unwrap(),
            );
            let mut want = b"{\"mdm\":".to_vec();
            serde_json::to_writer(&mut want, magic).unwrap();
            want.push(b'}');
            assert_eq!(push.body(), want, "{magic:?}");
        }
        let v: serde_json::Value = serde_json::from_slice(&push.body()).unwrap();
        assert_eq!(v["mdm"], "a\"b\\c");
    }

    #[test]
    fn push_magic_rejects_control() {
        assert!(PushMagic::new("a\nb").is_err());
        assert!(PushMagic::new("").is_err());
    }

    #[test]
    fn headers_and_endpoints() {
        let id = ApnsId::parse("2f0e3b4e-1111-2222-3333-444455556666").unwrap();
        let push = MdmPush::new(
            DeviceToken::from_hex("0102").unwrap(),
            PushMagic::new("m").unwrap(),
        )
        .with_topic("com.apple.mgmt.External.t")
        .with_priority(Priority::POWER_CONSIDERATE)
        .with_apns_id(id);
        let req = push.to_request(&Endpoint::SandboxPort2197, None).unwrap();
        assert_eq!(
            req.uri(),
            "https://api.sandbox.push.apple.com:2197/3/device/0102"
        );
        assert_eq!(req.headers()["apns-priority"], "5");
        assert_eq!(
            req.headers()["apns-id"],
            "2F0E3B4E-1111-2222-3333-444455556666"
        );
        // Never indexed by HPACK: one-off values would churn the header table.
        assert!(req.headers()["apns-id"].is_sensitive());
        assert!(!req.headers()["apns-topic"].is_sensitive());
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.headers().len(), 4);
        assert!(req.headers().get("apns-expiration").is_none());
        let custom = Endpoint::custom("https://127.0.0.1:8443").unwrap();
        let req = push.to_request(&custom, None).unwrap();
        assert_eq!(req.uri(), "https://127.0.0.1:8443/3/device/0102");
        assert!(Endpoint::custom("http://x").is_err());
        let no_topic = MdmPush::new(
            DeviceToken::from_hex("01").unwrap(),
            PushMagic::new("m").unwrap(),
        );
        assert!(matches!(
            no_topic.to_request(&Endpoint::Production, None),
            Err(Error::InvalidInput { what: "topic", .. })
        ));
    }
}
