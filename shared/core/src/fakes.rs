use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
    time::Duration,
};

use chrono::{DateTime, TimeZone, Utc};

use crate::{
    ConcertId, OptionId, PerformanceKey, SeatId, StoreError, UserId,
    catalog::{
        CatalogFilter, CatalogRepository, ConcertListing, ConcertRecord, OptionRecord, SeatMap,
        SeatPage, SeatStatus,
    },
    push::{PushEvent, PushPublisher},
    sale::SeatCounts,
    schedule::SchedulerLock,
    seats::{
        ChangeBatch, LockTerms, ReleaseOutcome, RequestId, SeatLocks, SelectOutcome, TakenSeat,
    },
};

// ---------------------------------------------------------------------------------------
// Instants and builders.

/// `secs` seconds after a fixed instant in 2027.
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

/// Concert `id`, titled `title`, by "A" at "V", with `available` of its 10 seats left; no
/// sales policy and no performance dates: tests add theirs with `..listing(..)`.
pub(crate) fn listing(id: i64, title: &str, available: u32) -> ConcertListing {
    ConcertListing {
        id: ConcertId::from_stored(id),
        title: title.into(),
        artist: "A".into(),
        venue: "V".into(),
        policy: None,
        first_starts_at: None,
        last_starts_at: None,
        counts: SeatCounts {
            available,
            total: 10,
        },
    }
}

// ---------------------------------------------------------------------------------------
// The catalog.

/// A catalog over a list of listings. `listings` narrows by the filter's text (in the title
/// or the artist, ignoring case; the other filters are not modelled) and counts its reads;
/// `concert` is a listing with promoter "P" and no performances; there are no options or
/// seat maps. Tests may change the listings between calls.
#[derive(Default)]
pub(crate) struct FakeCatalog {
    listings: Mutex<Vec<ConcertListing>>,
    reads: Mutex<u32>,
}

impl FakeCatalog {
    pub(crate) fn with(listings: Vec<ConcertListing>) -> Self {
        Self {
            listings: Mutex::new(listings),
            reads: Mutex::new(0),
        }
    }

    /// The listings, to change in place.
    pub(crate) fn listings_mut(&self) -> MutexGuard<'_, Vec<ConcertListing>> {
        self.listings.lock().unwrap()
    }

    /// How many times `listings` was read.
    pub(crate) fn reads(&self) -> u32 {
        *self.reads.lock().unwrap()
    }
}

impl CatalogRepository for FakeCatalog {
    async fn listings(&self, filter: &CatalogFilter) -> Result<Vec<ConcertListing>, StoreError> {
        *self.reads.lock().unwrap() += 1;
        let text = filter.text.as_deref().map(str::to_lowercase);
        Ok(self
            .listings_mut()
            .iter()
            .filter(|l| {
                text.as_ref().is_none_or(|t| {
                    l.title.to_lowercase().contains(t) || l.artist.to_lowercase().contains(t)
                })
            })
            .cloned()
            .collect())
    }

    async fn concert(&self, id: ConcertId) -> Result<Option<ConcertRecord>, StoreError> {
        Ok(self
            .listings_mut()
            .iter()
            .find(|l| l.id == id)
            .map(|l| ConcertRecord {
                listing: l.clone(),
                promoter: "P".into(),
                performances: vec![],
            }))
    }

    async fn option(&self, _id: OptionId) -> Result<Option<OptionRecord>, StoreError> {
        Ok(None)
    }

    async fn seat_map(
        &self,
        _id: OptionId,
        _page: SeatPage,
    ) -> Result<Option<SeatMap>, StoreError> {
        Ok(None)
    }
}

// ---------------------------------------------------------------------------------------
// The scheduler lock and the publisher.

/// A scheduler lock in memory: each name to its owner. The ttl is not modelled: a lock is
/// held until its owner releases it.
#[derive(Default)]
pub(crate) struct FakeLock(Mutex<HashMap<String, String>>);

impl SchedulerLock for FakeLock {
    async fn try_acquire(
        &self,
        name: &str,
        owner: &str,
        _ttl: Duration,
    ) -> Result<bool, StoreError> {
        let mut held = self.0.lock().unwrap();
        if held.contains_key(name) {
            return Ok(false);
        }
        held.insert(name.into(), owner.into());
        Ok(true)
    }

