//! The OpenAPI 3.1 description of the admin API, served at `/v1/openapi.json`.
//!
//! The paths are listed here; every JSON body's schema is derived from the Rust type the
//! handler serializes or reads ([`crate::admin::bodies`], with [`schemars`]), so the
//! document says what the server really answers. A test checks that every route of the
//! router appears here and the other way round. Device routes carry `security: []`:
//! devices do not use the API key.

use crate::admin::bodies;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{Value as Json, json};

/// Where the derived schemas go in the document.
const COMPONENTS: &str = "/components/schemas";

/// The schemas of the document's bodies, derived from their types.
struct Schemas(SchemaGenerator);

impl Schemas {
    fn new() -> Self {
        let mut settings = SchemaSettings::draft2020_12();
        settings.definitions_path = COMPONENTS.into();
        settings.meta_schema = None;
        Schemas(settings.into_generator())
    }

    /// A `$ref` to `T`'s schema (added to the components).
    fn of<T: JsonSchema>(&mut self) -> Json {
        self.0.subschema_for::<T>().to_value()
    }

    /// A JSON request body of type `T`.
    fn body<T: JsonSchema>(&mut self, required: bool, description: &str) -> Json {
        json!({ "required": required, "description": description,
                "content": { "application/json": { "schema": self.of::<T>() } } })
    }

    /// The 200 answer of type `T`, with the errors every admin request may meet.
    fn ok<T: JsonSchema>(&mut self, description: &str) -> Json {
        let mut responses = ok_json("");
        if let Json::Object(map) = &mut responses {
            map.insert(
                "200".into(),
                json!({ "description": description,
                        "content": { "application/json": { "schema": self.of::<T>() } } }),
            );
        }
        responses
    }

    /// The schemas referenced so far, for `components.schemas`.
    fn into_components(mut self) -> Json {
        Json::Object(self.0.take_definitions(true).into_iter().collect())
    }
}

fn op(summary: &str, params: &[Json], body: Option<Json>, responses: Json) -> Json {
    let mut o = json!({ "summary": summary, "responses": responses });
    if let Json::Object(map) = &mut o {
        if !params.is_empty() {
            map.insert("parameters".into(), Json::Array(params.to_vec()));
        }
        if let Some(body) = body {
            map.insert("requestBody".into(), body);
        }
    }
    o
}

fn device_op(summary: &str) -> Json {
    json!({
        "summary": summary,
        "security": [],
        "requestBody": { "required": true, "content": {
            "application/x-apple-aspen-mdm-checkin": { "schema": { "type": "string" } },
            "application/xml": { "schema": { "type": "string" } },
        } },
        "responses": {
            "200": { "description": "empty, or a plist (the next command, or the check-in's answer)",
                     "content": { "application/xml": { "schema": { "type": "string" } },
                                  "application/json": { "schema": { "type": "object" } } } },
            "400": { "description": "malformed message (kept in /v1/bad-reports)" },
            "401": { "description": "identity not proven: no or bad `Mdm-Signature` (or forwarded client certificate), a certificate not issued by this server's CA or not valid now" },
            "403": { "description": "a valid certificate that may not act for this enrollment (bound to another one; not the bound one nor a renewal of it; a new device or re-enrollment without a fitting enrollment token), a client-certificate header from an untrusted address, or an unknown enrollment" },
            "410": { "description": "UserAuthenticate: not supported" },
            "413": { "description": "body too large" },
            "404": { "description": "DeclarativeManagement: no such declaration" },
        },
    })
}

fn scep_op(summary: &str) -> Json {
    json!({
        "summary": summary,
        "security": [],
        "parameters": [
            { "name": "operation", "in": "query", "required": true, "schema": { "type": "string" },
              "description": "GetCACaps, GetCACert, GetNextCACert or PKIOperation" },
            { "name": "message", "in": "query", "required": false, "schema": { "type": "string" },
              "description": "base64 pkiMessage (PKIOperation by GET)" },
        ],
        "responses": {
            "200": { "description": "capabilities (text/plain), the CA certificate \
                (application/x-x509-ca-cert) or a CertRep (application/x-pki-message); a refused \
                enrollment (wrong challenge) is a CertRep with FAILURE" },
            "400": { "description": "malformed request" },
            "404": { "description": "GetNextCACert: no next CA" },
        },
    })
}

