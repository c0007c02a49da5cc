//! Delivering one published event: find who listens, build the message, post it to each
//! connection with bounded concurrency, forget the connections that are gone.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use serde::Serialize;
use thiserror::Error;

use crate::{
    ConcertId, OptionId, PerformanceKey, SeatId, StoreError, UserId,
    catalog::{CatalogFilter, CatalogRepository, ConcertCard, SeatStatus},
    push::realtime::RealtimeSettings,
    push::{
        ConnectionId, ConnectionPusher, ConnectionRegistry, MessageType, Pause, PostOutcome,
        PushEvent, ReservationUpdate, ServerMessage, Topic, TopicKey,
    },
    seats::SeatLocks,
    time,
};

/// API Gateway refuses messages above 128 KB.
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;

/// The dispatcher's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DispatchSettings {
    /// Posts in flight at once, per event.
    pub concurrency: usize,
    /// Shards of `concerts.live`.
    pub live_shards: u16,
    /// Tries per connection while throttled; the pause doubles each time.
    pub throttle_attempts: u32,
    pub throttle_backoff: Duration,
    /// Most seat changes read per flush.
    pub max_seat_changes: u32,
    pub realtime: RealtimeSettings,
}

/// What one event's delivery did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DispatchReport {
    pub messages: u32,
    pub delivered: u32,
    pub gone: u32,
    /// Subscribers of a personal topic passed over: their token had expired.
    pub expired_tokens: u32,
    /// Connections still throttled after every retry (counted among the failed ones).
    pub throttled: u32,
}

/// Who under a topic's keys is posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reach {
    /// Every subscriber: a public topic.
    Everyone,
    /// The subscribers whose token is still valid at this instant: a personal topic, whose
    /// events (an active token, a reservation) are for a caller the token still vouches for.
    ValidTokensAt(DateTime<Utc>),
}

