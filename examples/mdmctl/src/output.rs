//! The output contract shared by every subcommand.

use std::io::{Read, Write};
use std::path::Path;

/// Largest input `mdmctl` reads, in bytes (the plist front door applies its own limits too).
pub const MAX_INPUT: u64 = 10 * 1024 * 1024;

/// An error for the user: printed as one `error:` line, exit status 1.
pub type CliError = Box<dyn std::error::Error + Send + Sync>;

/// Result of a subcommand.
pub type CliResult = Result<(), CliError>;

/// Reads a file, or standard input for `-` or no path, up to [`MAX_INPUT`] bytes (+1 so that
/// an oversized input is detected by the decoder's size limit).
pub fn read_input(path: Option<&Path>) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    match path {
        None => {
            std::io::stdin()
                .take(MAX_INPUT + 1)
                .read_to_end(&mut bytes)?;
        }
        Some(p) if p == Path::new("-") => {
            std::io::stdin()
                .take(MAX_INPUT + 1)
                .read_to_end(&mut bytes)?;
        }
        Some(p) => {
            let file =
                std::fs::File::open(p).map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            file.take(MAX_INPUT + 1).read_to_end(&mut bytes)?;
        }
    }
    Ok(bytes)
}

/// Prints one JSON value on stdout.
pub fn print_json(value: &serde_json::Value) -> CliResult {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Writes raw bytes (for `--reencode`) on stdout.
pub fn print_bytes(bytes: &[u8]) -> CliResult {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Prints the error as one line on stderr and exits with status 1.
pub fn fail(err: &CliError) -> ! {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    let line = message.replace('\n', " ");
    eprintln!("error: {line}");
    std::process::exit(1);
}

/// The error returned by subcommands that a later change fills in.
#[allow(dead_code)]
pub fn not_yet(what: &str) -> CliResult {
    Err(format!("{what} is not implemented yet").into())
}
