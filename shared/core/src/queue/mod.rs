//! The waiting room: first come, first served, one place per buyer, and admission in
//! batches that a scheduled tick hands out.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    ConcertId, SeatId, StoreError, Tier, UserId,
    catalog::CatalogRepository,
    push::{PushEvent, PushPublisher},
    sale::{SaleStatus, sale_view},
    schedule::{SchedulerLock, TickRun},
    time,
};

pub use crate::ids::ActiveToken;

mod admission;
mod join;

pub use admission::{
    ActivationError, ActivationPorts, ActivationReport, LineReport, activate_tick,
};
pub use join::{
    JoinError, QueueJoin, QueueStatusError, TokenCheckError, join_queue, leave_queue, queue_status,
    require_active_token,
};

/// How the waiting room behaves. Read from configuration once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    /// Most buyers waiting in one concert's room; joins beyond it get QUEUE_FULL.
    pub capacity: u32,
    /// Most buyers admitted per concert per tick.
    pub admit_per_tick: u32,
    /// Most buyers holding a valid token per concert at once (before resale credits).
    pub max_active: u32,
    /// How long an admitted buyer's token lasts.
    pub active_ttl: Duration,
    /// A waiting buyer not seen for this long is dropped at the head instead of admitted.
    pub abandon_after: Duration,
    /// How often the admission tick runs; used for wait estimates.
    pub tick: Duration,
    /// Joins one buyer may attempt per concert in `join_window`.
    pub join_limit: u32,
    pub join_window: Duration,
    /// Waiting buyers sent a fresh rank per tick: the front, plus a rotating slice behind it.
    pub rank_push_per_tick: u32,
}

impl QueueSettings {
    /// Seconds until a buyer at `rank` is admitted at the steady admission rate.
    pub fn estimated_wait_seconds(&self, rank: u64) -> u64 {
        let per_tick = u64::from(self.admit_per_tick.max(1));
        let ticks = rank.div_ceil(per_tick);
        (ticks * self.tick.as_millis() as u64).div_ceil(1000)
    }
}

/// What joining did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Waiting { rank: u64 },
    Active { expires_at: DateTime<Utc> },
    Full,
    Throttled { retry_after: Duration },
}

/// Where a buyer stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    Waiting { rank: u64 },
    Active { expires_at: DateTime<Utc> },
    Absent,
}

/// The limits one admission applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmitRequest {
    pub max_batch: u32,
    pub max_active: u32,
    pub active_ttl: Duration,
    /// Entries last seen before this instant are dropped, not admitted.
    pub seen_since: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub user: UserId,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Admission {
    pub admitted: Vec<Admitted>,
    /// Abandoned entries dropped from the head.
    pub dropped: u32,
    /// Freed-seat credits spent on this batch.
    pub credits_used: u32,
    pub still_waiting: u64,
    /// Buyers holding a valid admission after this step.
    pub active: u64,
}

/// The waiting room as a store provides it. Every operation is atomic.
pub trait WaitingRoom: Send + Sync {
    /// Idempotent: an active buyer gets the same token, a waiting one the same rank.
    fn join(
        &self,
        concert: ConcertId,
        user: &UserId,
        now: DateTime<Utc>,
        settings: &QueueSettings,
    ) -> impl Future<Output = Result<JoinOutcome, StoreError>> + Send;

