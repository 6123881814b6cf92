//! The generator's library: one model of Apple's YAML schema format ([`model`]), the union of
//! releases and the diff between two trees ([`diff`]), and the name helpers ([`names`]).
//! `mdmctl schema diff` uses the same model.

pub mod diff;
pub mod model;
pub mod names;
