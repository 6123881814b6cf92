//! Builders for the payloads administrators write most: Wi-Fi, passcode, restrictions,
//! SCEP, ACME, certificates and identities, IKEv2 VPN, login window, Platform SSO. Each gives the generated type (set any other key on
//! it directly) and checks what it built against the schema with the linter, so a value
//! outside the allowed set or range is an [`Error::Invalid`] here, not a failed install on
//! the device.
//!
//! ```
//! use mdm_profiles::{Profile, builders, lint};
//! let cert = builders::certificate(vec![0x30, 0x00], "root.cer");
//! let wifi = builders::Wifi::new("Office").wpa2_personal("correct horse").auto_join(true).build()?;
//! let passcode = builders::Passcode::new().min_length(8).alphanumeric().max_failed_attempts(10).build()?;
//! let profile = Profile::new("org.example.base", "0F4A0000-0000-4000-8000-000000000000")
//!     .with_payload(builders::payload("org.example.base.root", "0F4A0000-0000-4000-8000-000000000001", cert))
//!     .with_payload(builders::payload("org.example.base.wifi", "0F4A0000-0000-4000-8000-000000000002", wifi))
//!     .with_payload(builders::payload("org.example.base.passcode", "0F4A0000-0000-4000-8000-000000000003", passcode));
//! assert_eq!(lint(&profile, &["ios:17.0".parse()?]).findings, []);
//! assert!(builders::Passcode::new().max_failed_attempts(20).build().is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::body::PayloadBody;
use crate::error::{Error, Result};
use crate::generated::applicationaccess::Applicationaccess;
use crate::generated::extensiblesso::{
    Extensiblesso, PlatformSso as PlatformSsoSettings, PlatformSsoAuthenticationMethod,
    Type as SsoType,
};
use crate::generated::loginwindow::Loginwindow;
use crate::generated::mobiledevice_passwordpolicy::MobiledevicePasswordpolicy;
use crate::generated::security_acme::{KeyType, SecurityAcme, SubjectAltName};
use crate::generated::security_pkcs1::SecurityPkcs1;
use crate::generated::security_pkcs12::SecurityPkcs12;
use crate::generated::security_scep::{PayloadContent as ScepContent, SecurityScep};
use crate::generated::vpn_managed::{
    CertificateType, IkEv2, IkEv2AuthenticationMethod, VpnManaged, VpnType,
};
use crate::generated::wifi_managed::{EapClientConfiguration, EncryptionType, WifiManaged};
use crate::lint::Severity;
use crate::profile::{Payload, Profile};
use mdm_proto::fields::{Data, FromValue};
use mdm_proto::plist::{Dictionary, Value};

/// A payload of `body` with its identifier and UUID (as [`Payload::new`]).
pub fn payload<T: PayloadBody>(identifier: &str, uuid: &str, body: T) -> Payload {
    Payload::new(identifier, uuid, body)
}

/// Lints `body` alone (no target): its errors, if any, are an [`Error::Invalid`].
fn checked<T: PayloadBody>(body: T) -> Result<T> {
    let probe = Profile::new("builder.check", "00000000-0000-4000-8000-000000000000").with_payload(
        Payload::new(
            "builder.check.payload",
            "00000000-0000-4000-8000-000000000001",
            body.clone(),
        ),
    );
    let findings: Vec<_> = crate::lint(&probe, &[])
        .findings
        .into_iter()
        // References to other payloads resolve in the caller's profile, not here.
        .filter(|f| f.severity == Severity::Error && f.rule.id != "P013")
        .collect();
    match findings.first() {
        None => Ok(body),
        Some(first) => Err(Error::Invalid {
            payload_type: T::PAYLOAD_TYPE,
            reason: format!(
                "{} {} at `{}`: {}",
                first.rule.id,
                first.rule.name,
                first.path.trim_start_matches("PayloadContent[0]."),
                first.message
            ),
            findings,
        }),
    }
}

/// A Wi-Fi payload (`com.apple.wifi.managed`).
#[derive(Debug, Clone)]
pub struct Wifi(WifiManaged);

impl Wifi {
    /// A network by its SSID, open (no encryption) until told otherwise.
    pub fn new(ssid: impl Into<String>) -> Self {
        let mut w = WifiManaged::new();
        w.ssid_str = Some(ssid.into());
        w.encryption_type = Some(EncryptionType::None);
        Wifi(w)
    }