    /// Where the buyer stands; also records that they are still there.
    fn standing(
        &self,
        concert: ConcertId,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Standing, StoreError>> + Send;

    /// Leaves the line; true if the buyer was waiting. An admitted buyer's slot stays
    /// counted until their token expires (the token is checked without a store), and
    /// joining again within that time gives the same admission back.
    fn leave(
        &self,
        concert: ConcertId,
        user: &UserId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Admits from the head: one atomic step per concert.
    fn admit(
        &self,
        concert: ConcertId,
        now: DateTime<Utc>,
        request: &AdmitRequest,
    ) -> impl Future<Output = Result<Admission, StoreError>> + Send;

    /// Ranks (from 1) of the waiting buyers at positions `start..start+count` (from 0).
    fn ranks(
        &self,
        concert: ConcertId,
        start: u64,
        count: u32,
    ) -> impl Future<Output = Result<Vec<(UserId, u64)>, StoreError>> + Send;

    /// Seats freed by cancellation or expiry let that many more buyers in ("resale"). A seat
    /// earns one credit per token lifetime, so holding and cancelling the same seats again
    /// and again cannot admit buyers past the cap without bound.
    fn credit_freed_seats(
        &self,
        concert: ConcertId,
        seats: &[SeatId],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Admission tokens: minted for an admitted buyer, checked by the seat functions without
/// a round trip to any store (a signature over concert, buyer and expiry).
pub trait QueueTokens: Send + Sync {
    fn mint(&self, concert: ConcertId, user: &UserId, expires_at: DateTime<Utc>) -> ActiveToken;

    /// True if `token` was minted for this concert and buyer and has not expired at `now`.
    fn verify(
        &self,
        concert: ConcertId,
        user: &UserId,
        token: &ActiveToken,
        now: DateTime<Utc>,
    ) -> bool;
}

/// What a queue call answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueView {
    pub status: QueueStatus,
    pub rank: Option<u64>,
    pub estimated_wait_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_token: Option<ActiveToken>,
    #[serde(skip_serializing_if = "Option::is_none", with = "time::option")]
    pub active_expires_at: Option<DateTime<Utc>>,
    #[serde(with = "time")]
    pub server_now: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum QueueStatus {
    Waiting,
    Active,
    NotInQueue,
}

/// Who a view is for, so an active standing carries that buyer's token.
struct Viewer<'a, T> {
    tokens: &'a T,
    concert: ConcertId,
    user: &'a UserId,
}

impl QueueView {
    fn from_standing<T: QueueTokens>(
        standing: Standing,
        viewer: Viewer<'_, T>,
        settings: &QueueSettings,
        now: DateTime<Utc>,
    ) -> Self {
        match standing {
            Standing::Waiting { rank } => Self {
                status: QueueStatus::Waiting,
                rank: Some(rank),
                estimated_wait_seconds: Some(settings.estimated_wait_seconds(rank)),
                active_token: None,
                active_expires_at: None,
                server_now: now,
            },
            Standing::Active { expires_at } => Self {
                status: QueueStatus::Active,
                rank: None,
                estimated_wait_seconds: Some(0),
                active_token: Some(viewer.tokens.mint(viewer.concert, viewer.user, expires_at)),
                active_expires_at: Some(expires_at),
                server_now: now,
            },
            Standing::Absent => Self {
                status: QueueStatus::NotInQueue,
                rank: None,
                estimated_wait_seconds: None,
                active_token: None,
                active_expires_at: None,
                server_now: now,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::at;

    fn settings(admit_per_tick: u32, tick_ms: u64) -> QueueSettings {
        QueueSettings {
            capacity: 100_000,
            admit_per_tick,
            max_active: 1_000,
            active_ttl: Duration::from_secs(600),
            abandon_after: Duration::from_secs(60),
            tick: Duration::from_millis(tick_ms),
            join_limit: 10,
            join_window: Duration::from_secs(60),
            rank_push_per_tick: 100,
        }
    }

    #[test]
    fn the_wait_estimate_counts_whole_ticks_at_the_admission_rate() {
        let s = settings(100, 1_000);
        assert_eq!(
            s.estimated_wait_seconds(1),
            1,
            "the next tick admits the head"
        );
        assert_eq!(s.estimated_wait_seconds(100), 1);
        assert_eq!(s.estimated_wait_seconds(101), 2);
        assert_eq!(s.estimated_wait_seconds(100_000), 1_000);
        // Sub-second ticks round the total up, not each tick.
        let fast = settings(10, 250);
        assert_eq!(fast.estimated_wait_seconds(10), 1);
        assert_eq!(fast.estimated_wait_seconds(40), 1);
        assert_eq!(fast.estimated_wait_seconds(41), 2);
        // A misconfigured zero rate still answers.
        assert_eq!(settings(0, 1_000).estimated_wait_seconds(3), 3);
    }

    /// Tokens that verify when they name the concert and buyer and have not expired.
    struct PlainTokens;

    impl QueueTokens for PlainTokens {
        fn mint(
            &self,
            concert: ConcertId,
            user: &UserId,
            expires_at: DateTime<Utc>,
        ) -> ActiveToken {
            ActiveToken::minted(format!("{concert}.{user}.{}", expires_at.timestamp()))
        }

        fn verify(
            &self,
            concert: ConcertId,
            user: &UserId,
            token: &ActiveToken,
            now: DateTime<Utc>,
        ) -> bool {
            let mut parts = token.as_str().split('.');
            parts.next() == Some(&concert.to_string())
                && parts.next() == Some(user.as_str())
                && parts
                    .next()
                    .and_then(|t| t.parse::<i64>().ok())
                    .is_some_and(|t| t > now.timestamp())
        }
    }

    #[test]
    fn a_gated_sale_needs_the_buyers_live_token_for_this_concert() {
        let now = at(0);
        let (concert, other) = (ConcertId::from_stored(1), ConcertId::from_stored(2));
        let ann = UserId::parse("ann").unwrap();
        let bo = UserId::parse("bo").unwrap();
        let live = PlainTokens.mint(concert, &ann, now + chrono::Duration::minutes(10));
        let check = |gated, user: &UserId, token: Option<&ActiveToken>, at| {
            require_active_token(&PlainTokens, gated, concert, user, token, at).is_ok()
        };
        assert!(check(true, &ann, Some(&live), now));
        assert!(!check(true, &ann, None, now), "no token");
        assert!(!check(true, &bo, Some(&live), now), "another buyer's token");
        assert!(
            !check(true, &ann, Some(&live), now + chrono::Duration::minutes(11)),
            "expired"
        );
        let elsewhere = PlainTokens.mint(other, &ann, now + chrono::Duration::minutes(10));
        assert!(
            !check(true, &ann, Some(&elsewhere), now),
            "another concert's token"
        );
        assert!(check(false, &bo, None, now), "an ungated sale needs none");
    }

    #[test]
    fn queue_tokens_from_clients_are_checked_for_shape() {
        assert!(ActiveToken::parse("1800000600000.Zm9v-YmFy_").is_ok());
        assert!(ActiveToken::parse("").is_err());
        assert!(ActiveToken::parse("has space").is_err());
        assert!(ActiveToken::parse(&"a".repeat(ActiveToken::MAX_LEN + 1)).is_err());
    }
}
