//! Catalog writes: concerts with their performances and seats, and the sales policy, whose
//! change is pushed to every screen.

use std::future::Future;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::{error::StoreError, ids::ConcertId, push::PushPublisher, sale::SalesPolicy};

use super::{CatalogRepository, SearchCache, cards_changed};

/// A block of seats: `rows` rows of `seats_per_row`, all of one grade and price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SectionLayout {
    pub name: String,
    pub rows: u16,
    pub seats_per_row: u16,
    pub grade: String,
    pub price: i64,
}

/// A performance to create or update, identified within its concert by `code`.
#[derive(Debug, Clone, PartialEq)]
pub struct PerformanceDraft {
    pub code: String,
    pub starts_at: DateTime<Utc>,
    pub hall: String,
    pub sections: Vec<SectionLayout>,
}

/// A concert to create or update, identified by `slug`. Writing it again changes the
/// metadata, policy and performance times; existing seats are kept as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct ConcertDraft {
    pub slug: String,
    pub title: String,
    pub artist: String,
    pub venue: String,
    pub promoter: String,
    pub policy: Option<SalesPolicy>,
    pub performances: Vec<PerformanceDraft>,
}

/// Catalog writes.
pub trait CatalogAdmin: Send + Sync {
    fn upsert_concert(
        &self,
        draft: &ConcertDraft,
    ) -> impl Future<Output = Result<ConcertId, StoreError>> + Send;