    /// WPA2 Personal with a pre-shared key.
    pub fn wpa2_personal(mut self, password: impl Into<String>) -> Self {
        self.0.encryption_type = Some(EncryptionType::Wpa2);
        self.0.password = Some(password.into());
        self
    }

    /// WPA3 Personal with a pre-shared key.
    pub fn wpa3_personal(mut self, password: impl Into<String>) -> Self {
        self.0.encryption_type = Some(EncryptionType::Wpa3);
        self.0.password = Some(password.into());
        self
    }

    /// WPA2 Enterprise with EAP-TLS (EAP type 13), authenticating with the identity of the
    /// payload `identity_uuid` names (a PKCS#12 or SCEP payload of the same profile).
    pub fn eap_tls(mut self, identity_uuid: impl Into<String>) -> Self {
        self.0.encryption_type = Some(EncryptionType::Wpa2);
        self.0.password = None;
        self.0.eap_client_configuration = Some(EapClientConfiguration::new(vec![13]));
        self.0.payload_certificate_uuid = Some(identity_uuid.into());
        self
    }

    /// Joins the network automatically (or not).
    pub fn auto_join(mut self, auto_join: bool) -> Self {
        self.0.auto_join = Some(auto_join);
        self
    }

    /// The network does not broadcast its SSID.
    pub fn hidden(mut self, hidden: bool) -> Self {
        self.0.hidden_network = Some(hidden);
        self
    }

    /// The payload body, checked against the schema.
    ///
    /// # Errors
    /// [`Error::Invalid`].
    pub fn build(self) -> Result<WifiManaged> {
        checked(self.0)
    }
}

/// A passcode policy (`com.apple.mobiledevice.passwordpolicy`).
#[derive(Debug, Clone, Default)]
pub struct Passcode(MobiledevicePasswordpolicy);

impl Passcode {
    /// A policy that requires a passcode (`forcePIN`) and nothing else.
    pub fn new() -> Self {
        let mut p = MobiledevicePasswordpolicy::new();
        p.force_pin = Some(true);
        Passcode(p)
    }

    /// The fewest characters (schema: 0 to 16).
    pub fn min_length(mut self, n: i64) -> Self {
        self.0.min_length = Some(n);
        self
    }

    /// Requires letters and digits.
    pub fn alphanumeric(mut self) -> Self {
        self.0.require_alphanumeric = Some(true);
        self
    }

    /// Refuses simple passcodes (`1234`, `aaaa`).
    pub fn no_simple(mut self) -> Self {
        self.0.allow_simple = Some(false);
        self
    }

    /// Failed attempts before the device is erased or locked (schema: 2 to 11).
    pub fn max_failed_attempts(mut self, n: i64) -> Self {
        self.0.max_failed_attempts = Some(n);
        self
    }

    /// Minutes of inactivity before the device locks (schema: 0 to 15 on iOS).
    pub fn max_inactivity_minutes(mut self, n: i64) -> Self {
        self.0.max_inactivity = Some(n);
        self
    }

    /// Days before the passcode must change (schema: 0 to 730).
    pub fn max_age_days(mut self, n: i64) -> Self {
        self.0.max_pin_age_in_days = Some(n);
        self
    }

    /// Earlier passcodes that cannot be reused (schema: 1 to 50).
    pub fn history(mut self, n: i64) -> Self {
        self.0.pin_history = Some(n);
        self
    }

    /// The payload body, checked against the schema (ranges included).
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the key out of range.
    pub fn build(self) -> Result<MobiledevicePasswordpolicy> {
        checked(self.0)
    }
}

/// Restrictions (`com.apple.applicationaccess`), by the schema's key names.
#[derive(Debug, Clone, Default)]
pub struct Restrictions(Dictionary);

impl Restrictions {
    /// No restriction set.
    pub fn new() -> Self {
        Restrictions(Dictionary::new())
    }

    /// Sets an `allow…` key (`allowCamera`, `allowAppInstallation`…) to `allowed`.
    pub fn allow(mut self, key: &str, allowed: bool) -> Self {
        self.0.insert(key.to_owned(), Value::Boolean(allowed));
        self
    }

