//! Seat soft locks: a click takes a seat for a short while, in one atomic step, and every
//! change is logged for the viewers of that performance.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};

use crate::{OptionId, SeatId, StoreError, UserId, ValidationError, catalog::SeatStatus};

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
    /// The caller already holds as many seats of this performance as allowed.
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

/// Seat soft locks, per performance. Every call is one atomic round trip.
pub trait SeatLocks: Send + Sync {
    fn select(
        &self,
        option: OptionId,
        seat: SeatId,
        user: &UserId,
        request: &RequestId,
        now: DateTime<Utc>,
        terms: LockTerms,
    ) -> impl Future<Output = Result<SelectOutcome, StoreError>> + Send;

    /// Owner-only: compare and delete.
    fn release(
        &self,
        option: OptionId,
        seat: SeatId,
        user: &UserId,
        flush_window: Duration,
    ) -> impl Future<Output = Result<ReleaseOutcome, StoreError>> + Send;

    /// Owner-only: compare and extend. True if extended.
    fn extend(
        &self,
        option: OptionId,
        seat: SeatId,
        user: &UserId,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The holder of each seat's lock, in order; None where unlocked.
    fn holders(
        &self,
        option: OptionId,
        seats: &[SeatId],
    ) -> impl Future<Output = Result<Vec<Option<UserId>>, StoreError>> + Send;

    /// Records ledger changes (HOLD, CONFIRMED, AVAILABLE again) so clicks see them and
    /// viewers hear them; clears the soft locks of seats that left AVAILABLE. Returns the
    /// flush flag, as `select` does.
    fn record_ledger(
        &self,
        option: OptionId,
        changes: &[(SeatId, SeatStatus)],
        flush_window: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Logs AVAILABLE for locks that lapsed by `now` without a release; returns how many.
    fn sweep_expired(
        &self,
        option: OptionId,
        now: DateTime<Utc>,
        flush_window: Duration,
    ) -> impl Future<Output = Result<(u32, bool), StoreError>> + Send;

    /// Seat changes logged after `cursor` (None: from the start), oldest first, with the
    /// cursor to read from next.
    fn changes_since(
        &self,
        option: OptionId,
        cursor: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<ChangeBatch, StoreError>> + Send;
}

/// Seat changes read from a performance's log.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChangeBatch {
    pub changes: Vec<(SeatId, SeatStatus)>,
    /// Where the next read starts.
    pub cursor: Option<String>,
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
