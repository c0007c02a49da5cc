//! A short-lived in-process cache of concert records, so a hot path that needs a
//! concert's sales policy (every queue join) does not read PostgreSQL each time. Sale
//! status is still computed against the clock on every call; only the policy and counts
//! can be up to the TTL old.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use ticketrush_core::{
    ConcertId, OptionId, StoreError,
    catalog::{
        CatalogFilter, CatalogRepository, ConcertListing, ConcertRecord, OptionRecord, SeatMap,
        SeatPage,
    },
};

pub struct CachedCatalog<R> {
    inner: R,
    ttl: Duration,
    concerts: Mutex<HashMap<ConcertId, (Instant, Option<ConcertRecord>)>>,
    options: Mutex<HashMap<OptionId, (Instant, Option<OptionRecord>)>>,
}

impl<R> CachedCatalog<R> {
    pub fn new(inner: R, ttl: Duration) -> Self {
        Self {
            inner,
            ttl,
            concerts: Mutex::new(HashMap::new()),
            options: Mutex::new(HashMap::new()),
        }
    }
}

impl<R: CatalogRepository> CatalogRepository for CachedCatalog<R> {
    async fn listings(&self, filter: &CatalogFilter) -> Result<Vec<ConcertListing>, StoreError> {
        self.inner.listings(filter).await
    }

    async fn concert(&self, id: ConcertId) -> Result<Option<ConcertRecord>, StoreError> {
        if let Some((at, record)) = self.concerts.lock().expect("cache lock").get(&id)
            && at.elapsed() < self.ttl
        {
            return Ok(record.clone());
        }
        let record = self.inner.concert(id).await?;
        let mut cache = self.concerts.lock().expect("cache lock");
        cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
        cache.insert(id, (Instant::now(), record.clone()));
        Ok(record)
    }

    async fn option(&self, id: OptionId) -> Result<Option<OptionRecord>, StoreError> {
        if let Some((at, record)) = self.options.lock().expect("cache lock").get(&id)
            && at.elapsed() < self.ttl
        {
            return Ok(record.clone());
        }
        let record = self.inner.option(id).await?;
        let mut cache = self.options.lock().expect("cache lock");
        cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
        cache.insert(id, (Instant::now(), record.clone()));
        Ok(record)
    }

    async fn seat_map(&self, id: OptionId, page: SeatPage) -> Result<Option<SeatMap>, StoreError> {
        self.inner.seat_map(id, page).await
    }
}
