//! The catalog: concerts, their performances and seats as the store holds them, and the
//! port to it. Beside it: `search` (cards and a concert's detail, with the live sale
//! status), `admin` (concert and sales-policy writes) and `cache` (the shared search cache
//! and the eviction every card-changing write goes through).

mod admin;
mod cache;
mod search;

pub use admin::*;
pub use cache::*;
pub use search::*;

use std::future::Future;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{
    error::{StoreError, ValidationError},
    ids::{ConcertId, OptionId, SeatId},
    sale::{SaleStatus, SalesPolicy, SeatCounts, sale_view},
    tier::Tier,
    time,
};

/// A concert as the store lists it, with the seat counts of all its performances.
#[derive(Debug, Clone)]
pub struct ConcertListing {
    pub id: ConcertId,
    pub title: String,
    pub artist: String,
    pub venue: String,
    pub policy: Option<SalesPolicy>,
    pub first_starts_at: Option<DateTime<Utc>>,
    pub last_starts_at: Option<DateTime<Utc>>,
    pub counts: SeatCounts,
}

impl ConcertListing {
    /// Selling stops at the policy's end, or else when the last performance starts.
    pub fn closes_at(&self) -> Option<DateTime<Utc>> {
        self.policy
            .as_ref()
            .and_then(SalesPolicy::sale_ends_at)
            .or(self.last_starts_at)
    }

    /// The card this viewer sees at `now`.
    pub fn card(&self, now: DateTime<Utc>, viewer: Option<Tier>) -> ConcertCard {
        let view = sale_view(
            self.policy.as_ref(),
            self.closes_at(),
            self.counts,
            now,
            viewer,
        );
        ConcertCard {
            concert_id: self.id,
            title: self.title.clone(),
            artist: self.artist.clone(),
            venue: self.venue.clone(),
            sale_status: view.status,
            sale_opens_at: view.opens_at,
            sale_opens_in_seconds: view.opens_in_seconds,
            reservation_button_visible: view.button.visible,
            reservation_button_enabled: view.button.enabled,
            reservation_button_label: view.button.label,
            available_seat_count: self.counts.available,
            total_seat_count: self.counts.total,
            remaining_rate: self.counts.remaining_rate(),
        }
    }
}

/// The live card: the same shape in search results and in pushed refreshes.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertCard {
    pub concert_id: ConcertId,
    pub title: String,
    pub artist: String,
    pub venue: String,
    pub sale_status: SaleStatus,
    #[serde(with = "time::option")]
    pub sale_opens_at: Option<DateTime<Utc>>,
    pub sale_opens_in_seconds: Option<i64>,
    pub reservation_button_visible: bool,
    pub reservation_button_enabled: bool,
    pub reservation_button_label: String,
    pub available_seat_count: u32,
    pub total_seat_count: u32,
    pub remaining_rate: f64,
}

/// The store-side part of a search: what SQL can narrow down cheaply.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogFilter {
    /// Case-insensitive substring of the title or the artist.
    pub text: Option<String>,
    /// Case-insensitive substring of the venue.
    pub venue: Option<String>,
    /// Some performance starts at or after this instant.
    pub performs_from: Option<DateTime<Utc>>,
    /// Some performance starts before this instant.
    pub performs_to: Option<DateTime<Utc>>,
}

/// A performance of a concert.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Performance {
    pub option_id: OptionId,
    #[serde(with = "time")]
    pub starts_at: DateTime<Utc>,
    pub hall: String,
    pub available_seat_count: u32,
    pub total_seat_count: u32,
}

/// A concert with its performances, as the store holds it.
#[derive(Debug, Clone)]
pub struct ConcertRecord {
    pub listing: ConcertListing,
    pub promoter: String,
    pub performances: Vec<Performance>,
}

/// A concert's detail: its live card, the policy, and its performances.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConcertDetail {
    #[serde(flatten)]
    pub card: ConcertCard,
    pub promoter: String,
    #[schema(value_type = Option<crate::sale::PolicyRequest>)]
    pub sales_policy: Option<SalesPolicy>,
    pub performances: Vec<Performance>,
}

/// A seat's state. SELECTING lives only in Redis; the others are the ledger's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SeatStatus {
    Available,
    Selecting,
    Hold,
    Confirmed,
}

impl SeatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SeatStatus::Available => "AVAILABLE",
            SeatStatus::Selecting => "SELECTING",
            SeatStatus::Hold => "HOLD",
            SeatStatus::Confirmed => "CONFIRMED",
        }
    }

    /// Reads a ledger status; SELECTING is never stored.
    pub fn from_ledger(raw: &str) -> Option<Self> {
        match raw {
            "AVAILABLE" => Some(SeatStatus::Available),
            "HOLD" => Some(SeatStatus::Hold),
            "CONFIRMED" => Some(SeatStatus::Confirmed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Seat {
    pub seat_id: SeatId,
    pub section: String,
    pub row: String,
    pub number: i32,
    pub grade: String,
    pub price: i64,
    pub status: SeatStatus,
}

/// A page of a performance's seats.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeatMap {
    pub option_id: OptionId,
    pub concert_id: ConcertId,
    #[serde(with = "time")]
    pub starts_at: DateTime<Utc>,
    pub seats: Vec<Seat>,
    pub page: u32,
    pub size: u32,
    pub total_elements: u64,
    pub has_next: bool,
}

/// Raw seat-map paging, before checking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeatPage {
    pub page: u32,
    pub size: u32,
}

impl SeatPage {
    pub const MAX_SIZE: u32 = 2_000;
    pub const DEFAULT_SIZE: u32 = 1_000;
    pub const MAX_PAGE: u32 = 1_000;

    pub fn parse(page: Option<&str>, size: Option<&str>) -> Result<Self, ValidationError> {
        let parse = crate::error::bounded_integer;
        Ok(Self {
            page: parse("page", page, 0, 0, Self::MAX_PAGE)?,
            size: parse("size", size, Self::DEFAULT_SIZE, 1, Self::MAX_SIZE)?,
        })
    }

    pub fn offset(self) -> u64 {
        u64::from(self.page) * u64::from(self.size)
    }
}

/// A performance as the seat functions need it: its concert, for the sale rules, and the
/// ids of its seats.
#[derive(Debug, Clone)]
pub struct OptionRecord {
    pub option: OptionId,
    pub concert: ConcertListing,
    /// Sorted.
    pub seat_ids: Vec<SeatId>,
}

impl OptionRecord {
    pub fn has_seat(&self, seat: SeatId) -> bool {
        self.seat_ids.binary_search(&seat).is_ok()
    }
}

/// The catalog as the store provides it.
pub trait CatalogRepository: Send + Sync {
    /// Every concert matching the filter, with seat counts, in one round trip.
    fn listings(
        &self,
        filter: &CatalogFilter,
    ) -> impl Future<Output = Result<Vec<ConcertListing>, StoreError>> + Send;

    fn concert(
        &self,
        id: ConcertId,
    ) -> impl Future<Output = Result<Option<ConcertRecord>, StoreError>> + Send;

    /// A performance with its concert and seat ids; None if unknown.
    fn option(
        &self,
        id: OptionId,
    ) -> impl Future<Output = Result<Option<OptionRecord>, StoreError>> + Send;

    /// A page of a performance's seats with their ledger status; None if the performance is unknown.
    fn seat_map(
        &self,
        id: OptionId,
        page: SeatPage,
    ) -> impl Future<Output = Result<Option<SeatMap>, StoreError>> + Send;
}
