//! The sync driver: runs [`SyncState`] against a [`DepClient`], hands every page to the
//! caller, and stores the cursor only after the caller succeeded.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::client::{DepClient, Transport};
use crate::error::Error;
use crate::sync::{Checkpoint, Page, Recovery, Step, SyncState};

/// Boxed error returned by stores and handlers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Keeps one [`Checkpoint`] per organisation, so several tokens never share a cursor.
pub trait CursorStore: Send + Sync {
    /// The checkpoint of `org`, if any.
    fn load(&self, org: &str) -> impl Future<Output = Result<Option<Checkpoint>, BoxError>> + Send;
    /// Replaces the checkpoint of `org`.
    fn save(
        &self,
        org: &str,
        checkpoint: &Checkpoint,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// Receives each page before its cursor is stored. An error stops the sync and leaves the
/// cursor where it was, so the page comes again next time.
pub trait PageHandler: Send {
    /// Stores the page's devices (idempotently: a page may come twice after a crash).
    fn handle(
        &mut self,
        org: &str,
        page: &Page,
    ) -> impl Future<Output = Result<(), BoxError>> + Send;
}

/// A cursor store in memory (tests, one-shot tools).
#[derive(Debug, Default)]
pub struct MemoryCursorStore {
    map: std::sync::Mutex<HashMap<String, Checkpoint>>,
}

impl MemoryCursorStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The checkpoint of `org`, synchronously.
    pub fn get(&self, org: &str) -> Option<Checkpoint> {
        self.map.lock().ok()?.get(org).cloned()
    }
}

impl CursorStore for MemoryCursorStore {
    async fn load(&self, org: &str) -> Result<Option<Checkpoint>, BoxError> {
        Ok(self.get(org))
    }

    async fn save(&self, org: &str, checkpoint: &Checkpoint) -> Result<(), BoxError> {
        self.map
            .lock()
            .map_err(|_| "cursor store lock poisoned")?
            .insert(org.to_string(), checkpoint.clone());
        Ok(())
    }
}

/// A cursor store in a directory: one JSON file per organisation, replaced atomically.
#[derive(Debug, Clone)]
pub struct FileCursorStore {
    dir: PathBuf,
}

impl FileCursorStore {
    /// A store in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FileCursorStore { dir: dir.into() }
    }

    fn path(&self, org: &str) -> PathBuf {
        let safe: String = org
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        self.dir.join(format!("{safe}.cursor.json"))
    }
}

impl CursorStore for FileCursorStore {
    async fn load(&self, org: &str) -> Result<Option<Checkpoint>, BoxError> {
        match tokio::fs::read(self.path(org)).await {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn save(&self, org: &str, checkpoint: &Checkpoint) -> Result<(), BoxError> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let path = self.path(org);
        let tmp = path.with_extension("tmp");
        tokio::fs::write(&tmp, serde_json::to_vec(checkpoint)?).await?;
        tokio::fs::rename(&tmp, &path).await?;
        Ok(())
    }
}

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoundReport {
    /// Pages handed to the handler.
    pub pages: usize,
    /// Devices in those pages.
    pub devices: usize,
    /// How many times a cursor error restarted the fetch.
    pub refetches: usize,
    /// Whether the round ended on an echoed cursor.
    pub echoed_cursor: bool,
}

/// Runs fetch then sync rounds for one organisation.
#[derive(Debug)]
pub struct SyncDriver<'a, T, S> {
    org: String,
    client: &'a DepClient<T>,
    store: &'a S,
    limit: u32,
    max_refetches: usize,
    max_pages: usize,
}

impl<'a, T: Transport, S: CursorStore> SyncDriver<'a, T, S> {
    /// A driver for `org` (the key of its cursor in `store`).
    pub fn new(org: impl Into<String>, client: &'a DepClient<T>, store: &'a S) -> Self {
        SyncDriver {
            org: org.into(),
            client,
            store,
            limit: 1000,
            max_refetches: 3,
            max_pages: 100_000,
        }
    }

    /// Sets the page size (1 to 1000).
    pub fn with_limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Sets the most pages one round may take (a bound against a service that never says
    /// it is done); the round then ends early and the next one continues from the cursor.
    pub fn with_max_pages(mut self, max_pages: usize) -> Self {
        self.max_pages = max_pages.max(1);
        self
    }

    /// The organisation's key.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// One round: fetch until done (first time, or after a cursor error), else sync until
    /// done. Each page goes to `handler` before its cursor is saved.
    pub async fn run_round<H: PageHandler>(&self, handler: &mut H) -> Result<RoundReport, Error> {
        let checkpoint = self
            .store
            .load(&self.org)
            .await
            .map_err(Error::Store)?
            .unwrap_or_default();
        let mut state = SyncState::new(checkpoint, self.limit);
        let mut report = RoundReport::default();
        while let Some(step) = state.next_step() {
            if report.pages >= self.max_pages {
                tracing::warn!(org = %self.org, pages = report.pages, "page limit reached, ending the round");
                break;
            }
            let result = match &step {
                Step::Fetch(f) => self.client.send(f).await,
                Step::Sync(s) => self.client.send(s).await,
            };
            match result {
                Ok(response) => {
                    let page = state.on_page(&step, response);
                    handler
                        .handle(&self.org, &page)
                        .await
                        .map_err(Error::Handler)?;
                    self.store
                        .save(&self.org, &page.next)
                        .await
                        .map_err(Error::Store)?;
                    report.pages += 1;
                    report.devices += page.response.devices.len();
                    report.echoed_cursor |= page.echoed_cursor;
                    state.commit(&page);
                }
                Err(Error::Api(e)) => {
                    // The client already renewed the session and backed off: only cursor
                    // errors are left to recover from here.
                    let backoff = crate::sync::Backoff::new(Duration::ZERO, Duration::ZERO, 0);
                    match state.on_error(&e, 0, &backoff) {
                        Recovery::Refetch(cp) if report.refetches < self.max_refetches => {
                            tracing::info!(org = %self.org, code = %e.code, "cursor refused, fetching again");
                            report.refetches += 1;
                            self.store
                                .save(&self.org, &cp)
                                .await
                                .map_err(Error::Store)?;
                        }
                        _ => return Err(Error::Api(e)),
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Ok(report)
    }

    /// Runs rounds every `interval` until `shutdown` completes. A failed round is logged and
    /// retried at the next interval; the cursor never moves past an unhandled page.
    pub async fn run<H: PageHandler>(
        &self,
        handler: &mut H,
        interval: Duration,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            match self.run_round(handler).await {
                Ok(r) => {
                    tracing::debug!(org = %self.org, pages = r.pages, devices = r.devices, "sync round done")
                }
                Err(e) => tracing::warn!(org = %self.org, error = %e, "sync round failed"),
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }
}
