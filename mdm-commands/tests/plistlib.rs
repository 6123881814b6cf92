//! Python's plistlib reads the commands we encode as we mean them (XML and binary).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use mdm_commands::fuzzing::sample_dict;
use mdm_commands::{CommandEnvelope, json};
use mdm_proto::plist::{Dictionary, Value};

const SCRIPT: &str = r#"
import base64, datetime, json, plistlib, sys
def conv(v):
    if isinstance(v, dict): return {k: conv(x) for k, x in v.items()}
    if isinstance(v, list): return [conv(x) for x in v]
    if isinstance(v, bytes): return base64.b64encode(v).decode()
    if isinstance(v, datetime.datetime): return v.strftime('%Y-%m-%dT%H:%M:%SZ')
    return v
out = [conv(plistlib.load(open(p, 'rb'))) for p in sys.argv[1:]]
print(json.dumps(out))
"#;

#[test]
fn plistlib_reads_every_generated_command() {
    if !mdm_test_support::tool("python3") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mdm-commands-plistlib-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut paths = Vec::new();
    let mut expected = Vec::new();
    for (i, spec) in mdm_commands::schema::all().iter().enumerate() {
        let mut command = Dictionary::new();
        command.insert(
            "RequestType".into(),
            Value::String(spec.request_type.into()),
        );
        for (k, v) in sample_dict(spec.payload, &mut None, 0) {
            command.insert(k, v);
        }
        let mut env = Dictionary::new();
        env.insert("CommandUUID".into(), Value::String(format!("U-{i}")));
        env.insert("Command".into(), Value::Dictionary(command));
        let envelope = CommandEnvelope::from_dictionary(env).unwrap();
        for (ext, bytes) in [
            ("xml", envelope.encode().unwrap()),
            ("bin", envelope.encode_binary().unwrap()),
        ] {
            let path = dir.join(format!("{i}.{ext}"));
            std::fs::write(&path, bytes).unwrap();
            paths.push(path);
            expected.push(json::envelope_to_json(&envelope));
        }
    }
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(&paths)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
}
