//! The async client: a [`Transport`] that sends requests (hyper over TCP or rustls by
//! default), and [`DepClient`], which keeps the session, renews it when Apple says it expired,
//! and backs off when Apple throttles.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;

use crate::endpoint::{self, Config, Endpoint, MAX_BODY};
use crate::error::Error;
use crate::session::OAuthParams;
use crate::sync::Backoff;
use crate::types::*;

/// Sends one HTTP request and returns the whole response. Implement it to use another HTTP
/// stack (a proxy, a recorded transcript).
pub trait Transport: Send + Sync {
    /// Sends `request`.
    fn send(
        &self,
        request: Request<Vec<u8>>,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, Error>> + Send;
}

fn transport_err(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Error {
    Error::Transport(e.into())
}

/// HTTP/1.1 over TCP, or over TLS (rustls with the ring provider) for `https` URLs. One
/// connection per request: the DEP API is called seldom, and this keeps no state.
#[derive(Clone)]
pub struct HyperTransport {
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
}

impl std::fmt::Debug for HyperTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HyperTransport")
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Where Linux distributions keep the system's trusted roots.
const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

impl Default for HyperTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl HyperTransport {
    /// A transport that trusts the system's roots (if a bundle is found) for `https`, with a
    /// 60-second timeout per request.
    pub fn new() -> Self {
        let tls = SYSTEM_ROOTS
            .iter()
            .find_map(|p| std::fs::read(p).ok())
            .and_then(|pem| Self::tls_config_from_pem(&pem).ok());
        HyperTransport {
            tls,
            timeout: Duration::from_secs(60),
        }
    }

    /// A rustls configuration trusting the certificates of a PEM bundle.
    pub fn tls_config_from_pem(pem: &[u8]) -> Result<Arc<rustls::ClientConfig>, Error> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem).flatten() {
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(Error::InvalidInput {
                what: "trust roots",
                reason: "no certificate in the PEM bundle".into(),
            });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(transport_err)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }

    /// Uses this TLS configuration for `https`.
    pub fn with_tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Sets the timeout of a whole request (connect, send, read).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn exchange<IO>(io: IO, request: Request<Full<Bytes>>) -> Result<Response<Vec<u8>>, Error>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(transport_err)?;
        let conn_task = tokio::spawn(async move {
            let _ = conn.await;
        });
        let response = sender.send_request(request).await.map_err(transport_err)?;
        let (parts, body) = response.into_parts();
        let collected = Limited::new(body, MAX_BODY).collect().await.map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                Error::BodyTooLarge {
                    context: "response",
                    len: MAX_BODY + 1,
                    limit: MAX_BODY,
                }
            } else {
                Error::Transport(e)
            }
        })?;
        conn_task.abort();
        Ok(Response::from_parts(parts, collected.to_bytes().to_vec()))
    }

    async fn send_inner(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        let uri = request.uri().clone();
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(Error::InvalidInput {
                    what: "URL",
                    reason: format!("{uri} is not an http or https URL"),
                });
            }
        };
        let host = uri.host().ok_or_else(|| Error::InvalidInput {
            what: "URL",
            reason: format!("{uri} has no host"),
        })?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let (mut parts, body) = request.into_parts();
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| host.clone());
        parts.uri = uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .unwrap_or("/")
            .parse()
            .map_err(transport_err)?;
        parts.headers.insert(
            header::HOST,
            authority.parse().map_err(|_| Error::InvalidInput {
                what: "URL",
                reason: "bad host".into(),
            })?,
        );
        let request = Request::from_parts(parts, Full::new(Bytes::from(body)));
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(transport_err)?;
        let _ = tcp.set_nodelay(true);
        if https {
            let config = self.tls.clone().ok_or_else(|| {
                transport_err("no TLS trust roots: pass a configuration with with_tls_config")
            })?;
            let name = rustls::pki_types::ServerName::try_from(host).map_err(transport_err)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(transport_err)?;
            Self::exchange(tls, request).await
        } else {
            Self::exchange(tcp, request).await
        }
    }
}