/// An operation open without the API key.
fn public(mut operation: Json) -> Json {
    if let Json::Object(map) = &mut operation {
        map.insert("security".into(), json!([]));
        if let Some(Json::Object(responses)) = map.get_mut("responses") {
            responses.remove("401");
        }
    }
    operation
}

fn path_param(name: &str, description: &str) -> Json {
    json!({ "name": name, "in": "path", "required": true, "description": description,
            "schema": { "type": "string" } })
}

fn query_param(name: &str, ty: &str, description: &str) -> Json {
    json!({ "name": name, "in": "query", "required": false, "description": description,
            "schema": { "type": ty } })
}

fn ok_json(description: &str) -> Json {
    json!({
        "200": { "description": description,
                 "content": { "application/json": { "schema": { "type": "object" } } } },
        "400": { "description": "malformed request" },
        "401": { "description": "missing or wrong API key" },
    })
}

fn with(mut responses: Json, code: &str, description: &str) -> Json {
    if let Json::Object(map) = &mut responses {
        map.insert(code.into(), json!({ "description": description }));
    }
    responses
}

/// Every admin operation (not `security: []` device ones; `/version` is admin but public):
/// error responses carry the ProblemDetails schema, success responses a JSON schema, and
/// the errors any admin request may meet (413, 500) are listed.
fn admin_responses(doc: &mut Json) {
    let problem = json!({ "application/problem+json": {
        "schema": { "$ref": "#/components/schemas/ProblemDetails" } } });
    let Some(paths) = doc.get_mut("paths").and_then(Json::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for operation in item.values_mut() {
            let device = operation.get("security") == Some(&json!([]))
                && !crate::admin::PUBLIC_PATHS.contains(&path.as_str());
            if device {
                continue;
            }
            let Some(responses) = operation.get_mut("responses").and_then(Json::as_object_mut)
            else {
                continue;
            };
            responses
                .entry("413")
                .or_insert_with(|| json!({ "description": "body too large" }));
            responses
                .entry("500")
                .or_insert_with(|| json!({ "description": "internal error (logged, not shown)" }));
            for (code, response) in responses.iter_mut() {
                let Some(response) = response.as_object_mut() else {
                    continue;
                };
                if code.starts_with('4') || code.starts_with('5') {
                    response.insert("content".into(), problem.clone());
                } else if !response.contains_key("content") {
                    response.insert(
                        "content".into(),
                        json!({ "application/json": { "schema": { "type": "object" } } }),
                    );
                }
            }
        }
    }
}

/// `POST /v1/escrowkeyunlock` (its own function: the document's `json!` is deep enough).
fn escrow_key_unlock_op() -> Json {
    op(
        "Activation Lock bypass (NanoMDM): the form is sent to Apple's escrow-key-unlock endpoint \
                 (configurable: --escrow-key-unlock-url) with the push certificate of `topic` as TLS client \
                 certificate; Apple's status and body are returned",
        &[],
        Some(
            json!({ "required": true, "content": { "application/x-www-form-urlencoded": { "schema": {
                    "type": "object",
                    "required": ["serial", "productType", "orgName", "guid", "escrowKey", "topic"],
                    "properties": {
                        "serial": { "type": "string", "maxLength": 64 },
                        "productType": { "type": "string", "maxLength": 64, "description": "e.g. iPad4,1" },
                        "orgName": { "type": "string", "maxLength": 256 },
                        "guid": { "type": "string", "maxLength": 256, "description": "who asks (email, LDAP ID, name)" },
                        "escrowKey": { "type": "string", "maxLength": 256, "description": "the bypass code, dash-separated" },
                        "imei": { "type": "string", "maxLength": 64 },
                        "imei2": { "type": "string", "maxLength": 64 },
                        "meid": { "type": "string", "maxLength": 64 },
                        "topic": { "type": "string", "maxLength": 256, "description": "the push certificate's topic" },
                    },
                } } } }),
        ),
        with(
            with(
                with(
                    ok_json("Apple's answer, passed on (status and body)"),
                    "404",
                    "no push certificate for `topic`",
                ),
                "415",
                "not a form",
            ),
            "502",
            "Apple could not be reached",
        ),
    )
}

