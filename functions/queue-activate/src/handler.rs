//! `queue-activate`: the scheduled admission tick.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde::Serialize;
use ticketrush_core::{
    Clock, StoreError,
    catalog::CatalogRepository,
    push::PushPublisher,
    queue::{ActivationError, QueueSettings, QueueTokens, WaitingRoom, activate_tick},
    schedule::{SchedulerLock, TickRun},
};
use ticketrush_lambda::metrics::{self, Metric};

pub struct QueueActivateFunction<R, W, L, P, T, C> {
    pub catalog: R,
    pub room: W,
    pub lock: L,
    pub publisher: P,
    pub tokens: T,
    pub clock: C,
    pub settings: QueueSettings,
}

/// What the invocation returns (and logs).
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TickSummary {
    pub ran: bool,
    pub concerts: u32,
    pub admitted: u32,
    pub dropped: u32,
    pub rank_updates: u32,
}

/// Runs the tick the event was scheduled for. `invocation_id` names this run as the lock's
/// owner. A store failure fails the invocation, so the scheduler retries it.
pub async fn handle<R, W, L, P, T, C>(
    f: &QueueActivateFunction<R, W, L, P, T, C>,
    event: CloudWatchEvent,
    invocation_id: &str,
) -> Result<TickSummary, StoreError>
where
    R: CatalogRepository,
    W: WaitingRoom,
    L: SchedulerLock,
    P: PushPublisher,
    T: QueueTokens,
    C: Clock,
{
    let tick = TickRun::new(event.time, f.settings.tick, invocation_id);
    let report = activate_tick(
        &f.catalog,
        &f.room,
        &f.lock,
        &f.publisher,
        &f.tokens,
        &f.settings,
        &tick,
        &f.clock,
    )
    .await
    .map_err(|ActivationError::Store(e)| e)?;
    let summary = TickSummary {
        ran: report.ran,
        concerts: report.concerts,
        admitted: report.admitted,
        dropped: report.dropped,
        rank_updates: report.rank_updates,
    };
    metrics::count("queue-activate", Metric::Admits, summary.admitted.into());
    if summary.ran && (summary.admitted > 0 || summary.dropped > 0) {
        tracing::info!(
            tick = tick.sequence,
            concerts = summary.concerts,
            admitted = summary.admitted,
            dropped = summary.dropped,
            "admission tick"
        );
    }
    Ok(summary)
}
