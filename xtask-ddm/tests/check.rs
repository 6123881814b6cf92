//! `--check` passes on fresh output and fails on any difference or stray file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn run(out: &Path, check: bool) -> bool {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask-ddm"));
    cmd.arg("--out").arg(out);
    if check {
        cmd.arg("--check");
    }
    cmd.output().unwrap().status.success()
}

#[test]
fn check_detects_every_difference() {
    let out = std::env::temp_dir().join(format!("xtask-ddm-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    assert!(run(&out, false), "generation failed");
    assert!(run(&out, true), "fresh output must pass --check");

    let file = out.join("generated/status.rs");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("pub enum", "pub  enum", 1)).unwrap();
    assert!(!run(&out, true), "an edited file must fail --check");
    std::fs::write(&file, &text).unwrap();
    assert!(run(&out, true));

    std::fs::write(out.join("generated/stray.rs"), "// old").unwrap();
    assert!(!run(&out, true), "a stray file must fail --check");
    std::fs::remove_file(out.join("generated/stray.rs")).unwrap();

    std::fs::remove_file(out.join("generated.rs")).unwrap();
    assert!(!run(&out, true), "a missing file must fail --check");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn committed_files_are_up_to_date() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../mdm-ddm/src");
    assert!(
        run(&out, true),
        "run `cargo run -p xtask-ddm` and commit the result"
    );
}
