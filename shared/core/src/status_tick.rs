//! The sale-status tick: every screen hears a card change status the second it does.

use std::{collections::HashMap, future::Future};

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::{
    ConcertId, StoreError,
    catalog::{CatalogFilter, CatalogRepository, SearchCache, cards_changed},
    push::PushPublisher,
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

/// Computes every concert's status at `now` (as the general public sees it), from the store
/// itself rather than the search cache, compares it with what screens were last told, and
/// for the changed cards evicts the cached searches and publishes one refresh. This is
/// where a concert selling out (or a freed seat bringing it back) reaches cached searches
/// and screens, whichever write moved its seats. Runs once per tick however many
/// invocations arrive.
pub async fn sale_status_tick<R, S, L, C, P>(
    catalog: &R,
    statuses: &S,
    lock: &L,
    cache: &C,
    publisher: &P,
    tick: &TickRun,
    now: DateTime<Utc>,
) -> Result<StatusTickReport, StatusTickError>
where
    R: CatalogRepository,
    S: PublishedStatuses,
    L: SchedulerLock,
    C: SearchCache,
    P: PushPublisher,
{
    let Some(claim) = tick.claim(lock, JOB).await? else {
        return Ok(StatusTickReport::default());
    };
    let outcome = run(catalog, statuses, cache, publisher, now).await;
    claim.finish(lock, outcome.is_ok()).await?;
    outcome
}

async fn run<R, S, C, P>(
    catalog: &R,
    statuses: &S,
    cache: &C,
    publisher: &P,
    now: DateTime<Utc>,
) -> Result<StatusTickReport, StatusTickError>
where
    R: CatalogRepository,
    S: PublishedStatuses,
    C: SearchCache,
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
        let concerts = changed.iter().map(|(id, _)| *id).collect();
        cards_changed(cache, publisher, concerts, now).await;
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

#[cfg(test)]
mod tests {
    use std::{sync::Mutex, time::Duration};

    use chrono::TimeZone;

    use super::*;
    use crate::{
        catalog::ConcertListing,
        fakes::{self, FakeCatalog, FakeLock, FakePublisher, FakeSearchCache},
        push::PushEvent,
        sale::SalesPolicy,
    };

    /// The statuses screens were told; `failing_stores` makes that many stores fail first.
    #[derive(Default)]
    struct FakeStatuses {
        stored: Mutex<HashMap<ConcertId, SaleStatus>>,
        failing_stores: Mutex<u32>,
        stores: Mutex<u32>,
    }

    impl FakeStatuses {
        fn stored(&self) -> HashMap<ConcertId, SaleStatus> {
            self.stored.lock().unwrap().clone()
        }

        fn stores(&self) -> u32 {
            *self.stores.lock().unwrap()
        }
    }

    impl PublishedStatuses for FakeStatuses {
        async fn load(&self) -> Result<HashMap<ConcertId, SaleStatus>, StoreError> {
            Ok(self.stored())
        }
        async fn store(&self, changes: &[(ConcertId, SaleStatus)]) -> Result<(), StoreError> {
            *self.stores.lock().unwrap() += 1;
            let mut failing = self.failing_stores.lock().unwrap();
            if *failing > 0 {
                *failing -= 1;
                return Err(StoreError::unavailable("statuses table unreachable"));
            }
            self.stored.lock().unwrap().extend(changes.iter().copied());
            Ok(())
        }
    }

    const PERIOD: Duration = Duration::from_secs(1);

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
    }

    fn secs(s: i64) -> DateTime<Utc> {
        t0() + chrono::Duration::seconds(s)
    }

    fn id(v: i64) -> ConcertId {
        ConcertId::from_stored(v)
    }

    /// A concert whose general sale opens `opens_in` seconds after `t0` (None: no policy).
    fn listing(v: i64, opens_in: Option<i64>, available: u32) -> ConcertListing {
        let starts = Some(t0() + chrono::Duration::days(30));
        ConcertListing {
            policy: opens_in.map(|s| SalesPolicy::new(None, secs(s), None, 4, false).unwrap()),
            first_starts_at: starts,
            last_starts_at: starts,
            ..fakes::listing(v, &format!("Concert {v}"), available)
        }
    }

    fn catalog() -> FakeCatalog {
        FakeCatalog::with(vec![
            listing(1, Some(7_200), 10), // PREOPEN until an hour before opening
            listing(2, Some(-10), 5),    // OPEN
            listing(3, None, 10),        // UNSCHEDULED
            listing(4, Some(-10), 0),    // SOLD_OUT
        ])
    }

    fn first_statuses() -> Vec<(ConcertId, SaleStatus)> {
        vec![
            (id(1), SaleStatus::Preopen),
            (id(2), SaleStatus::Open),
            (id(3), SaleStatus::Unscheduled),
            (id(4), SaleStatus::SoldOut),
        ]
    }

    struct World {
        catalog: FakeCatalog,
        statuses: FakeStatuses,
        lock: FakeLock,
        cache: FakeSearchCache,
        publisher: FakePublisher,
    }

    impl World {
        fn new() -> Self {
            Self {
                catalog: catalog(),
                statuses: FakeStatuses::default(),
                lock: FakeLock::default(),
                cache: FakeSearchCache::default(),
                publisher: FakePublisher::default(),
            }
        }

        /// The tick scheduled at `scheduled`, run by `owner`, computing statuses at `now`.
        async fn tick(
            &self,
            scheduled: DateTime<Utc>,
            owner: &str,
            now: DateTime<Utc>,
        ) -> Result<StatusTickReport, StatusTickError> {
            sale_status_tick(
                &self.catalog,
                &self.statuses,
                &self.lock,
                &self.cache,
                &self.publisher,
                &TickRun::new(scheduled, PERIOD, owner),
                now,
            )
            .await
        }
    }

    fn refresh(ids: &[i64], at: DateTime<Utc>) -> PushEvent {
        PushEvent::ConcertsRefresh {
            concerts: ids.iter().copied().map(id).collect(),
            at,
        }
    }

    #[tokio::test]
    async fn the_first_tick_publishes_every_status_in_one_refresh_and_stores_them() {
        let world = World::new();

        let report = world.tick(t0(), "a", t0()).await.unwrap();

        assert_eq!(
            report,
            StatusTickReport {
                ran: true,
                concerts: 4,
                changed: first_statuses(),
            }
        );
        assert_eq!(world.publisher.take(), vec![refresh(&[1, 2, 3, 4], t0())]);
        assert_eq!(
            world.cache.evictions(),
            1,
            "the push comes with its eviction"
        );
        assert_eq!(
            world.statuses.stored(),
            first_statuses().into_iter().collect::<HashMap<_, _>>()
        );
    }

    #[tokio::test]
    async fn a_tick_with_no_status_change_publishes_nothing() {
        let world = World::new();
        world.tick(t0(), "a", t0()).await.unwrap();
        world.publisher.take();

        // The next tick, computing at the same instant: every status is as screens know it.
        let report = world.tick(secs(1), "a", t0()).await.unwrap();

        assert!(report.ran);
        assert_eq!(report.concerts, 4);
        assert!(report.changed.is_empty());
        assert!(world.publisher.take().is_empty());
        assert_eq!(
            world.cache.evictions(),
            1,
            "nothing changed, nothing evicted"
        );
        assert_eq!(world.statuses.stores(), 1, "nothing new to store");
    }

    #[tokio::test]
    async fn a_tick_after_a_change_publishes_only_the_changed_concerts() {
        let world = World::new();
        world.tick(t0(), "a", t0()).await.unwrap();
        world.publisher.take();

        // An hour before concert 1 opens, its card counts down; the others stay.
        let later = secs(3_600);
        let report = world.tick(later, "a", later).await.unwrap();

        assert_eq!(report.changed, vec![(id(1), SaleStatus::OpenSoon1h)]);
        assert_eq!(world.publisher.take(), vec![refresh(&[1], later)]);
        assert_eq!(world.statuses.stored()[&id(1)], SaleStatus::OpenSoon1h);
        assert_eq!(world.statuses.stored()[&id(2)], SaleStatus::Open);

        // The last seats of concert 2 go: only concert 2 is pushed.
        world.catalog.listings_mut()[1].counts.available = 0;
        let report = world.tick(secs(3_601), "a", secs(3_601)).await.unwrap();
        assert_eq!(report.changed, vec![(id(2), SaleStatus::SoldOut)]);
        assert_eq!(world.publisher.take(), vec![refresh(&[2], secs(3_601))]);
        assert_eq!(world.statuses.stored()[&id(2)], SaleStatus::SoldOut);
    }

    #[tokio::test]
    async fn a_tick_another_invocation_holds_does_nothing() {
        let world = World::new();
        let other = TickRun::new(t0(), PERIOD, "other")
            .claim(&world.lock, JOB)
            .await
            .unwrap()
            .expect("the other invocation claims the tick first");

        let report = world.tick(t0(), "a", t0()).await.unwrap();

        assert_eq!(report, StatusTickReport::default());
        assert!(!report.ran);
        assert_eq!(world.catalog.reads(), 0, "the catalog is not even read");
        assert!(world.publisher.take().is_empty());
        assert_eq!(world.statuses.stores(), 0);
        assert!(world.statuses.stored().is_empty());
        other.finish(&world.lock, true).await.unwrap();

        // A duplicate of a tick that ran to the end does nothing either.
        world.tick(secs(1), "a", secs(1)).await.unwrap();
        world.publisher.take();
        let report = world.tick(secs(1), "b", secs(1)).await.unwrap();
        assert!(!report.ran);
        assert!(world.publisher.take().is_empty());
    }

    #[tokio::test]
    async fn a_tick_whose_store_fails_fails_and_its_retry_publishes_again() {
        let world = World::new();
        *world.statuses.failing_stores.lock().unwrap() = 1;

        let failed = world.tick(t0(), "a", t0()).await;

        assert!(
            matches!(failed, Err(StatusTickError::Store(_))),
            "{failed:?}"
        );
        assert_eq!(
            world.publisher.take(),
            vec![refresh(&[1, 2, 3, 4], t0())],
            "published before the store failed"
        );
        assert!(world.statuses.stored().is_empty());

        // The scheduler's retry of the same tick gets the claim back and publishes again.
        let retry = world.tick(t0(), "b", t0()).await.unwrap();
        assert!(retry.ran);
        assert_eq!(retry.changed, first_statuses());
        assert_eq!(world.publisher.take(), vec![refresh(&[1, 2, 3, 4], t0())]);
        assert_eq!(
            world.statuses.stored(),
            first_statuses().into_iter().collect::<HashMap<_, _>>()
        );
    }
}
