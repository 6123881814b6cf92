//! The builders give payloads that lint clean, and refuse what the schema does not allow.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_profiles::builders::{self, Passcode, Restrictions, Scep, Wifi};
use mdm_profiles::{Error, Profile, Target, lint};

fn uuid(n: usize) -> String {
    format!("B0110000-0000-4000-8000-{n:012}")
}

fn ios() -> Vec<Target> {
    vec![Target::new("ios", Some("17.0")).unwrap().supervised(true)]
}

fn reason(e: Error) -> String {
    match e {
        Error::Invalid { reason, .. } => reason,
        other => panic!("not Invalid: {other}"),
    }
}

#[test]
fn a_profile_of_every_builder_lints_clean() {
    let identity = builders::identity(vec![0x30, 0x00], "secret");
    let scep = Scep::new("https://scep.example.com/scep")
        .ca_name("Example CA")
        .subject(&[("O", "Example"), ("CN", "device")])
        .challenge("c")
        .key_size(2048)
        .key_usage(true, true)
        .ca_fingerprint(vec![0; 32])
        .dns_name("device.example.com")
        .build()
        .unwrap();
    let wifi = Wifi::new("Corp")
        .eap_tls(uuid(2))
        .auto_join(true)
        .build()
        .unwrap();
    let home = Wifi::new("Home")
        .wpa3_personal("pw")
        .hidden(true)
        .build()
        .unwrap();
    let passcode = Passcode::new()
        .min_length(8)
        .alphanumeric()
        .no_simple()
        .max_failed_attempts(10)
        .max_inactivity_minutes(5)
        .max_age_days(90)
        .history(5)
        .build()
        .unwrap();
    let restrictions = Restrictions::new()
        .deny("allowCamera")
        .allow("allowAppInstallation", true)
        .set("forceEncryptedBackup", true)
        .build()
        .unwrap();
    assert_eq!(restrictions.allow_camera, Some(false));
    assert_eq!(restrictions.force_encrypted_backup, Some(true));
    let profile = Profile::new("org.example.all", uuid(0))
        .with_payload(builders::payload(
            "org.example.all.root",
            &uuid(1),
            builders::certificate(vec![0x30, 0x00], "root.cer"),
        ))
        .with_payload(builders::payload(
            "org.example.all.identity",
            &uuid(2),
            identity,
        ))
        .with_payload(builders::payload("org.example.all.scep", &uuid(3), scep))
        .with_payload(builders::payload("org.example.all.wifi", &uuid(4), wifi))
        .with_payload(builders::payload("org.example.all.home", &uuid(5), home))
        .with_payload(builders::payload(
            "org.example.all.passcode",
            &uuid(6),
            passcode,
        ))
        .with_payload(builders::payload(
            "org.example.all.restrictions",
            &uuid(7),
            restrictions,
        ));
    let back = Profile::decode(&profile.encode().unwrap()).unwrap();
    assert_eq!(back.to_dictionary(), profile.to_dictionary());
    assert_eq!(lint::lint(&back, &ios()).findings, []);
}

#[test]
fn builders_refuse_what_the_schema_does_not_allow() {
    let r = reason(Passcode::new().max_failed_attempts(20).build().unwrap_err());
    assert!(r.contains("P003") && r.contains("maxFailedAttempts"), "{r}");
    let r = reason(Passcode::new().min_length(17).build().unwrap_err());
    assert!(r.contains("minLength"), "{r}");
    let r = reason(
        Scep::new("https://scep.example.com")
            .key_size(3000)
            .build()
            .unwrap_err(),
    );
    assert!(r.contains("Keysize"), "{r}");
    let r = reason(Restrictions::new().deny("allowCamara").build().unwrap_err());
    assert!(r.contains("did you mean `allowCamera`"), "{r}");
    let r = reason(
        Restrictions::new()
            .set("allowCamera", "no")
            .build()
            .unwrap_err(),
    );
    assert!(r.contains("allowCamera"), "{r}");
    // A dangling identity reference is the profile's business, not the builder's.
    assert!(Wifi::new("Corp").eap_tls(uuid(99)).build().is_ok());
}

fn macos() -> Vec<Target> {
    vec![Target::new("macos", Some("14.0")).unwrap().supervised(true)]
}

#[test]
fn vpn_acme_and_login_window_builders_lint_clean_where_they_apply() {
    use mdm_profiles::builders::{Acme, Ikev2Vpn, LoginWindow};
    use mdm_profiles::generated::vpn_managed::CertificateType;
    let acme = Acme::new("https://acme.example.com/directory", "order-1")
        .subject(&[("O", "Example"), ("CN", "device-1")])
        .dns_name("device-1.example.com")
        .attest(true)
        .extended_key_usage(&["1.3.6.1.5.5.7.3.2"])
        .build()
        .unwrap();
    let by_cert = Ikev2Vpn::new("Office", "vpn.example.com", "vpn.example.com", "device-1")
        .certificate(uuid(10), CertificateType::Ecdsa384)
        .on_demand(true)
        .build()
        .unwrap();
    let by_secret = Ikev2Vpn::new("Lab", "lab.example.com", "lab.example.com", "lab-client")
        .shared_secret("s3cret")
        .eap("alice", "pw")
        .build()
        .unwrap();
    let profile = Profile::new("org.example.vpn", uuid(20))
        .with_payload(builders::payload("org.example.vpn.acme", &uuid(10), acme))
        .with_payload(builders::payload(
            "org.example.vpn.office",
            &uuid(11),
            by_cert,
        ))
        .with_payload(builders::payload(
            "org.example.vpn.lab",
            &uuid(12),
            by_secret,
        ));
    for targets in [ios(), macos()] {
        let report = lint(&profile, &targets);
        assert_eq!(report.findings, [], "{targets:?}");
    }
    let login = LoginWindow::new()
        .name_and_password_fields()
        .banner("Property of Example Corp")
        .hide_admin_users(true)
        .hide_local_users(false)
        .no_power_buttons()
        .no_console_access()
        .build()
        .unwrap();
    let profile = Profile::new("org.example.login", uuid(30)).with_payload(builders::payload(
        "org.example.login.lw",
        &uuid(31),
        login,
    ));
    assert_eq!(lint(&profile, &macos()).findings, []);
    // The login window is a macOS payload: the linter says so for an iPhone.
    assert!(
        lint(&profile, &ios())
            .findings
            .iter()
            .any(|f| f.severity >= mdm_profiles::Severity::Warning),
        "an iOS target is told the login window does not apply"
    );
}