#[derive(Debug, Error)]
pub enum DispatchError {
    /// Some posts could not be made (throttled past every retry, or the endpoint failed);
    /// the event should be delivered again. `report` counts the posts that did go through.
    #[error("{failed} of {attempted} posts failed: {last}")]
    Undelivered {
        attempted: u32,
        failed: u32,
        last: String,
        report: DispatchReport,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What walking one key's subscribers did.
#[derive(Default)]
struct KeyWalk {
    attempted: u32,
    delivered: u32,
    gone: u32,
    expired_tokens: u32,
    throttled: u32,
    failed: u32,
    last_failure: Option<String>,
}

/// The ports a delivery needs.
pub struct Dispatcher<'a, R, P, L, C, W> {
    pub registry: &'a R,
    pub pusher: &'a P,
    pub locks: &'a L,
    pub catalog: &'a C,
    pub pause: &'a W,
    pub settings: DispatchSettings,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RefreshPayload<'a> {
    items: &'a [ConcertCard],
    #[serde(flatten)]
    realtime: RealtimeSettings,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SeatChange {
    seat_id: SeatId,
    status: SeatStatus,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SeatPayload<'a> {
    option_id: OptionId,
    seats: &'a [SeatChange],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueActivePayload<'a> {
    concert_id: ConcertId,
    active_token: &'a str,
    #[serde(with = "time")]
    expires_at: DateTime<Utc>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueRankPayload {
    concert_id: ConcertId,
    rank: u64,
    estimated_wait_seconds: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReservationPayload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    reservation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    status: &'a str,
}

impl<R, P, L, C, W> Dispatcher<'_, R, P, L, C, W>
where
    R: ConnectionRegistry,
    P: ConnectionPusher,
    L: SeatLocks,
    C: CatalogRepository,
    W: Pause,
{
    /// Delivers one event to every connection that listens for it.
    pub async fn dispatch(
        &self,
        event: &PushEvent,
        now: DateTime<Utc>,
    ) -> Result<DispatchReport, DispatchError> {
        match event {
            PushEvent::QueueActive {
                concert,
                user,
                token,
                expires_at,
            } => {
                let topic = Topic::Queue(*concert);
                let payload = QueueActivePayload {
                    concert_id: *concert,
                    active_token: token.as_str(),
                    expires_at: *expires_at,
                };
                let msg = ServerMessage::new(MessageType::QueueActive, Some(topic), now, payload);
                self.deliver_personal(topic, user, msg.to_bytes(), now)
                    .await
            }
            PushEvent::QueueRank {
                concert,
                user,
                rank,
                estimated_wait_seconds,
            } => {
                let topic = Topic::Queue(*concert);
                let payload = QueueRankPayload {
                    concert_id: *concert,
                    rank: *rank,
                    estimated_wait_seconds: *estimated_wait_seconds,
                };
                let msg = ServerMessage::new(MessageType::QueueRank, Some(topic), now, payload);
                self.deliver_personal(topic, user, msg.to_bytes(), now)
                    .await
            }
            PushEvent::ReservationStatus { user, update } => {
                let topic = Topic::Reservations;
                let payload = match update {
                    ReservationUpdate::Failed { request_id } => ReservationPayload {
                        reservation_id: None,
                        request_id: Some(request_id),
                        status: "FAILED",
                    },
                    ReservationUpdate::Changed {
                        reservation,
                        status,
                    } => ReservationPayload {
                        reservation_id: Some(reservation.as_str()),
                        request_id: None,
                        status: status.as_str(),
                    },
                };
                let msg =
                    ServerMessage::new(MessageType::ReservationStatus, Some(topic), now, payload);
                self.deliver_personal(topic, user, msg.to_bytes(), now)
                    .await
            }
            PushEvent::SeatsChanged { performance } => self.flush_seats(*performance, now).await,
            PushEvent::ConcertChanged { concert } => {
                let Some(record) = self.catalog.concert(*concert).await? else {
                    return Ok(DispatchReport::default());
                };
                self.refresh(&[record.listing.card(now, None)], now).await
            }
            PushEvent::ConcertsRefresh { concerts, at } => {
                let wanted: HashSet<ConcertId> = concerts.iter().copied().collect();
                let cards: Vec<ConcertCard> = self
                    .catalog
                    .listings(&CatalogFilter::default())
                    .await?
                    .iter()
                    .filter(|l| wanted.contains(&l.id))
                    .map(|l| l.card(*at, None))
                    .collect();
                self.refresh(&cards, *at).await
            }
        }
    }

    /// CONCERTS_REFRESH to every shard of `concerts.live`, split so no message passes the cap.
    async fn refresh(
        &self,
        cards: &[ConcertCard],
        at: DateTime<Utc>,
    ) -> Result<DispatchReport, DispatchError> {
        if cards.is_empty() {
            return Ok(DispatchReport::default());
        }
        let messages = refresh_messages(cards, self.settings.realtime, at, MAX_MESSAGE_BYTES);
        let keys = TopicKey::public(Topic::ConcertsLive, self.settings.live_shards);
        self.deliver(&keys, &messages, Reach::Everyone).await
    }

    /// One user's message, to their connections whose token has not expired at `now`.
    async fn deliver_personal(
        &self,
        topic: Topic,
        user: &UserId,
        message: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<DispatchReport, DispatchError> {
        self.deliver(
            &[TopicKey::personal(topic, user)],
            &[message],
            Reach::ValidTokensAt(now),
        )
        .await
    }

    /// One coalesced SEAT_STATUS with everything logged for the option since the last flush.
    async fn flush_seats(
        &self,
        performance: PerformanceKey,
        now: DateTime<Utc>,
    ) -> Result<DispatchReport, DispatchError> {
        let option = performance.option;
        // A change made while the window's marker stands is in the log once it lapses;
        // reading earlier would strand the window's last changes.
        if let Some(left) = self.locks.flush_window_left(performance).await? {
            self.pause.pause(left + Duration::from_millis(2)).await;
        }
        let from = self.locks.flush_cursor(performance).await?;
        let batch = self
            .locks
            .changes_since(performance, from.as_deref(), self.settings.max_seat_changes)
            .await?;
        let Some(to) = batch
            .cursor
            .as_deref()
            .filter(|to| Some(*to) != from.as_deref())
        else {
            return Ok(DispatchReport::default());
        };
        if !self
            .locks
            .advance_flush_cursor(performance, from.as_deref(), to)
            .await?
        {
            // Another flush of this option read the same changes and pushes them.
            return Ok(DispatchReport::default());
        }
        // The latest status of each seat, in the order the seats first changed.
        let mut latest: HashMap<SeatId, usize> = HashMap::new();
        let mut seats: Vec<SeatChange> = Vec::new();
        for (seat_id, status) in batch.changes {
            match latest.get(&seat_id) {
                Some(&i) => seats[i].status = status,
                None => {
                    latest.insert(seat_id, seats.len());
                    seats.push(SeatChange { seat_id, status });
                }
            }
        }
        let topic = Topic::Seats(option);
        let msg = ServerMessage::new(
            MessageType::SeatStatus,
            Some(topic),
            now,
            SeatPayload {
                option_id: option,
                seats: &seats,
            },
        );
        let delivered = self
            .deliver(
                &TopicKey::public(topic, self.settings.live_shards),
                &[msg.to_bytes()],
                Reach::Everyone,
            )
            .await;
        if delivered.is_err() {
            // The cursor has moved past these changes: log them again, so the redelivered
            // flush (or the next one) pushes them. Viewers apply a seat's status idempotently.
            let pushed: Vec<(SeatId, SeatStatus)> =
                seats.iter().map(|c| (c.seat_id, c.status)).collect();
            self.locks
                .relog_undelivered(performance, to, &pushed)
                .await?;
        }
        delivered
    }

    /// Posts every message to every subscriber under the keys. The keys (the shards of a
    /// topic) are walked at once, so one shard's reads overlap another's posts; `concurrency`
    /// posts are in flight in all.
    async fn deliver(
        &self,
        keys: &[TopicKey],
        messages: &[Vec<u8>],
        reach: Reach,
    ) -> Result<DispatchReport, DispatchError> {
        // The keys are dealt to lanes that run at once, each walking its keys in turn; the
        // lanes split `concurrency` between them, so the bound holds however many keys.
        let concurrency = self.settings.concurrency.max(1);
        let lanes = keys.len().clamp(1, concurrency);
        let walks = futures_util::future::join_all((0..lanes).map(|lane| {
            let share = concurrency / lanes + usize::from(lane < concurrency % lanes);
            async move {
                let mut walks = Vec::new();
                for key in keys.iter().skip(lane).step_by(lanes) {
                    walks.push(self.deliver_key(key, messages, share, reach).await);
                }
                walks
            }
        }))
        .await
        .into_iter()
        .flatten();
        let mut report = DispatchReport {
            messages: messages.len() as u32,
            ..DispatchReport::default()
        };
        let (mut attempted, mut failed, mut last) = (0_u32, 0_u32, None);
        for walk in walks {
            let walk = walk?;
            report.delivered += walk.delivered;
            report.gone += walk.gone;
            report.expired_tokens += walk.expired_tokens;
            report.throttled += walk.throttled;
            attempted += walk.attempted;
            failed += walk.failed;
            last = walk.last_failure.or(last);
        }
        match last {
            Some(last) => Err(DispatchError::Undelivered {
                attempted,
                failed,
                last,
                report,
            }),
            None => Ok(report),
        }
    }

    /// One key's subscribers, page by page, `concurrency` posts at a time. The next page is
    /// read while the current one is posted, so the store's reads overlap the posts.
    async fn deliver_key(
        &self,
        key: &TopicKey,
        messages: &[Vec<u8>],
        concurrency: usize,
        reach: Reach,
    ) -> Result<KeyWalk, StoreError> {
        let mut walk = KeyWalk::default();
        let mut batch = self.registry.subscribers(key, None).await?;
        loop {
            let next_page = async {
                match batch.next.as_deref() {
                    Some(after) => Some(self.registry.subscribers(key, Some(after)).await),
                    None => None,
                }
            };
            let (reached, passed_over): (Vec<_>, Vec<_>) = std::mem::take(&mut batch.connections)
                .into_iter()
                .partition(|s| match reach {
                    Reach::Everyone => true,
                    Reach::ValidTokensAt(now) => s.hears_personal_at(now),
                });
            walk.expired_tokens += passed_over.len() as u32;
            let posts = stream::iter(reached.into_iter().map(|s| s.id))
                .map(|id| async move {
                    let outcome = self.post_all(&id, messages).await;
                    (id, outcome)
                })
                .buffer_unordered(concurrency)
                .collect::<Vec<(ConnectionId, Result<PostOutcome, StoreError>)>>();
            let (outcomes, next) = futures_util::future::join(posts, next_page).await;
            for (id, outcome) in outcomes {
                walk.attempted += 1;
                let failure = match outcome {
                    Ok(PostOutcome::Delivered) => {
                        walk.delivered += 1;
                        None
                    }
                    Ok(PostOutcome::Gone) => {
                        walk.gone += 1;
                        // A vanished browser: its records go, whatever else fails.
                        self.registry.remove(&id).await.err().map(|e| e.to_string())
                    }
                    Ok(PostOutcome::Throttled) => {
                        walk.throttled += 1;
                        Some(format!("{id}: still throttled"))
                    }
                    Err(err) => Some(format!("{id}: {err}")),
                };
                if let Some(failure) = failure {
                    walk.failed += 1;
                    walk.last_failure = Some(failure);
                }
            }
            match next {
                Some(page) => batch = page?,
                None => return Ok(walk),
            }
        }
    }

    /// Posts the messages in order to one connection, backing off while throttled.
    async fn post_all(
        &self,
        id: &ConnectionId,
        messages: &[Vec<u8>],
    ) -> Result<PostOutcome, StoreError> {
        for message in messages {
            let mut wait = self.settings.throttle_backoff;
            let mut attempt = 1;
            loop {
                match self.pusher.post(id, message).await? {
                    PostOutcome::Delivered => break,
                    PostOutcome::Gone => return Ok(PostOutcome::Gone),
                    PostOutcome::Throttled if attempt < self.settings.throttle_attempts => {
                        self.pause.pause(jittered(wait, id, attempt)).await;
                        wait *= 2;
                        attempt += 1;
                    }
                    PostOutcome::Throttled => return Ok(PostOutcome::Throttled),
                }
            }
        }
        Ok(PostOutcome::Delivered)
    }
}

/// Between half and all of `base` (equal jitter), spread by connection and attempt, so the
/// posts throttled together do not all retry at the same instant.
pub fn jittered(base: Duration, id: &ConnectionId, attempt: u32) -> Duration {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (id.as_str(), attempt).hash(&mut hasher);
    let per_mille = (hasher.finish() % 1_000) as u32;
    base / 2 + base / 2 * per_mille / 1_000
}

/// The refresh as messages under `cap` bytes each: all cards in one if they fit, else split
/// in halves until each part fits.
pub fn refresh_messages(
    cards: &[ConcertCard],
    realtime: RealtimeSettings,
    at: DateTime<Utc>,
    cap: usize,
) -> Vec<Vec<u8>> {
    let msg = ServerMessage::new(
        MessageType::ConcertsRefresh,
        Some(Topic::ConcertsLive),
        at,
        RefreshPayload {
            items: cards,
            realtime,
        },
    )
    .to_bytes();
    if msg.len() <= cap || cards.len() <= 1 {
        return vec![msg];
    }
    let (a, b) = cards.split_at(cards.len() / 2);
    let mut out = refresh_messages(a, realtime, at, cap);
    out.extend(refresh_messages(b, realtime, at, cap));
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::{push::realtime::RealtimeMode, sale::SaleStatus};

    fn card(id: i64, title_len: usize) -> ConcertCard {
        ConcertCard {
            concert_id: ConcertId::from_stored(id),
            title: "t".repeat(title_len),
            artist: "a".into(),
            venue: "v".into(),
            sale_status: SaleStatus::Open,
            sale_opens_at: None,
            sale_opens_in_seconds: Some(0),
            reservation_button_visible: true,
            reservation_button_enabled: true,
            reservation_button_label: "Reserve".into(),
            available_seat_count: 1,
            total_seat_count: 2,
            remaining_rate: 0.5,
        }
    }

    #[test]
    fn a_large_refresh_is_split_under_the_cap_and_keeps_every_card() {
        let realtime = RealtimeSettings {
            realtime_mode: RealtimeMode::Websocket,
            hybrid_poll_interval_millis: 30_000,
        };
        let at = Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap();
        let cards: Vec<ConcertCard> = (1..=300).map(|i| card(i, 1_000)).collect();
        let messages = refresh_messages(&cards, realtime, at, MAX_MESSAGE_BYTES);
        assert!(messages.len() > 1);
        let mut ids = Vec::new();
        for m in &messages {
            assert!(m.len() <= MAX_MESSAGE_BYTES);
            let v: serde_json::Value = serde_json::from_slice(m).unwrap();
            assert_eq!(v["type"], "CONCERTS_REFRESH");
            assert_eq!(v["payload"]["realtimeMode"], "websocket");
            for item in v["payload"]["items"].as_array().unwrap() {
                ids.push(item["concertId"].as_i64().unwrap());
            }
        }
        assert_eq!(ids, (1..=300).collect::<Vec<_>>());
        let small = refresh_messages(&cards[..2], realtime, at, MAX_MESSAGE_BYTES);
        assert_eq!(small.len(), 1);
    }

    #[test]
    fn throttle_waits_are_jittered_within_half_to_all_of_the_backoff() {
        let base = Duration::from_millis(200);
        let waits: Vec<Duration> = (0..50)
            .map(|i| {
                let id = ConnectionId::parse(&format!("conn{i}=")).unwrap();
                jittered(base, &id, 1)
            })
            .collect();
        assert!(waits.iter().all(|w| *w >= base / 2 && *w <= base));
        let distinct: std::collections::HashSet<_> = waits.iter().collect();
        assert!(distinct.len() > 25, "connections spread out: {distinct:?}");
    }
}

#[cfg(test)]
#[path = "dispatch_tests.rs"]
mod dispatch_tests;
