//! proptest round trips of command reports and of the JSON form.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_proto::{CommandReport, CommandStatus, ErrorChainItem, Identity, json};
use plist::{Dictionary, Value};
use proptest::prelude::*;

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,12}"
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        any::<bool>().prop_map(Value::Boolean),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        any::<u64>().prop_map(|i| Value::Integer(i.into())),
        (-1.0e12f64..1.0e12).prop_map(Value::Real),
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(Value::Data),
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

fn extra() -> impl Strategy<Value = Dictionary> {
    proptest::collection::vec(("X-[A-Za-z]{1,8}", value()), 0..4)
        .prop_map(|kv| kv.into_iter().collect())
}

fn item() -> impl Strategy<Value = ErrorChainItem> {
    (
        proptest::option::of(any::<i64>()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        proptest::option::of(text()),
        extra(),
    )
        .prop_map(|(code, domain, localized, english, extra)| {
            let mut i = ErrorChainItem::default();
            i.error_code = code;
            i.error_domain = domain;
            i.localized_description = localized;
            i.us_english_description = english;
            i.extra = extra;
            i
        })
}

fn report() -> impl Strategy<Value = CommandReport> {
    (
        prop_oneof![
            Just(CommandStatus::Idle),
            Just(CommandStatus::Acknowledged),
            Just(CommandStatus::Error),
            Just(CommandStatus::NotNow),
            "[A-Z][a-z]{2,8}".prop_map(CommandStatus::from),
        ],
        "[A-F0-9-]{1,16}",
        proptest::option::of(text()),
        proptest::option::of(proptest::collection::vec(item(), 0..3)),
        extra(),
    )
        .prop_map(|(status, udid, uuid, chain, response)| {
            let mut r = CommandReport::new(status, Identity::device(udid));
            r.command_uuid = uuid;
            r.error_chain = chain;
            r.response = response;
            r
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn report_round_trips(r in report()) {
        prop_assert_eq!(&CommandReport::from_dictionary(r.to_dictionary()).unwrap(), &r);
        prop_assert_eq!(&CommandReport::decode(&r.encode().unwrap()).unwrap(), &r);
        let binary = mdm_proto::to_binary(&Value::Dictionary(r.to_dictionary())).unwrap();
        prop_assert_eq!(&CommandReport::decode(&binary).unwrap(), &r);
    }

    #[test]
    fn json_keeps_every_key(v in value()) {
        let j = json::to_json(&v);
        // Strings, booleans, integers and containers come back as they were.
        fn plain(v: &Value) -> bool {
            match v {
                Value::Array(a) => a.iter().all(plain),
                Value::Dictionary(d) => d.values().all(plain),
                Value::String(_) | Value::Boolean(_) => true,
                Value::Integer(i) => i.as_signed().is_some(),
                _ => false,
            }
        }
        if plain(&v) {
            prop_assert_eq!(json::from_json(&j).unwrap(), v);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        mdm_proto::fuzzing::front_door(&bytes);
        mdm_proto::fuzzing::report(&bytes);
        let mut b = b"bplist00".to_vec();
        b.extend(&bytes);
        mdm_proto::fuzzing::front_door(&b);
    }
}
