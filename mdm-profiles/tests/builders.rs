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
