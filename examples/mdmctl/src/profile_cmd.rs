//! `mdmctl profile`: lint, inspect, create, sign and verify configuration profiles
//! (.mobileconfig) with mdm-profiles.

use crate::output::{CliResult, print_bytes, print_json, read_input};
use mdm_profiles::lint::{Severity, output};
use mdm_profiles::{AnyPayload, Profile, Target, schema, skeleton};
use serde_json::{Value as Json, json};
use std::path::PathBuf;

/// Exit status of `profile lint` when the worst finding is a warning.
pub const EXIT_WARNINGS: i32 = 3;
/// Exit status of `profile lint` when a finding is an error (as for bad input).
pub const EXIT_ERRORS: i32 = 1;

/// Subcommands of `mdmctl profile`.
#[derive(Debug, clap::Subcommand)]
pub enum ProfileCmd {
    /// Check a profile against Apple's schema. Exit status: 0 when nothing (or only
    /// information) was found, 3 for warnings, 1 for errors or a file that is not a profile.
    Lint(LintArgs),
    /// Print a profile as JSON: its keys, and every payload typed where the schema knows
    /// its PayloadType (with the signer of a signed profile).
    Inspect {
        /// The profile (XML, binary or CMS-signed); `-` for standard input.
        file: PathBuf,
    },
    /// Print a minimal valid profile (XML) with one payload of a PayloadType: the keys the
    /// schema requires, with its defaults, and fresh UUIDs.
    New {
        /// The payload's PayloadType (`com.apple.wifi.managed`).
        payload_type: String,
        /// The profile's PayloadIdentifier (default: `com.example.` and the type without `com.apple.`).
        #[arg(long)]
        identifier: Option<String>,
    },
    /// Sign a profile: a CMS SignedData (DER) holding it, as devices install it.
    Sign {
        /// The signer's certificate (PEM), then any intermediates to carry.
        #[arg(long)]
        cert: PathBuf,
        /// The signer's private key (PEM: PKCS#8, PKCS#1 or SEC1; RSA or EC P-256).
        #[arg(long)]
        key: PathBuf,
        /// The profile to sign; `-` for standard input.
        file: PathBuf,
        /// Where to write the signed profile (default: standard output).
        #[arg(short = 'o', long)]
        out: Option<PathBuf>,
    },
    /// Verify a signed profile's signature, and with `--ca` that its signer chains to a
    /// trusted certificate. Prints the signer as JSON; exit 1 when it does not verify.
    Verify {
        /// The signed profile; `-` for standard input.
        file: PathBuf,
        /// Trusted certificates (PEM or DER); the signer must chain to one of them.
        #[arg(long)]
        ca: Option<PathBuf>,
    },
}

/// Output formats of `profile lint`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LintFormat {
    /// One line per finding, then a summary.
    Human,
    /// A JSON object: the file, counts and findings.
    Json,
    /// SARIF 2.1.0, for code-scanning tools.
    Sarif,
}

/// Arguments of `profile lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// The profile (XML, binary or CMS-signed); `-` for standard input.
    pub file: PathBuf,
    /// A device kind it is meant for: `ios:17.0`, `macos:14`, `tvos`… (repeatable).
    #[arg(long = "target")]
    pub targets: Vec<String>,
    /// The targets are supervised.
    #[arg(long)]
    pub supervised: bool,
    /// The targets are enrolled through User Enrollment.
    #[arg(long)]
    pub user_enrollment: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    pub format: LintFormat,
}

/// Runs the subcommand.
pub fn run(cmd: ProfileCmd) -> CliResult {
    match cmd {
        ProfileCmd::Lint(args) => lint(&args),
        ProfileCmd::Inspect { file } => inspect(&file),
        ProfileCmd::New {
            payload_type,
            identifier,
        } => new(&payload_type, identifier.as_deref()),
        ProfileCmd::Sign {
            cert,
            key,
            file,
            out,
        } => sign(&cert, &key, &file, out.as_deref()),
        ProfileCmd::Verify { file, ca } => verify(&file, ca.as_deref()),
    }
}

fn read_profile(file: &std::path::Path) -> Result<Profile, crate::output::CliError> {
    let bytes = read_input(Some(file))?;
    Profile::decode(&bytes).map_err(|e| format!("{}: {e}", file.display()).into())
}

