//! The check-in part of the generator: `mdm-checkin/src/generated.rs` and
//! `mdm-checkin/src/generated/*.rs` from the `mdm/checkin` and `mdm/errors` items.

use std::collections::BTreeMap;
use xtask::model::Item;

/// Every generated file of mdm-checkin, by path relative to `mdm-checkin/src/`.
pub fn generate(_items: &[Item]) -> BTreeMap<String, String> {
    BTreeMap::new()
}
