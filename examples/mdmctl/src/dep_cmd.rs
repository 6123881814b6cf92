//! `mdmctl dep`: Apple's device enrollment (DEP/ABM) API.
//!
//! Offline: `keypair`, `decrypt-token`, `bypass-code`. Online (with a decrypted token file):
//! `account`, `devices fetch|sync|details`, `profile define|get|assign|remove`, and
//! `bypass-code --lock SERIAL`. Devices are printed as JSON lines, one device per line; the
//! final cursor goes to stderr as `cursor: <value>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use dep_client::client::DepClient;
use dep_client::driver::{BoxError, FileCursorStore, PageHandler, SyncDriver};
use dep_client::sync::Page;
use dep_client::token::{KeyPair, decrypt_token_file};
use dep_client::{
    ActivationLockRequest, BypassCode, Config, DeviceListRequest, Profile, ServerToken,
};
use serde_json::json;

use crate::output::{CliResult, print_json, read_input};

/// Arguments of `mdmctl dep`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DepCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DepCommand {
    /// Create the private key and the certificate to upload to Apple Business Manager.
    Keypair {
        /// Where to write the certificate (PEM), the file to upload.
        #[arg(long, default_value = "dep-cert.pem")]
        cert: PathBuf,
        /// Where to write the private key (PKCS#8 PEM); keep it secret.
        #[arg(long, default_value = "dep-key.pem")]
        key: PathBuf,
        /// The certificate's common name.
        #[arg(long, default_value = "mdmctl DEP")]
        cn: String,
        /// Validity of the certificate, in days.
        #[arg(long, default_value_t = 3650)]
        days: u64,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Decrypt the token file downloaded from Apple Business Manager and print the token JSON.
    DecryptToken {
        /// The token file (smime.p7m); `-` for standard input.
        file: Option<PathBuf>,
        /// The private key made by `keypair`.
        #[arg(long, default_value = "dep-key.pem")]
        key: PathBuf,
        /// The certificate made by `keypair`.
        #[arg(long, default_value = "dep-cert.pem")]
        cert: PathBuf,
    },
    /// Print the account (organisation and server) of the token.
    Account(Conn),
    /// List devices.
    #[command(subcommand)]
    Devices(DevicesCmd),
    /// Enrollment profiles.
    #[command(subcommand)]
    Profile(ProfileCmd),
    /// Generate an Activation Lock bypass code and its hash (escrow key); optionally lock a
    /// device with it.
    BypassCode {
        /// Use this code instead of generating one (XXXXX-XXXXX-XXXX-XXXX-XXXX-XXXX).
        #[arg(long)]
        code: Option<String>,
        /// Send the hash to Apple for this serial number (`device/activationlock`).
        #[arg(long)]
        lock: Option<String>,
        /// With --lock: the message shown on the locked device.
        #[arg(long)]
        lost_message: Option<String>,
        #[command(flatten)]
        conn: OptConn,
    },
}

#[derive(Debug, clap::Args)]
struct Conn {
    /// The decrypted token (JSON, as printed by `decrypt-token`).
    #[arg(long, env = "MDMCTL_DEP_TOKEN")]
    token: PathBuf,
    /// The DEP service's URL (`--url`, as for `push` and `scep`; `--base-url` still works).
    #[arg(long = "url", alias = "base-url", env = "MDMCTL_DEP_URL", default_value = dep_client::DEFAULT_BASE_URL)]
    base_url: String,
}

#[derive(Debug, clap::Args)]
struct OptConn {
    /// The decrypted token (JSON), needed with --lock.
    #[arg(long, env = "MDMCTL_DEP_TOKEN")]
    token: Option<PathBuf>,
    /// The DEP service's URL (`--url`, as for `push` and `scep`; `--base-url` still works).
    #[arg(long = "url", alias = "base-url", env = "MDMCTL_DEP_URL", default_value = dep_client::DEFAULT_BASE_URL)]
    base_url: String,
}

#[derive(Debug, clap::Subcommand)]
enum DevicesCmd {
    /// Fetch every device assigned to the server (all pages).
    Fetch {
        #[command(flatten)]
        conn: Conn,
        /// Continue a fetch from this cursor.
        #[arg(long)]
        cursor: Option<String>,
        /// Page size (1 to 1000).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// The changes since a cursor (all pages), or one fetch-then-sync round that keeps its
    /// cursor in --state-dir.
    Sync {
        #[command(flatten)]
        conn: Conn,
        /// Sync from this cursor.
        #[arg(
            long,
            conflicts_with = "state_dir",
            required_unless_present = "state_dir"
        )]
        cursor: Option<String>,
        /// Keep the cursor in this directory (saved only after each page was printed).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// The name of the cursor in --state-dir (one per token).
        #[arg(long, default_value = "default")]
        org: String,
        /// Page size (1 to 1000).
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Details of some devices.
    Details {
        #[command(flatten)]
        conn: Conn,
        /// Serial numbers.
        #[arg(required = true)]
        serials: Vec<String>,
    },
}

