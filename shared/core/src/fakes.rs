use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    future::Future,
    pin::Pin,
    sync::{Mutex, MutexGuard},
    task::{Context, Poll},
    time::Duration,
};

use chrono::{DateTime, TimeZone, Utc};

use crate::{
    ConcertId, OptionId, PerformanceKey, SeatId, StoreError, UserId,
    catalog::{
        CatalogFilter, CatalogRepository, ConcertListing, ConcertRecord, OptionRecord, SearchCache,
        SeatMap, SeatPage, SeatStatus,
    },
    push::{
        Connection, ConnectionId, ConnectionPusher, ConnectionRegistry, PostOutcome, PushEvent,
        PushPublisher, SubscribeOutcome, Subscriber, SubscriberPage, Topic, TopicDirectory,
        TopicKey,
    },
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
// The search cache.

/// Keeps listings per filter key until evicted, and counts evictions.
#[derive(Default)]
pub(crate) struct FakeSearchCache {
    entries: Mutex<HashMap<String, Vec<ConcertListing>>>,
    evictions: Mutex<u32>,
}

impl FakeSearchCache {
    pub(crate) fn evictions(&self) -> u32 {
        *self.evictions.lock().unwrap()
    }
}

impl SearchCache for FakeSearchCache {
    async fn listings<R: CatalogRepository>(
        &self,
        catalog: &R,
        filter: &CatalogFilter,
    ) -> Result<Vec<ConcertListing>, StoreError> {
        let key = filter.cache_key();
        if let Some(hit) = self.entries.lock().unwrap().get(&key) {
            return Ok(hit.clone());
        }
        let loaded = catalog.listings(filter).await?;
        self.entries.lock().unwrap().insert(key, loaded.clone());
        Ok(loaded)
    }

    async fn evict(&self) {
        self.entries.lock().unwrap().clear();
        *self.evictions.lock().unwrap() += 1;
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

// ---------------------------------------------------------------------------------------
// The WebSocket side: connections and their subscriptions, posts to them, the topics that
// exist.

#[derive(Default)]
pub(crate) struct RegistryState {
    pub connections: BTreeMap<ConnectionId, Connection>,
    /// Each key's subscribers, with the token expiry their subscription carries.
    pub subscriptions: BTreeMap<TopicKey, BTreeMap<ConnectionId, Option<DateTime<Utc>>>>,
    pub removed: Vec<ConnectionId>,
}

/// Connections and subscriptions in memory, read back in small pages (so a topic's
/// subscribers span several), with the store's rules: a subscription carries its connection's
/// token expiry, and a connection holds at most `max` of them.
pub(crate) struct FakeRegistry {
    state: Mutex<RegistryState>,
    page_size: usize,
    /// Shards of `concerts.live`, for [`FakeRegistry::join`].
    shards: u16,
}

impl FakeRegistry {
    pub(crate) fn new(shards: u16) -> Self {
        Self {
            state: Mutex::new(RegistryState::default()),
            page_size: 3,
            shards,
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, RegistryState> {
        self.state.lock().unwrap()
    }

    /// Registers a connection subscribed to `topics`, under the keys the WebSocket API uses.
    pub(crate) fn join(&self, id: &str, owner: Option<&str>, topics: &[Topic]) -> ConnectionId {
        self.join_until(id, owner, None, topics)
    }

    /// As [`FakeRegistry::join`], for a connection whose token expires at `token_expires_at`.
    pub(crate) fn join_until(
        &self,
        id: &str,
        owner: Option<&str>,
        token_expires_at: Option<DateTime<Utc>>,
        topics: &[Topic],
    ) -> ConnectionId {
        let id = ConnectionId::parse(id).unwrap();
        let owner = owner.map(|u| UserId::parse(u).unwrap());
        let mut state = self.state();
        state.connections.insert(
            id.clone(),
            Connection {
                id: id.clone(),
                user: owner.clone(),
                token_expires_at,
                connected_at: at(0),
                expires_at: at(0) + crate::push::CONNECTION_LIFETIME,
            },
        );
        for topic in topics {
            let key = TopicKey::for_subscription(*topic, &id, owner.as_ref(), self.shards)
                .expect("a personal topic needs a user");
            state
                .subscriptions
                .entry(key)
                .or_default()
                .insert(id.clone(), token_expires_at);
        }
        id
    }

    pub(crate) fn is_registered(&self, id: &ConnectionId) -> bool {
        self.state().connections.contains_key(id)
    }

    /// Every key the connection is still subscribed under.
    pub(crate) fn keys_of(&self, id: &ConnectionId) -> Vec<TopicKey> {
        self.state()
            .subscriptions
            .iter()
            .filter(|(_, ids)| ids.contains_key(id))
            .map(|(key, _)| key.clone())
            .collect()
    }

    pub(crate) fn removed(&self) -> Vec<ConnectionId> {
        self.state().removed.clone()
    }
}

impl ConnectionRegistry for FakeRegistry {
    async fn register(&self, connection: &Connection) -> Result<(), StoreError> {
        self.state()
            .connections
            .insert(connection.id.clone(), connection.clone());
        Ok(())
    }

    async fn connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
        Ok(self.state().connections.get(id).cloned())
    }

    async fn remove(&self, id: &ConnectionId) -> Result<(), StoreError> {
        let mut state = self.state();
        state.connections.remove(id);
        for ids in state.subscriptions.values_mut() {
            ids.remove(id);
        }
        state.removed.push(id.clone());
        Ok(())
    }

    async fn subscribe(
        &self,
        key: &TopicKey,
        id: &ConnectionId,
        _expires_at: DateTime<Utc>,
        max: usize,
    ) -> Result<SubscribeOutcome, StoreError> {
        let mut state = self.state();
        let Some(token_expires_at) = state.connections.get(id).map(|c| c.token_expires_at) else {
            return Ok(SubscribeOutcome::NoConnection);
        };
        let others = state
            .subscriptions
            .iter()
            .filter(|(k, ids)| *k != key && ids.contains_key(id))
            .count();
        if others >= max {
            return Ok(SubscribeOutcome::Full);
        }
        state
            .subscriptions
            .entry(key.clone())
            .or_default()
            .insert(id.clone(), token_expires_at);
        Ok(SubscribeOutcome::Subscribed)
    }

    async fn unsubscribe(&self, key: &TopicKey, id: &ConnectionId) -> Result<(), StoreError> {
        if let Some(ids) = self.state().subscriptions.get_mut(key) {
            ids.remove(id);
        }
        Ok(())
    }

    async fn subscribers(
        &self,
        key: &TopicKey,
        page: Option<&str>,
    ) -> Result<SubscriberPage, StoreError> {
        let state = self.state();
        let after: Vec<Subscriber> = state
            .subscriptions
            .get(key)
            .into_iter()
            .flatten()
            .filter(|(id, _)| page.is_none_or(|after| id.as_str() > after))
            .map(|(id, token_expires_at)| Subscriber {
                id: id.clone(),
                token_expires_at: *token_expires_at,
            })
            .collect();
        let connections: Vec<Subscriber> = after.iter().take(self.page_size).cloned().collect();
        let next = (after.len() > connections.len())
            .then(|| connections.last().map(|s| s.id.as_str().to_owned()))
            .flatten();
        Ok(SubscriberPage { connections, next })
    }
}

/// Ready on the second poll: a post that takes a moment, so posts overlap.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[derive(Default)]
pub(crate) struct PusherState {
    /// Outcomes still to come per connection; the last one repeats. Delivered otherwise.
    pub script: HashMap<ConnectionId, VecDeque<Result<PostOutcome, StoreError>>>,
    pub posts: Vec<(ConnectionId, Vec<u8>)>,
    pub in_flight: usize,
    pub most_in_flight: usize,
}

/// Posts with scripted outcomes per connection, every post recorded (and how many are in
/// flight at once).
#[derive(Default)]
pub(crate) struct FakePusher(Mutex<PusherState>);

impl FakePusher {
    pub(crate) fn state(&self) -> MutexGuard<'_, PusherState> {
        self.0.lock().unwrap()
    }

    pub(crate) fn script(&self, id: &ConnectionId, outcomes: Vec<Result<PostOutcome, StoreError>>) {
        self.state().script.insert(id.clone(), outcomes.into());
    }

    pub(crate) fn posts(&self) -> Vec<(ConnectionId, Vec<u8>)> {
        self.state().posts.clone()
    }

    /// How many posts each connection received.
    pub(crate) fn post_counts(&self) -> BTreeMap<ConnectionId, usize> {
        let mut counts = BTreeMap::new();
        for (id, _) in self.posts() {
            *counts.entry(id).or_default() += 1;
        }
        counts
    }

    pub(crate) fn most_in_flight(&self) -> usize {
        self.state().most_in_flight
    }
}

impl ConnectionPusher for FakePusher {
    async fn post(&self, id: &ConnectionId, message: &[u8]) -> Result<PostOutcome, StoreError> {
        let outcome = {
            let mut state = self.state();
            state.posts.push((id.clone(), message.to_vec()));
            state.in_flight += 1;
            state.most_in_flight = state.most_in_flight.max(state.in_flight);
            match state.script.get_mut(id) {
                Some(queue) if queue.len() > 1 => queue.pop_front().unwrap(),
                Some(queue) => queue.front().cloned().unwrap_or(Ok(PostOutcome::Delivered)),
                None => Ok(PostOutcome::Delivered),
            }
        };
        YieldOnce(false).await;
        self.state().in_flight -= 1;
        outcome
    }
}

/// The concerts and performances that exist, with every lookup counted.
#[derive(Default)]
pub(crate) struct FakeTopics {
    pub concerts: Vec<ConcertId>,
    pub performances: Vec<OptionId>,
    pub lookups: Mutex<u32>,
}

impl TopicDirectory for FakeTopics {
    async fn concert_exists(&self, id: ConcertId) -> Result<bool, StoreError> {
        *self.lookups.lock().unwrap() += 1;
        Ok(self.concerts.contains(&id))
    }

    async fn performance_exists(&self, id: OptionId) -> Result<bool, StoreError> {
        *self.lookups.lock().unwrap() += 1;
        Ok(self.performances.contains(&id))
    }
}
