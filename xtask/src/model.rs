//! One model of Apple's YAML schema format (`docs/schema.yaml` in Apple's repository), read
//! from a whole tree, and the union of several releases.
//!
//! Every file under `mdm/` and `declarative/` (and `other/`) is one [`Item`]: a command, a
//! check-in message, an error body, a declaration, a credential document, a status item, a
//! protocol body or a profile payload. Only the fields the generators and `schema diff` use
//! are read; any other field is ignored, so newer releases still load. See
//! `xtask/SCHEMA.md` for how each YAML field maps onto the model.

use serde_yaml::Value;
use std::path::{Path, PathBuf};

/// One key of `payloadkeys` or `responsekeys` (or a subkey).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    /// `key`: the wire name (`ANY …` for a wildcard).
    pub key: String,
    /// `type`: `<string>`, `<dictionary>`…
    pub ty: String,
    /// `presence`: `required` or `optional`.
    pub presence: Option<String>,
    /// `title`.
    pub title: Option<String>,
    /// `content`: the key's prose.
    pub content: Option<String>,
    /// `rangelist`, every value as text.
    pub rangelist: Vec<String>,
    /// True when every `rangelist` value is a YAML string.
    pub rangelist_all_strings: bool,
    /// `default`, as text.
    pub default: Option<String>,
    /// `range.min`, as text.
    pub range_min: Option<String>,
    /// `range.max`, as text.
    pub range_max: Option<String>,
    /// `subkeytype`: the name Apple gives a nested dictionary type.
    pub subkeytype: Option<String>,
    /// `assettypes` (DDM asset references).
    pub assettypes: Vec<String>,
    /// `combinetype` (DDM combined configurations).
    pub combinetype: Option<String>,
    /// `subkeys`.
    pub subkeys: Vec<Key>,
    /// The key's own `supportedOS` (facts it does not give are its item's).
    pub supported_os: Vec<OsFacts>,
}

impl Key {
    /// True when the schema says `presence: required`.
    pub fn required(&self) -> bool {
        self.presence.as_deref() == Some("required")
    }

    /// A wildcard key (`ANY`, `ANY app identifier`): stands for any key of its dictionary.
    pub fn is_wildcard(&self) -> bool {
        self.key == "ANY" || self.key.starts_with("ANY ")
    }
}

/// `supportedOS` of one platform.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OsFacts {
    /// `iOS`, `macOS`…
    pub platform: String,
    /// `introduced` (`n/a` when the platform never had it).
    pub introduced: Option<String>,
    /// `deprecated`.
    pub deprecated: Option<String>,
    /// `removed`.
    pub removed: Option<String>,
    /// `accessrights`.
    pub access_rights: Option<String>,
    /// `supervised`.
    pub supervised: Option<bool>,
    /// `requiresdep`.
    pub requires_dep: Option<bool>,
    /// `devicechannel`.
    pub device_channel: Option<bool>,
    /// `userchannel`.
    pub user_channel: Option<bool>,
    /// `userenrollment.mode`.
    pub user_enrollment: Option<String>,
    /// `sharedipad.mode`.
    pub shared_ipad_mode: Option<String>,
    /// `sharedipad.devicechannel`.
    pub shared_ipad_device_channel: Option<bool>,
    /// `sharedipad.userchannel`.
    pub shared_ipad_user_channel: Option<bool>,
    /// `allowed-enrollments` (DDM).
    pub allowed_enrollments: Vec<String>,
    /// `allowed-scopes` (DDM).
    pub allowed_scopes: Vec<String>,
    /// `sharedipad.allowed-scopes` (DDM).
    pub shared_ipad_scopes: Vec<String>,
}

impl OsFacts {
    /// True when the platform has the item at all.
    pub fn is_supported(&self) -> bool {
        !matches!(self.introduced.as_deref(), Some("n/a"))
    }
}

/// One `reasons` entry (DDM reason codes).
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// `value`.
    pub value: String,
    /// `description`.
    pub description: Option<String>,
}