    /// Sets an `allow…` key to false.
    pub fn deny(self, key: &str) -> Self {
        self.allow(key, false)
    }

    /// Sets any key of the payload (`forceEncryptedBackup`, `ratingApps`…).
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    /// The payload body, checked against the schema: a key it does not have (a typo) or a
    /// value of the wrong type is an error here, where a device would ignore the key.
    ///
    /// # Errors
    /// [`Error::Invalid`].
    pub fn build(self) -> Result<Applicationaccess> {
        let spec = Applicationaccess::spec();
        let invalid = |reason: String| Error::Invalid {
            payload_type: Applicationaccess::PAYLOAD_TYPE,
            reason,
            findings: Vec::new(),
        };
        if let Some(key) = self.0.keys().find(|k| spec.key(k).is_none()) {
            return Err(invalid(format!(
                "`{key}` is not a restrictions key{}",
                crate::lint::keys::suggestion(key, spec.keys.iter().map(|k| k.key))
            )));
        }
        let body = Applicationaccess::from_value(Value::Dictionary(self.0), "")
            .map_err(|e| invalid(e.to_string()))?;
        checked(body)
    }
}

/// A SCEP payload (`com.apple.security.scep`): the device gets an identity from a SCEP
/// server (such as scep-proto's).
#[derive(Debug, Clone)]
pub struct Scep(ScepContent);

impl Scep {
    /// Enrollment at `url`, a 2048-bit RSA key for signing and encryption.
    pub fn new(url: impl Into<String>) -> Self {
        let mut c = ScepContent::new(url.into());
        c.keysize = Some(2048);
        c.key_type = Some("RSA".to_owned());
        c.key_usage = Some(5);
        Scep(c)
    }

    /// The CA's name (`Name`: some servers serve several CAs).
    pub fn ca_name(mut self, name: impl Into<String>) -> Self {
        self.0.name = Some(name.into());
        self
    }

    /// The subject as `(attribute, value)` pairs in order (`("O", "Example")`,
    /// `("CN", "device")`), one RDN each.
    pub fn subject(mut self, parts: &[(&str, &str)]) -> Self {
        self.0.subject = Some(
            parts
                .iter()
                .map(|(k, v)| vec![vec![(*k).to_owned(), (*v).to_owned()]])
                .collect(),
        );
        self
    }

    /// The challenge password the server expects.
    pub fn challenge(mut self, challenge: impl Into<String>) -> Self {
        self.0.challenge = Some(challenge.into());
        self
    }

    /// The key size in bits (schema: 1024, 2048 or 4096).
    pub fn key_size(mut self, bits: i64) -> Self {
        self.0.keysize = Some(bits);
        self
    }

    /// The key usage: signing (1), encryption (4), or both (5).
    pub fn key_usage(mut self, signing: bool, encryption: bool) -> Self {
        self.0.key_usage = Some(i64::from(signing) | (i64::from(encryption) << 2));
        self
    }

    /// The CA certificate's fingerprint (SHA-256 or SHA-1 of its DER), which the device
    /// checks the CA it is given against.
    pub fn ca_fingerprint(mut self, fingerprint: Vec<u8>) -> Self {
        self.0.ca_fingerprint = Some(Data(fingerprint));
        self
    }

    /// A DNS name in the subjectAltName.
    pub fn dns_name(mut self, name: impl Into<String>) -> Self {
        let mut san = self.0.subject_alt_name.take().unwrap_or_default();
        san.d_ns_name = Some(name.into());
        self.0.subject_alt_name = Some(san);
        self
    }

    /// The payload body, checked against the schema.
    ///
    /// # Errors
    /// [`Error::Invalid`] (a key size the schema does not allow).
    pub fn build(self) -> Result<SecurityScep> {
        checked(SecurityScep::new(self.0))
    }
}

/// A certificate payload (`com.apple.security.pkcs1`) of a DER certificate: a root or
/// intermediate for the device to trust, or one other payloads name by UUID.
pub fn certificate(der: Vec<u8>, file_name: impl Into<String>) -> SecurityPkcs1 {
    let mut c = SecurityPkcs1::new(Data(der));
    c.payload_certificate_file_name = Some(file_name.into());
    c
}