#[derive(Debug, clap::Subcommand)]
enum ProfileCmd {
    /// Define a profile from a JSON file (Apple's keys) and print the answer.
    Define {
        #[command(flatten)]
        conn: Conn,
        /// The profile JSON; `-` for standard input.
        file: Option<PathBuf>,
    },
    /// Print a profile.
    Get {
        #[command(flatten)]
        conn: Conn,
        /// The profile's UUID.
        uuid: String,
    },
    /// Assign a profile to devices.
    Assign {
        #[command(flatten)]
        conn: Conn,
        /// The profile's UUID.
        uuid: String,
        /// Serial numbers.
        #[arg(required = true)]
        serials: Vec<String>,
    },
    /// Remove the profile of devices.
    Remove {
        #[command(flatten)]
        conn: Conn,
        /// Serial numbers.
        #[arg(required = true)]
        serials: Vec<String>,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> CliResult {
    match args.command {
        DepCommand::Keypair {
            cert,
            key,
            cn,
            days,
            force,
        } => keypair(&cert, &key, &cn, days, force),
        DepCommand::DecryptToken { file, key, cert } => {
            let file_bytes = read_input(file.as_deref())?;
            let pair = KeyPair::from_pem(&read_text(&key)?, &read_bytes(&cert)?)?;
            let token = decrypt_token_file(&file_bytes, &pair)?;
            print_json(&serde_json::to_value(&token)?)
        }
        DepCommand::Account(conn) => {
            let client = client(&conn.token, &conn.base_url)?;
            let account = block_on(client.account())?;
            print_json(&serde_json::to_value(&account)?)
        }
        DepCommand::Devices(cmd) => devices(cmd),
        DepCommand::Profile(cmd) => profile(cmd),
        DepCommand::BypassCode {
            code,
            lock,
            lost_message,
            conn,
        } => {
            let code = match code {
                Some(text) => BypassCode::parse(&text)?,
                None => BypassCode::generate(),
            };
            let hash = code.hash();
            let mut out = json!({ "code": code.code(), "hash": hash });
            if let Some(serial) = lock {
                let token = conn.token.ok_or("--lock needs --token")?;
                let client = client(&token, &conn.base_url)?;
                let mut req = ActivationLockRequest::new(serial, Some(hash));
                if let Some(message) = lost_message {
                    req = req.with_lost_message(message);
                }
                let answer = block_on(client.activation_lock(req))?;
                out["activation_lock"] = serde_json::to_value(&answer)?;
            }
            print_json(&out)
        }
    }
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, crate::output::CliError> {
    read_input(Some(path))
}

fn read_text(path: &Path) -> Result<String, crate::output::CliError> {
    String::from_utf8(read_bytes(path)?)
        .map_err(|_| format!("{} is not UTF-8 text", path.display()).into())
}

fn keypair(cert: &Path, key: &Path, cn: &str, days: u64, force: bool) -> CliResult {
    if !force {
        for p in [cert, key] {
            if p.exists() {
                return Err(format!("{} exists (use --force to overwrite)", p.display()).into());
            }
        }
    }
    let validity = Duration::from_secs(days.saturating_mul(24 * 3600));
    let pair = KeyPair::generate(cn, validity)?;
    let key_pem = pair.private_key_pem()?;
    write_private(key, key_pem.as_bytes())?;
    std::fs::write(cert, pair.certificate_pem()?)
        .map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
    print_json(&json!({
        "certificate": cert.display().to_string(),
        "private_key": key.display().to_string(),
        "subject": format!("CN={cn}"),
    }))
}

fn write_private(path: &Path, bytes: &[u8]) -> CliResult {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.write_all(bytes)?;
    Ok(())
}

fn client(token: &Path, base_url: &str) -> Result<DepClient, crate::output::CliError> {
    let bytes = read_bytes(token)?;
    let token: ServerToken = match serde_json::from_slice(&bytes) {
        Ok(t) => t,
        // A decrypted token file in Apple's text form works too.
        Err(_) => dep_client::token::decode_token_text(&bytes)?,
    };
    Ok(DepClient::with_transport(
        token,
        Config::new()
            .with_base_url(base_url)
            .with_user_agent(concat!("mdmctl/", env!("CARGO_PKG_VERSION"))),
        dep_client::client::HyperTransport::new(),
    ))
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(future),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    }
}

fn print_devices(devices: &[dep_client::Device]) -> CliResult {
    for d in devices {
        print_json(&serde_json::to_value(d)?)?;
    }
    Ok(())
}

/// Prints each page's devices before the driver saves its cursor.
struct PrintPages;

impl PageHandler for PrintPages {
    async fn handle(&mut self, _org: &str, page: &Page) -> Result<(), BoxError> {
        print_devices(&page.response.devices)
    }
}

fn devices(cmd: DevicesCmd) -> CliResult {
    match cmd {
        DevicesCmd::Fetch {
            conn,
            cursor,
            limit,
        } => {
            let client = client(&conn.token, &conn.base_url)?;
            let last = block_on(list_all(&client, cursor, limit, false))?;
            eprintln!("cursor: {}", last.unwrap_or_default());
            Ok(())
        }
        DevicesCmd::Sync {
            conn,
            cursor,
            state_dir,
            org,
            limit,
        } => {
            let client = client(&conn.token, &conn.base_url)?;
            match (cursor, state_dir) {
                (Some(cursor), _) => {
                    let last = block_on(list_all(&client, Some(cursor), limit, true))?;
                    eprintln!("cursor: {}", last.unwrap_or_default());
                    Ok(())
                }
                (None, Some(dir)) => {
                    let store = FileCursorStore::new(dir);
                    let driver = SyncDriver::new(org, &client, &store).with_limit(limit);
                    let report = block_on(driver.run_round(&mut PrintPages))?;
                    eprintln!(
                        "pages: {}, devices: {}, refetches: {}",
                        report.pages, report.devices, report.refetches
                    );
                    Ok(())
                }
                (None, None) => Err("give --cursor or --state-dir".into()),
            }
        }
        DevicesCmd::Details { conn, serials } => {
            let client = client(&conn.token, &conn.base_url)?;
            let answer = block_on(client.device_details(serials))?;
            for (_, d) in answer.devices {
                print_json(&serde_json::to_value(&d)?)?;
            }
            Ok(())
        }
    }
}

/// Pages through fetch or sync until Apple says there is no more (or echoes the cursor),
/// printing devices as they come; returns the last cursor.
async fn list_all(
    client: &DepClient,
    mut cursor: Option<String>,
    limit: u32,
    sync: bool,
) -> Result<Option<String>, crate::output::CliError> {
    loop {
        let request = DeviceListRequest::new(cursor.clone(), Some(limit));
        let page = if sync {
            client.sync_devices(request).await?
        } else {
            client.fetch_devices(request).await?
        };
        print_devices(&page.devices)?;
        let echoed = page.cursor.is_some() && page.cursor == cursor;
        if page.cursor.is_some() {
            cursor = page.cursor;
        }
        if !page.more_to_follow || echoed || cursor.is_none() {
            return Ok(cursor);
        }
    }
}

fn profile(cmd: ProfileCmd) -> CliResult {
    match cmd {
        ProfileCmd::Define { conn, file } => {
            let bytes = read_input(file.as_deref())?;
            let profile: Profile = serde_json::from_slice(&bytes)
                .map_err(|e| format!("the profile JSON is malformed: {e}"))?;
            let client = client(&conn.token, &conn.base_url)?;
            let answer = block_on(client.define_profile(profile))?;
            print_json(&serde_json::to_value(&answer)?)
        }
        ProfileCmd::Get { conn, uuid } => {
            let client = client(&conn.token, &conn.base_url)?;
            let answer = block_on(client.get_profile(&uuid))?;
            print_json(&serde_json::to_value(&answer)?)
        }
        ProfileCmd::Assign {
            conn,
            uuid,
            serials,
        } => {
            let client = client(&conn.token, &conn.base_url)?;
            let answer = block_on(client.assign_profile(&uuid, serials))?;
            print_json(&serde_json::to_value(&answer)?)
        }
        ProfileCmd::Remove { conn, serials } => {
            let client = client(&conn.token, &conn.base_url)?;
            let answer = block_on(client.remove_profile(serials))?;
            print_json(&serde_json::to_value(&answer)?)
        }
    }
}
