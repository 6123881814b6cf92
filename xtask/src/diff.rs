//! What changed between two releases of Apple's schema, from the same model the generator
//! uses: new and removed items, new, removed and retyped keys, and new or removed OS
//! support, per folder, in the words of Apple's own `CHANGES.md`.
//!
//! Paths read like CHANGES.md's: `mdm/commands/device.erase.yaml/ReturnToService/ShouldRetryEnrollment`
//! (the file, then the key path, every level's key name). A key still in the new release
//! whose `supportedOS` newly says `removed` counts as removed, as Apple counts it.

use crate::model::{Item, Key, OsFacts, Tree};
use std::fmt::Write as _;

/// What kind of change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// An item only the new release has.
    NewObject,
    /// A key only the new release has.
    NewKey,
    /// An item that gained a platform or a version on one.
    ObjectOsSupport,
    /// A key that gained a platform or a version on one.
    KeyOsSupport,
    /// An item only the old release has (or the new one marks removed).
    RemovedObject,
    /// A key only the old release has (or the new one marks removed).
    RemovedKey,
    /// A key whose type changed.
    ChangedType,
}

impl Kind {
    /// The section title, as in CHANGES.md.
    pub fn title(self) -> &'static str {
        match self {
            Kind::NewObject => "New Objects",
            Kind::NewKey => "New Payload Keys",
            Kind::ObjectOsSupport => "Objects with New OS Support",
            Kind::KeyOsSupport => "Payload Keys with New OS Support",
            Kind::RemovedObject => "Removed Objects",
            Kind::RemovedKey => "Removed Payload Keys",
            Kind::ChangedType => "Payload Keys with a New Type",
        }
    }

    /// The bullet's verb, as in CHANGES.md.
    pub fn verb(self) -> &'static str {
        match self {
            Kind::NewObject | Kind::NewKey => "New",
            Kind::RemovedObject | Kind::RemovedKey => "Removed",
            _ => "Changed",
        }
    }

    /// A stable name for JSON output.
    pub fn name(self) -> &'static str {
        match self {
            Kind::NewObject => "new-object",
            Kind::NewKey => "new-key",
            Kind::ObjectOsSupport => "object-os-support",
            Kind::KeyOsSupport => "key-os-support",
            Kind::RemovedObject => "removed-object",
            Kind::RemovedKey => "removed-key",
            Kind::ChangedType => "changed-type",
        }
    }
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The folder (`mdm/commands`).
    pub folder: String,
    /// What changed.
    pub kind: Kind,
    /// The file, and for keys the key path: `mdm/commands/settings.yaml/Settings/X`.
    pub path: String,
    /// For OS support: the platforms and versions (`tvOS 27.0`); for types: `old -> new`.
    pub detail: Option<String>,
}

impl Change {
    /// The CHANGES.md bullet: `- New: path` or `- Changed: path [tvOS 27.0]`.
    pub fn line(&self) -> String {
        match &self.detail {
            Some(d) => format!("- {}: {} [{d}]", self.kind.verb(), self.path),
            None => format!("- {}: {}", self.kind.verb(), self.path),
        }
    }
}

fn newly_removed(old: &[OsFacts], new: &[OsFacts]) -> bool {
    let removed = |f: &[OsFacts]| f.iter().any(|o| o.removed.is_some() && o.is_supported());
    removed(new) && !removed(old)
}

/// Platforms the new facts support that the old did not, or support from another version.
fn new_support(old: &[OsFacts], new: &[OsFacts]) -> Option<String> {
    let mut out = Vec::new();
    for n in new.iter().filter(|n| n.is_supported()) {
        let Some(version) = n.introduced.as_deref() else {
            continue;
        };
        match old.iter().find(|o| o.platform == n.platform) {
            Some(o) if o.is_supported() && o.introduced.as_deref() == Some(version) => {}
            Some(o) if o.is_supported() && o.introduced.is_some() => {
                out.push(format!("{} {version}", n.platform));
            }
            // An old key without facts had its item's: only a platform the old release
            // explicitly lacked counts.
            None if old.is_empty() => {}
            _ => out.push(format!("{} {version}", n.platform)),
        }
    }
    (!out.is_empty()).then(|| out.join(", "))
}

fn keys(
    out: &mut Vec<Change>,
    folder: &str,
    prefix: &str,
    old: &[Key],
    new: &[Key],
    item_removed: bool,
    skip_item: bool,
) {
    let push = |out: &mut Vec<Change>, kind, path: String, detail| {
        out.push(Change {
            folder: folder.to_owned(),
            kind,
            path,
            detail,
        });
    };
    // The one item of an array is no level of the path (`Queries/OSUpdateSettings`, not
    // `Queries/QueriesItem/OSUpdateSettings`), as in CHANGES.md.
    let join = |key: &str, siblings: usize| {
        if skip_item && siblings == 1 {
            prefix.to_owned()
        } else {
            format!("{prefix}/{key}")
        }
    };
    for n in new {
        let path = join(&n.key, new.len());
        match old.iter().find(|o| o.key == n.key) {
            None => push(out, Kind::NewKey, path, None),
            Some(o) => {
                if !item_removed && newly_removed(&o.supported_os, &n.supported_os) {
                    push(out, Kind::RemovedKey, path.clone(), None);
                } else if let Some(d) = new_support(&o.supported_os, &n.supported_os) {
                    push(out, Kind::KeyOsSupport, path.clone(), Some(d));
                }
                if o.ty != n.ty && !o.ty.is_empty() && !n.ty.is_empty() {
                    push(
                        out,
                        Kind::ChangedType,
                        path.clone(),
                        Some(format!("{} -> {}", o.ty, n.ty)),
                    );
                }
                keys(
                    out,
                    folder,
                    &path,
                    &o.subkeys,
                    &n.subkeys,
                    item_removed,
                    n.ty == "<array>",
                );
            }
        }
    }
    for o in old {
        if !new.iter().any(|n| n.key == o.key) {
            push(out, Kind::RemovedKey, join(&o.key, old.len()), None);
        }
    }
}

