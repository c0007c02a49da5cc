//! A short-lived in-process cache of concert and performance records, so the hot paths that
//! need a concert's sales policy or a performance's seats (every queue join, every seat
//! click) do not read PostgreSQL each time. Each key is loaded once however many requests
//! miss it at the same moment (moka's `try_get_with`), so a lapsing entry under a surge is
//! one query, not one per request. Sale status is still computed against the clock on every
//! call; only the records can be up to the TTL old, which bounds how long a policy write
//! takes to reach every click.

use std::time::Duration;

use moka::future::Cache;
use ticketrush_core::{
    ConcertId, OptionId, StoreError,
    catalog::{
        CatalogFilter, CatalogRepository, ConcertListing, ConcertRecord, OptionRecord, SeatMap,
        SeatPage,
    },
};

/// Most records kept of each kind; a sale has a handful of concerts and performances hot.
const MAX_ENTRIES: u64 = 10_000;

pub struct CachedCatalog<R> {
    inner: R,
    concerts: Cache<ConcertId, Option<ConcertRecord>>,
    options: Cache<OptionId, Option<OptionRecord>>,
}

fn cache<K, V>(ttl: Duration) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(MAX_ENTRIES)
        .time_to_live(ttl)
        .build()
}

impl<R> CachedCatalog<R> {
    pub fn new(inner: R, ttl: Duration) -> Self {
        Self {
            inner,
            concerts: cache(ttl),
            options: cache(ttl),
        }
    }
}

impl<R: CatalogRepository> CatalogRepository for CachedCatalog<R> {
    async fn listings(&self, filter: &CatalogFilter) -> Result<Vec<ConcertListing>, StoreError> {
        self.inner.listings(filter).await
    }

    async fn concert(&self, id: ConcertId) -> Result<Option<ConcertRecord>, StoreError> {
        // A failed load is not cached: every waiter gets the error, the next call tries again.
        self.concerts
            .try_get_with(id, self.inner.concert(id))
            .await
            .map_err(|err| (*err).clone())
    }

    async fn option(&self, id: OptionId) -> Result<Option<OptionRecord>, StoreError> {
        self.options
            .try_get_with(id, self.inner.option(id))
            .await
            .map_err(|err| (*err).clone())
    }

    async fn seat_map(&self, id: OptionId, page: SeatPage) -> Result<Option<SeatMap>, StoreError> {
        self.inner.seat_map(id, page).await
    }
}
