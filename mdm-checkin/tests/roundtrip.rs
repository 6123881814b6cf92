//! proptest round trips: for every message type, `from_dictionary(to_dictionary(m)) == m`,
//! and decoding the XML and the binary encoding gives `m` back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_checkin::*;
use mdm_proto::Data;
use plist::{Dictionary, Value};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn data() -> impl Strategy<Value = Data> {
    proptest::collection::vec(any::<u8>(), 0..48).prop_map(Data)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        any::<u64>().prop_map(|i| Value::Integer(i.into())),
        (-1.0e12f64..1.0e12).prop_map(Value::Real),
        data().prop_map(|d| Value::Data(d.0)),
        (0u64..4_000_000_000).prop_map(|s| {
            Value::Date((std::time::UNIX_EPOCH + std::time::Duration::from_secs(s)).into())
        }),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec(("[a-z]{1,6}", inner), 0..4)
                .prop_map(|kv| Value::Dictionary(kv.into_iter().collect())),
        ]
    })
}

/// Extra keys never collide with modelled ones: they start with `X-`.
fn extra() -> impl Strategy<Value = Dictionary> {
    proptest::collection::vec(("X-[A-Za-z]{1,8}", value()), 0..4)
        .prop_map(|kv| kv.into_iter().collect())
}

/// A device or user channel identity that resolves.
fn identity() -> impl Strategy<Value = Identity> {
    (
        "[A-F0-9-]{1,16}",
        any::<bool>(),
        proptest::option::of("[A-Z0-9]{1,8}"),
        opt_text(),
        opt_text(),
    )
        .prop_map(|(id, by_udid, user, short, long)| {
            let mut identity = Identity::default();
            if by_udid {
                identity.udid = Some(id);
                identity.user_id = user;
            } else {
                identity.enrollment_id = Some(id);
                identity.enrollment_user_id = user;
            }
            identity.user_short_name = short;
            identity.user_long_name = long;
            identity
        })
}

