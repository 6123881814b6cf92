//! The MDM server's admin API: `enrollments`, `commands`, `queue`, `push-enrollments`,
//! `enroll-link`.
//!
//! Every subcommand prints the server's JSON answer as one line on stdout (`enroll-link`:
//! the enrollment URL, unless `--json`); an HTTP error or an unreachable server exits 1
//! with one `error:` line.

use std::path::PathBuf;

use base64::Engine;
use http::Method;
use mdm_http_client::{Client, Trust};

use crate::output::{CliResult, print_json};

/// Where the admin API is and how to authenticate.
#[derive(Debug)]
pub struct Connection {
    /// Base URL of the server.
    pub server: Option<String>,
    /// API key.
    pub api_key: Option<String>,
    /// CA file for an `https://` server (`None`: the system's roots).
    pub ca_file: Option<PathBuf>,
}

/// API subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum ApiCmd {
    /// Enrollments known to the server.
    #[command(subcommand)]
    Enrollments(EnrollmentsCmd),
    /// Commands: build one (`new`, offline), send one to enrollments, or show its status.
    #[command(subcommand)]
    Commands(CommandsCmd),
    /// The command queue of one enrollment.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Ask the server to push to enrollments (APNs), so that they connect.
    PushEnrollments {
        /// Enrollment IDs.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Make an enrollment token and print the enrollment link to send to a user or
    /// device (`https://server/mdm/enroll?token=...`); the link is shown only now.
    EnrollLink(EnrollLinkArgs),
}

/// `mdmctl enroll-link ...`
#[derive(Debug, clap::Args)]
pub struct EnrollLinkArgs {
    /// How many devices may enroll with the link.
    #[arg(long, default_value_t = 1)]
    uses: u32,
    /// Seconds until the link expires (the server's default: seven days).
    #[arg(long)]
    expires_in: Option<u32>,
    /// Only this device (UDID or serial number) may enroll with it.
    #[arg(long)]
    device: Option<String>,
    /// The user it is meant for.
    #[arg(long)]
    user: Option<String>,
    /// An existing device ID that the device enrolling with it may take over (a wiped or
    /// replaced device re-enrolling under the same ID).
    #[arg(long)]
    may_reenroll: Option<String>,
    /// Print the server's whole answer (JSON: the token's ID, expiry...) instead of the URL.
    #[arg(long)]
    json: bool,
}

