//! `hold-expire`: the scheduled tick that expires holds and frees their seats, and asks the
//! payment gateway again for refunds the ledger marked but the gateway has not confirmed.

use std::time::Duration;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde::Serialize;
use ticketrush_core::{
    Clock, StoreError,
    catalog::CatalogRepository,
    payments::{PaymentGateway, PaymentLedger, retry_refunds},
    push::PushPublisher,
    queue::WaitingRoom,
    reservations::{ReservationLedger, expire_tick},
    schedule::{SchedulerLock, TickRun},
    seats::{SeatLocks, SeatSettings},
};

pub struct HoldExpireFunction<R, L, D, G, W, S, P, C> {
    pub catalog: R,
    pub locks: L,
    pub ledger: D,
    pub gateway: G,
    pub room: W,
    pub scheduler: S,
    pub publisher: P,
    pub clock: C,
    pub seats: SeatSettings,
    pub tick: Duration,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExpirySummary {
    pub ran: bool,
    pub expired: u32,
    pub seats_freed: u32,
    pub locks_lapsed: u32,
    pub resynced: u32,
    pub refunds_returned: u32,
}

/// Runs the tick the event was scheduled for; a store failure fails the invocation so the
/// scheduler retries it.
pub async fn handle<R, L, D, G, W, S, P, C>(
    f: &HoldExpireFunction<R, L, D, G, W, S, P, C>,
    event: CloudWatchEvent,
    invocation_id: &str,
) -> Result<ExpirySummary, StoreError>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger + PaymentLedger,
    G: PaymentGateway,
    W: WaitingRoom,
    S: SchedulerLock,
    P: PushPublisher,
    C: Clock,
{
    let tick = TickRun::new(event.time, f.tick, invocation_id);
    let report = expire_tick(
        &f.catalog,
        &f.locks,
        &f.ledger,
        &f.room,
        &f.scheduler,
        &f.publisher,
        f.seats,
        &tick,
        f.clock.now(),
    )
    .await?;
    if report.ran && (report.expired > 0 || report.locks_lapsed > 0 || report.resynced > 0) {
        tracing::info!(
            tick = tick.sequence,
            expired = report.expired,
            seats_freed = report.seats_freed,
            locks_lapsed = report.locks_lapsed,
            resynced = report.resynced,
            "expiry tick"
        );
    }
    let mut refunds_returned = 0;
    if report.ran {
        let refunds = retry_refunds(&f.ledger, &f.gateway).await?;
        refunds_returned = refunds.returned;
        if let Some(error) = &refunds.last_failure {
            tracing::error!(
                failed = refunds.failed,
                returned = refunds.returned,
                %error,
                "gateway refunds still failing; the next tick asks again"
            );
        } else if refunds.returned > 0 {
            tracing::info!(returned = refunds.returned, "gateway refunds retried");
        }
    }
    Ok(ExpirySummary {
        refunds_returned,
        ran: report.ran,
        expired: report.expired,
        seats_freed: report.seats_freed,
        locks_lapsed: report.locks_lapsed,
        resynced: report.resynced,
    })
}
