//! proptest: wire types survive JSON encoding and decoding, unknown keys included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use dep_client::*;
use proptest::prelude::*;

fn word() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_ -]{0,12}"
}

fn status() -> impl Strategy<Value = ProfileStatus> {
    prop_oneof![
        Just(ProfileStatus::Empty),
        Just(ProfileStatus::Assigned),
        Just(ProfileStatus::Pushed),
        Just(ProfileStatus::Removed),
        word().prop_map(ProfileStatus::from),
    ]
}

fn extra() -> impl Strategy<Value = Extra> {
    proptest::collection::btree_map("x_[a-z]{1,6}", any::<i64>(), 0..3).prop_map(|m| {
        m.into_iter()
            .map(|(k, v)| (k, serde_json::Value::from(v)))
            .collect()
    })
}

prop_compose! {
    fn device()(serial in word(), model in proptest::option::of(word()),
                status in proptest::option::of(status()), op in proptest::option::of(word()),
                extra in extra()) -> Device {
        let mut d = Device::new(serial);
        d.model = model;
        d.profile_status = status;
        d.op_type = op.map(OpType::from);
        d.extra = extra;
        d
    }
}

prop_compose! {
    fn profile()(name in word(), url in word(), supervised in proptest::option::of(any::<bool>()),
                 skip in proptest::option::of(proptest::collection::vec(word(), 0..4)),
                 extra in extra()) -> Profile {
        let mut p = Profile::new(name, url);
        p.is_supervised = supervised;
        p.skip_setup_items = skip.map(|v| v.into_iter().map(SkipKey::from).collect());
        p.extra = extra;
        p
    }
}

proptest! {
    #[test]
    fn devices_round_trip(devices in proptest::collection::vec(device(), 0..4),
                          cursor in proptest::option::of(word()), more in any::<bool>()) {
        let page = {
            let mut p = DeviceListResponse::default();
            p.devices = devices;
            p.cursor = cursor;
            p.more_to_follow = more;
            p
        };
        let json = serde_json::to_vec(&page).unwrap();
        let back: DeviceListResponse = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(back, page);
    }

    #[test]
    fn profiles_round_trip(p in profile()) {
        let json = serde_json::to_vec(&p).unwrap();
        let back: Profile = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(back, p);
    }

    #[test]
    fn bypass_codes_round_trip(bytes in any::<[u8; 16]>()) {
        let code = BypassCode::from_bytes(bytes);
        prop_assert_eq!(BypassCode::parse(&code.code()).unwrap(), code);
    }
}