/// An identity payload (`com.apple.security.pkcs12`): a PKCS#12 file and its password.
pub fn identity(pkcs12: Vec<u8>, password: impl Into<String>) -> SecurityPkcs12 {
    let mut c = SecurityPkcs12::new(Data(pkcs12));
    c.password = Some(password.into());
    c
}

/// An IKEv2 VPN payload (`com.apple.vpn.managed`, `VPNType` `IKEv2`).
///
/// ```
/// use mdm_profiles::builders::Ikev2Vpn;
/// let vpn = Ikev2Vpn::new("Office VPN", "vpn.example.com", "vpn.example.com", "client@example.com")
///     .shared_secret("s3cret")
///     .build()?;
/// assert_eq!(vpn.ik_ev2.as_ref().map(|i| i.remote_address.as_str()), Some("vpn.example.com"));
/// # Ok::<(), mdm_profiles::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Ikev2Vpn(VpnManaged);

impl Ikev2Vpn {
    /// A connection named `name` to `remote_address`, with the identifiers both ends use;
    /// no authentication until told ([`Ikev2Vpn::shared_secret`], [`Ikev2Vpn::certificate`]).
    pub fn new(
        name: impl Into<String>,
        remote_address: impl Into<String>,
        remote_identifier: impl Into<String>,
        local_identifier: impl Into<String>,
    ) -> Self {
        let mut vpn = VpnManaged::new(VpnType::IkEv2, name.into());
        vpn.ik_ev2 = Some(IkEv2::new(
            remote_address.into(),
            local_identifier.into(),
            remote_identifier.into(),
            IkEv2AuthenticationMethod::None,
        ));
        Ikev2Vpn(vpn)
    }

    fn ike(&mut self) -> &mut IkEv2 {
        self.0.ik_ev2.get_or_insert_with(|| {
            IkEv2::new(
                String::new(),
                String::new(),
                String::new(),
                IkEv2AuthenticationMethod::None,
            )
        })
    }

    /// Authenticates with a pre-shared key.
    pub fn shared_secret(mut self, secret: impl Into<String>) -> Self {
        let ike = self.ike();
        ike.authentication_method = IkEv2AuthenticationMethod::SharedSecret;
        ike.shared_secret = Some(secret.into());
        self
    }

    /// Authenticates with the identity in the payload whose `PayloadUUID` is
    /// `identity_uuid` (a PKCS#12, SCEP or ACME payload of the same profile).
    pub fn certificate(mut self, identity_uuid: impl Into<String>, kind: CertificateType) -> Self {
        let ike = self.ike();
        ike.authentication_method = IkEv2AuthenticationMethod::Certificate;
        ike.payload_certificate_uuid = Some(identity_uuid.into());
        ike.certificate_type = Some(kind);
        self
    }

    /// Adds EAP user authentication (`ExtendedAuthEnabled`, `AuthName`, `AuthPassword`).
    pub fn eap(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        let ike = self.ike();
        ike.extended_auth_enabled = Some(1);
        ike.auth_name = Some(user.into());
        ike.auth_password = Some(password.into());
        self
    }

    /// Connects on demand (`OnDemandEnabled`), with no rules: set `ik_ev2.on_demand_rules`
    /// on the built value for them.
    pub fn on_demand(mut self, enabled: bool) -> Self {
        self.ike().on_demand_enabled = Some(i64::from(enabled));
        self
    }

    /// The payload, checked against the schema.
    pub fn build(self) -> Result<VpnManaged> {
        checked(self.0)
    }
}

/// An ACME payload (`com.apple.security.acme`): a certificate from an ACME server, with a
/// hardware-bound P-384 key unless told otherwise.
///
/// ```
/// use mdm_profiles::builders::Acme;
/// let acme = Acme::new("https://acme.example.com/directory", "client-7")
///     .subject(&[("CN", "device-7")])
///     .dns_name("device-7.example.com")
///     .attest(true)
///     .build()?;
/// assert!(acme.hardware_bound);
/// # Ok::<(), mdm_profiles::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Acme(SecurityAcme);