/// One schema file.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The folder under the tree root: `mdm/commands`, `declarative/status`…
    pub folder: String,
    /// The path under the tree root: `mdm/commands/device.restart.yaml`.
    pub path: String,
    /// The file name: `device.restart.yaml`.
    pub file: String,
    /// `title`.
    pub title: String,
    /// `description`.
    pub description: Option<String>,
    /// `payload.content`.
    pub content: Option<String>,
    /// What names the item on the wire: `payload.requesttype` (commands, check-ins, DDM
    /// protocol bodies), `declarationtype`, `statusitemtype`, `credentialtype`,
    /// `payloadtype`, or for error bodies the value of their `code` key; else the file name.
    pub id: String,
    /// Where [`Item::id`] comes from: `requesttype`, `declarationtype`, `statusitemtype`,
    /// `credentialtype`, `payloadtype`, `code` or `file`.
    pub id_key: String,
    /// `payload.apply` (DDM configurations).
    pub apply: Option<String>,
    /// `payload.beta`.
    pub beta: bool,
    /// `payload.supportedOS`.
    pub supported_os: Vec<OsFacts>,
    /// `payloadkeys`.
    pub payload: Vec<Key>,
    /// `responsekeys`.
    pub response: Vec<Key>,
    /// `reasons`.
    pub reasons: Vec<Reason>,
    /// Set by [`union`]: the release whose tree no longer has this item (it comes from an
    /// older tree).
    pub removed_in: Option<String>,
}

impl Item {
    /// What identifies the item across releases: its folder and wire id, or its path for
    /// profiles (several files share one PayloadType) and files without an id.
    pub fn identity(&self) -> (String, String) {
        match self.id_key.as_str() {
            "payloadtype" | "file" => (self.folder.clone(), self.path.clone()),
            _ => (self.folder.clone(), self.id.clone()),
        }
    }

    /// The removal note for `#[deprecated]`, when the item was removed.
    pub fn removal_note(&self) -> Option<String> {
        let release = self.removed_in.as_deref()?;
        let deprecated = self
            .supported_os
            .iter()
            .find_map(|o| o.deprecated.as_deref())
            .map(|d| format!(" (deprecated since {d})"))
            .unwrap_or_default();
        Some(format!(
            "Apple removed `{}`{deprecated} from its schema in release {release}: devices on {release} or later refuse it; devices on older releases still run it",
            self.id
        ))
    }
}

/// One release of Apple's repository.
#[derive(Debug, Clone)]
pub struct Tree {
    /// The folder it was read from.
    pub root: PathBuf,
    /// The newest `introduced` version anywhere in the tree (`27.0`): the release it is.
    pub release: String,
    /// Every item, sorted by path.
    pub items: Vec<Item>,
    /// Files of `mdm/profiles` that serde_yaml cannot read even once their recursive
    /// aliases are cut ([`break_recursive_aliases`]), with why.
    pub unreadable: Vec<(String, String)>,
}

impl Tree {
    /// The items of one folder (`mdm/commands`), sorted by path.
    pub fn folder<'a>(&'a self, folder: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.items.iter().filter(move |i| i.folder == folder)
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn boolean(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_mapping()?.get(key)
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s.iter().filter_map(|x| text(Some(x))).collect(),
        _ => Vec::new(),
    }
}

fn parse_key(v: &Value) -> Option<Key> {
    let key = text(get(v, "key"))?;
    let mut rangelist = Vec::new();
    let mut all_strings = true;
    if let Some(Value::Sequence(items)) = get(v, "rangelist") {
        for item in items {
            if !matches!(item, Value::String(_)) {
                all_strings = false;
            }
            if let Some(t) = text(Some(item)) {
                rangelist.push(t);
            }
        }
    }
    let default = get(v, "default").map(|d| match d {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    });
    Some(Key {
        key,
        ty: text(get(v, "type")).unwrap_or_default(),
        presence: text(get(v, "presence")),
        title: text(get(v, "title")),
        content: text(get(v, "content")),
        rangelist,
        rangelist_all_strings: all_strings,
        default,
        range_min: get(v, "range").and_then(|r| text(get(r, "min"))),
        range_max: get(v, "range").and_then(|r| text(get(r, "max"))),
        subkeytype: text(get(v, "subkeytype")),
        assettypes: list(get(v, "assettypes")),
        combinetype: text(get(v, "combinetype")),
        subkeys: parse_keys(get(v, "subkeys")),
        supported_os: parse_supported_os(get(v, "supportedOS")),
    })
}