fn lint(args: &LintArgs) -> CliResult {
    let targets = args
        .targets
        .iter()
        .map(|t| {
            t.parse::<Target>().map(|t| {
                t.supervised(args.supervised)
                    .user_enrollment(args.user_enrollment)
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let profile = read_profile(&args.file)?;
    let report = mdm_profiles::lint(&profile, &targets);
    let name = args.file.display().to_string();
    match args.format {
        LintFormat::Human => print_bytes(output::human(&report, &name).as_bytes())?,
        LintFormat::Json => print_json(&json!({
            "file": name,
            "targets": targets.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "errors": report.count(Severity::Error),
            "warnings": report.count(Severity::Warning),
            "info": report.count(Severity::Info),
            "findings": output::json(&report),
        }))?,
        LintFormat::Sarif => print_json(&output::sarif(&report, &name))?,
    }
    match report.worst() {
        Some(Severity::Error) => std::process::exit(EXIT_ERRORS),
        Some(Severity::Warning) => std::process::exit(EXIT_WARNINGS),
        _ => Ok(()),
    }
}

fn subject(der: &[u8]) -> Json {
    match mdm_pki::parse_certificate(der) {
        Ok(c) => Json::String(c.tbs_certificate().subject().to_string()),
        Err(_) => Json::Null,
    }
}

fn dict_json(d: &mdm_profiles::plist::Dictionary) -> Json {
    mdm_proto::json::to_json(&mdm_profiles::plist::Value::Dictionary(d.clone()))
}

fn inspect(file: &std::path::Path) -> CliResult {
    let profile = read_profile(file)?;
    let payloads: Vec<Json> = profile
        .payloads
        .iter()
        .map(|p| {
            let spec = p.payload_type().and_then(schema::spec);
            json!({
                "type": p.payload_type(),
                "identifier": p.identifier(),
                "uuid": p.uuid(),
                "display_name": p.display_name(),
                "title": spec.map(|s| s.title),
                "typed": !matches!(p.body, AnyPayload::Unknown(_)),
                "untyped_reason": p.untyped_reason,
                "common": dict_json(&p.common),
                "keys": mdm_proto::json::to_json(&p.body.to_value()),
            })
        })
        .collect();
    let signed = profile.signature.as_ref().map(|s| {
        json!({
            "signer": subject(&s.signer_der),
            "certificates": s.certificates_der.len(),
        })
    });
    print_json(&json!({
        "format": format!("{:?}", profile.format).to_ascii_lowercase(),
        "signed": signed,
        "identifier": profile.identifier(),
        "uuid": profile.uuid(),
        "display_name": profile.display_name(),
        "keys": dict_json(&profile.keys),
        "payloads": payloads,
    }))
}

fn fresh_uuid() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

fn new(payload_type: &str, identifier: Option<&str>) -> CliResult {
    let short = payload_type
        .strip_prefix("com.apple.")
        .unwrap_or(payload_type);
    let identifier = identifier.map_or_else(|| format!("com.example.{short}"), str::to_owned);
    let profile =
        skeleton::profile(payload_type, &identifier, &mut fresh_uuid).ok_or_else(|| {
            let names = schema::all().iter().map(|s| s.payload_type);
            format!(
                "unknown PayloadType {payload_type}{}",
                mdm_profiles::lint::keys::suggestion(payload_type, names)
            )
        })?;
    print_bytes(&profile.encode()?)
}

fn sign(
    cert: &std::path::Path,
    key: &std::path::Path,
    file: &std::path::Path,
    out: Option<&std::path::Path>,
) -> CliResult {
    let certs = mdm_pki::parse_certificates(&read_input(Some(cert))?)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    let (signer, chain) = certs
        .split_first()
        .ok_or_else(|| format!("{}: no certificate", cert.display()))?;
    let key_pem = String::from_utf8(read_input(Some(key))?)
        .map_err(|_| format!("{}: not a PEM file", key.display()))?;
    let key = mdm_pki::key::private_key_from_pem(&key_pem, None)
        .map_err(|e| format!("{}: {e}", key.display()))?;
    let profile = read_profile(file)?;
    let chain: Vec<&mdm_pki::Certificate> = chain.iter().collect();
    let signed = profile.sign(signer, key.as_ref(), &chain)?;
    match out {
        Some(path) => std::fs::write(path, &signed)
            .map_err(|e| format!("cannot write {}: {e}", path.display()).into()),
        None => print_bytes(&signed),
    }
}

fn verify(file: &std::path::Path, ca: Option<&std::path::Path>) -> CliResult {
    let profile = read_profile(file)?;
    let signature = profile
        .signature
        .as_ref()
        .ok_or_else(|| format!("{}: the profile is not signed", file.display()))?;
    let trusted = match ca {
        Some(path) => {
            let anchors = mdm_pki::parse_certificates(&read_input(Some(path))?)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            signature.verify_trust(&anchors, now)?;
            Some(true)
        }
        None => None,
    };
    print_json(&json!({
        "verified": true,
        "trusted": trusted,
        "signer": subject(&signature.signer_der),
        "certificates": signature.certificates_der.len(),
        "identifier": profile.identifier(),
    }))
}
