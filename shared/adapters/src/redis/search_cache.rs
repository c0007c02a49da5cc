//! The shared search cache in Redis. Entries live under a generation: evicting bumps it,
//! so every entry written before is unreachable at once, and a load that raced the
//! eviction writes under the old generation, where nobody reads.
//!
//! Loads are coalesced by a Redis lease (`SET NX PX`) per generation and key, not in
//! process: a Lambda instance serves one request at a time, so only a lease every instance
//! sees makes a surge of misses one query. The lease holder loads; the others wait for its
//! entry, or serve the previous one while it is less than twice the bound old. If the
//! holder fails they load themselves after the lease lapses: a search never waits long.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use redis::Script;
use serde::{Deserialize, Serialize};
use ticketrush_core::{
    ConcertId, StoreError, Tier,
    catalog::{CatalogFilter, CatalogRepository, ConcertListing, SearchCache},
    sale::{Presale, SalesPolicy, SeatCounts},
};

use super::{RedisStore, store_error};

/// How long a loader may hold a key; past it another caller loads.
const LEASE: Duration = Duration::from_secs(2);
/// How often a waiting caller looks for the lease holder's entry.
const WAIT_STEP: Duration = Duration::from_millis(5);

/// The generation, the entry under it and whether someone holds its lease, in one trip.
const READ: &str = r"
local gen = redis.call('GET', KEYS[1]) or '0'
local entry = redis.call('GET', ARGV[1] .. 'e:' .. gen .. ':' .. ARGV[2])
local leased = redis.call('EXISTS', ARGV[1] .. 'l:' .. gen .. ':' .. ARGV[2])
return {gen, entry or false, leased}
";

/// Stores the entry only while its generation is current, and frees the lease.
const WRITE: &str = r"
local gen = ARGV[3]
if (redis.call('GET', KEYS[1]) or '0') == gen then
  redis.call('SET', ARGV[1] .. 'e:' .. gen .. ':' .. ARGV[2], ARGV[4], 'PX', ARGV[5])
end
redis.call('DEL', ARGV[1] .. 'l:' .. gen .. ':' .. ARGV[2])
return 1
";

#[derive(Clone)]
pub struct RedisSearchCache {
    store: RedisStore,
    fresh: Duration,
    read: Arc<Script>,
    write: Arc<Script>,
    loads: Arc<AtomicU64>,
}

