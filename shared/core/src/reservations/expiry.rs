//! The expiry tick: holds past their time give their seats back, and lapsed soft locks
//! and a drifted Redis are put right.

use chrono::{DateTime, Utc};

use crate::{
    PerformanceKey, SeatId, StoreError, Tier,
    catalog::{CatalogRepository, SeatStatus},
    push::{PushEvent, PushPublisher, ReservationUpdate},
    queue::WaitingRoom,
    sale::{SaleStatus, sale_view},
    schedule::{SchedulerLock, TickRun},
    seats::{SeatLocks, SeatSettings},
};

use super::{ReservationLedger, ReservationStatus};

/// What one expiry tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpiryReport {
    pub ran: bool,
    pub expired: u32,
    pub seats_freed: u32,
    pub locks_lapsed: u32,
    /// Seats whose Redis state the periodic re-sync corrected.
    pub resynced: u32,
}

/// Every this many ticks, the expiry tick also re-syncs Redis with the ledger.
pub const RESYNC_EVERY_TICKS: u64 = 30;

/// Most holds one tick expires; the rest wait for the next tick.
pub const EXPIRE_BATCH: u32 = 500;

/// The stores and services the expiry tick works on.
pub struct ExpiryPorts<'a, R, L, D, W, S, P> {
    pub catalog: &'a R,
    pub locks: &'a L,
    pub ledger: &'a D,
    pub room: &'a W,
    pub scheduler: &'a S,
    pub publisher: &'a P,
}

/// One expiry tick, once per tick under the scheduler lock: expire due holds, free their
/// seats (logged as AVAILABLE, and counted as resale for the waiting room), tell each buyer,
/// and log lapsed soft locks of the performances on sale as AVAILABLE.
pub async fn expire_tick<R, L, D, W, S, P>(
    ports: ExpiryPorts<'_, R, L, D, W, S, P>,
    settings: SeatSettings,
    tick: &TickRun,
    now: DateTime<Utc>,
) -> Result<ExpiryReport, StoreError>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger,
    W: WaitingRoom,
    S: SchedulerLock,
    P: PushPublisher,
{
    let Some(claim) = tick.claim(ports.scheduler, "hold-expire").await? else {
        return Ok(ExpiryReport::default());
    };
    let resync = tick.sequence.is_multiple_of(RESYNC_EVERY_TICKS);
    let outcome = expire_and_sweep(&ports, settings, now, resync).await;
    claim.finish(ports.scheduler, outcome.is_ok()).await?;
    outcome
}

async fn expire_and_sweep<R, L, D, W, S, P>(
    ports: &ExpiryPorts<'_, R, L, D, W, S, P>,
    settings: SeatSettings,
    now: DateTime<Utc>,
    resync: bool,
) -> Result<ExpiryReport, StoreError>
where
    R: CatalogRepository,
    L: SeatLocks,
    D: ReservationLedger,
    W: WaitingRoom,
    P: PushPublisher,
{
    let ExpiryPorts {
        catalog,
        locks,
        ledger,
        room,
        publisher,
        ..
    } = *ports;
    let mut report = ExpiryReport {
        ran: true,
        ..Default::default()
    };
    // The ledger is the truth: once the transaction commits the seats are free, whatever
    // happens to the Redis follow-ups below (the DB guard and the next sweep cover them).
    for hold in ledger.expire_due(now, EXPIRE_BATCH).await? {
        report.expired += 1;
        report.seats_freed += hold.seats.len() as u32;
        let changes: Vec<(SeatId, SeatStatus)> = hold
            .seats
            .iter()
            .map(|s| (*s, SeatStatus::Available))
            .collect();
        let performance = PerformanceKey {
            concert: hold.concert,
            option: hold.option,
        };
        if locks
            .record_ledger(performance, &hold.user, &changes, settings.flush_window)
            .await?
        {
            publisher
                .publish(PushEvent::SeatsChanged { performance })
                .await;
        }
        room.credit_freed_seats(hold.concert, &hold.seats).await?;
        publisher
            .publish(PushEvent::ReservationStatus {
                user: hold.user,
                update: ReservationUpdate::Changed {
                    reservation: hold.reservation,
                    status: ReservationStatus::Expired,
                },
            })
            .await;
    }
    for listing in catalog.listings(&Default::default()).await? {
        let status = sale_view(
            listing.policy.as_ref(),
            listing.closes_at(),
            listing.counts,
            now,
            Some(Tier::Vip),
        )
        .status;
        if status != SaleStatus::Open {
            continue;
        }
        let Some(record) = catalog.concert(listing.id).await? else {
            continue;
        };
        for performance in record.performances {
            let performance = PerformanceKey {
                concert: listing.id,
                option: performance.option_id,
            };
            let (lapsed, mut flush) = locks
                .sweep_expired(performance, now, settings.flush_window)
                .await?;
            report.locks_lapsed += lapsed;
            if resync {
                let taken = ledger.taken_seats(performance.option).await?;
                let (changed, resync_flush) = locks
                    .resync(performance, &taken, settings.flush_window)
                    .await?;
                report.resynced += changed;
                flush |= resync_flush;
            }
            if flush {
                publisher
                    .publish(PushEvent::SeatsChanged { performance })
                    .await;
            }
        }
    }
    Ok(report)
}