    async fn release(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        let mut held = self.0.lock().unwrap();
        if held.get(name).is_some_and(|o| o == owner) {
            held.remove(name);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Keeps every event published.
#[derive(Default)]
pub(crate) struct FakePublisher(Mutex<Vec<PushEvent>>);

impl FakePublisher {
    /// The events published since the last call.
    pub(crate) fn take(&self) -> Vec<PushEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl PushPublisher for FakePublisher {
    async fn publish(&self, event: PushEvent) {
        self.0.lock().unwrap().push(event);
    }
}

// ---------------------------------------------------------------------------------------
// The seat locks.

/// One `record_ledger` call: the performance, the holder and the seats' new statuses.
pub(crate) type LedgerRecord = (PerformanceKey, UserId, Vec<(SeatId, SeatStatus)>);

/// Records `record_ledger`; every other call answers as if nobody had clicked, with an
/// empty change log and no flush window or cursor.
#[derive(Default)]
pub(crate) struct FakeLocks(Mutex<Vec<LedgerRecord>>);

impl FakeLocks {
    /// The `record_ledger` calls since the last call.
    pub(crate) fn take(&self) -> Vec<LedgerRecord> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl SeatLocks for FakeLocks {
    async fn select(
        &self,
        _performance: PerformanceKey,
        _seat: SeatId,
        _user: &UserId,
        _request: &RequestId,
        _now: DateTime<Utc>,
        _terms: LockTerms,
    ) -> Result<SelectOutcome, StoreError> {
        Ok(SelectOutcome::Unavailable)
    }

    async fn concert_of(&self, _option: OptionId) -> Result<Option<ConcertId>, StoreError> {
        Ok(None)
    }

    async fn release(
        &self,
        _performance: PerformanceKey,
        _seat: SeatId,
        _user: &UserId,
        _flush_window: Duration,
    ) -> Result<ReleaseOutcome, StoreError> {
        Ok(ReleaseOutcome::NotHeld)
    }

    async fn extend(
        &self,
        _performance: PerformanceKey,
        _seat: SeatId,
        _user: &UserId,
        _now: DateTime<Utc>,
        _ttl: Duration,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn holders(
        &self,
        _performance: PerformanceKey,
        seats: &[SeatId],
    ) -> Result<Vec<Option<UserId>>, StoreError> {
        Ok(vec![None; seats.len()])
    }

    async fn record_ledger(
        &self,
        performance: PerformanceKey,
        holder: &UserId,
        changes: &[(SeatId, SeatStatus)],
        _flush_window: Duration,
    ) -> Result<bool, StoreError> {
        self.0
            .lock()
            .unwrap()
            .push((performance, holder.clone(), changes.to_vec()));
        Ok(true)
    }

    async fn resync(
        &self,
        _performance: PerformanceKey,
        _taken: &[TakenSeat],
        _flush_window: Duration,
    ) -> Result<(u32, bool), StoreError> {
        Ok((0, false))
    }

    async fn sweep_expired(
        &self,
        _performance: PerformanceKey,
        _now: DateTime<Utc>,
        _flush_window: Duration,
    ) -> Result<(u32, bool), StoreError> {
        Ok((0, false))
    }

    async fn changes_since(
        &self,
        _performance: PerformanceKey,
        _cursor: Option<&str>,
        _limit: u32,
    ) -> Result<ChangeBatch, StoreError> {
        Ok(ChangeBatch::default())
    }

    async fn flush_window_left(
        &self,
        _performance: PerformanceKey,
    ) -> Result<Option<Duration>, StoreError> {
        Ok(None)
    }

    async fn flush_cursor(
        &self,
        _performance: PerformanceKey,
    ) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    async fn advance_flush_cursor(
        &self,
        _performance: PerformanceKey,
        _from: Option<&str>,
        _to: &str,
    ) -> Result<bool, StoreError> {
        Ok(false)
    }

    async fn relog_undelivered(
        &self,
        _performance: PerformanceKey,
        _read_to: &str,
        _changes: &[(SeatId, SeatStatus)],
    ) -> Result<u32, StoreError> {
        Ok(0)
    }
}