impl Transport for HyperTransport {
    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        match tokio::time::timeout(self.timeout, self.send_inner(request)).await {
            Ok(result) => result,
            Err(_) => Err(transport_err(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }
}

/// A client for one server token (one organisation's MDM server).
pub struct DepClient<T = HyperTransport> {
    config: Config,
    token: ServerToken,
    transport: T,
    session: tokio::sync::Mutex<Option<String>>,
    backoff: Backoff,
}

impl<T> std::fmt::Debug for DepClient<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DepClient")
            .field("config", &self.config)
            .field("token", &self.token)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl DepClient<HyperTransport> {
    /// A client for Apple's service with the default transport.
    pub fn new(token: ServerToken) -> Self {
        DepClient::with_transport(token, Config::new(), HyperTransport::new())
    }
}

impl<T: Transport> DepClient<T> {
    /// A client with a configuration and a transport.
    pub fn with_transport(token: ServerToken, config: Config, transport: T) -> Self {
        DepClient {
            config,
            token,
            transport,
            session: tokio::sync::Mutex::new(None),
            backoff: Backoff::default(),
        }
    }

    /// Sets the back-off used when Apple throttles.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The server token.
    pub fn token(&self) -> &ServerToken {
        &self.token
    }

    /// Opens a new session (`GET /session`) and keeps it.
    pub async fn renew_session(&self) -> Result<String, Error> {
        let mut guard = self.session.lock().await;
        let fresh = self.open_session().await?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    async fn open_session(&self) -> Result<String, Error> {
        let mut attempt = 0;
        loop {
            let request = self
                .config
                .session_request(&self.token, &OAuthParams::now())?;
            let response = self.transport.send(request).await?;
            match endpoint::parse_session_response(
                response.status(),
                response.headers(),
                response.body(),
            ) {
                Err(Error::Api(e)) if e.is_throttled() => {
                    let delay = self.backoff.delay(attempt, e.retry_after);
                    match delay {
                        Some(d) => {
                            tokio::time::sleep(d).await;
                            attempt += 1;
                        }
                        None => return Err(Error::Api(e)),
                    }
                }
                other => return other,
            }
        }
    }

    /// The current session, opened if there is none.
    pub async fn session(&self) -> Result<String, Error> {
        let mut guard = self.session.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let fresh = self.open_session().await?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    async fn forget_session(&self, stale: &str) {
        let mut guard = self.session.lock().await;
        if guard.as_deref() == Some(stale) {
            *guard = None;
        }
    }

    /// Calls an endpoint: renews the session once if Apple says it expired, and backs off
    /// (honouring `Retry-After`) while Apple throttles.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Response, Error> {
        endpoint.validate()?;
        let mut renewed = false;
        let mut attempt = 0;
        loop {
            let session = self.session().await?;
            let request = self.config.request(endpoint, &session)?;
            let response = self.transport.send(request).await?;
            match endpoint::parse::<E>(&response) {
                Err(Error::Api(e)) if e.is_session_expired() && !renewed => {
                    tracing::debug!(
                        endpoint = E::NAME,
                        status = e.status,
                        "session expired, renewing"
                    );
                    renewed = true;
                    self.forget_session(&session).await;
                }
                Err(Error::Api(e)) if e.is_throttled() => {
                    match self.backoff.delay(attempt, e.retry_after) {
                        Some(d) => {
                            tracing::debug!(endpoint = E::NAME, delay = ?d, "throttled, backing off");
                            tokio::time::sleep(d).await;
                            attempt += 1;
                        }
                        None => return Err(Error::Api(e)),
                    }
                }
                other => return other,
            }
        }
    }

    /// `GET /account`.
    pub async fn account(&self) -> Result<AccountDetail, Error> {
        self.send(&endpoint::GetAccount).await
    }

    /// `POST /server/devices`: one page of the full listing.
    pub async fn fetch_devices(
        &self,
        request: DeviceListRequest,
    ) -> Result<DeviceListResponse, Error> {
        self.send(&endpoint::FetchDevices(request)).await
    }

    /// `POST /devices/sync`: one page of changes.
    pub async fn sync_devices(
        &self,
        request: DeviceListRequest,
    ) -> Result<DeviceListResponse, Error> {
        self.send(&endpoint::SyncDevices(request)).await
    }

    /// `POST /devices`: details of some devices.
    pub async fn device_details(
        &self,
        serials: Vec<String>,
    ) -> Result<DeviceDetailsResponse, Error> {
        self.send(&endpoint::GetDeviceDetails(DeviceDetailsRequest::new(
            serials,
        )))
        .await
    }

    /// `POST /devices/disown`.
    pub async fn disown_devices(&self, serials: Vec<String>) -> Result<DisownResponse, Error> {
        self.send(&endpoint::DisownDevices(DisownRequest::new(serials)))
            .await
    }

    /// `POST /device/activationlock`.
    pub async fn activation_lock(
        &self,
        request: ActivationLockRequest,
    ) -> Result<ActivationLockResponse, Error> {
        self.send(&endpoint::ActivationLock(request)).await
    }

    /// `POST /profile`.
    pub async fn define_profile(&self, profile: Profile) -> Result<DefineProfileResponse, Error> {
        self.send(&endpoint::DefineProfile(profile)).await
    }

    /// `GET /profile`.
    pub async fn get_profile(&self, profile_uuid: &str) -> Result<Profile, Error> {
        self.send(&endpoint::GetProfile::new(profile_uuid)).await
    }

    /// `PUT /profile/devices`.
    pub async fn assign_profile(
        &self,
        profile_uuid: &str,
        serials: Vec<String>,
    ) -> Result<AssignProfileResponse, Error> {
        self.send(&endpoint::AssignProfile(AssignProfileRequest::new(
            profile_uuid,
            serials,
        )))
        .await
    }

    /// `DELETE /profile/devices`.
    pub async fn remove_profile(
        &self,
        serials: Vec<String>,
    ) -> Result<RemoveProfileResponse, Error> {
        self.send(&endpoint::RemoveProfile(RemoveProfileRequest::new(serials)))
            .await
    }

    /// `GET /account-driven-enrollment/profile`.
    pub async fn account_driven_enrollment_profile(
        &self,
    ) -> Result<AccountDrivenEnrollmentProfile, Error> {
        self.send(&endpoint::GetAccountDrivenEnrollmentProfile)
            .await
    }

    /// `PUT /account-driven-enrollment/profile`.
    pub async fn assign_account_driven_enrollment_profile(&self, url: &str) -> Result<(), Error> {
        self.send(&endpoint::AssignAccountDrivenEnrollmentProfile(
            AccountDrivenEnrollmentProfile::new(url),
        ))
        .await
        .map(drop)
    }

    /// `DELETE /account-driven-enrollment/profile`.
    pub async fn remove_account_driven_enrollment_profile(&self) -> Result<(), Error> {
        self.send(&endpoint::RemoveAccountDrivenEnrollmentProfile)
            .await
            .map(drop)
    }

    /// `GET /os-beta-enrollment/tokens`.
    pub async fn beta_enrollment_tokens(&self) -> Result<BetaEnrollmentTokensResponse, Error> {
        self.send(&endpoint::GetBetaEnrollmentTokens).await
    }
}