/// The DEP routes (issue 16): organisations' certificate, token, profile, sync, devices,
/// and the device-facing ADE endpoint.
fn dep_paths(s: &mut Schemas) -> Json {
    let name = path_param(
        "name",
        "the DEP organisation's name (1 to 64 of A-Z a-z 0-9 . _ -)",
    );
    let no_org = "no such organisation (GET its certificate first)";
    json!({
        "/v1/dep/{name}/certificate": { "get": op(
            "The PEM certificate to upload to Apple Business Manager for this organisation's MDM server; \
             the organisation and its RSA key pair (sealed with --secrets-key-file when set) are made on the first call",
            std::slice::from_ref(&name), None,
            json!({ "200": { "description": "the certificate",
                             "content": { "application/x-pem-file": { "schema": { "type": "string" } } } },
                    "400": { "description": "malformed name" },
                    "401": { "description": "missing or wrong API key" } })) },
        "/v1/dep/{name}/token": { "put": op(
            "Store the server token: the token file Apple gives (smime.p7m, encrypted to the certificate above; \
             an already decrypted one is accepted), opened with the organisation's key",
            std::slice::from_ref(&name),
            Some(json!({ "required": true, "description": "the token file as downloaded",
                         "content": { "application/pkcs7-mime": { "schema": { "type": "string", "format": "binary" } } } })),
            with(s.ok::<bodies::DepTokenStored>("stored (the consumer key and expiry; never the secrets)"), "404", no_org)) },
        "/v1/dep/{name}/profile": {
            "put": op("Set the DEP profile (JSON, as Apple's POST /profile takes it; `url` defaults to this server's \
                       /mdm/ade/enroll) that each sync round defines with Apple and assigns to devices that lack it",
                std::slice::from_ref(&name),
                Some(json!({ "required": true, "content": { "application/json": { "schema": { "type": "object" } } } })),
                with(s.ok::<bodies::DepProfileStored>("stored"), "404", no_org)),
            "delete": op("Stop assigning a profile", std::slice::from_ref(&name), None,
                with(s.ok::<bodies::DepProfileStored>("removed"), "404", no_org)),
        },
        "/v1/dep/{name}/sync": { "post": op(
            "Run one sync round now (as the background task does every --dep-sync-interval): fetch, then sync \
             from the stored cursor; each page's devices and the next cursor stored in one transaction; an echoed \
             cursor ends the round; then the profile assignment",
            std::slice::from_ref(&name), None,
            with(with(with(s.ok::<bodies::DepSyncReport>("what the round did"), "404", no_org),
                "409", "no server token yet"), "502", "Apple's service failed or refused")) },
        "/v1/dep/{name}/devices": { "get": op(
            "The organisation's devices as the sync stored them (enrolled or not), in serial order",
            &[name.clone(),
              query_param("after", "string", "page after this serial number (`next_after` of the last page)"),
              query_param("limit", "integer", "page size, 1 to 1000 (default 100)"),
              query_param("all", "boolean", "also devices removed from the organisation")],
            None,
            with(s.ok::<bodies::DepDevices>("one page"), "404", no_org)) },
        crate::service::dep::ADE_PATH: { "post": {
            "summary": "Automated Device Enrollment (the DEP profile's `url`): the device's CMS-signed MachineInfo \
                        plist (UDID, SERIAL, PRODUCT, VERSION, IMEI, MEID, LANGUAGE); the signature must verify and chain \
                        to --ade-device-ca, the serial be a synced DEP device. Answered with the enrollment profile \
                        (as /mdm/enroll, CMS-signed) carrying a one-time SCEP challenge from a single-use enrollment \
                        token bound to the device's UDID",
            "security": [],
            "requestBody": { "required": true, "content": {
                "application/pkcs7-signature": { "schema": { "type": "string", "format": "binary" } } } },
            "responses": {
                "200": { "description": "the enrollment profile; Cache-Control: no-store",
                    "content": { "application/x-apple-aspen-config": { "schema": { "type": "string", "format": "binary" } } } },
                "400": { "description": "not a CMS SignedData carrying a MachineInfo plist with UDID and SERIAL (Apple's error body, as 403)" },
                "403": { "description": "Apple's MDM error body `{code: com.apple.unrecognized.device, description, message}`: \
                         bad signature, a certificate not chaining to --ade-device-ca, an unknown serial number, or no CA configured",
                    "content": { "application/json": { "schema": { "type": "object",
                        "required": ["code"],
                        "properties": { "code": { "type": "string" }, "description": { "type": "string" },
                                        "message": { "type": "string" } } } } } },
                "413": { "description": "body too large (64 KiB)" },
                "501": { "description": "no CA configured" },
            },
        } },
    })
}

