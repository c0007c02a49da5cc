//! The sale-status tick: every screen hears a card change status the second it does.

use std::{collections::HashMap, future::Future};

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::{
    ConcertId, StoreError,
    catalog::{CatalogFilter, CatalogRepository},
    push::{PushEvent, PushPublisher},
    sale::SaleStatus,
    schedule::{SchedulerLock, TickRun},
};

/// The statuses last pushed to screens, per concert.
pub trait PublishedStatuses: Send + Sync {
    fn load(
        &self,
    ) -> impl Future<Output = Result<HashMap<ConcertId, SaleStatus>, StoreError>> + Send;

    fn store(
        &self,
        changes: &[(ConcertId, SaleStatus)],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusTickReport {
    /// False when another invocation had this tick.
    pub ran: bool,
    pub concerts: u32,
    pub changed: Vec<(ConcertId, SaleStatus)>,
}

#[derive(Debug, Error)]
pub enum StatusTickError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub const JOB: &str = "sale-status-tick";

/// Computes every concert's status at `now` (as the general public sees it), compares it
/// with what screens were last told, and publishes one refresh with the changed cards.
/// Runs once per tick however many invocations arrive.
pub async fn sale_status_tick<R, S, L, P>(
    catalog: &R,
    statuses: &S,
    lock: &L,
    publisher: &P,
    tick: &TickRun,
    now: DateTime<Utc>,
) -> Result<StatusTickReport, StatusTickError>
where
    R: CatalogRepository,
    S: PublishedStatuses,
    L: SchedulerLock,
    P: PushPublisher,
{
    let Some(claim) = tick.claim(lock, JOB).await? else {
        return Ok(StatusTickReport::default());
    };
    let outcome = run(catalog, statuses, publisher, now).await;
    claim.finish(lock, outcome.is_ok()).await?;
    outcome
}

async fn run<R, S, P>(
    catalog: &R,
    statuses: &S,
    publisher: &P,
    now: DateTime<Utc>,
) -> Result<StatusTickReport, StatusTickError>
where
    R: CatalogRepository,
    S: PublishedStatuses,
    P: PushPublisher,
{
    let listings = catalog.listings(&CatalogFilter::default()).await?;
    let published = statuses.load().await?;
    let changed: Vec<(ConcertId, SaleStatus)> = listings
        .iter()
        .map(|l| (l.id, l.card(now, None).sale_status))
        .filter(|(id, status)| published.get(id) != Some(status))
        .collect();
    if !changed.is_empty() {
        publisher
            .publish(PushEvent::ConcertsRefresh {
                concerts: changed.iter().map(|(id, _)| *id).collect(),
                at: now,
            })
            .await;
        // Stored after publishing: if this fails the tick fails, and its retry publishes
        // again; a repeated refresh is harmless, a missed one is not.
        statuses.store(&changed).await?;
    }
    Ok(StatusTickReport {
        ran: true,
        concerts: listings.len() as u32,
        changed,
    })
}
