//! Catalog writes: concerts with their performances and seats, and the sales policy, whose
//! change is pushed to every screen.

use std::future::Future;

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::{error::StoreError, ids::ConcertId, sale::SalesPolicy};

use super::CatalogRepository;

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

/// Sets a policy (admins only) and tells every screen: the card's status may have changed.
pub async fn put_sales_policy<A: CatalogAdmin, P: crate::push::PushPublisher>(
    admin: &A,
    publisher: &P,
    caller_is_admin: bool,
    concert: ConcertId,
    policy: SalesPolicy,
) -> Result<SalesPolicy, PolicyAdminError> {
    if !caller_is_admin {
        return Err(PolicyAdminError::Forbidden);
    }
    if !admin.put_policy(concert, &policy).await? {
        return Err(PolicyAdminError::NotFound(concert));
    }
    publisher
        .publish(crate::push::PushEvent::ConcertChanged { concert })
        .await;
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
