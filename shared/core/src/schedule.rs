//! Scheduled work that must run once per tick, however many invocations the scheduler
//! delivers.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};

use crate::StoreError;

/// A lock with an owner and an expiry; only the owner releases it.
pub trait SchedulerLock: Send + Sync {
    /// True if this owner now holds `name` for `ttl`.
    fn try_acquire(
        &self,
        name: &str,
        owner: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Releases `name` if this owner still holds it; true if it did.
    fn release(
        &self,
        name: &str,
        owner: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// One scheduled invocation: the instant it was scheduled for, and who runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickRun {
    pub scheduled_at: DateTime<Utc>,
    /// The tick's number: invocations for the same scheduled instant share it.
    pub sequence: u64,
    pub period: Duration,
    pub owner: String,
}

impl TickRun {
    pub fn new(scheduled_at: DateTime<Utc>, period: Duration, owner: impl Into<String>) -> Self {
        let period_ms = (period.as_millis() as i64).max(1);
        Self {
            scheduled_at,
            sequence: (scheduled_at.timestamp_millis().max(0) / period_ms) as u64,
            period,
            owner: owner.into(),
        }
    }

    /// Claims this tick of `job`. None if another invocation has it, or already ran it.
    pub async fn claim<L: SchedulerLock>(
        &self,
        lock: &L,
        job: &str,
    ) -> Result<Option<TickClaim>, StoreError> {
        let name = format!("{job}:{}", self.sequence);
        // Held past the tick itself, so a late duplicate of this tick still finds it taken.
        let ttl = (self.period * 3).max(Duration::from_secs(5));
        if lock.try_acquire(&name, &self.owner, ttl).await? {
            Ok(Some(TickClaim {
                name,
                owner: self.owner.clone(),
            }))
        } else {
            Ok(None)
        }
    }
}

/// A claimed tick.
#[must_use]
pub struct TickClaim {
    name: String,
    owner: String,
}

impl TickClaim {
    /// A finished tick keeps its claim until it expires, so the tick runs once; a failed
    /// one gives it back so a retry can run it.
    pub async fn finish<L: SchedulerLock>(
        self,
        lock: &L,
        succeeded: bool,
    ) -> Result<(), StoreError> {
        if !succeeded {
            lock.release(&self.name, &self.owner).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{FakeLock, at};

    #[tokio::test]
    async fn a_tick_runs_once_and_a_failed_tick_can_run_again() {
        let lock = FakeLock::default();
        let period = Duration::from_secs(1);
        let first = TickRun::new(at(0), period, "a");
        let duplicate = TickRun::new(at(0), period, "b");
        assert_eq!(first.sequence, duplicate.sequence);
        let claim = first
            .claim(&lock, "job")
            .await
            .unwrap()
            .expect("first claim");
        assert!(duplicate.claim(&lock, "job").await.unwrap().is_none());
        claim.finish(&lock, true).await.unwrap();
        assert!(
            duplicate.claim(&lock, "job").await.unwrap().is_none(),
            "a finished tick stays claimed"
        );

        let next = TickRun::new(at(1), period, "a");
        let claim = next
            .claim(&lock, "job")
            .await
            .unwrap()
            .expect("the next tick is free");
        claim.finish(&lock, false).await.unwrap();
        let retry = TickRun::new(at(1), period, "c");
        assert!(
            retry.claim(&lock, "job").await.unwrap().is_some(),
            "a failed tick is given back"
        );
    }
}
