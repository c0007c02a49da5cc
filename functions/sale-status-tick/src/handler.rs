//! `sale-status-tick`: the scheduled tick that pushes a CONCERTS_REFRESH with the cards whose
//! sale status changed since screens were last told.

use std::time::Duration;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde::Serialize;
use ticketrush_core::{
    Clock,
    catalog::CatalogRepository,
    live::{PublishedStatuses, StatusTickError, sale_status_tick},
    push::PushPublisher,
    schedule::{SchedulerLock, TickRun},
};

pub struct SaleStatusTickFunction<R, S, L, P, C> {
    pub catalog: R,
    pub statuses: S,
    pub scheduler: L,
    pub publisher: P,
    pub clock: C,
    pub tick: Duration,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusTickSummary {
    pub ran: bool,
    pub concerts: u32,
    pub changed: u32,
}

/// Runs the tick the event was scheduled for; a store failure fails the invocation so the
/// scheduler retries it.
pub async fn handle<R, S, L, P, C>(
    f: &SaleStatusTickFunction<R, S, L, P, C>,
    event: CloudWatchEvent,
    invocation_id: &str,
) -> Result<StatusTickSummary, StatusTickError>
where
    R: CatalogRepository,
    S: PublishedStatuses,
    L: SchedulerLock,
    P: PushPublisher,
    C: Clock,
{
    let tick = TickRun::new(event.time, f.tick, invocation_id);
    let report = sale_status_tick(
        &f.catalog,
        &f.statuses,
        &f.scheduler,
        &f.publisher,
        &tick,
        f.clock.now(),
    )
    .await?;
    for (concert, status) in &report.changed {
        tracing::info!(tick = tick.sequence, %concert, %status, "sale status changed");
    }
    Ok(StatusTickSummary {
        ran: report.ran,
        concerts: report.concerts,
        changed: report.changed.len() as u32,
    })
}