fn message() -> impl Strategy<Value = CheckinMessage> {
    let authenticate = (
        identity(),
        text(),
        proptest::collection::vec(opt_text(), 9),
        extra(),
    )
        .prop_map(|(id, topic, o, extra)| {
            let mut m = Authenticate::new(id, topic);
            m.device_name = o[0].clone();
            m.model_name = o[1].clone();
            m.model = o[2].clone();
            m.os_version = o[3].clone();
            m.build_version = o[4].clone();
            m.product_name = o[5].clone();
            m.serial_number = o[6].clone();
            m.imei = o[7].clone();
            m.meid = o[8].clone();
            m.extra = extra;
            CheckinMessage::from(m)
        });
    let token_update = (
        identity(),
        text(),
        proptest::collection::vec(any::<u8>(), 1..40),
        "[A-Z0-9-]{1,20}",
        proptest::option::of(data()),
        proptest::option::of(any::<bool>()),
        proptest::option::of(any::<bool>()),
        extra(),
    )
        .prop_map(
            |(id, topic, token, magic, unlock, awaiting, console, extra)| {
                let mut m = TokenUpdate::new(id, topic, token, magic);
                m.unlock_token = unlock;
                m.awaiting_configuration = awaiting;
                m.not_on_console = console;
                m.extra = extra;
                CheckinMessage::from(m)
            },
        );
    let check_out = (identity(), opt_text(), extra()).prop_map(|(id, topic, extra)| {
        let mut m = CheckOut::new(id);
        m.topic = topic;
        m.extra = extra;
        CheckinMessage::from(m)
    });
    let user_authenticate = (identity(), "[A-Z0-9]{1,8}", opt_text(), extra()).prop_map(
        |(mut id, user, digest, extra)| {
            if id.udid.is_none() {
                id.udid = id.enrollment_id.take();
            }
            id.user_id = Some(user);
            let mut m = UserAuthenticate::new(id);
            m.digest_response = digest;
            m.extra = extra;
            CheckinMessage::from(m)
        },
    );
    let get_bootstrap = (identity(), proptest::option::of(any::<bool>()), extra()).prop_map(
        |(id, awaiting, extra)| {
            let mut m = GetBootstrapToken::new(id);
            m.awaiting_configuration = awaiting;
            m.extra = extra;
            CheckinMessage::from(m)
        },
    );
    let set_bootstrap = (
        identity(),
        proptest::option::of(data()),
        proptest::option::of(any::<bool>()),
        extra(),
    )
        .prop_map(|(id, token, awaiting, extra)| {
            let mut m = SetBootstrapToken::new(id, Vec::new());
            m.bootstrap_token = token;
            m.awaiting_configuration = awaiting;
            m.extra = extra;
            CheckinMessage::from(m)
        });
    let declarative = (identity(), text(), proptest::option::of(data()), extra()).prop_map(
        |(id, endpoint, data, extra)| {
            let mut m = DeclarativeManagement::new(id, endpoint);
            m.data = data;
            m.extra = extra;
            CheckinMessage::from(m)
        },
    );
    let get_token = (
        identity(),
        prop_oneof![Just("com.apple.maid".to_owned()), text()],
        proptest::option::of((opt_text(), opt_text(), opt_text(), extra())),
        extra(),
    )
        .prop_map(|(id, service, params, extra)| {
            let mut m = GetToken::new(id, TokenServiceType::from(service));
            m.token_parameters = params.map(|(s, p, w, extra)| {
                let mut t = TokenParameters::default();
                t.security_token = s;
                t.phone_udid = p;
                t.watch_udid = w;
                t.extra = extra;
                t
            });
            m.extra = extra;
            CheckinMessage::from(m)
        });
    let unknown = (identity(), "[A-Z][a-zA-Z]{3,12}", extra()).prop_map(|(id, kind, extra)| {
        let mut m = UnknownMessage::new(format!("Future{kind}"));
        let mut out = mdm_proto::DictWriter::new();
        id.put(&mut out);
        m.payload.extend(out.finish());
        m.payload.extend(extra);
        CheckinMessage::from(m)
    });
    prop_oneof![
        authenticate,
        token_update,
        check_out,
        user_authenticate,
        get_bootstrap,
        set_bootstrap,
        declarative,
        get_token,
        unknown,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn dictionary_round_trip(m in message()) {
        let again = CheckinMessage::from_dictionary(m.to_dictionary()).unwrap();
        prop_assert_eq!(&again, &m);
        prop_assert_eq!(again.to_dictionary(), m.to_dictionary());
    }

    #[test]
    fn xml_and_binary_round_trip(m in message()) {
        let xml = m.encode().unwrap();
        prop_assert_eq!(&CheckinMessage::decode(&xml).unwrap(), &m);
        let binary = mdm_proto::to_binary(&Value::Dictionary(m.to_dictionary())).unwrap();
        prop_assert_eq!(&CheckinMessage::decode(&binary).unwrap(), &m);
    }

    #[test]
    fn responses_round_trip(token in data(), challenge in opt_text(), extra in extra()) {
        let mut r = GetBootstrapTokenResponse::new(token.0.clone());
        r.extra = extra.clone();
        prop_assert_eq!(GetBootstrapTokenResponse::decode(&r.encode().unwrap()).unwrap(), r);
        let mut r = GetTokenResponse::new(token.0);
        r.extra = extra.clone();
        prop_assert_eq!(GetTokenResponse::decode(&r.encode().unwrap()).unwrap(), r);
        let mut r = UserAuthenticateResponse::default();
        r.digest_challenge = challenge;
        r.extra = extra;
        prop_assert_eq!(UserAuthenticateResponse::decode(&r.encode().unwrap()).unwrap(), r);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        mdm_checkin::fuzzing::decode(&bytes);
        let mut xml = b"<plist><dict><key>MessageType</key><string>TokenUpdate</string>".to_vec();
        xml.extend(&bytes);
        mdm_checkin::fuzzing::decode(&xml);
    }
}
