//! ticketrush domain: checked types, sale rules, use cases and the ports they need.
//!
//! Nothing here performs I/O. Adapters implement the ports; the edge validates raw
//! input into these types once.

pub mod abuse;
pub mod catalog;
pub mod dispatch;
pub mod error;
/// In-memory fakes of the ports, for core's unit tests only.
#[cfg(test)]
pub(crate) mod fakes;
pub mod ids;
pub mod payments;
pub mod push;
pub mod queue;
pub mod reservations;
pub mod sale;
pub mod schedule;
pub mod seats;
pub mod status_tick;
pub mod tier;
pub mod time;

pub use error::{StoreError, ValidationError};
pub use ids::{ConcertId, OptionId, PerformanceKey, SeatId, UserId};
pub use tier::Tier;