/// `mdmctl enrollments ...`
#[derive(Debug, clap::Subcommand)]
pub enum EnrollmentsCmd {
    /// List enrollments.
    List {
        /// Only enrollments of this type (Device, User, ...).
        #[arg(long = "type")]
        kind: Option<String>,
        /// Only enrolled (or only unenrolled with `false`) enrollments.
        #[arg(long)]
        enrolled: Option<bool>,
        /// Page size.
        #[arg(long)]
        limit: Option<u32>,
        /// Paging cursor returned by the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one enrollment.
    Show {
        /// Enrollment ID.
        id: String,
    },
}

/// `mdmctl commands ...`
#[derive(Debug, clap::Subcommand)]
pub enum CommandsCmd {
    /// Print a new command plist with a fresh CommandUUID (offline: no server needed).
    /// Without `--json`, the command's required keys with useful defaults
    /// (DeviceInformation asks every query Apple lists).
    New {
        /// The command's RequestType.
        request_type: String,
        /// JSON file with the command's keys (Apple's names).
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Queue a typed command for enrollments (without `--json`: the template `new` prints).
    Send {
        /// The command's RequestType.
        request_type: String,
        /// JSON file with the command's keys (Apple's names).
        #[arg(long)]
        json: Option<PathBuf>,
        /// Enrollment IDs.
        #[arg(long = "to", required = true, num_args = 1..)]
        to: Vec<String>,
    },
    /// Show a command's status on every enrollment it targets.
    Status {
        /// The CommandUUID.
        uuid: String,
    },
}

/// `mdmctl queue ...`
#[derive(Debug, clap::Subcommand)]
pub enum QueueCmd {
    /// Show the commands still queued for an enrollment.
    Show {
        /// Enrollment ID.
        id: String,
    },
    /// Remove every queued command of an enrollment.
    Clear {
        /// Enrollment ID.
        id: String,
    },
}

fn escape(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Runs an API subcommand.
pub fn run(conn: Connection, cmd: ApiCmd) -> CliResult {
    if let ApiCmd::Commands(CommandsCmd::New { request_type, json }) = cmd {
        return crate::command_new::new(&request_type, json.as_deref());
    }
    let server = conn
        .server
        .ok_or("--server (or MDMCTL_SERVER) is required for the admin API")?;
    let key = conn
        .api_key
        .ok_or("--api-key (or MDMCTL_API_KEY) is required for the admin API")?;
    let client = Client::new(&Trust::from_ca_file(conn.ca_file.as_deref()))?;
    if let ApiCmd::EnrollLink(args) = cmd {
        let mut body = serde_json::json!({ "uses": args.uses });
        for (name, value) in [
            ("device", args.device),
            ("user", args.user),
            ("may_reenroll", args.may_reenroll),
        ] {
            if let Some(v) = value {
                body[name] = v.into();
            }
        }
        if let Some(s) = args.expires_in {
            body["expires_in"] = s.into();
        }
        let answer = call(
            &client,
            &server,
            &key,
            Method::POST,
            "/v1/enrollment-tokens",
            serde_json::to_vec(&body)?,
        )?;
        if args.json {
            return print_json(&answer);
        }
        let url = answer["url"]
            .as_str()
            .ok_or("the server's answer has no `url`")?;
        println!("{url}");
        return Ok(());
    }
    let (method, path, body) = match cmd {
        ApiCmd::Enrollments(EnrollmentsCmd::List {
            kind,
            enrolled,
            limit,
            cursor,
        }) => {
            let mut query = Vec::new();
            if let Some(k) = kind {
                query.push(format!("type={}", escape(&k)));
            }
            if let Some(e) = enrolled {
                query.push(format!("enrolled={e}"));
            }
            if let Some(l) = limit {
                query.push(format!("limit={l}"));
            }
            if let Some(c) = cursor {
                query.push(format!("cursor={}", escape(&c)));
            }
            let q = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            (Method::GET, format!("/v1/enrollments{q}"), Vec::new())
        }
        ApiCmd::Enrollments(EnrollmentsCmd::Show { id }) => (
            Method::GET,
            format!("/v1/enrollments/{}", escape(&id)),
            Vec::new(),
        ),
        ApiCmd::Commands(CommandsCmd::Send {
            request_type,
            json,
            to,
        }) => {
            let mut command = match json {
                Some(path) => {
                    let text = std::fs::read(&path)
                        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                    serde_json::from_slice::<serde_json::Value>(&text)
                        .map_err(|e| format!("{} is not JSON: {e}", path.display()))?
                }
                // Without --json, the same template `commands new` prints.
                None => mdm_commands::AnyCommand::template(&request_type)
                    .map(|c| mdm_commands::json::command_to_json(&c))
                    .unwrap_or_else(|| serde_json::json!({})),
            };
            let object = command
                .as_object_mut()
                .ok_or("the --json file must hold a JSON object")?;
            object.insert("RequestType".into(), request_type.into());
            let body = serde_json::json!({"enrollment_ids": to, "command": command});
            (
                Method::POST,
                "/v1/commands".to_owned(),
                serde_json::to_vec(&body)?,
            )
        }
        ApiCmd::Commands(CommandsCmd::Status { uuid }) => (
            Method::GET,
            format!("/v1/commands/{}", escape(&uuid)),
            Vec::new(),
        ),
        ApiCmd::Queue(QueueCmd::Show { id }) => (
            Method::GET,
            format!("/v1/enrollments/{}/queue", escape(&id)),
            Vec::new(),
        ),
        ApiCmd::Queue(QueueCmd::Clear { id }) => (
            Method::DELETE,
            format!("/v1/enrollments/{}/queue", escape(&id)),
            Vec::new(),
        ),
        ApiCmd::PushEnrollments { ids } => {
            let ids: Vec<String> = ids.iter().map(|i| escape(i)).collect();
            let answer = call(
                &client,
                &server,
                &key,
                Method::GET,
                &format!("/v1/push/{}", ids.join(",")),
                Vec::new(),
            )?;
            print_json(&answer)?;
            return push_failures(&answer);
        }
        ApiCmd::EnrollLink(_) | ApiCmd::Commands(CommandsCmd::New { .. }) => {
            return Err("handled above".into());
        }
    };
    print_json(&call(&client, &server, &key, method, &path, body)?)
}

/// An error when any push of a `/v1/push` answer (`{"status": {id: {"push_error": ..}}}`)
/// failed, so that the exit code says so; the answer itself is already printed.
fn push_failures(answer: &serde_json::Value) -> CliResult {
    let Some(status) = answer.get("status").and_then(|s| s.as_object()) else {
        return Err("the server's push answer has no `status` object".into());
    };
    let failed: Vec<&str> = status
        .iter()
        .filter(|(_, entry)| entry.get("push_error").is_some())
        .map(|(id, _)| id.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of {} pushes failed: {}",
            failed.len(),
            status.len(),
            failed.join(", ")
        )
        .into())
    }
}

/// One admin API call: the JSON answer, or an error naming the HTTP status.
fn call(
    client: &Client,
    server: &str,
    key: &str,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> Result<serde_json::Value, crate::output::CliError> {
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("mdmctl:{key}"));
    let headers = [
        ("authorization", format!("Basic {basic}")),
        ("content-type", "application/json".to_owned()),
        ("accept", "application/json".to_owned()),
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let answer = runtime.block_on(client.send(method, &url, &headers, body))?;
    let json: serde_json::Value = if answer.body.is_empty() {
        serde_json::json!({"status": answer.status})
    } else {
        serde_json::from_slice(&answer.body).unwrap_or_else(|_| {
            serde_json::json!({"status": answer.status, "body": String::from_utf8_lossy(&answer.body)})
        })
    };
    if !(200..300).contains(&answer.status) {
        return Err(format!("the server answered HTTP {}: {json}", answer.status).into());
    }
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::push_failures;
    use serde_json::json;

    #[test]
    fn push_enrollments_fails_when_a_push_failed() {
        assert!(push_failures(&json!({"status": {"a": {"push_result": "x"}}})).is_ok());
        let err = push_failures(&json!({"status": {
            "a": {"push_result": "x"},
            "b": {"push_error": "no push certificate"},
        }}))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("1 of 2 pushes failed: b"), "{err}");
        assert!(push_failures(&json!({"error": "?"})).is_err());
    }
}