fn parse_keys(v: Option<&Value>) -> Vec<Key> {
    let mut out: Vec<Key> = Vec::new();
    if let Some(Value::Sequence(items)) = v {
        for item in items {
            if let Some(k) = parse_key(item)
                && !out.iter().any(|o| o.key == k.key)
            {
                out.push(k);
            }
        }
    }
    out
}

fn parse_os(platform: &str, v: &Value) -> OsFacts {
    let ue = get(v, "userenrollment");
    let si = get(v, "sharedipad");
    OsFacts {
        platform: platform.to_owned(),
        introduced: text(get(v, "introduced")),
        deprecated: text(get(v, "deprecated")),
        removed: text(get(v, "removed")),
        access_rights: text(get(v, "accessrights")),
        supervised: boolean(get(v, "supervised")),
        requires_dep: boolean(get(v, "requiresdep")),
        device_channel: boolean(get(v, "devicechannel")),
        user_channel: boolean(get(v, "userchannel")),
        user_enrollment: ue.and_then(|u| text(get(u, "mode"))),
        shared_ipad_mode: si.and_then(|s| text(get(s, "mode"))),
        shared_ipad_device_channel: si.and_then(|s| boolean(get(s, "devicechannel"))),
        shared_ipad_user_channel: si.and_then(|s| boolean(get(s, "userchannel"))),
        allowed_enrollments: list(get(v, "allowed-enrollments")),
        allowed_scopes: list(get(v, "allowed-scopes")),
        shared_ipad_scopes: list(si.and_then(|s| get(s, "allowed-scopes"))),
    }
}

fn parse_supported_os(v: Option<&Value>) -> Vec<OsFacts> {
    let mut out = Vec::new();
    if let Some(Value::Mapping(m)) = v {
        for (platform, facts) in m {
            if let Some(p) = text(Some(platform)) {
                out.push(parse_os(&p, facts));
            }
        }
    }
    out
}

/// Reads one schema document; `path` is its path under the tree root.
pub fn parse_item(path: &str, v: &Value) -> Item {
    let (folder, file) = path.rsplit_once('/').unwrap_or(("", path));
    let empty = Value::Null;
    let payload = get(v, "payload").unwrap_or(&empty);
    let payload_keys = parse_keys(get(v, "payloadkeys"));
    let (id_key, id) = [
        "requesttype",
        "declarationtype",
        "statusitemtype",
        "credentialtype",
        "payloadtype",
    ]
    .iter()
    .find_map(|k| Some(((*k).to_owned(), text(get(payload, k))?)))
    .or_else(|| {
        // Error bodies: the one value of their `code` key.
        payload_keys
            .iter()
            .find(|k| k.key == "code" && k.rangelist.len() == 1)
            .map(|k| ("code".to_owned(), k.rangelist[0].clone()))
    })
    .unwrap_or_else(|| ("file".to_owned(), file.trim_end_matches(".yaml").to_owned()));
    Item {
        folder: folder.to_owned(),
        path: path.to_owned(),
        file: file.to_owned(),
        title: text(get(v, "title")).unwrap_or_else(|| id.clone()),
        description: text(get(v, "description")),
        content: text(get(payload, "content")),
        id,
        id_key,
        apply: text(get(payload, "apply")),
        beta: boolean(get(payload, "beta")).unwrap_or(false),
        supported_os: parse_supported_os(get(payload, "supportedOS")),
        payload: payload_keys,
        response: parse_keys(get(v, "responsekeys")),
        reasons: match get(v, "reasons") {
            Some(Value::Sequence(rs)) => rs
                .iter()
                .filter_map(|r| {
                    Some(Reason {
                        value: text(get(r, "value"))?,
                        description: text(get(r, "description")),
                    })
                })
                .collect(),
            _ => Vec::new(),
        },
        removed_in: None,
    }
}

/// The folders the model reads.
pub const FOLDERS: &[&str] = &["mdm", "declarative", "other"];

/// Compares dotted versions numerically (`10.13` < `10.13.1` < `11`).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let parse = |s: &str| -> Vec<u64> {
        s.split('.')
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    let (x, y) = (parse(a), parse(b));
    for i in 0..x.len().max(y.len()) {
        let (p, q) = (
            x.get(i).copied().unwrap_or(0),
            y.get(i).copied().unwrap_or(0),
        );
        match p.cmp(&q) {
            std::cmp::Ordering::Equal => {}
            other => return other,
        }
    }
    std::cmp::Ordering::Equal
}