impl Acme {
    /// A request to the server at `directory_url`, identified by `client_identifier` (the
    /// server's one-time order identifier).
    pub fn new(directory_url: impl Into<String>, client_identifier: impl Into<String>) -> Self {
        Acme(SecurityAcme::new(
            directory_url.into(),
            client_identifier.into(),
            384,
            KeyType::EcsecPrimeRandom,
            true,
            Vec::new(),
        ))
    }

    /// Starts from an existing payload (to check it with [`Acme::build`]).
    pub fn from_payload(payload: SecurityAcme) -> Self {
        Acme(payload)
    }

    /// The subject, as `(attribute, value)` pairs such as `("CN", "device-7")`.
    pub fn subject(mut self, parts: &[(&str, &str)]) -> Self {
        self.0.subject = parts
            .iter()
            .map(|(k, v)| vec![vec![(*k).to_owned(), (*v).to_owned()]])
            .collect();
        self
    }

    /// A software RSA key of `bits` instead (not hardware-bound: RSA keys cannot be).
    pub fn rsa(mut self, bits: i64) -> Self {
        self.0.key_type = KeyType::Rsa;
        self.0.key_size = bits;
        self.0.hardware_bound = false;
        self
    }

    /// A hardware-bound P-256 key instead of P-384.
    pub fn p256(mut self) -> Self {
        self.0.key_type = KeyType::EcsecPrimeRandom;
        self.0.key_size = 256;
        self
    }

    /// A DNS name in the subject alternative name.
    pub fn dns_name(mut self, name: impl Into<String>) -> Self {
        self.0
            .subject_alt_name
            .get_or_insert_with(SubjectAltName::new)
            .d_ns_name = Some(name.into());
        self
    }

    /// Whether the device attests the key and itself to the server (`Attest`).
    pub fn attest(mut self, attest: bool) -> Self {
        self.0.attest = Some(attest);
        self
    }

    /// Extended key usages by OID (e.g. `1.3.6.1.5.5.7.3.2`, client authentication).
    pub fn extended_key_usage(mut self, oids: &[&str]) -> Self {
        self.0.extended_key_usage = Some(oids.iter().map(|o| (*o).to_owned()).collect());
        self
    }

    /// The payload, checked against the schema, and its key against the rules Apple gives
    /// in prose: RSA keys are 1024 to 4096 bits in steps of 8 and never hardware-bound; EC
    /// keys are 192, 256, 384 or 521 bits, and only 256 or 384 when hardware-bound.
    pub fn build(self) -> Result<SecurityAcme> {
        let a = &self.0;
        let size = a.key_size;
        let wrong = if a.key_type == KeyType::Rsa {
            if a.hardware_bound {
                Some("an RSA key cannot be hardware-bound".to_owned())
            } else if !(1024..=4096).contains(&size) || size % 8 != 0 {
                Some(format!(
                    "an RSA KeySize must be a multiple of 8 from 1024 to 4096, not {size}"
                ))
            } else {
                None
            }
        } else if a.key_type == KeyType::EcsecPrimeRandom {
            let allowed: &[i64] = if a.hardware_bound {
                &[256, 384]
            } else {
                &[192, 256, 384, 521]
            };
            (!allowed.contains(&size)).then(|| {
                format!(
                    "an ECSECPrimeRandom KeySize must be one of {allowed:?}{}, not {size}",
                    if a.hardware_bound {
                        " when hardware-bound"
                    } else {
                        ""
                    }
                )
            })
        } else {
            None
        };
        if let Some(reason) = wrong {
            return Err(Error::Invalid {
                payload_type: <SecurityAcme as PayloadBody>::PAYLOAD_TYPE,
                reason,
                findings: Vec::new(),
            });
        }
        checked(self.0)
    }
}

/// A login window payload (`com.apple.loginwindow`, macOS).
///
/// ```
/// use mdm_profiles::builders::LoginWindow;
/// let lw = LoginWindow::new()
///     .name_and_password_fields()
///     .banner("Property of Example Corp")
///     .hide_admin_users(true)
///     .build()?;
/// assert_eq!(lw.showfullname, Some(true));
/// # Ok::<(), mdm_profiles::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct LoginWindow(Loginwindow);

impl LoginWindow {
    /// No settings yet.
    pub fn new() -> Self {
        LoginWindow(Loginwindow::new())
    }

