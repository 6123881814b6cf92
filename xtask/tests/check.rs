//! `codegen --check` passes on fresh output and fails on any difference, stray file or
//! missing file; the committed generated code is up to date.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

fn run(out: &Path, check: bool) -> bool {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("codegen").arg("--out").arg(out);
    if check {
        cmd.arg("--check");
    }
    cmd.output().unwrap().status.success()
}

#[test]
fn check_detects_every_difference() {
    // The generator reads Apple's schemas from ../shared.
    if mdm_test_support::shared::dir().is_none() {
        return;
    }
    let out = std::env::temp_dir().join(format!("xtask-check-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    assert!(run(&out, false), "generation failed");
    assert!(run(&out, true), "fresh output must pass --check");

    for file in [
        "mdm-ddm/src/generated/status.rs",
        "mdm-commands/src/generated/registry.rs",
        "mdm-checkin/src/generated/errors.rs",
    ] {
        let file = out.join(file);
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, text.replacen("pub enum", "pub  enum", 1)).unwrap();
        assert!(!run(&out, true), "an edited file must fail --check");
        std::fs::write(&file, &text).unwrap();
        assert!(run(&out, true));
    }

    let stray = out.join("mdm-commands/src/generated/stray.rs");
    std::fs::write(&stray, "// old").unwrap();
    assert!(!run(&out, true), "a stray file must fail --check");
    std::fs::remove_file(&stray).unwrap();

    std::fs::remove_file(out.join("mdm-ddm/src/generated.rs")).unwrap();
    assert!(!run(&out, true), "a missing file must fail --check");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn committed_files_are_up_to_date() {
    if mdm_test_support::shared::dir().is_none() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    assert!(
        run(&root, true),
        "run `cargo run -p xtask -- codegen` and commit the result"
    );
}