fn item_changes(out: &mut Vec<Change>, old: &Item, new: &Item) {
    let removed = newly_removed(&old.supported_os, &new.supported_os);
    if removed {
        out.push(Change {
            folder: new.folder.clone(),
            kind: Kind::RemovedObject,
            path: new.path.clone(),
            detail: None,
        });
    } else if let Some(d) = new_support(&old.supported_os, &new.supported_os) {
        out.push(Change {
            folder: new.folder.clone(),
            kind: Kind::ObjectOsSupport,
            path: new.path.clone(),
            detail: Some(d),
        });
    }
    keys(
        out,
        &new.folder,
        &new.path,
        &old.payload,
        &new.payload,
        removed,
        false,
    );
    keys(
        out,
        &new.folder,
        &new.path,
        &old.response,
        &new.response,
        removed,
        false,
    );
}

/// Every change from `old` to `new`, sorted by folder, kind and path.
pub fn diff(old: &Tree, new: &Tree) -> Vec<Change> {
    let mut out = Vec::new();
    for n in &new.items {
        let id = n.identity();
        match old.items.iter().find(|o| o.identity() == id) {
            Some(o) => item_changes(&mut out, o, n),
            None => out.push(Change {
                folder: n.folder.clone(),
                kind: Kind::NewObject,
                path: n.path.clone(),
                detail: None,
            }),
        }
    }
    for o in &old.items {
        let id = o.identity();
        if !new.items.iter().any(|n| n.identity() == id) {
            out.push(Change {
                folder: o.folder.clone(),
                kind: Kind::RemovedObject,
                path: o.path.clone(),
                detail: None,
            });
        }
    }
    out.sort_by(|a, b| (&a.folder, a.kind, &a.path).cmp(&(&b.folder, b.kind, &b.path)));
    out
}

/// The top folder a change is listed under in CHANGES.md: `declarative/status`,
/// `declarative/declarations/configurations`, `mdm/commands`…
pub fn section(folder: &str) -> &str {
    folder
}

/// The changes as Markdown in CHANGES.md's layout: one `##` section per folder, one `###`
/// per kind, one bullet per change.
pub fn markdown(old: &Tree, new: &Tree, changes: &[Change]) -> String {
    let mut s = format!(
        "# Changes from {} to {}\n\nFrom {} (release {}) to {} (release {}).\n",
        old.release,
        new.release,
        old.root.display(),
        old.release,
        new.root.display(),
        new.release
    );
    let mut folder = "";
    let mut kind = None;
    for c in changes {
        if c.folder != folder {
            folder = &c.folder;
            kind = None;
            let _ = write!(s, "\n---\n\n## {}\n", section(folder));
        }
        if kind != Some(c.kind) {
            kind = Some(c.kind);
            let _ = write!(s, "\n### {}\n\n", c.kind.title());
        }
        let _ = writeln!(s, "{}", c.line());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse_item;
    use std::path::PathBuf;

    fn tree(release: &str, files: &[(&str, &str)]) -> Tree {
        Tree {
            root: PathBuf::from(release),
            release: release.to_owned(),
            items: files
                .iter()
                .map(|(p, y)| parse_item(p, &serde_yaml::from_str(y).unwrap()))
                .collect(),
            unreadable: Vec::new(),
        }
    }

    #[test]
    fn objects_keys_and_os_support() {
        let old = tree(
            "1.0",
            &[
                (
                    "mdm/commands/a.yaml",
                    "title: A\npayload:\n  requesttype: A\n  supportedOS:\n    iOS:\n      introduced: '1.0'\n    tvOS:\n      introduced: n/a\npayloadkeys:\n- key: K\n  type: <string>\n- key: Gone\n  type: <string>\n",
                ),
                (
                    "mdm/commands/b.yaml",
                    "title: B\npayload:\n  requesttype: B\n",
                ),
            ],
        );
        let new = tree(
            "2.0",
            &[
                (
                    "mdm/commands/a.yaml",
                    "title: A\npayload:\n  requesttype: A\n  supportedOS:\n    iOS:\n      introduced: '1.0'\n    tvOS:\n      introduced: '2.0'\npayloadkeys:\n- key: K\n  type: <integer>\n  supportedOS:\n    iOS:\n      introduced: '1.0'\n      removed: '2.0'\n- key: Fresh\n  type: <string>\n",
                ),
                (
                    "mdm/commands/c.yaml",
                    "title: C\npayload:\n  requesttype: C\n",
                ),
            ],
        );
        let lines: Vec<String> = diff(&old, &new).iter().map(Change::line).collect();
        assert_eq!(
            lines,
            [
                "- New: mdm/commands/c.yaml",
                "- New: mdm/commands/a.yaml/Fresh",
                "- Changed: mdm/commands/a.yaml [tvOS 2.0]",
                "- Removed: mdm/commands/b.yaml",
                "- Removed: mdm/commands/a.yaml/Gone",
                "- Removed: mdm/commands/a.yaml/K",
                "- Changed: mdm/commands/a.yaml/K [<string> -> <integer>]",
            ]
        );
    }
}