    /// Shows name and password fields instead of a list of users (`SHOWFULLNAME`).
    pub fn name_and_password_fields(mut self) -> Self {
        self.0.showfullname = Some(true);
        self
    }

    /// Text shown in the login window (`LoginwindowText`).
    pub fn banner(mut self, text: impl Into<String>) -> Self {
        self.0.loginwindow_text = Some(text.into());
        self
    }

    /// Hides administrators from the list of users (`HideAdminUsers`).
    pub fn hide_admin_users(mut self, hide: bool) -> Self {
        self.0.hide_admin_users = Some(hide);
        self
    }

    /// Hides local users (`HideLocalUsers`).
    pub fn hide_local_users(mut self, hide: bool) -> Self {
        self.0.hide_local_users = Some(hide);
        self
    }

    /// Disables the Shut Down, Restart and Sleep buttons.
    pub fn no_power_buttons(mut self) -> Self {
        self.0.shut_down_disabled = Some(true);
        self.0.restart_disabled = Some(true);
        self.0.sleep_disabled = Some(true);
        self
    }

    /// Disables `>console` log-in (`DisableConsoleAccess`).
    pub fn no_console_access(mut self) -> Self {
        self.0.disable_console_access = Some(true);
        self
    }

    /// The payload, checked against the schema.
    pub fn build(self) -> Result<Loginwindow> {
        checked(self.0)
    }
}

/// A Platform SSO payload (`com.apple.extensiblesso`, `Type` `Redirect`, macOS 13 and
/// later): an identity provider's SSO extension signs users in to the Mac.
///
/// ```
/// use mdm_profiles::builders::PlatformSso;
/// let sso = PlatformSso::new("com.example.idp.ssoextension", "ABCDE12345", &["https://login.example.com"])
///     .secure_enclave_key()
///     .shared_device_keys(true)
///     .build()?;
/// assert_eq!(sso.team_identifier.as_deref(), Some("ABCDE12345"));
/// # Ok::<(), mdm_profiles::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct PlatformSso(Extensiblesso);

impl PlatformSso {
    /// The identity provider's extension (bundle ID and team ID) and the URLs it serves;
    /// password authentication until told otherwise.
    pub fn new(
        extension_identifier: impl Into<String>,
        team_identifier: impl Into<String>,
        urls: &[&str],
    ) -> Self {
        let mut sso = Extensiblesso::new(extension_identifier.into(), SsoType::Redirect);
        sso.team_identifier = Some(team_identifier.into());
        sso.ur_ls = Some(urls.iter().map(|u| (*u).to_owned()).collect());
        let mut settings = PlatformSsoSettings::new();
        settings.authentication_method = Some(PlatformSsoAuthenticationMethod::Password);
        sso.platform_sso = Some(settings);
        PlatformSso(sso)
    }

    fn settings(&mut self) -> &mut PlatformSsoSettings {
        self.0
            .platform_sso
            .get_or_insert_with(PlatformSsoSettings::new)
    }

    /// Signs in with a Secure Enclave key instead of the password (`UserSecureEnclaveKey`).
    pub fn secure_enclave_key(mut self) -> Self {
        self.settings().authentication_method =
            Some(PlatformSsoAuthenticationMethod::UserSecureEnclaveKey);
        self
    }

    /// Signs in with a smart card (`SmartCard`).
    pub fn smart_card(mut self) -> Self {
        self.settings().authentication_method = Some(PlatformSsoAuthenticationMethod::SmartCard);
        self
    }

    /// Uses keys shared by the device's users (`UseSharedDeviceKeys`).
    pub fn shared_device_keys(mut self, on: bool) -> Self {
        self.settings().use_shared_device_keys = Some(on);
        self
    }

    /// The account name shown in the login window and Settings (`AccountDisplayName`).
    pub fn account_display_name(mut self, name: impl Into<String>) -> Self {
        self.settings().account_display_name = Some(name.into());
        self
    }

    /// Creates local accounts for identity-provider users at the login window
    /// (`EnableCreateUserAtLogin`).
    pub fn create_users_at_login(mut self, on: bool) -> Self {
        self.settings().enable_create_user_at_login = Some(on);
        self
    }

    /// The payload, checked against the schema.
    pub fn build(self) -> Result<Extensiblesso> {
        checked(self.0)
    }
}
