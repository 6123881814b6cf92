//! Every MessageType of Apple's schema, the response bodies, and what decoding refuses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_checkin::*;
use plist::{Dictionary, Value};

fn body(pairs: &[(&str, Value)]) -> Vec<u8> {
    let dict: Dictionary = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    mdm_proto::to_xml(&Value::Dictionary(dict)).unwrap()
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

fn roundtrip(bytes: &[u8]) -> CheckinMessage {
    let message = decode(bytes).unwrap();
    let original = mdm_proto::parse_dictionary(bytes, &Limits::MDM).unwrap();
    assert_eq!(message.to_dictionary(), original);
    assert_eq!(decode(&message.encode().unwrap()).unwrap(), message);
    message
}

#[test]
fn every_schema_message_type_decodes_to_its_struct() {
    let udid = ("UDID", s("U1"));
    let cases: Vec<(MessageType, Vec<u8>)> = vec![
        (
            MessageType::Authenticate,
            body(&[
                ("MessageType", s("Authenticate")),
                ("Topic", s("t")),
                udid.clone(),
                ("SerialNumber", s("C02")),
                ("OSVersion", s("15.1")),
            ]),
        ),
        (
            MessageType::TokenUpdate,
            body(&[
                ("MessageType", s("TokenUpdate")),
                ("Topic", s("t")),
                udid.clone(),
                ("Token", Value::Data(vec![1; 32])),
                ("PushMagic", s("m")),
                ("UnlockToken", Value::Data(vec![2; 8])),
                ("AwaitingConfiguration", Value::Boolean(true)),
            ]),
        ),
        (
            MessageType::CheckOut,
            body(&[
                ("MessageType", s("CheckOut")),
                ("Topic", s("t")),
                udid.clone(),
            ]),
        ),
        (
            MessageType::UserAuthenticate,
            body(&[
                ("MessageType", s("UserAuthenticate")),
                udid.clone(),
                ("UserID", s("USER")),
                ("UserShortName", s("anna")),
                ("DigestResponse", s("resp")),
            ]),
        ),
        (
            MessageType::GetBootstrapToken,
            body(&[
                ("MessageType", s("GetBootstrapToken")),
                udid.clone(),
                ("AwaitingConfiguration", Value::Boolean(false)),
            ]),
        ),
        (
            MessageType::SetBootstrapToken,
            body(&[
                ("MessageType", s("SetBootstrapToken")),
                udid.clone(),
                ("BootstrapToken", Value::Data(b"bt".to_vec())),
            ]),
        ),
        (
            MessageType::DeclarativeManagement,
            body(&[
                ("MessageType", s("DeclarativeManagement")),
                ("EnrollmentID", s("E1")),
                (
                    "Endpoint",
                    s("declaration/com.apple.configuration.passcode.settings/p1"),
                ),
                ("Data", Value::Data(b"{}".to_vec())),
            ]),
        ),
        (
            MessageType::GetToken,
            body(&[
                ("MessageType", s("GetToken")),
                udid.clone(),
                ("TokenServiceType", s("com.apple.watch.pairing")),
                (
                    "TokenParameters",
                    Value::Dictionary(
                        [
                            ("PhoneUDID".to_owned(), s("P")),
                            ("WatchUDID".to_owned(), s("W")),
                            ("Future".to_owned(), Value::Integer(1.into())),
                        ]
                        .into_iter()
                        .collect(),
                    ),
                ),
            ]),
        ),
        (
            MessageType::ReturnToService,
            body(&[("MessageType", s("ReturnToService")), udid.clone()]),
        ),
    ];
    assert_eq!(cases.len(), MessageType::KNOWN.len());
    for (kind, bytes) in cases {
        let message = roundtrip(&bytes);
        assert_eq!(message.message_type(), kind);
        assert!(message.is_known());
        match message {
            CheckinMessage::Authenticate(m) => assert_eq!(m.serial_number.as_deref(), Some("C02")),
            CheckinMessage::TokenUpdate(m) => {
                assert_eq!(m.token.0.len(), 32);
                assert_eq!(m.awaiting_configuration, Some(true));
            }
            CheckinMessage::CheckOut(m) => assert_eq!(m.topic.as_deref(), Some("t")),
            CheckinMessage::UserAuthenticate(m) => {
                assert_eq!(m.digest_response.as_deref(), Some("resp"));
                assert_eq!(m.enrollment().unwrap().id, "U1:USER");
            }
            CheckinMessage::GetBootstrapToken(m) => {
                assert_eq!(m.awaiting_configuration, Some(false))
            }
            CheckinMessage::SetBootstrapToken(m) => assert!(!m.removes_token()),
            CheckinMessage::DeclarativeManagement(m) => {
                assert_eq!(
                    m.declaration(),
                    Some(("com.apple.configuration.passcode.settings", "p1"))
                );
                assert_eq!(
                    m.enrollment().unwrap().kind,
                    EnrollmentType::UserEnrollmentDevice
                );
            }
            CheckinMessage::GetToken(m) => {
                assert_eq!(m.token_service_type, TokenServiceType::WatchPairing);
                let p = m.token_parameters.unwrap();
                assert_eq!(p.phone_udid.as_deref(), Some("P"));
                assert!(p.extra.contains_key("Future"));
            }
            CheckinMessage::ReturnToService(m) => {
                assert_eq!(m.enrollment().unwrap().kind, EnrollmentType::Device)
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn unknown_message_types_are_kept_whole() {
    let bytes = body(&[
        ("MessageType", s("FutureThing")),
        ("UDID", s("U1")),
        (
            "When",
            Value::Date(std::time::SystemTime::UNIX_EPOCH.into()),
        ),
        ("Blob", Value::Data(vec![0, 255])),
    ]);
    let message = roundtrip(&bytes);
    assert!(!message.is_known());
    assert_eq!(message.message_type().as_str(), "FutureThing");
    assert!(!message.message_type().is_known());
    let CheckinMessage::Unknown(u) = &message else {
        panic!()
    };
    assert_eq!(u.message_type, "FutureThing");
    assert_eq!(u.payload.len(), 4);
    assert_eq!(message.enrollment().unwrap().id, "U1");
}

#[test]
fn what_must_be_there_is_checked() {
    fn t(changes: &[(&'static str, Value)]) -> Vec<(&'static str, Value)> {
        let mut pairs = vec![
            ("MessageType", s("TokenUpdate")),
            ("UDID", s("U1")),
            ("Topic", s("t")),
            ("Token", Value::Data(vec![1])),
            ("PushMagic", s("m")),
        ];
        for (k, v) in changes {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k, v.clone()));
        }
        pairs
    }
    let cases: Vec<(Vec<(&str, Value)>, &str)> = vec![
        (
            t(&[]).into_iter().filter(|(k, _)| *k != "Token").collect(),
            "TokenUpdate check-in: missing required key `Token`",
        ),
        (
            t(&[])
                .into_iter()
                .filter(|(k, _)| *k != "PushMagic")
                .collect(),
            "TokenUpdate check-in: missing required key `PushMagic`",
        ),
        (
            t(&[("Token", Value::Data(vec![]))]),
            "TokenUpdate check-in: key `Token` has an invalid value: it is empty",
        ),
        (
            t(&[("Token", s("abc"))]),
            "TokenUpdate check-in: key `Token` should be data, found a string",
        ),
        (
            t(&[("NotOnConsole", s("no"))]),
            "TokenUpdate check-in: key `NotOnConsole` should be a boolean, found a string",
        ),
        (
            t(&[("UDID", Value::Integer(5.into()))]),
            "TokenUpdate check-in: key `UDID` should be a string, found an integer",
        ),
        (
            t(&[]).into_iter().filter(|(k, _)| *k != "UDID").collect(),
            "TokenUpdate check-in: message identifies no enrollment: it has neither UDID nor EnrollmentID",
        ),
        (
            vec![("MessageType", s("Authenticate")), ("UDID", s("U1"))],
            "Authenticate check-in: missing required key `Topic`",
        ),
        (
            vec![
                ("MessageType", s("DeclarativeManagement")),
                ("UDID", s("U1")),
            ],
            "DeclarativeManagement check-in: missing required key `Endpoint`",
        ),
        (
            vec![
                ("MessageType", s("GetToken")),
                ("UDID", s("U1")),
                ("TokenParameters", Value::Dictionary(Dictionary::new())),
            ],
            "GetToken check-in: missing required key `TokenServiceType`",
        ),
        (
            vec![
                ("MessageType", s("GetToken")),
                ("UDID", s("U1")),
                ("TokenServiceType", s("x")),
                (
                    "TokenParameters",
                    Value::Dictionary(
                        [("PhoneUDID".to_owned(), Value::Boolean(true))]
                            .into_iter()
                            .collect(),
                    ),
                ),
            ],
            "GetToken check-in: key `TokenParameters.PhoneUDID` should be a string, found a boolean",
        ),
        (
            vec![("MessageType", s("UserAuthenticate")), ("UDID", s("U1"))],
            "UserAuthenticate check-in: missing required key `UserID`",
        ),
        (
            vec![("MessageType", Value::Integer(1.into())), ("UDID", s("U1"))],
            "check-in has no `MessageType` string (found an integer)",
        ),
        (
            vec![("UDID", s("U1"))],
            "check-in has no `MessageType` string (found nothing)",
        ),
        (
            vec![("MessageType", s("Weird")), ("UDID", Value::Boolean(true))],
            "Weird check-in: key `UDID` should be a string, found a boolean",
        ),
    ];
    for (pairs, expected) in cases {
        let err = decode(&body(&pairs)).unwrap_err();
        assert_eq!(err.to_string(), expected);
        assert!(err.is_malformed_input());
    }
}

#[test]
fn typed_decoders_refuse_other_types() {
    let bytes = body(&[("MessageType", s("CheckOut")), ("UDID", s("U1"))]);
    let err = TokenUpdate::decode(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "expected a TokenUpdate check-in, found MessageType `CheckOut`"
    );
    assert_eq!(err.key_path(), Some("MessageType"));
    assert!(CheckOut::decode(&bytes).is_ok());
}

#[test]
fn constructors_build_messages_that_decode() {
    let id = Identity::device("U1");
    let messages: Vec<CheckinMessage> = vec![
        Authenticate::new(id.clone(), "topic").into(),
        TokenUpdate::new(id.clone(), "topic", vec![7; 32], "magic").into(),
        CheckOut::new(id.clone()).into(),
        UserAuthenticate::new({
            let mut u = id.clone();
            u.user_id = Some("USER".into());
            u
        })
        .into(),
        GetBootstrapToken::new(id.clone()).into(),
        SetBootstrapToken::new(id.clone(), b"token".to_vec()).into(),
        DeclarativeManagement::new(id.clone(), "tokens").into(),
        GetToken::new(id.clone(), TokenServiceType::Maid).into(),
        UnknownMessage::new("Later").into(),
    ];
    for message in messages {
        let bytes = message.encode().unwrap();
        let again = CheckinMessage::from_dictionary(
            mdm_proto::parse_dictionary(&bytes, &Limits::MDM).unwrap(),
        )
        .unwrap();
        assert_eq!(again, message);
    }
    let mut empty = SetBootstrapToken::new(id, Vec::new());
    assert!(empty.removes_token());
    empty.bootstrap_token = None;
    assert!(empty.removes_token());
}

#[test]
fn response_bodies_round_trip() {
    let r = GetBootstrapTokenResponse::new(b"secret".to_vec());
    let bytes = r.encode().unwrap();
    assert!(String::from_utf8_lossy(&bytes).contains("<key>BootstrapToken</key>"));
    assert_eq!(GetBootstrapTokenResponse::decode(&bytes).unwrap(), r);
    assert_eq!(
        GetBootstrapTokenResponse::decode(&body(&[]))
            .unwrap()
            .bootstrap_token,
        None
    );

    let r = UserAuthenticateResponse::new("Digest nonce=\"abc\"");
    assert_eq!(
        UserAuthenticateResponse::decode(&r.encode().unwrap()).unwrap(),
        r
    );

    let r = GetTokenResponse::new(b"tok".to_vec());
    assert_eq!(GetTokenResponse::decode(&r.encode().unwrap()).unwrap(), r);
    let err = GetTokenResponse::decode(&body(&[("Other", s("x"))])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "GetToken response: missing required key `TokenData`"
    );
}
