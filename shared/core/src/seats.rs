//! Seat soft locks: a click takes a seat for a short while, in one atomic step, and every
//! change is logged for the viewers of that performance.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};

use serde::Serialize;
use thiserror::Error;

use crate::{
    ConcertId, OptionId, PerformanceKey, SeatId, StoreError, Tier, UserId, ValidationError,
    catalog::{CatalogRepository, SeatMap, SeatPage, SeatStatus},
    push::{PushEvent, PushPublisher},
    queue::{ActiveToken, QueueTokens, TokenCheckError, require_active_token},
    sale::{SaleStatus, sale_view},
    time,
};

/// The client's idempotency key for one action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "requestId",
                format!("must be 1 to {} letters, digits, '-' or '_'", Self::MAX_LEN),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a click did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectOutcome {
    /// The caller holds the seat until `expires_at`. `flush` asks the caller to publish one
    /// "flush this option" message: the first change in a coalescing window does.
    Selected {
        expires_at: DateTime<Utc>,
        flush: bool,
    },
    /// Someone else holds it.
    HeldByOther,
    /// The ledger has it (HOLD or CONFIRMED).
    Unavailable,
    /// The caller already holds or is choosing as many seats of this concert (in every
    /// performance) as allowed.
    UserLimit,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReleaseOutcome {
    Released { flush: bool },
    NotOwner,
    NotHeld,
}

/// The limits of one click.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTerms {
    pub ttl: Duration,
    pub max_per_user: u16,
    /// How long one coalescing window of seat changes lasts.
    pub flush_window: Duration,
}

/// Seat soft locks, per performance, with each buyer's seats counted per concert. Every call
/// is one atomic round trip.
pub trait SeatLocks: Send + Sync {
    fn select(
        &self,
        performance: PerformanceKey,
        seat: SeatId,
        user: &UserId,
        request: &RequestId,
        now: DateTime<Utc>,
        terms: LockTerms,
    ) -> impl Future<Output = Result<SelectOutcome, StoreError>> + Send;

    /// The concert of a performance, for the calls that know only the performance (a
    /// release, a hold that failed before reading the catalog): recorded by every `select`,
    /// so it is there wherever a lock may be. None if nobody ever clicked in it.
    fn concert_of(
        &self,
        option: OptionId,
    ) -> impl Future<Output = Result<Option<ConcertId>, StoreError>> + Send;

    /// Owner-only: compare and delete.
    fn release(
        &self,
        performance: PerformanceKey,
        seat: SeatId,
        user: &UserId,
        flush_window: Duration,
    ) -> impl Future<Output = Result<ReleaseOutcome, StoreError>> + Send;