impl RedisSearchCache {
    /// Entries are served for `fresh` after loading; zero turns the cache off (every
    /// search reads the store) while evictions still happen.
    pub fn new(store: RedisStore, fresh: Duration) -> Self {
        Self {
            store,
            fresh,
            read: Arc::new(Script::new(READ)),
            write: Arc::new(Script::new(WRITE)),
            loads: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Store reads this cache made, since it was built: what a bench divides by searches.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    fn base(&self) -> String {
        self.store.key("search:")
    }

    fn generation_key(&self) -> String {
        self.store.key("search:gen")
    }

    async fn read(&self, key: &str) -> Result<(String, Option<Cached>, bool), StoreError> {
        let mut conn = self.store.conn.clone();
        let (generation, raw, leased): (String, Option<String>, i64) = self
            .read
            .key(self.generation_key())
            .arg(self.base())
            .arg(key)
            .invoke_async(&mut conn)
            .await
            .map_err(store_error)?;
        // An unreadable entry is a miss: the next load overwrites it.
        let entry = raw
            .and_then(|r| serde_json::from_str::<Entry>(&r).ok())
            .and_then(Entry::decode);
        Ok((generation, entry, leased == 1))
    }

    /// Whether this caller is the one to load. A Redis failure answers yes: the caller
    /// reads the store itself rather than wait on a cache it cannot reach.
    async fn lease(&self, generation: &str, key: &str) -> bool {
        let mut conn = self.store.conn.clone();
        let set: Result<Option<String>, _> = redis::cmd("SET")
            .arg(self.lease_key(generation, key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(LEASE.as_millis() as u64)
            .query_async(&mut conn)
            .await;
        set.map(|s| s.is_some()).unwrap_or(true)
    }

    fn lease_key(&self, generation: &str, key: &str) -> String {
        format!("{}l:{generation}:{key}", self.base())
    }

    async fn load<R: CatalogRepository>(
        &self,
        catalog: &R,
        filter: &CatalogFilter,
        generation: &str,
        key: &str,
    ) -> Result<Vec<ConcertListing>, StoreError> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let listings = match catalog.listings(filter).await {
            Ok(listings) => listings,
            Err(err) => {
                // Free the lease at once, so waiters try for themselves instead of waiting.
                let mut conn = self.store.conn.clone();
                let _: Result<i64, _> = redis::cmd("DEL")
                    .arg(self.lease_key(generation, key))
                    .query_async(&mut conn)
                    .await;
                return Err(err);
            }
        };
        let entry = Entry {
            loaded_at: Utc::now(),
            listings: listings.iter().map(Row::from).collect(),
        };
        let mut conn = self.store.conn.clone();
        let stored: Result<i64, _> = self
            .write
            .key(self.generation_key())
            .arg(self.base())
            .arg(key)
            .arg(generation)
            .arg(serde_json::to_string(&entry).map_err(StoreError::internal)?)
            // Kept twice the bound: the second half is served while one caller reloads.
            .arg((self.fresh * 2).as_millis() as u64)
            .invoke_async(&mut conn)
            .await;
        if let Err(err) = stored {
            tracing::warn!(error = %err, "search cache: could not store an entry");
        }
        Ok(listings)
    }

    async fn cached<R: CatalogRepository>(
        &self,
        catalog: &R,
        filter: &CatalogFilter,
    ) -> Result<Vec<ConcertListing>, StoreError> {
        let key = filter.cache_key();
        let (generation, entry) = match self.read(&key).await {
            Ok((generation, entry, _)) => (generation, entry),
            Err(err) => {
                // Redis down: the store still answers, slower.
                tracing::warn!(error = %err, "search cache unavailable; reading the catalog");
                return catalog.listings(filter).await;
            }
        };
        if let Some(entry) = entry {
            if entry.age < self.fresh || !self.lease(&generation, &key).await {
                // Fresh, or someone else is reloading it: the previous answer will do.
                return Ok(entry.listings);
            }
            return self.load(catalog, filter, &generation, &key).await;
        }
        if self.lease(&generation, &key).await {
            return self.load(catalog, filter, &generation, &key).await;
        }
        let waits = (LEASE.as_millis() / WAIT_STEP.as_millis()) as u32;
        for _ in 0..waits {
            tokio::time::sleep(WAIT_STEP).await;
            match self.read(&key).await {
                Ok((_, Some(entry), _)) => return Ok(entry.listings),
                Ok((now_generation, None, true)) if now_generation == generation => {}
                // Evicted meanwhile, the holder gave up, or Redis went: load ourselves.
                _ => break,
            }
        }
        self.load(catalog, filter, &generation, &key).await
    }
}

impl SearchCache for RedisSearchCache {
    async fn listings<R: CatalogRepository>(
        &self,
        catalog: &R,
        filter: &CatalogFilter,
    ) -> Result<Vec<ConcertListing>, StoreError> {
        if self.fresh.is_zero() {
            return catalog.listings(filter).await;
        }
        self.cached(catalog, filter).await
    }

    async fn evict(&self) {
        let mut conn = self.store.conn.clone();
        let bumped: Result<i64, _> = redis::cmd("INCR")
            .arg(self.generation_key())
            .query_async(&mut conn)
            .await;
        if let Err(err) = bumped {
            tracing::warn!(error = %err, "search cache: eviction failed; entries lapse within their bound");
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Entry {
    loaded_at: DateTime<Utc>,
    listings: Vec<Row>,
}

/// An entry as read back.
struct Cached {
    age: Duration,
    listings: Vec<ConcertListing>,
}

impl Entry {
    /// None if any row no longer passes the policy's checks: the entry is then a miss.
    fn decode(self) -> Option<Cached> {
        Some(Cached {
            age: (Utc::now() - self.loaded_at).to_std().unwrap_or_default(),
            listings: self
                .listings
                .into_iter()
                .map(Row::into_listing)
                .collect::<Option<_>>()?,
        })
    }
}

/// A listing as cached: the policy's fields, rebuilt through its checked constructor.
#[derive(Serialize, Deserialize)]
struct Row {
    id: i64,
    title: String,
    artist: String,
    venue: String,
    policy: Option<PolicyRow>,
    first_starts_at: Option<DateTime<Utc>>,
    last_starts_at: Option<DateTime<Utc>>,
    available: u32,
    total: u32,
}

#[derive(Serialize, Deserialize)]
struct PolicyRow {
    presale: Option<(DateTime<Utc>, Tier)>,
    general_sale_starts_at: DateTime<Utc>,
    sale_ends_at: Option<DateTime<Utc>>,
    max_seats_per_user: u16,
    queue_gated: bool,
}

impl From<&ConcertListing> for Row {
    fn from(l: &ConcertListing) -> Self {
        Self {
            id: l.id.get(),
            title: l.title.clone(),
            artist: l.artist.clone(),
            venue: l.venue.clone(),
            policy: l.policy.as_ref().map(|p| PolicyRow {
                presale: p.presale().map(|s| (s.starts_at, s.min_tier)),
                general_sale_starts_at: p.general_sale_starts_at(),
                sale_ends_at: p.sale_ends_at(),
                max_seats_per_user: p.max_seats_per_user(),
                queue_gated: p.queue_gated(),
            }),
            first_starts_at: l.first_starts_at,
            last_starts_at: l.last_starts_at,
            available: l.counts.available,
            total: l.counts.total,
        }
    }
}

impl Row {
    fn into_listing(self) -> Option<ConcertListing> {
        let policy = match self.policy {
            None => None,
            Some(p) => Some(
                SalesPolicy::new(
                    p.presale.map(|(starts_at, min_tier)| Presale {
                        starts_at,
                        min_tier,
                    }),
                    p.general_sale_starts_at,
                    p.sale_ends_at,
                    p.max_seats_per_user,
                    p.queue_gated,
                )
                .ok()?,
            ),
        };
        Some(ConcertListing {
            id: ConcertId::from_stored(self.id),
            title: self.title,
            artist: self.artist,
            venue: self.venue,
            policy,
            first_starts_at: self.first_starts_at,
            last_starts_at: self.last_starts_at,
            counts: SeatCounts {
                available: self.available,
                total: self.total,
            },
        })
    }
}
