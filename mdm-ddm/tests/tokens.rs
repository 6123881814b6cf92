//! Property tests of the tokens: any change to a declaration changes the
//! `DeclarationsToken`; the order declarations are given in does not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use mdm_ddm::{Declaration, DeclarationSet};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| Value::Number(n.into())),
        "[a-z0-9 ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[A-Za-z]{1,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn payload() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[A-Za-z]{1,6}", json_value(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

const TYPES: [&str; 3] = [
    "com.apple.configuration.example.one",
    "com.apple.management.example.two",
    "com.apple.management.properties",
];

fn declarations() -> impl Strategy<Value = Vec<Declaration>> {
    prop::collection::btree_map("[a-z]{1,5}", (0..TYPES.len(), payload()), 1..6).prop_map(|m| {
        m.into_iter()
            .map(|(id, (t, p))| Declaration::from_parts(TYPES[t], id, p).unwrap())
            .collect()
    })
}

fn set_of(decls: &[Declaration]) -> DeclarationSet {
    let mut set = DeclarationSet::new();
    for d in decls {
        set.insert(d.clone()).unwrap();
    }
    set
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn order_does_not_matter(decls in declarations(), seed in any::<u64>()) {
        let token = set_of(&decls).declarations_token();
        let mut shuffled = decls.clone();
        // A deterministic permutation from the seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        prop_assert_eq!(set_of(&shuffled).declarations_token(), token);
    }

    #[test]
    fn any_change_changes_the_token(
        decls in declarations(),
        which in any::<prop::sample::Index>(),
        new_payload in payload(),
        new_type in 0..TYPES.len(),
        change in 0..4u8,
    ) {
        let set = set_of(&decls);
        let token = set.declarations_token();
        let mut changed = decls.clone();
        let i = which.index(changed.len());
        let original = changed[i].clone();
        let replacement = match change {
            0 => Declaration::from_parts(original.declaration_type.clone(), original.identifier.clone(), new_payload).unwrap(),
            1 => Declaration::from_parts(TYPES[new_type], original.identifier.clone(), original.payload.to_json()).unwrap(),
            2 => {
                let mut d = original.clone();
                d.extra.insert("Extra".into(), Value::Bool(true));
                d
            }
            _ => Declaration::from_parts(original.declaration_type.clone(), format!("{}-renamed", original.identifier), original.payload.to_json()).unwrap(),
        };
        prop_assume!(replacement.to_json() != original.to_json());
        prop_assume!(!decls.iter().any(|d| d.identifier == replacement.identifier && d.identifier != original.identifier));
        changed[i] = replacement;
        prop_assert_ne!(set_of(&changed).declarations_token(), token);
    }

    #[test]
    fn adding_or_removing_changes_the_token(decls in declarations(), which in any::<prop::sample::Index>()) {
        let token = set_of(&decls).declarations_token();
        let mut fewer = decls.clone();
        fewer.remove(which.index(decls.len()));
        prop_assert_ne!(set_of(&fewer).declarations_token(), token);
    }
}
