//! The shared search cache: the catalog part of a search (listing rows and seat counts for
//! a normalized filter), kept for every instance at once, and the one path by which a
//! write that changes what a card shows forgets it and tells every screen.

use std::future::Future;

use chrono::{DateTime, Utc};

use crate::{
    ConcertId, OptionId, StoreError,
    push::{PushEvent, PushPublisher},
};

use super::{
    CatalogFilter, CatalogRepository, ConcertListing, ConcertRecord, OptionRecord, SeatMap,
    SeatPage,
};

/// Listings per normalized filter. Only the store's rows are kept; sale status, countdowns
/// and buttons are computed from them against the clock on every request.
pub trait SearchCache: Send + Sync {
    /// The listings for `filter`: cached while fresh, else read from `catalog`, by one
    /// caller per key however many miss at once.
    fn listings<R: CatalogRepository>(
        &self,
        catalog: &R,
        filter: &CatalogFilter,
    ) -> impl Future<Output = Result<Vec<ConcertListing>, StoreError>> + Send;

    /// Forgets every cached search. Never fails the caller's write: an entry the cache
    /// could not forget lapses within its staleness bound; the adapter logs the failure.
    fn evict(&self) -> impl Future<Output = ()> + Send;
}

/// Cards of these concerts changed at `at`: forget the cached searches, then push the
/// refresh. Every card-changing write goes through here, so none can push without
/// evicting or evict without pushing. Evicting first: a screen that searches on the push
/// reads the new cards.
pub async fn cards_changed<C: SearchCache, P: PushPublisher>(
    cache: &C,
    publisher: &P,
    concerts: Vec<ConcertId>,
    at: DateTime<Utc>,
) {
    if concerts.is_empty() {
        return;
    }
    cache.evict().await;
    publisher
        .publish(PushEvent::ConcertsRefresh { concerts, at })
        .await;
}

impl CatalogFilter {
    /// The cache key: equal for filters the store answers alike (its matching is
    /// case-insensitive), unambiguous whatever the text holds.
    pub fn cache_key(&self) -> String {
        let lower = |s: &Option<String>| s.as_deref().map(str::to_lowercase);
        let millis = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
        serde_json::json!([
            lower(&self.text),
            lower(&self.venue),
            millis(self.performs_from),
            millis(self.performs_to),
        ])
        .to_string()
    }
}

/// A catalog whose listings go through the search cache; the rest reads the store.
pub struct CachedListings<'a, C, R> {
    pub cache: &'a C,
    pub catalog: &'a R,
}

impl<C: SearchCache, R: CatalogRepository> CatalogRepository for CachedListings<'_, C, R> {
    async fn listings(&self, filter: &CatalogFilter) -> Result<Vec<ConcertListing>, StoreError> {
        self.cache.listings(self.catalog, filter).await
    }

    async fn concert(&self, id: ConcertId) -> Result<Option<ConcertRecord>, StoreError> {
        self.catalog.concert(id).await
    }

    async fn option(&self, id: OptionId) -> Result<Option<OptionRecord>, StoreError> {
        self.catalog.option(id).await
    }

    async fn seat_map(&self, id: OptionId, page: SeatPage) -> Result<Option<SeatMap>, StoreError> {
        self.catalog.seat_map(id, page).await
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::{
        catalog::{SearchParams, SearchQuery, search_concerts},
        fakes::{self, FakeCatalog, FakePublisher, FakeSearchCache},
        sale::SaleStatus,
    };

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap()
    }

    fn query(q: Option<&str>) -> SearchQuery {
        SearchQuery::parse(SearchParams {
            q,
            ..Default::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn repeated_searches_read_the_store_once_and_live_fields_follow_the_clock() {
        let catalog = FakeCatalog::with(vec![fakes::listing(1, "Alpha", 10)]);
        catalog.listings_mut()[0].policy = Some(
            crate::sale::SalesPolicy::new(
                None,
                now() + chrono::Duration::seconds(30),
                None,
                4,
                false,
            )
            .unwrap(),
        );
        let cache = FakeSearchCache::default();
        let cached = CachedListings {
            cache: &cache,
            catalog: &catalog,
        };

        let before = search_concerts(&cached, &query(None), now(), None)
            .await
            .unwrap();
        let later = now() + chrono::Duration::seconds(31);
        let after = search_concerts(&cached, &query(None), later, None)
            .await
            .unwrap();

        assert_eq!(
            catalog.reads(),
            1,
            "the second search is served from the cache"
        );
        assert_eq!(before.items[0].sale_status, SaleStatus::OpenSoon5m);
        assert_eq!(before.items[0].sale_opens_in_seconds, Some(30));
        assert_eq!(after.items[0].sale_status, SaleStatus::Open);
    }

    #[tokio::test]
    async fn a_card_change_evicts_before_it_pushes_and_the_next_search_reads_the_store() {
        let catalog = FakeCatalog::with(vec![fakes::listing(1, "Alpha", 10)]);
        let cache = FakeSearchCache::default();
        let publisher = FakePublisher::default();
        let cached = CachedListings {
            cache: &cache,
            catalog: &catalog,
        };
        search_concerts(&cached, &query(None), now(), None)
            .await
            .unwrap();
        catalog.listings_mut()[0].counts.available = 0;

        cards_changed(&cache, &publisher, vec![ConcertId::from_stored(1)], now()).await;

        assert_eq!(cache.evictions(), 1);
        assert_eq!(
            publisher.take(),
            vec![PushEvent::ConcertsRefresh {
                concerts: vec![ConcertId::from_stored(1)],
                at: now(),
            }]
        );
        let page = search_concerts(&cached, &query(None), now(), None)
            .await
            .unwrap();
        assert_eq!(catalog.reads(), 2);
        assert_eq!(
            page.items[0].available_seat_count, 0,
            "the store's new count"
        );
    }

    #[tokio::test]
    async fn nothing_changed_evicts_and_pushes_nothing() {
        let cache = FakeSearchCache::default();
        let publisher = FakePublisher::default();
        cards_changed(&cache, &publisher, vec![], now()).await;
        assert_eq!(cache.evictions(), 0);
        assert!(publisher.take().is_empty());
    }

    #[test]
    fn filters_the_store_answers_alike_share_a_key() {
        let a = query(Some("Lumen")).filter;
        let b = query(Some("  lumen ")).filter;
        assert_eq!(a.cache_key(), b.cache_key());
        let venue = CatalogFilter {
            venue: Some("lumen".into()),
            ..Default::default()
        };
        assert_ne!(a.cache_key(), venue.cache_key());
        assert_ne!(a.cache_key(), CatalogFilter::default().cache_key());
        // Sorting, status and paging happen after the store: one entry serves them all.
        let paged = SearchQuery::parse(SearchParams {
            q: Some("lumen"),
            page: Some("3"),
            sort: Some("title,desc"),
            status: Some("OPEN"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(paged.filter.cache_key(), a.cache_key());
    }
}
