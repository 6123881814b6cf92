//! The push backstop: a periodic task that re-pushes enrollments with commands waiting that
//! have not connected for `--repush-after` seconds (a push lost on the way, a device that
//! was off), at most once per that period each. A run asks storage for the silent
//! enrollments with pending work ([`crate::storage::PushStore::silent_with_pending`], driven by an index of the
//! waiting targets: it costs what is pending, not a table scan) and pushes them through the
//! service, so dead tokens and push outcomes are handled as for any push.

use crate::service::Service;
use crate::storage::{Storage, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// Default of `--repush-after`: fifteen minutes.
pub const DEFAULT_REPUSH_AFTER: u64 = 15 * 60;
/// The most enrollments one run pushes (the next run takes the rest).
pub const BATCH: u32 = 1_000;

/// How often the backstop runs for `repush_after` seconds: a quarter of it, 1 s to 60 s.
pub fn interval(repush_after: u64) -> Duration {
    Duration::from_secs((repush_after / 4).clamp(1, 60))
}

/// One run at `now`: pushes the enrollments silent since `now - repush_after` that have
/// commands waiting, notes them as re-pushed, and says how many were pushed.
pub async fn run_once(
    storage: &dyn Storage,
    service: &dyn Service,
    repush_after: u64,
    now: Timestamp,
) -> Result<usize, String> {
    let after = Timestamp::try_from(repush_after).unwrap_or(Timestamp::MAX);
    let before = now.saturating_sub(after);
    let ids = storage
        .silent_with_pending(before, now, BATCH)
        .await
        .map_err(|e| e.to_string())?;
    if ids.is_empty() {
        return Ok(0);
    }
    let outcomes = service.push(&ids).await.map_err(|e| e.to_string())?;
    storage
        .mark_repushed(&ids, now)
        .await
        .map_err(|e| e.to_string())?;
    let failed = outcomes.iter().filter(|o| o.result.is_err()).count();
    tracing::info!(
        pushed = ids.len(),
        failed,
        repush_after,
        "backstop: re-pushed enrollments with waiting commands"
    );
    Ok(ids.len())
}

/// Runs the backstop every [`interval`] forever (the server aborts it at shutdown).
pub async fn run(storage: Arc<dyn Storage>, service: Arc<dyn Service>, repush_after: u64) {
    let mut ticker = tokio::time::interval(interval(repush_after));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = crate::storage::now();
        if let Err(e) = run_once(storage.as_ref(), service.as_ref(), repush_after, now).await {
            tracing::warn!(error = %e, "backstop run failed; retrying at the next run");
        }
    }
}
