//! The status of one enrollment, built up from its status reports.
//!
//! [`EnrollmentStatus::apply`] takes full and incremental reports. A full report
//! (`FullReport: true`) replaces everything. In an incremental one, each item replaces the
//! stored item, except list items whose entries carry an `identifier` (accounts, apps,
//! certificates, background tasks...): their entries are merged by identifier, and an entry
//! with `_removed: true` removes it. `management.declarations` always holds the device's
//! complete lists and replaces the stored declaration states.

use crate::declaration::DeclarationKind;
use crate::server::DeclarationSet;
use crate::status::{
    DeclarationStatus, ManagementDeclarations, StatusError, StatusItem, StatusItemName,
    StatusReason, StatusReport, UnknownStatusItem, Validity,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a device last said about one declaration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DeclarationState {
    /// The declaration's kind (which list of `management.declarations` it was in).
    pub kind: DeclarationKind,
    /// The declaration's identifier.
    pub identifier: String,
    /// The server token the device has.
    pub server_token: String,
    /// Whether the declaration is active on the device.
    pub active: bool,
    /// Whether the device found it valid.
    pub valid: Validity,
    /// Why, when it is not valid or not active.
    pub reasons: Vec<StatusReason>,
}

impl DeclarationState {
    fn from_status(kind: DeclarationKind, s: &DeclarationStatus) -> Self {
        DeclarationState {
            kind,
            identifier: s.identifier.clone(),
            server_token: s.server_token.clone(),
            active: s.active,
            valid: s.valid.clone(),
            reasons: s.reasons.clone().unwrap_or_default(),
        }
    }

    /// True when the device found the declaration invalid or gave an `Error.*` reason.
    pub fn is_failed(&self) -> bool {
        self.valid == Validity::Invalid || self.reasons.iter().any(|r| r.code.starts_with("Error."))
    }

    /// The reasons as `code: description` lines, for people.
    pub fn why(&self) -> Vec<String> {
        self.reasons
            .iter()
            .map(|r| match &r.description {
                Some(d) => format!("{}: {d}", r.code),
                None => r.code.clone(),
            })
            .collect()
    }
}

/// The status of one enrollment: its latest status items and declaration states.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EnrollmentStatus {
    /// Every status item by name, as JSON.
    pub items: BTreeMap<String, Value>,
    /// Declaration states by identifier.
    pub declarations: BTreeMap<String, DeclarationState>,
    /// The errors of the last report (status items the device could not report).
    pub errors: Vec<StatusError>,
    /// How many reports were applied.
    pub reports: u64,
}

impl EnrollmentStatus {
    /// An empty status.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies a status report (full or incremental).
    pub fn apply(&mut self, report: &StatusReport) {
        if report.is_full() {
            self.items.clear();
            self.declarations.clear();
        }
        for item in &report.status_items {
            let name = match item {
                StatusItem::Unknown(u) => u.name(),
                known => known.name().as_str().to_owned(),
            };
            let value = item.value_to_json();
            if let StatusItem::ManagementDeclarations(d) = item {
                self.set_declarations(d);
            }
            match value {
                Value::Array(entries) if is_identified_list(&entries) => {
                    let stored = self
                        .items
                        .entry(name)
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if !stored.is_array() {
                        *stored = Value::Array(Vec::new());
                    }
                    if let Value::Array(list) = stored {
                        merge_list(list, entries);
                    }
                }
                other => {
                    self.items.insert(name, other);
                }
            }
        }
        self.errors = report.errors.clone();
        self.reports = self.reports.saturating_add(1);
    }

    fn set_declarations(&mut self, d: &ManagementDeclarations) {
        self.declarations.clear();
        let lists = [
            (DeclarationKind::Activation, &d.activations),
            (DeclarationKind::Configuration, &d.configurations),
            (DeclarationKind::Asset, &d.assets),
            (DeclarationKind::Management, &d.management),
        ];
        for (kind, list) in lists {
            for s in list {
                self.declarations
                    .insert(s.identifier.clone(), DeclarationState::from_status(kind, s));
            }
        }
    }

    /// The stored value of a status item, as JSON.
    pub fn item(&self, name: &str) -> Option<&Value> {
        self.items.get(name)
    }

    /// The stored value of a status item, typed (unknown names give
    /// [`StatusItem::Unknown`]); `None` when absent or when it no longer fits the schema.
    pub fn typed_item(&self, name: &str) -> Option<StatusItem> {
        let value = self.items.get(name)?.clone();
        let item_name = StatusItemName::from(name);
        if item_name.is_known() {
            StatusItem::decode_known(&item_name, value, name)
                .ok()
                .flatten()
        } else {
            Some(StatusItem::Unknown(UnknownStatusItem::new(name, value)))
        }
    }

    /// What the device said about one declaration.
    pub fn declaration(&self, identifier: &str) -> Option<&DeclarationState> {
        self.declarations.get(identifier)
    }

    /// Declarations the device reports as active.
    pub fn active(&self) -> impl Iterator<Item = &DeclarationState> {
        self.declarations.values().filter(|d| d.active)
    }

    /// Declarations the device reports as valid.
    pub fn valid(&self) -> impl Iterator<Item = &DeclarationState> {
        self.declarations
            .values()
            .filter(|d| d.valid == Validity::Valid)
    }

    /// Declarations that failed: invalid, or with an `Error.*` reason. Their
    /// [`DeclarationState::reasons`] say why.
    pub fn failed(&self) -> impl Iterator<Item = &DeclarationState> {
        self.declarations.values().filter(|d| d.is_failed())
    }

    /// Identifiers of the set's declarations that the device does not have in their current
    /// version (absent, or with another server token).
    pub fn outdated<'a>(&'a self, set: &'a DeclarationSet) -> Vec<&'a str> {
        set.iter()
            .filter(|d| {
                self.declarations
                    .get(&d.identifier)
                    .is_none_or(|s| s.server_token != d.server_token)
            })
            .map(|d| d.identifier.as_str())
            .collect()
    }
}

fn identifier_of(entry: &Value) -> Option<&str> {
    entry.get("identifier").and_then(Value::as_str)
}

fn is_identified_list(entries: &[Value]) -> bool {
    !entries.is_empty() && entries.iter().all(|e| identifier_of(e).is_some())
}

fn merge_list(list: &mut Vec<Value>, entries: Vec<Value>) {
    for entry in entries {
        let Some(id) = identifier_of(&entry).map(str::to_owned) else {
            continue;
        };
        let removed = entry.get("_removed").and_then(Value::as_bool) == Some(true);
        let position = list
            .iter()
            .position(|e| identifier_of(e) == Some(id.as_str()));
        match (position, removed) {
            (Some(i), true) => {
                list.remove(i);
            }
            (Some(i), false) => list[i] = entry,
            (None, true) => {}
            (None, false) => list.push(entry),
        }
    }
}
