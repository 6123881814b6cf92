//! Waking devices on pushes, as APNs wakes a real device.
//!
//! A [`PushRouter`] reads the device tokens of the pushes a push service delivered (the
//! mock APNs of apns-client: [`apns_client::mock::MockApns::subscribe`]) and wakes the
//! device each token names. A push that arrives while its device is busy is kept (one, as
//! APNs coalesces pushes for a device), so the device connects when it next waits.
//!
//! ```no_run
//! # async fn demo(mock: apns_client::mock::MockApns, mut device: device_sim::Device)
//! # -> Result<(), device_sim::Error> {
//! let router = device_sim::wake::PushRouter::from_mock(&mock);
//! let waker = router.register(&device.push_token_hex());
//! // ... something enqueues a command for the device, and the server pushes ...
//! waker.wait(std::time::Duration::from_secs(10)).await?;
//! device.connect().await?;
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use crate::Error;

type Devices = Arc<Mutex<HashMap<String, Arc<Notify>>>>;

/// Routes pushes to the devices they name.
#[derive(Debug, Clone, Default)]
pub struct PushRouter {
    devices: Devices,
    unknown: Arc<std::sync::atomic::AtomicU64>,
}

impl PushRouter {
    /// A router fed by `tokens` (hex device tokens of delivered pushes), read by a task it
    /// spawns; the task ends when the sender side closes.
    pub fn spawn(mut tokens: tokio::sync::mpsc::UnboundedReceiver<String>) -> Self {
        let router = PushRouter::default();
        let task = router.clone();
        tokio::spawn(async move {
            while let Some(token) = tokens.recv().await {
                task.deliver(&token);
            }
        });
        router
    }

    /// A router fed by every push `mock` delivers from now on.
    pub fn from_mock(mock: &apns_client::mock::MockApns) -> Self {
        let mut pushes = mock.subscribe();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(push) = pushes.recv().await {
                if tx.send(push.token).is_err() {
                    break;
                }
            }
        });
        Self::spawn(rx)
    }

    /// The waker of the device with this push token (hex, any case).
    pub fn register(&self, token_hex: &str) -> PushWaker {
        let notify = Arc::clone(
            self.devices
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(token_hex.to_ascii_lowercase())
                .or_default(),
        );
        PushWaker { notify }
    }

    /// Wakes the device `token_hex` names; counts it as unknown when none registered.
    pub fn deliver(&self, token_hex: &str) {
        let notify = self
            .devices
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&token_hex.to_ascii_lowercase())
            .cloned();
        match notify {
            Some(n) => n.notify_one(),
            None => {
                self.unknown
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }

    /// Pushes for tokens no device registered.
    pub fn unknown_pushes(&self) -> u64 {
        self.unknown.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// What one device waits on for its pushes.
#[derive(Debug, Clone)]
pub struct PushWaker {
    notify: Arc<Notify>,
}

impl PushWaker {
    /// Waits for the next push (or returns at once for one that came while the device was
    /// busy); [`Error::NoPush`] after `limit` without one.
    pub async fn wait(&self, limit: Duration) -> Result<(), Error> {
        tokio::time::timeout(limit, self.notify.notified())
            .await
            .map_err(|_| Error::NoPush(limit))
    }
}