fn newest_introduced(v: &Value, best: &mut String) {
    match v {
        Value::Mapping(m) => {
            for (k, val) in m {
                if k.as_str() == Some("introduced")
                    && let Some(t) = text(Some(val))
                    && t.starts_with(|c: char| c.is_ascii_digit())
                    && compare_versions(&t, best).is_gt()
                {
                    best.clone_from(&t);
                }
                newest_introduced(val, best);
            }
        }
        Value::Sequence(s) => s.iter().for_each(|x| newest_introduced(x, best)),
        _ => {}
    }
}

/// Loads every `.yaml` file of a tree (under [`FOLDERS`]), sorted by path.
pub fn load_tree(root: &Path) -> Result<Tree, String> {
    let mut files = Vec::new();
    for folder in FOLDERS {
        let mut stack = vec![root.join(folder)];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    files.push(p);
                }
            }
        }
    }
    if files.is_empty() {
        return Err(format!("no schema YAML under {}", root.display()));
    }
    files.sort();
    let mut items = Vec::new();
    let mut unreadable = Vec::new();
    let mut release = String::from("0");
    for p in files {
        let bytes = std::fs::read(&p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
        let rel = p
            .strip_prefix(root)
            .map_err(|e| e.to_string())?
            .to_string_lossy()
            .replace('\\', "/");
        let value: Value = match serde_yaml::from_slice(&bytes) {
            Ok(v) => v,
            Err(e) if rel.starts_with("mdm/profiles/") => {
                // Two profiles (`homescreenlayout`, `applicationaccess.new`) describe
                // folders of icons with an alias back to an enclosing anchor, which
                // serde_yaml cannot expand; cut the cycle and read the rest.
                let text = String::from_utf8_lossy(&bytes);
                match serde_yaml::from_str(&break_recursive_aliases(&text)) {
                    Ok(v) => v,
                    Err(_) => {
                        unreadable.push((rel, e.to_string()));
                        continue;
                    }
                }
            }
            Err(e) => return Err(format!("{}: {e}", p.display())),
        };
        newest_introduced(&value, &mut release);
        items.push(parse_item(&rel, &value));
    }
    Ok(Tree {
        root: root.to_path_buf(),
        release,
        items,
        unreadable,
    })
}

/// Replaces every alias (`*id001`) that refers to an anchor enclosing it (a recursive
/// structure) by an empty list, so that the document can be read as a tree. The key whose
/// value was the alias then has no subkeys: its values stay untyped (kept as sent).
pub fn break_recursive_aliases(text: &str) -> String {
    let indent = |l: &str| l.len() - l.trim_start().len();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let alias = line
            .trim_end()
            .rsplit_once(": *")
            .map(|(_, a)| a)
            .filter(|a| !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        let recursive = alias.is_some_and(|a| {
            let anchor = format!("&{a}");
            lines[..i].iter().enumerate().rev().any(|(j, l)| {
                l.trim_end().ends_with(&anchor)
                    && lines[j + 1..i]
                        .iter()
                        .filter(|m| !m.trim().is_empty())
                        .all(|m| {
                            indent(m) > indent(l)
                                || (indent(m) == indent(l) && m.trim_start().starts_with("- "))
                        })
                    && indent(line) > indent(l)
            })
        });
        match (recursive, alias) {
            (true, Some(a)) => out.push(line.replacen(&format!("*{a}"), "[]", 1)),
            _ => out.push((*line).to_owned()),
        }
    }
    out.join("\n")
}

/// Marks facts as removed in `release`: every platform that had them and says nothing of
/// a removal gets `removed: release`. A key without facts of its own takes its item's
/// platforms.
fn mark_removed(facts: &mut Vec<OsFacts>, fallback: &[OsFacts], release: &str) {
    if facts.is_empty() {
        *facts = fallback
            .iter()
            .filter(|f| f.is_supported())
            .map(|f| OsFacts {
                platform: f.platform.clone(),
                ..OsFacts::default()
            })
            .collect();
    }
    for f in facts.iter_mut() {
        if f.is_supported() && f.removed.is_none() {
            f.removed = Some(release.to_owned());
        }
    }
}

