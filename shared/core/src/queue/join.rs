//! Joining, standing in and leaving a concert's waiting room, and the seat functions' gate.

use chrono::{DateTime, Utc};
use thiserror::Error;

use super::*;
#[derive(Debug, Error)]
pub enum JoinError {
    #[error("concert {0} not found")]
    NotFound(ConcertId),
    #[error(
        "the sale for concert {concert} is {status}; the waiting room opens five minutes before the sale"
    )]
    SaleNotOpen {
        concert: ConcertId,
        status: SaleStatus,
    },
    #[error("the sale for concert {0} has closed")]
    SaleClosed(ConcertId),
    #[error("the waiting room for concert {0} is full; try again later")]
    Full(ConcertId),
    #[error("too many join attempts; retry after {} s", .retry_after.as_secs().max(1))]
    Throttled { retry_after: Duration },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum QueueStatusError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One buyer asking, at `now`, to join one concert's waiting room.
#[derive(Debug, Clone, Copy)]
pub struct QueueJoin<'a> {
    pub concert: ConcertId,
    pub user: &'a UserId,
    pub tier: Tier,
    pub now: DateTime<Utc>,
}

/// Joins the concert's waiting room, once the sale is at most five minutes away for this buyer.
pub async fn join_queue<R: CatalogRepository, W: WaitingRoom, T: QueueTokens>(
    catalog: &R,
    room: &W,
    tokens: &T,
    settings: &QueueSettings,
    join: QueueJoin<'_>,
) -> Result<QueueView, JoinError> {
    let QueueJoin {
        concert,
        user,
        tier,
        now,
    } = join;
    let record = catalog
        .concert(concert)
        .await?
        .ok_or(JoinError::NotFound(concert))?;
    let listing = &record.listing;
    let view = sale_view(
        listing.policy.as_ref(),
        listing.closes_at(),
        listing.counts,
        now,
        Some(tier),
    );
    match view.status {
        SaleStatus::Closed => return Err(JoinError::SaleClosed(concert)),
        s if s < SaleStatus::OpenSoon5m => {
            return Err(JoinError::SaleNotOpen { concert, status: s });
        }
        _ => {}
    }
    let viewer = Viewer {
        tokens,
        concert,
        user,
    };
    match room.join(concert, user, now, settings).await? {
        JoinOutcome::Waiting { rank } => Ok(QueueView::from_standing(
            Standing::Waiting { rank },
            viewer,
            settings,
            now,
        )),
        JoinOutcome::Active { expires_at } => Ok(QueueView::from_standing(
            Standing::Active { expires_at },
            viewer,
            settings,
            now,
        )),
        JoinOutcome::Full => Err(JoinError::Full(concert)),
        JoinOutcome::Throttled { retry_after } => Err(JoinError::Throttled { retry_after }),
    }
}

pub async fn queue_status<W: WaitingRoom, T: QueueTokens>(
    room: &W,
    tokens: &T,
    settings: &QueueSettings,
    concert: ConcertId,
    user: &UserId,
    now: DateTime<Utc>,
) -> Result<QueueView, QueueStatusError> {
    let standing = room.standing(concert, user, now).await?;
    Ok(QueueView::from_standing(
        standing,
        Viewer {
            tokens,
            concert,
            user,
        },
        settings,
        now,
    ))
}

pub async fn leave_queue<W: WaitingRoom>(
    room: &W,
    concert: ConcertId,
    user: &UserId,
    now: DateTime<Utc>,
) -> Result<QueueView, QueueStatusError> {
    room.leave(concert, user).await?;
    Ok(QueueView {
        status: QueueStatus::NotInQueue,
        rank: None,
        estimated_wait_seconds: None,
        active_token: None,
        active_expires_at: None,
        server_now: now,
    })
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TokenCheckError {
    #[error("a valid X-Queue-Token from the waiting room is required for this sale")]
    Required,
}

/// The gate the seat functions call: on a queue-gated sale the buyer must present their
/// live token for this concert. No store is read.
pub fn require_active_token<T: QueueTokens>(
    tokens: &T,
    queue_gated: bool,
    concert: ConcertId,
    user: &UserId,
    token: Option<&ActiveToken>,
    now: DateTime<Utc>,
) -> Result<(), TokenCheckError> {
    match token {
        _ if !queue_gated => Ok(()),
        Some(t) if tokens.verify(concert, user, t, now) => Ok(()),
        _ => Err(TokenCheckError::Required),
    }
}