    /// Owner-only: compare and extend. True if extended.
    fn extend(
        &self,
        performance: PerformanceKey,
        seat: SeatId,
        user: &UserId,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The holder of each seat's lock, in order; None where unlocked.
    fn holders(
        &self,
        performance: PerformanceKey,
        seats: &[SeatId],
    ) -> impl Future<Output = Result<Vec<Option<UserId>>, StoreError>> + Send;

    /// Records ledger changes of `holder`'s seats (HOLD, CONFIRMED, AVAILABLE again) so clicks
    /// see them, the holder's count for the concert follows them, and viewers hear them;
    /// clears the soft locks of seats that left AVAILABLE. Returns the flush flag, as
    /// `select` does.
    fn record_ledger(
        &self,
        performance: PerformanceKey,
        holder: &UserId,
        changes: &[(SeatId, SeatStatus)],
        flush_window: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Makes Redis agree with the ledger: `taken` is every seat of the performance the ledger
    /// holds or sold. Soft locks on those seats are cleared, the mirror and the holders'
    /// counts are rebuilt, and every difference is logged. Returns how many seats changed,
    /// and the flush flag.
    fn resync(
        &self,
        performance: PerformanceKey,
        taken: &[TakenSeat],
        flush_window: Duration,
    ) -> impl Future<Output = Result<(u32, bool), StoreError>> + Send;

    /// Logs AVAILABLE for locks that lapsed by `now` without a release; returns how many.
    fn sweep_expired(
        &self,
        performance: PerformanceKey,
        now: DateTime<Utc>,
        flush_window: Duration,
    ) -> impl Future<Output = Result<(u32, bool), StoreError>> + Send;

    /// Seat changes logged after `cursor` (None: from the start), oldest first, with the
    /// cursor to read from next.
    fn changes_since(
        &self,
        performance: PerformanceKey,
        cursor: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<ChangeBatch, StoreError>> + Send;

    /// How long the option's current coalescing window still stands; None when none does.
    fn flush_window_left(
        &self,
        performance: PerformanceKey,
    ) -> impl Future<Output = Result<Option<Duration>, StoreError>> + Send;

    /// Where the viewers' last flush of this option stopped reading its log.
    fn flush_cursor(
        &self,
        performance: PerformanceKey,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Moves the flush cursor from `from` to `to`, only if it still is at `from`: true if
    /// moved. Two flushes of one option never push the same changes twice.
    fn advance_flush_cursor(
        &self,
        performance: PerformanceKey,
        from: Option<&str>,
        to: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Logs again, as new changes, those of `changes` (read up to `read_to`) whose seat has
    /// not changed since: a flush whose push failed after moving the cursor leaves them for
    /// the redelivered flush. A seat that changed since is left to the newer change. Returns
    /// how many were logged again.
    fn relog_undelivered(
        &self,
        performance: PerformanceKey,
        read_to: &str,
        changes: &[(SeatId, SeatStatus)],
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
}

/// A seat the ledger holds or sold, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenSeat {
    pub seat: SeatId,
    pub status: SeatStatus,
    pub holder: UserId,
}

/// Seat changes read from a performance's log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeBatch {
    pub changes: Vec<(SeatId, SeatStatus)>,
    /// Where the next read starts.
    pub cursor: Option<String>,
}

/// Soft-lock settings, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatSettings {
    pub lock_ttl: Duration,
    pub flush_window: Duration,
}

/// A click, as the edge checked it.
#[derive(Debug, Clone)]
pub struct SeatClick {
    pub option: OptionId,
    pub seat: SeatId,
    pub user: UserId,
    pub tier: Tier,
    pub request: RequestId,
    pub queue_token: Option<ActiveToken>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SelectedSeat {
    pub option_id: OptionId,
    pub seat_id: SeatId,
    pub status: SeatStatus,
    #[serde(with = "time")]
    pub expires_at: DateTime<Utc>,
    pub ttl_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReleasedSeat {
    pub option_id: OptionId,
    pub seat_id: SeatId,
    pub status: SeatStatus,
}

#[derive(Debug, Error)]
pub enum SelectError {
    #[error("performance {0} not found")]
    OptionNotFound(OptionId),
    #[error("seat {seat} is not a seat of performance {option}")]
    SeatNotFound { option: OptionId, seat: SeatId },
    #[error("the sale is {0} for you; seats can be chosen once it is OPEN")]
    SaleNotOpen(SaleStatus),
    #[error(transparent)]
    QueueToken(#[from] TokenCheckError),
    #[error("someone else is choosing this seat")]
    AlreadySelected,
    #[error("this seat is no longer available")]
    Unavailable,
    #[error("you already hold or are choosing {0} seats of this concert, the most allowed")]
    LimitExceeded(u16),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum ReleaseError {
    #[error("this seat is held by someone else")]
    NotOwner,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A click on a seat: the sale must be open for this buyer, the queue token valid where the
/// sale is gated, then one atomic lock step. The first change in a window asks for one
/// coalesced seat push.
pub async fn select_seat<R, L, T, P>(
    catalog: &R,
    locks: &L,
    tokens: &T,
    publisher: &P,
    settings: SeatSettings,
    click: &SeatClick,
) -> Result<SelectedSeat, SelectError>
where
    R: CatalogRepository,
    L: SeatLocks,
    T: QueueTokens,
    P: PushPublisher,
{
    let record = catalog
        .option(click.option)
        .await?
        .ok_or(SelectError::OptionNotFound(click.option))?;
    if !record.has_seat(click.seat) {
        return Err(SelectError::SeatNotFound {
            option: click.option,
            seat: click.seat,
        });
    }
    let concert = &record.concert;
    let Some(policy) = concert.policy.as_ref() else {
        return Err(SelectError::SaleNotOpen(SaleStatus::Unscheduled));
    };
    match sale_view(
        Some(policy),
        concert.closes_at(),
        concert.counts,
        click.now,
        Some(click.tier),
    )
    .status
    {
        SaleStatus::Open => {}
        SaleStatus::SoldOut => return Err(SelectError::Unavailable),
        other => return Err(SelectError::SaleNotOpen(other)),
    }
    require_active_token(
        tokens,
        policy.queue_gated(),
        concert.id,
        &click.user,
        click.queue_token.as_ref(),
        click.now,
    )?;
    let terms = LockTerms {
        ttl: settings.lock_ttl,
        max_per_user: policy.max_seats_per_user(),
        flush_window: settings.flush_window,
    };
    let performance = PerformanceKey {
        concert: concert.id,
        option: click.option,
    };
    match locks
        .select(
            performance,
            click.seat,
            &click.user,
            &click.request,
            click.now,
            terms,
        )
        .await?
    {
        SelectOutcome::Selected { expires_at, flush } => {
            if flush {
                publisher
                    .publish(PushEvent::SeatsChanged { performance })
                    .await;
            }
            Ok(SelectedSeat {
                option_id: click.option,
                seat_id: click.seat,
                status: SeatStatus::Selecting,
                expires_at,
                ttl_seconds: ((expires_at - click.now).num_milliseconds().max(0) as u64)
                    .div_ceil(1000),
            })
        }
        SelectOutcome::HeldByOther => Err(SelectError::AlreadySelected),
        SelectOutcome::Unavailable => Err(SelectError::Unavailable),
        SelectOutcome::UserLimit => Err(SelectError::LimitExceeded(terms.max_per_user)),
    }
}

/// Lets go of a soft lock; only its holder may. Releasing a lock that already lapsed (or a
/// seat of a performance nobody clicked in) succeeds.
pub async fn release_seat<L: SeatLocks, P: PushPublisher>(
    locks: &L,
    publisher: &P,
    settings: SeatSettings,
    option: OptionId,
    seat: SeatId,
    user: &UserId,
) -> Result<ReleasedSeat, ReleaseError> {
    let released = ReleasedSeat {
        option_id: option,
        seat_id: seat,
        status: SeatStatus::Available,
    };
    let Some(concert) = locks.concert_of(option).await? else {
        return Ok(released);
    };
    let performance = PerformanceKey { concert, option };
    match locks
        .release(performance, seat, user, settings.flush_window)
        .await?
    {
        ReleaseOutcome::NotOwner => Err(ReleaseError::NotOwner),
        outcome => {
            if outcome == (ReleaseOutcome::Released { flush: true }) {
                publisher
                    .publish(PushEvent::SeatsChanged { performance })
                    .await;
            }
            Ok(released)
        }
    }
}

#[derive(Debug, Error)]
pub enum SeatMapError {
    #[error("performance {0} not found")]
    NotFound(OptionId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A page of seats: the ledger's status, with live soft locks shown as SELECTING (one
/// lock read per page).
pub async fn seat_map<R: CatalogRepository, L: SeatLocks>(
    repo: &R,
    locks: &L,
    id: OptionId,
    page: SeatPage,
) -> Result<SeatMap, SeatMapError> {
    let mut map = repo
        .seat_map(id, page)
        .await?
        .ok_or(SeatMapError::NotFound(id))?;
    let ids: Vec<SeatId> = map.seats.iter().map(|s| s.seat_id).collect();
    let performance = PerformanceKey {
        concert: map.concert_id,
        option: id,
    };
    let holders = locks.holders(performance, &ids).await?;
    for (seat, holder) in map.seats.iter_mut().zip(holders) {
        if seat.status == SeatStatus::Available && holder.is_some() {
            seat.status = SeatStatus::Selecting;
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_checked() {
        assert!(RequestId::parse("8f14e45f-ceea-467f-a0e6-2a0b5c1b1a8d").is_ok());
        assert!(RequestId::parse("").is_err());
        assert!(RequestId::parse("has space").is_err());
        assert_eq!(
            RequestId::parse(&"a".repeat(65)).unwrap_err().field,
            "requestId"
        );
    }
}
