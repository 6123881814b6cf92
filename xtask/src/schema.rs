//! Reading Apple's command YAML. Only the fields the generator uses are read; any other
//! field is ignored, so newer copies of Apple's repository still load.

use serde_yaml::Value;
use std::path::Path;

/// One key of `payloadkeys` or `responsekeys`.
#[derive(Debug, Clone)]
pub struct Key {
    pub key: String,
    pub ty: String,
    pub presence: Option<String>,
    pub title: Option<String>,
    pub content: Option<String>,
    pub rangelist: Vec<String>,
    pub rangelist_all_strings: bool,
    pub subkeys: Vec<Key>,
    /// The key's own `supportedOS` (facts it does not give are the command's).
    pub supported_os: Vec<OsFacts>,
}

impl Key {
    pub fn required(&self) -> bool {
        self.presence.as_deref() == Some("required")
    }

    /// A wildcard key (`ANY`, `ANY app identifier`): stands for any key of its dictionary.
    pub fn is_wildcard(&self) -> bool {
        self.key == "ANY" || self.key.starts_with("ANY ")
    }
}

/// `supportedOS` of one platform.
#[derive(Debug, Clone, Default)]
pub struct OsFacts {
    pub platform: String,
    pub introduced: Option<String>,
    pub deprecated: Option<String>,
    pub removed: Option<String>,
    pub access_rights: Option<String>,
    pub supervised: Option<bool>,
    pub requires_dep: Option<bool>,
    pub device_channel: Option<bool>,
    pub user_channel: Option<bool>,
    pub user_enrollment: Option<String>,
    pub shared_ipad_mode: Option<String>,
    pub shared_ipad_device_channel: Option<bool>,
    pub shared_ipad_user_channel: Option<bool>,
}

/// One command file.
#[derive(Debug, Clone)]
pub struct CommandDef {
    pub file: String,
    pub title: String,
    pub description: String,
    pub request_type: String,
    pub supported_os: Vec<OsFacts>,
    pub payload: Vec<Key>,
    pub response: Vec<Key>,
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
    Some(Key {
        key,
        ty: text(get(v, "type")).unwrap_or_default(),
        presence: text(get(v, "presence")),
        title: text(get(v, "title")),
        content: text(get(v, "content")),
        rangelist,
        rangelist_all_strings: all_strings,
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

fn parse_command(file: &str, v: &Value) -> Result<CommandDef, String> {
    let payload = get(v, "payload").ok_or_else(|| format!("{file}: no `payload`"))?;
    let request_type =
        text(get(payload, "requesttype")).ok_or_else(|| format!("{file}: no `requesttype`"))?;
    let supported_os = parse_supported_os(get(payload, "supportedOS"));
    Ok(CommandDef {
        file: file.to_owned(),
        title: text(get(v, "title")).unwrap_or_else(|| request_type.clone()),
        description: text(get(v, "description"))
            .or_else(|| text(get(payload, "content")))
            .unwrap_or_default(),
        request_type,
        supported_os,
        payload: parse_keys(get(v, "payloadkeys")),
        response: parse_keys(get(v, "responsekeys")),
    })
}

/// Loads every `mdm/commands/*.yaml`, sorted by RequestType.
pub fn load(schema_dir: &Path) -> Result<Vec<CommandDef>, String> {
    let dir = schema_dir.join("mdm/commands");
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut out: Vec<CommandDef> = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes =
            std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let value: Value =
            serde_yaml::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        let def = parse_command(&name, &value)?;
        if out.iter().any(|d| d.request_type == def.request_type) {
            return Err(format!(
                "{name}: duplicate RequestType {}",
                def.request_type
            ));
        }
        out.push(def);
    }
    out.sort_by(|a, b| a.request_type.cmp(&b.request_type));
    Ok(out)
}