    /// Sets a concert's sales policy; false if the concert does not exist.
    fn put_policy(
        &self,
        concert: ConcertId,
        policy: &SalesPolicy,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

#[derive(Debug, Error)]
pub enum PolicyAdminError {
    #[error("managing sales policies needs the admin claim")]
    Forbidden,
    #[error("concert {0} not found")]
    NotFound(ConcertId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sets a policy (admins only), forgets the cached searches and tells every screen: the
/// card's status may have changed.
pub async fn put_sales_policy<A: CatalogAdmin, C: SearchCache, P: PushPublisher>(
    admin: &A,
    cache: &C,
    publisher: &P,
    caller_is_admin: bool,
    concert: ConcertId,
    policy: SalesPolicy,
    now: DateTime<Utc>,
) -> Result<SalesPolicy, PolicyAdminError> {
    if !caller_is_admin {
        return Err(PolicyAdminError::Forbidden);
    }
    if !admin.put_policy(concert, &policy).await? {
        return Err(PolicyAdminError::NotFound(concert));
    }
    cards_changed(cache, publisher, vec![concert], now).await;
    Ok(policy)
}

/// A concert's policy (admins only); None when it has none yet.
pub async fn get_sales_policy<R: CatalogRepository>(
    catalog: &R,
    caller_is_admin: bool,
    concert: ConcertId,
) -> Result<Option<SalesPolicy>, PolicyAdminError> {
    if !caller_is_admin {
        return Err(PolicyAdminError::Forbidden);
    }
    let record = catalog
        .concert(concert)
        .await?
        .ok_or(PolicyAdminError::NotFound(concert))?;
    Ok(record.listing.policy)
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, sync::Mutex};

    use chrono::TimeZone;

    use super::*;
    use crate::{
        fakes::{FakePublisher, FakeSearchCache},
        push::PushEvent,
        sale::{Presale, SalesPolicy},
        tier::Tier,
    };

    /// Concerts by id with their policy; `put_policy` fails while `failing` is set.
    #[derive(Default)]
    struct FakeAdmin {
        policies: Mutex<HashMap<ConcertId, Option<SalesPolicy>>>,
        writes: Mutex<u32>,
        failing: bool,
    }

    impl FakeAdmin {
        fn with_concert(id: ConcertId) -> Self {
            let admin = Self::default();
            admin.policies.lock().unwrap().insert(id, None);
            admin
        }

        fn policy(&self, id: ConcertId) -> Option<SalesPolicy> {
            self.policies.lock().unwrap().get(&id).cloned().flatten()
        }

        fn writes(&self) -> u32 {
            *self.writes.lock().unwrap()
        }
    }

    impl CatalogAdmin for FakeAdmin {
        async fn upsert_concert(&self, _draft: &ConcertDraft) -> Result<ConcertId, StoreError> {
            let mut policies = self.policies.lock().unwrap();
            let id = ConcertId::from_stored(policies.len() as i64 + 1);
            policies.insert(id, None);
            Ok(id)
        }

        async fn put_policy(
            &self,
            concert: ConcertId,
            policy: &SalesPolicy,
        ) -> Result<bool, StoreError> {
            *self.writes.lock().unwrap() += 1;
            if self.failing {
                return Err(StoreError::unavailable("catalog database unreachable"));
            }
            match self.policies.lock().unwrap().get_mut(&concert) {
                Some(slot) => {
                    *slot = Some(policy.clone());
                    Ok(true)
                }
                None => Ok(false),
            }
        }
    }

    const CONCERT: ConcertId = ConcertId::from_stored(7);

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 1, 9, 0, 0).unwrap()
    }

    fn policy() -> SalesPolicy {
        let opens = Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap();
        SalesPolicy::new(
            Some(Presale {
                starts_at: opens - chrono::Duration::hours(2),
                min_tier: Tier::Gold,
            }),
            opens,
            Some(opens + chrono::Duration::days(10)),
            4,
            true,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn an_admin_sets_the_policy_and_every_screen_hears_of_it() {
        let admin = FakeAdmin::with_concert(CONCERT);
        let publisher = FakePublisher::default();
        let cache = FakeSearchCache::default();

        let set = put_sales_policy(&admin, &cache, &publisher, true, CONCERT, policy(), now())
            .await
            .unwrap();

        assert_eq!(set, policy());
        assert_eq!(admin.policy(CONCERT), Some(policy()));
        assert_eq!(cache.evictions(), 1, "cached searches are forgotten");
        assert_eq!(
            publisher.take(),
            vec![PushEvent::ConcertsRefresh {
                concerts: vec![CONCERT],
                at: now(),
            }]
        );
    }

    #[tokio::test]
    async fn a_caller_without_the_admin_claim_changes_nothing() {
        let admin = FakeAdmin::with_concert(CONCERT);
        let publisher = FakePublisher::default();
        let cache = FakeSearchCache::default();

        let refused =
            put_sales_policy(&admin, &cache, &publisher, false, CONCERT, policy(), now()).await;

        assert!(
            matches!(refused, Err(PolicyAdminError::Forbidden)),
            "{refused:?}"
        );
        assert_eq!(admin.writes(), 0, "the store is not touched");
        assert_eq!(admin.policy(CONCERT), None);
        assert!(publisher.take().is_empty());
        assert_eq!(cache.evictions(), 0);
    }

    #[tokio::test]
    async fn an_unknown_concert_is_not_found_and_nothing_is_published() {
        let admin = FakeAdmin::with_concert(CONCERT);
        let publisher = FakePublisher::default();
        let cache = FakeSearchCache::default();
        let unknown = ConcertId::from_stored(99);

        let refused =
            put_sales_policy(&admin, &cache, &publisher, true, unknown, policy(), now()).await;

        assert!(
            matches!(refused, Err(PolicyAdminError::NotFound(id)) if id == unknown),
            "{refused:?}"
        );
        assert_eq!(admin.policy(unknown), None);
        assert_eq!(admin.policy(CONCERT), None);
        assert!(publisher.take().is_empty());
        assert_eq!(cache.evictions(), 0);
    }

    #[tokio::test]
    async fn a_store_failure_fails_the_write_and_publishes_nothing() {
        let admin = FakeAdmin {
            failing: true,
            ..FakeAdmin::with_concert(CONCERT)
        };
        let publisher = FakePublisher::default();
        let cache = FakeSearchCache::default();

        let failed =
            put_sales_policy(&admin, &cache, &publisher, true, CONCERT, policy(), now()).await;

        assert!(
            matches!(failed, Err(PolicyAdminError::Store(_))),
            "{failed:?}"
        );
        assert_eq!(admin.policy(CONCERT), None);
        assert!(publisher.take().is_empty());
        assert_eq!(cache.evictions(), 0);
    }
}