/// The OpenAPI document.
pub fn document() -> Json {
    let mut schemas = Schemas::new();
    schemas.of::<bodies::ProblemDetails>();
    let mut doc = paths_document(&mut schemas);
    if let (Some(Json::Object(paths)), Json::Object(dep)) =
        (doc.get_mut("paths"), dep_paths(&mut schemas))
    {
        paths.extend(dep);
    }
    if let Some(Json::Object(components)) = doc.get_mut("components") {
        components.insert("schemas".into(), schemas.into_components());
    }
    admin_responses(&mut doc);
    doc
}

fn paths_document(s: &mut Schemas) -> Json {
    let ids = path_param("ids", "comma-separated enrollment IDs");
    let id = path_param("id", "an enrollment ID (`<device>` or `<device>:<user>`)");
    let uuid = path_param("uuid", "a CommandUUID");
    let plist_body = |description: &str| {
        json!({ "required": true, "description": description,
                "content": { "application/xml": { "schema": { "type": "string" } } } })
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mdm-server admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every route but `/version` needs the API key: HTTP Basic with any user name and \
                            the key as password, or `Authorization: Bearer <key>`.",
        },
        "components": { "securitySchemes": {
            "basic": { "type": "http", "scheme": "basic" },
            "bearer": { "type": "http", "scheme": "bearer" },
        } },
        "security": [ { "basic": [] }, { "bearer": [] } ],
        "paths": {
            "/mdm/checkin": { "put": device_op(
                "Check-in (CheckInURL): Authenticate, TokenUpdate, CheckOut, UserAuthenticate (410), \
                 SetBootstrapToken, GetBootstrapToken, GetToken, DeclarativeManagement (JSON answers from the enrollment's declarations)",
            ) },
            "/mdm": { "put": device_op(
                "ServerURL: a command report (with `Status`), answered with the next command; \
                 check-ins (with `MessageType`) are accepted here too",
            ) },
            "/mdm/enroll": { "get": json!({
                "summary": "The enrollment profile: MDM payload (ServerURL, CheckInURL, Topic, SignMessage), \
                            SCEP payload (URL, a one-time challenge) and the CA as a trusted root; CMS-signed by the CA; \
                            takes one use of the enrollment token; Cache-Control: no-store",
                "security": [],
                "parameters": [
                    query_param("token", "string", "the enrollment token (POST /v1/enrollment-tokens); not needed with --open-enrollment"),
                    query_param("unsigned", "string", "any value but 0/false: the plain plist, not signed"),
                ],
                "responses": {
                    "200": { "description": "the profile (signed: DER CMS SignedData carrying the plist)",
                        "content": { "application/x-apple-aspen-config": { "schema": { "type": "string", "format": "binary" } } } },
                    "403": { "description": "no token, or an unknown, expired, revoked or used-up one" },
                },
            }) },
            "/scep": {
                "get": scep_op("SCEP (RFC 8894): GetCACaps, GetCACert, PKIOperation with `message`"),
                "post": scep_op("SCEP PKIOperation with the pkiMessage as the body"),
            },
            "/version": { "get": public(op("Server version (no API key needed, as NanoMDM's tools expect)", &[], None, s.ok::<bodies::Version>("the server's version"))) },
            "/health": { "get": public(op("Liveness: the process answers (no API key needed)", &[], None, s.ok::<bodies::Health>("`status: ok`"))) },
            "/ready": { "get": public(op("Readiness: the storage answers (no API key needed)", &[], None,
                with(s.ok::<bodies::Health>("`status: ready, storage: ok`"), "503", "storage unreachable"))) },
            "/metrics": { "get": public(op("Prometheus metrics, OpenMetrics text (no API key needed): mdm_checkins_total{type}, mdm_command_reports_total{status}, mdm_pushes_total{outcome}, mdm_commands_queued_total, mdm_not_now_backoffs_total, mdm_commands_resent_total, mdm_refusals_total{reason}, mdm_queue_depth, mdm_queue_oldest_pending_age_seconds, mdm_queue_stalled, mdm_enrollments_unpushable, mdm_http_request_duration_seconds{route,method,status} (histogram)", &[], None,
                json!({ "200": { "description": "OpenMetrics text", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } } }))) },
            "/v1/openapi.json": { "get": op("This document", &[], None, ok_json("OpenAPI 3.1")) },
            "/v1/stats": { "get": op("Refusals counted since start, by reason, and the device body budget",
                &[], None, s.ok::<bodies::Stats>("refusals by reason and the body budget")) },
            "/v1/enqueue/{ids}": { "put": op(
                "Queue a raw command plist for enrollments (NanoMDM)",
                &[ids.clone(), query_param("nopush", "string", "any value but 0/false: do not push"),
                  query_param("create", "string", "any value but 0/false: queue for enrollment IDs that do not exist (yet)"),
                  query_param("priority", "integer", "higher goes first (default 0)"),
                  query_param("ttl", "integer", "seconds after which it is no longer sent (shown as Expired)"),
                  query_param("expires_at", "string", "RFC 3339 time after which it is no longer sent (not with ttl)"),
                  query_param("idempotency_key", "string", "queuing again with the same key gives the same command (also the Idempotency-Key header)"),
                  query_param("replace", "string", "any value but 0/false: a destructive command cancels the one already waiting instead of being refused")],
                Some(plist_body("`{CommandUUID, Command: {RequestType, ...}}`")),
                with(with(s.ok::<bodies::Enqueued>("queued (replayed: the idempotency key was seen, nothing new queued)"),
                     "409", "CommandUUID already used, an idempotency key used for another RequestType, or a destructive command already waiting for an enrollment (problem member `pending_command: {enrollment_id, command_uuid, request_type}`)"), "404", "enrollment IDs that do not exist (named), without ?create=1"),
            ) },
            "/v1/push/{ids}": { "get": op("Push enrollments through APNs (the certificate stored for each enrollment's topic)", &[ids], None,
                s.ok::<bodies::Pushed>("push outcomes by enrollment")) },
            "/v1/pushcert": {
                "put": op(
                "Store the APNs push certificate and its private key, checked with apns-client (an MDM push certificate, valid now, key matching; topic from the subject UID)",
                &[query_param("replace_topic", "string", "any value but 0/false: store a certificate with another topic than the current one even though enrolled devices use the current one (they can no longer be pushed)")],
                Some(json!({ "required": true, "description": "PEM certificate (then any chain) and PEM private key (unencrypted)",
                             "content": { "application/x-pem-file": { "schema": { "type": "string" } } } })),
                with(s.ok::<bodies::PushCertStored>("stored"), "409", "the topic differs from the current certificate's, which enrolled devices use: problem members `current_topic`, `new_topic`, `would_cut_off` (how many devices)"),
                ),
                "get": op("The current push certificate (stored last; its topic goes into enrollment profiles) and the topics enrolled devices use", &[], None,
                    s.ok::<bodies::PushCertStatus>("the current certificate (topic null when none is stored) and the other topics")),
            },
            "/v1/escrowkeyunlock": { "post": escrow_key_unlock_op() },
            "/v1/commands": { "post": op(
                "Queue a command given as JSON",
                &[query_param("create", "string", "any value but 0/false: queue for enrollment IDs that do not exist (yet)"),
                  query_param("replace", "string", "as `replace` in the body")],
                Some(s.body::<crate::admin::CommandRequest>(true, "the command and where to queue it")),
                json!({
                    "200": { "description": "the idempotency key was seen: that command, nothing new queued",
                             "content": { "application/json": { "schema": s.of::<bodies::CommandQueued>() } } },
                    "201": { "description": "queued; replaced: destructive commands this one cancelled; for InstallProfile also `profile_findings`: the warnings and information the profile lint found, per enrollment with findings",
                             "content": { "application/json": { "schema": s.of::<bodies::CommandQueued>() } } },
                    "400": { "description": "malformed command (checked against the command's schema by mdm-commands), a command that cannot run on a target (platform or OS version from its Authenticate), or an InstallProfile whose Payload is not a profile or lints with errors for a target's device (platform, OS version, supervision, User Enrollment as the server knows them; problem member `findings`, as `profile_findings` of the 201). The raw /v1/enqueue is not checked" },
                    "401": { "description": "missing or wrong API key" },
                    "404": { "description": "enrollment IDs that do not exist (named), without ?create=1" },
                    "409": { "description": "CommandUUID already used, an idempotency key used for another RequestType, or a destructive command already waiting for an enrollment (problem member `pending_command: {enrollment_id, command_uuid, request_type}`)" },
                    "415": { "description": "not JSON" },
                    "422": { "description": "JSON of the wrong shape" },
                }),
            ) },
            "/v1/commands/{uuid}": {
                "get": op("A command, its status per enrollment and the reports", std::slice::from_ref(&uuid), None,
                    with(s.ok::<bodies::CommandDetail>("the command and its status per enrollment"),
                         "404", "no such command")),
                "delete": op("Cancel (drop) a command wherever it has not been answered, or only for one enrollment",
                    &[uuid.clone(), query_param("enrollment_id", "string", "only for this enrollment")], None,
                    with(s.ok::<bodies::Cancelled>("cancelled"), "404", "no such command (for that enrollment)")),
            },
            "/v1/commands/{uuid}/resend": {
                "post": op("Put a command handed to its device and not answered (in flight or stalled) back at the head of the queue, and push",
                    &[uuid, query_param("enrollment_id", "string", "only for this enrollment"),
                      query_param("nopush", "string", "any value but 0/false: do not push")], None,
                    with(s.ok::<bodies::Requeued>("put back"), "404", "no such command (for that enrollment)")),
            },
            "/v1/stalled": {
                "get": op("Commands handed to a device and not answered within --stall-after, oldest first: no longer sent until re-sent or dropped",
                    &[query_param("limit", "integer", "at most this many, 1 to 1000 (default 100)")], None,
                    s.ok::<bodies::StalledList>("stalled commands, oldest first")),
            },
            "/v1/enrollments": { "get": op(
                "List enrollments, in ID order; each with `push_usable` and `push_problem` (why it cannot be pushed now)",
                &[
                    query_param("device_id", "string", "only this device's channels"),
                    query_param("enrolled", "boolean", "only enrolled or not enrolled ones"),
                    query_param("type", "string", "Device, User, UserEnrollmentDevice, UserEnrollment, SharediPad"),
                    query_param("after", "string", "page after this ID (`next_after` of the last page)"),
                    query_param("limit", "integer", "page size, 1 to 1000 (default 100)"),
                ],
                None,
                s.ok::<bodies::EnrollmentList>("one page"),
            ) },
            "/v1/enrollments/{id}": { "get": op("One enrollment (as listed: with `push_usable` and `push_problem`, why it cannot be pushed now: not enrolled, no token, token dead after 410 Unregistered until the next TokenUpdate, no certificate for its topic), with its last Authenticate and TokenUpdate, the device facts the applicability check uses (`facts: {platform, os_version, channel, supervised, user_enrollment, shared_ipad, dep}` or null), and its device's bound certificate and binding history (`certificate: {fingerprint, history: [{old_fingerprint, new_fingerprint, reason, token_id, at}]}`)",
                std::slice::from_ref(&id), None, with(s.ok::<bodies::EnrollmentDetail>("the enrollment"), "404", "no such enrollment")) },
            "/v1/enrollments/{id}/queue": {
                "get": op("Commands waiting for an enrollment, in queue order (priority, then ready time, then arrival; expired ones left out)", std::slice::from_ref(&id), None,
                    s.ok::<bodies::Queue>("waiting commands, in queue order")),
                "delete": op("Cancel everything waiting for an enrollment", std::slice::from_ref(&id), None,
                    s.ok::<bodies::Cancelled>("cancelled")),
            },
            "/v1/enrollments/{id}/declarations": {
                "get": op("An enrollment's declarations (with server tokens), the declarations token and the device's last status",
                    std::slice::from_ref(&id), None,
                    with(s.ok::<bodies::Declarations>("the declarations"), "404", "no such enrollment")),
                "put": op("Add or replace a declaration (served to DeclarativeManagement check-ins)",
                    std::slice::from_ref(&id),
                    Some(json!({ "required": true, "description": "`{Type, Identifier, Payload}`; ServerToken is computed",
                                 "content": { "application/json": { "schema": { "type": "object" } } } })),
                    with(s.ok::<bodies::DeclarationStored>("stored"), "404", "no such enrollment")),
            },
            "/v1/enrollments/{id}/declarations/{identifier}": {
                "get": op("One declaration", &[id.clone(), path_param("identifier", "the declaration's Identifier")], None,
                    with(s.ok::<bodies::Declaration>("the declaration"), "404", "no such declaration")),
                "delete": op("Remove a declaration", &[id.clone(), path_param("identifier", "the declaration's Identifier")], None,
                    with(s.ok::<bodies::DeclarationDeleted>("removed"), "404", "no such declaration")),
            },
            "/v1/enrollment-tokens": {
                "get": op("Enrollment tokens (never their secrets), newest first", &[], None,
                    s.ok::<bodies::EnrollmentTokens>("the tokens, newest first")),
                "post": op(
                    "A new enrollment token: who may download an enrollment profile (GET /mdm/enroll?token=...)",
                    &[],
                    Some(s.body::<crate::admin::TokenRequest>(false, "who may use it, how often and how long (all optional)")),
                    json!({
                        "201": { "description": "the token, with its secret `token` and the enrollment `url` (shown only now)",
                                 "content": { "application/json": { "schema": s.of::<bodies::NewEnrollmentToken>() } } },
                        "400": { "description": "malformed request" },
                        "401": { "description": "missing or wrong API key" },
                        "404": { "description": "`may_reenroll` names no enrollment" },
                    }),
                ),
            },
            "/v1/enrollment-tokens/{id}": {
                "delete": op("Revoke an enrollment token: no more profiles, its challenges refused, its certificates can no longer enroll a device",
                    &[path_param("id", "the token's ID")], None,
                    with(s.ok::<bodies::TokenRevoked>("revoked"), "404", "no such token")),
            },
            "/v1/enrollments/{id}/return-to-service": {
                "get": op("An enrollment's return-to-service settings (the answer to its ReturnToService check-ins)",
                    std::slice::from_ref(&id), None,
                    with(s.ok::<bodies::ReturnToService>("the settings"), "404", "no such enrollment or no settings")),
                "put": op("Set the return-to-service settings; without them the server refuses ReturnToService",
                    std::slice::from_ref(&id),
                    Some(s.body::<crate::service::return_to_service::Settings>(true, "the settings (profiles base64)")),
                    with(s.ok::<bodies::ReturnToService>("the settings"), "404", "no such enrollment")),
                "delete": op("Remove the return-to-service settings", std::slice::from_ref(&id), None,
                    with(s.ok::<bodies::SettingsDeleted>("removed"), "404", "no such enrollment")),
            },
            "/v1/events": { "get": op(
                "The event outbox (kept with --webhook or --keep-events), oldest first: to read or replay what webhooks were sent",
                &[query_param("after", "integer", "events after this sequence number (`next_after` of the last page)"),
                  query_param("topic", "string", "only this topic"),
                  query_param("limit", "integer", "1 to 1000 (default 100)")],
                None,
                s.ok::<bodies::Events>("events"),
            ) },
            "/v1/bad-reports": { "get": op(
                "Device messages that could not be decoded or matched, newest first",
                &[query_param("limit", "integer", "1 to 1000 (default 100)")],
                None,
                s.ok::<bodies::BadReports>("newest first"),
            ) },
        },
    })
}
