//! The admission tick: a batch of the line let in each tick, and ranks told.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::*;
/// What one admission tick did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActivationReport {
    /// False when another invocation already ran this tick.
    pub ran: bool,
    pub concerts: u32,
    pub admitted: u32,
    pub dropped: u32,
    pub rank_updates: u32,
    /// Each selling concert's line after the tick, for the operator's gauges.
    pub lines: Vec<LineReport>,
}

/// One concert's waiting room after an admission tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineReport {
    pub concert: ConcertId,
    pub admitted: u32,
    pub waiting: u64,
    pub active: u64,
    /// Estimated wait of the last buyer in line.
    pub last_wait_seconds: u64,
}

#[derive(Debug, Error)]
pub enum ActivationError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The stores and services the admission tick works on.
pub struct ActivationPorts<'a, R, W, L, P, T> {
    pub catalog: &'a R,
    pub room: &'a W,
    pub lock: &'a L,
    pub publisher: &'a P,
    pub tokens: &'a T,
}

/// One admission tick: for every concert whose sale is open to anyone, admit a batch,
/// tell each admitted buyer, and refresh ranks. Runs at most once per tick, whatever the
/// number of concurrent invocations.
pub async fn activate_tick<R, W, L, P, T>(
    ports: ActivationPorts<'_, R, W, L, P, T>,
    settings: &QueueSettings,
    tick: &TickRun,
    now: DateTime<Utc>,
) -> Result<ActivationReport, ActivationError>
where
    R: CatalogRepository,
    W: WaitingRoom,
    L: SchedulerLock,
    P: PushPublisher,
    T: QueueTokens,
{
    let ActivationPorts {
        catalog,
        room,
        lock,
        publisher,
        tokens,
    } = ports;
    let Some(guard) = tick.claim(lock, "queue-activate").await? else {
        return Ok(ActivationReport::default());
    };
    let outcome = admit_open_concerts(catalog, room, publisher, tokens, settings, tick, now).await;
    guard.finish(lock, outcome.is_ok()).await?;
    outcome
}

async fn admit_open_concerts<R, W, P, T>(
    catalog: &R,
    room: &W,
    publisher: &P,
    tokens: &T,
    settings: &QueueSettings,
    tick: &TickRun,
    now: DateTime<Utc>,
) -> Result<ActivationReport, ActivationError>
where
    R: CatalogRepository,
    W: WaitingRoom,
    P: PushPublisher,
    T: QueueTokens,
{
    let mut report = ActivationReport {
        ran: true,
        ..Default::default()
    };
    let listings = catalog.listings(&Default::default()).await?;
    // The most privileged viewer sees the earliest opening: admit once anyone may buy.
    let selling = listings.iter().filter(|l| {
        matches!(
            sale_view(
                l.policy.as_ref(),
                l.closes_at(),
                l.counts,
                now,
                Some(Tier::Vip)
            )
            .status,
            SaleStatus::Open | SaleStatus::SoldOut
        )
    });
    let seen_since = now - chrono::Duration::from_std(settings.abandon_after).unwrap_or_default();
    for listing in selling {
        report.concerts += 1;
        let admission = room
            .admit(
                listing.id,
                now,
                &AdmitRequest {
                    max_batch: settings.admit_per_tick,
                    max_active: settings.max_active,
                    active_ttl: settings.active_ttl,
                    seen_since,
                },
            )
            .await?;
        report.admitted += admission.admitted.len() as u32;
        report.dropped += admission.dropped;
        report.lines.push(LineReport {
            concert: listing.id,
            admitted: admission.admitted.len() as u32,
            waiting: admission.still_waiting,
            active: admission.active,
            last_wait_seconds: settings.estimated_wait_seconds(admission.still_waiting),
        });
        let admitted = admission
            .admitted
            .into_iter()
            .map(|a| PushEvent::QueueActive {
                concert: listing.id,
                token: tokens.mint(listing.id, &a.user, a.expires_at),
                user: a.user,
                expires_at: a.expires_at,
            })
            .collect();
        publisher.publish_all(admitted).await;
        report.rank_updates += push_ranks(
            room,
            publisher,
            settings,
            listing.id,
            admission.still_waiting,
            tick,
        )
        .await?;
    }
    Ok(report)
}

/// The front of the line every tick, plus a slice further back that rotates with the tick
/// number, so every waiting buyer hears a true rank regularly without a push per buyer per tick.
async fn push_ranks<W: WaitingRoom, P: PushPublisher>(
    room: &W,
    publisher: &P,
    settings: &QueueSettings,
    concert: ConcertId,
    waiting: u64,
    tick: &TickRun,
) -> Result<u32, StoreError> {
    let budget = settings.rank_push_per_tick / 2;
    if waiting == 0 || budget == 0 {
        return Ok(0);
    }
    let mut ranks = room.ranks(concert, 0, budget).await?;
    let behind = waiting.saturating_sub(u64::from(budget));
    if behind > 0 {
        let slices = behind.div_ceil(u64::from(budget));
        let start = u64::from(budget) + (tick.sequence % slices) * u64::from(budget);
        ranks.extend(room.ranks(concert, start, budget).await?);
    }
    let sent = ranks.len() as u32;
    let events = ranks
        .into_iter()
        .map(|(user, rank)| PushEvent::QueueRank {
            concert,
            user,
            rank,
            estimated_wait_seconds: settings.estimated_wait_seconds(rank),
        })
        .collect();
    publisher.publish_all(events).await;
    Ok(sent)
}
