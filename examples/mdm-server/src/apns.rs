//! Real pushes: a [`Pusher`] sending through APNs with `apns-client`, using the push
//! certificate stored for each topic by `PUT /v1/pushcert`.
//!
//! One HTTP/2 client is kept per topic and rebuilt when its certificate is replaced. A topic
//! without a stored certificate fails its pushes with a message saying so.

use crate::push::{PushFailure, PushTarget, Pusher};
use crate::storage::{Storage, Timestamp};
use apns_client::client::ApnsClient;
use apns_client::{DeviceToken, Disposition, Endpoint, MdmPush, PushIdentity, PushMagic};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Parses and checks a push certificate and key (PEM) with `apns-client`: an MDM push
/// certificate (topic from its subject UID), a key that matches it, valid now. Returns the
/// identity.
pub fn load_push_identity(cert_pem: &str, key_pem: &str) -> Result<PushIdentity, String> {
    let identity = PushIdentity::from_pem(cert_pem.as_bytes(), key_pem.as_bytes(), None)
        .map_err(|e| e.to_string())?;
    if identity.info().is_expired_at(std::time::SystemTime::now()) {
        return Err(format!(
            "the push certificate for `{}` is expired or not yet valid",
            identity.topic()
        ));
    }
    Ok(identity)
}

/// The associated data a push key is sealed with: it names its topic.
pub fn push_key_context(topic: &str) -> String {
    format!("push-key:{topic}")
}

/// Default of `--push-expiration`: APNs keeps a push it cannot deliver at once this long
/// (seconds), instead of dropping it (no `apns-expiration`, or 0).
pub const DEFAULT_PUSH_EXPIRATION: u64 = 24 * 3600;

/// Sends MDM pushes through APNs.
pub struct ApnsPusher {
    expiration: u64,
    storage: Arc<dyn Storage>,
    endpoint: Endpoint,
    roots: Vec<Vec<u8>>,
    clients: Mutex<HashMap<String, (Timestamp, ApnsClient)>>,
    secrets: Option<Arc<crate::secrets::SecretsKey>>,
}

impl std::fmt::Debug for ApnsPusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsPusher")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl ApnsPusher {
    /// A pusher to `endpoint` (APNs production, or a test server), trusting the system
    /// roots (for Apple's endpoints) plus `roots` (DER).
    pub fn new(storage: Arc<dyn Storage>, endpoint: Endpoint, roots: Vec<Vec<u8>>) -> Self {
        ApnsPusher {
            expiration: DEFAULT_PUSH_EXPIRATION,
            storage,
            endpoint,
            roots,
            clients: Mutex::new(HashMap::new()),
            secrets: None,
        }
    }

    /// This pusher asking APNs to keep undelivered pushes `seconds` (`apns-expiration`;
    /// 0: deliver once or drop).
    pub fn with_expiration(mut self, seconds: u64) -> Self {
        self.expiration = seconds;
        self
    }

    /// This pusher opening push keys sealed with `secrets` (see [`crate::secrets`]).
    pub fn with_secrets(mut self, secrets: Option<Arc<crate::secrets::SecretsKey>>) -> Self {
        self.secrets = secrets;
        self
    }

    async fn client_for(&self, topic: &str) -> Result<ApnsClient, String> {
        let cert = self
            .storage
            .push_cert(topic)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "reading the push certificate");
                "the push certificate could not be read".to_owned()
            })?
            .ok_or_else(|| {
                format!("no push certificate for topic `{topic}` (upload one: PUT /v1/pushcert)")
            })?;
        if let Ok(clients) = self.clients.lock()
            && let Some((at, client)) = clients.get(topic)
            && *at == cert.updated_at
        {
            return Ok(client.clone());
        }
        let key_pem = crate::secrets::open_text(
            self.secrets.as_deref(),
            &cert.key_pem,
            &push_key_context(topic),
            &format!("the push key of `{topic}`"),
        )
        .map_err(|e| e.to_string())?;
        let identity = load_push_identity(&cert.cert_pem, &key_pem)?;
        let mut builder = ApnsClient::builder(self.endpoint.clone()).identity(identity);
        for root in &self.roots {
            builder = builder.add_root_certificate(root);
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        if let Ok(mut clients) = self.clients.lock() {
            clients.insert(topic.to_owned(), (cert.updated_at, client.clone()));
        }
        Ok(client)
    }
}

#[async_trait]
impl Pusher for ApnsPusher {
    async fn push(&self, targets: &[PushTarget]) -> Vec<Result<String, String>> {
        self.push_detailed(targets)
            .await
            .into_iter()
            .map(|r| r.map_err(|f| f.message))
            .collect()
    }

    async fn push_detailed(&self, targets: &[PushTarget]) -> Vec<Result<String, PushFailure>> {
        let expiration = if self.expiration == 0 {
            0
        } else {
            u64::try_from(crate::storage::now())
                .unwrap_or(0)
                .saturating_add(self.expiration)
        };
        let mut results: Vec<Result<String, PushFailure>> =
            vec![Err(PushFailure::new("not pushed")); targets.len()];
        let mut by_topic: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, t) in targets.iter().enumerate() {
            by_topic.entry(t.push.topic.as_str()).or_default().push(i);
        }
        for (topic, slots) in by_topic {
            let client = match self.client_for(topic).await {
                Ok(client) => client,
                Err(e) => {
                    tracing::warn!(topic, error = %e, "cannot push");
                    for i in slots {
                        if let Some(r) = results.get_mut(i) {
                            *r = Err(PushFailure::new(e.clone()));
                        }
                    }
                    continue;
                }
            };
            let mut pushes = Vec::new();
            let mut sent = Vec::new();
            for i in slots {
                let Some(t) = targets.get(i) else { continue };
                let push = DeviceToken::from_bytes(&t.push.token).and_then(|token| {
                    Ok(
                        MdmPush::new(token, PushMagic::new(t.push.push_magic.clone())?)
                            .with_topic(topic)
                            .with_expiration(expiration),
                    )
                });
                match push {
                    Ok(push) => {
                        pushes.push(push);
                        sent.push(i);
                    }
                    Err(e) => {
                        if let Some(r) = results.get_mut(i) {
                            *r = Err(PushFailure::new(e.to_string()));
                        }
                    }
                }
            }
            let answers = client.push_batch(pushes).await;
            for (i, answer) in sent.into_iter().zip(answers) {
                let enrollment = targets.get(i).map(|t| t.enrollment_id.as_str());
                let disposition = answer.disposition();
                let outcome = match (&answer.outcome, disposition) {
                    (Ok(response), Disposition::Delivered) => Ok(response
                        .apns_id
                        .clone()
                        .unwrap_or_else(|| answer.apns_id.to_header_string())),
                    (Ok(response), disposition) => {
                        let message = format!(
                            "APNs answered {}{}",
                            response.status,
                            response
                                .reason()
                                .map(|r| format!(" ({r})"))
                                .unwrap_or_default()
                        );
                        Err(if disposition == Disposition::TokenDead {
                            PushFailure::token_dead(message)
                        } else {
                            PushFailure::new(message)
                        })
                    }
                    (Err(e), _) => Err(PushFailure::new(e.to_string())),
                };
                match &outcome {
                    Ok(id) => tracing::info!(?enrollment, apns_id = %id, "pushed"),
                    Err(e) => {
                        tracing::warn!(?enrollment, ?disposition, error = %e.message, "push failed");
                    }
                }
                if let Some(r) = results.get_mut(i) {
                    *r = outcome;
                }
            }
        }
        results
    }
}
