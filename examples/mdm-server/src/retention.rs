//! Retention: a periodic task that deletes what is finished and old
//! ([`crate::storage::QueueStore::prune`]): commands whose every target has a
//! final status, commands that expired, and bad reports, after `--retention-days`. Queued
//! (and `NotNow`) targets are never deleted.

use crate::storage::{Storage, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// Seconds in a day.
const DAY: Timestamp = 86_400;

/// The cut-off for `days` of retention at `now`: what finished before it goes.
pub fn cutoff(now: Timestamp, days: u64) -> Timestamp {
    let days = Timestamp::try_from(days).unwrap_or(Timestamp::MAX / DAY);
    now.saturating_sub(days.saturating_mul(DAY))
}

/// Prunes once now, then every `interval`, forever (the server aborts it at shutdown).
pub async fn run(storage: Arc<dyn Storage>, days: u64, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let before = cutoff(crate::storage::now(), days);
        match storage.prune(before).await {
            Ok(pruned) if pruned.commands > 0 || pruned.bad_reports > 0 => {
                tracing::info!(
                    commands = pruned.commands,
                    bad_reports = pruned.bad_reports,
                    days,
                    "pruned finished commands and old reports"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "pruning failed; retrying at the next run"),
        }
    }
}