#[test]
fn acme_and_vpn_builders_refuse_what_the_schema_does_not_allow() {
    use mdm_profiles::builders::{Acme, Ikev2Vpn};
    // ACME keys are 256 or 384 bits (P-256, P-384) or RSA up to 4096.
    let e = Acme::new("https://acme.example.com/directory", "order-2")
        .subject(&[("CN", "x")])
        .rsa(1000)
        .build();
    assert!(e.is_err(), "{e:?}");
    let acme = |a: Acme| a.subject(&[("CN", "x")]).build();
    let new = || Acme::new("https://acme.example.com/directory", "order-2");
    assert!(acme(new().rsa(2048)).is_ok());
    assert!(acme(new().p256()).is_ok());
    let hardware_rsa = new().rsa(2048);
    let mut raw = acme(hardware_rsa).unwrap();
    raw.hardware_bound = true;
    let Err(e) = acme(Acme::from_payload(raw)) else {
        panic!("a hardware-bound RSA key was accepted");
    };
    assert!(reason(e).contains("cannot be hardware-bound"));
    // A certificate-authenticated IKEv2 without the identity it names resolves only in a
    // profile: the builder lets it through (P013 is the profile's), the profile lint does not.
    let vpn = Ikev2Vpn::new("Office", "vpn.example.com", "vpn.example.com", "d")
        .certificate(
            uuid(99),
            mdm_profiles::generated::vpn_managed::CertificateType::Rsa,
        )
        .build()
        .unwrap();
    let profile = Profile::new("org.example.dangling", uuid(40)).with_payload(builders::payload(
        "org.example.dangling.vpn",
        &uuid(41),
        vpn,
    ));
    let report = lint(&profile, &ios());
    assert!(
        report.findings.iter().any(|f| f.rule.id == "P013"),
        "{:?}",
        report.ids()
    );
}

/// A Platform SSO profile as identity providers publish it (`Type` `Redirect`, a vendor's
/// extension, `URLs`, no `Realm`): what the linter says of it for macOS 14.
#[test]
fn a_platform_sso_redirect_profile_lints() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>PayloadType</key><string>Configuration</string><key>PayloadVersion</key><integer>1</integer>
<key>PayloadIdentifier</key><string>org.example.psso</string>
<key>PayloadUUID</key><string>B0110000-0000-4000-8000-000000000050</string>
<key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>com.apple.extensiblesso</string><key>PayloadVersion</key><integer>1</integer>
<key>PayloadIdentifier</key><string>org.example.psso.sso</string>
<key>PayloadUUID</key><string>B0110000-0000-4000-8000-000000000051</string>
<key>ExtensionIdentifier</key><string>com.microsoft.CompanyPortalMac.ssoextension</string>
<key>TeamIdentifier</key><string>UBF8T346G9</string>
<key>Type</key><string>Redirect</string>
<key>URLs</key><array><string>https://login.microsoftonline.com</string></array>
<key>PlatformSSO</key><dict>
<key>AuthenticationMethod</key><string>UserSecureEnclaveKey</string>
<key>UseSharedDeviceKeys</key><true/>
</dict>
</dict></array>
</dict></plist>"#;
    let profile = Profile::decode(xml.as_bytes()).unwrap();
    let report = lint(&profile, &macos());
    let errors: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= mdm_profiles::Severity::Warning)
        .map(|f| format!("{} {} {}", f.rule.id, f.path, f.message))
        .collect();
    assert_eq!(errors, Vec::<String>::new());
}

#[test]
fn the_platform_sso_builder_lints_clean_on_macos() {
    use mdm_profiles::builders::PlatformSso;
    let sso = PlatformSso::new(
        "com.example.idp.ssoextension",
        "ABCDE12345",
        &["https://login.example.com"],
    )
    .secure_enclave_key()
    .shared_device_keys(true)
    .account_display_name("Example")
    .create_users_at_login(true)
    .build()
    .unwrap();
    let profile = Profile::new("org.example.psso2", uuid(60)).with_payload(builders::payload(
        "org.example.psso2.sso",
        &uuid(61),
        sso,
    ));
    let serious: Vec<_> = lint(&profile, &macos())
        .findings
        .into_iter()
        .filter(|f| f.severity >= mdm_profiles::Severity::Warning)
        .map(|f| format!("{} {} {}", f.rule.id, f.path, f.message))
        .collect();
    assert_eq!(serious, Vec::<String>::new());
}