/// Adds the keys only `old` has to `new` (recursively), marked removed in `release`.
fn merge_keys(new: &mut Vec<Key>, old: &[Key], item_os: &[OsFacts], release: &str) {
    for o in old {
        match new.iter_mut().find(|n| n.key == o.key) {
            Some(n) => merge_keys(&mut n.subkeys, &o.subkeys, item_os, release),
            None => {
                let mut k = o.clone();
                mark_removed(&mut k.supported_os, item_os, release);
                new.push(k);
            }
        }
    }
}

/// The union of releases, newest first: the newest tree that has an item is its source of
/// truth; keys and items only older trees have are kept, their `supportedOS` marked
/// `removed` in the release of the first newer tree that lacks them, and removed items get
/// [`Item::removed_in`]. Sorted by path.
pub fn union(trees: &[Tree]) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    for (n, tree) in trees.iter().enumerate() {
        // The release that dropped what this tree has and the newer ones lack.
        let newer_release = n.checked_sub(1).map(|p| trees[p].release.as_str());
        for item in &tree.items {
            let identity = item.identity();
            match out.iter_mut().find(|o| o.identity() == identity) {
                Some(existing) => {
                    if let Some(release) = newer_release
                        && existing.removed_in.is_none()
                    {
                        let os = existing.supported_os.clone();
                        merge_keys(&mut existing.payload, &item.payload, &os, release);
                        merge_keys(&mut existing.response, &item.response, &os, release);
                    }
                }
                None => {
                    let mut item = item.clone();
                    if let Some(release) = newer_release {
                        let os = item.supported_os.clone();
                        mark_removed(&mut item.supported_os, &os, release);
                        item.removed_in = Some(release.to_owned());
                    }
                    out.push(item);
                }
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Loads the trees (newest first) and returns their union.
pub fn load_union(roots: &[PathBuf]) -> Result<(Vec<Tree>, Vec<Item>), String> {
    let trees = roots
        .iter()
        .map(|r| load_tree(r))
        .collect::<Result<Vec<_>, _>>()?;
    let items = union(&trees);
    Ok((trees, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(path: &str, yaml: &str) -> Item {
        parse_item(path, &serde_yaml::from_str(yaml).unwrap())
    }

    #[test]
    fn the_newest_release_wins_and_removed_items_are_kept() {
        let old = Tree {
            root: PathBuf::new(),
            release: "18.1".into(),
            unreadable: Vec::new(),
            items: vec![
                item(
                    "mdm/commands/a.yaml",
                    "title: A\npayload:\n  requesttype: A\n  supportedOS:\n    iOS:\n      introduced: '9.0'\n    macOS:\n      introduced: n/a\npayloadkeys:\n- key: Old\n  type: <string>\n- key: Both\n  type: <string>\n",
                ),
                item(
                    "mdm/commands/gone.yaml",
                    "title: Gone\npayload:\n  requesttype: Gone\n  supportedOS:\n    iOS:\n      introduced: '10.0'\n      deprecated: '17.0'\n",
                ),
            ],
        };
        let new = Tree {
            root: PathBuf::new(),
            release: "27.0".into(),
            unreadable: Vec::new(),
            items: vec![item(
                "mdm/commands/a.yaml",
                "title: A new\npayload:\n  requesttype: A\n  supportedOS:\n    iOS:\n      introduced: '9.0'\npayloadkeys:\n- key: Both\n  type: <integer>\n",
            )],
        };
        let all = union(&[new, old]);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].title, "A new");
        assert_eq!(all[0].payload[0].ty, "<integer>");
        assert_eq!(all[0].payload[1].key, "Old");
        assert_eq!(
            all[0].payload[1].supported_os[0].removed.as_deref(),
            Some("27.0")
        );
        assert_eq!(all[1].removed_in.as_deref(), Some("27.0"));
        assert_eq!(all[1].supported_os[0].removed.as_deref(), Some("27.0"));
        assert!(all[1].removal_note().unwrap().contains("since 17.0"));
    }

    #[test]
    fn error_bodies_are_named_by_their_code() {
        let i = item(
            "mdm/errors/x.yaml",
            "title: X\npayload: {}\npayloadkeys:\n- key: code\n  type: <string>\n  rangelist: [com.apple.x]\n",
        );
        assert_eq!(i.id, "com.apple.x");
        assert_eq!(i.folder, "mdm/errors");
    }
}
