//! Adapters: the PostgreSQL, Redis and AWS implementations of the core ports, and the
//! typed configuration every function reads once at start.

pub mod aws;
pub mod cached_catalog;
pub mod clock;
pub mod config;
pub mod connections;
pub mod jwt;
pub mod payment_webhook;
pub mod postgres;
pub mod push;
pub mod queue_tokens;
pub mod redis;
pub mod secrets;
pub mod wiring;

pub use clock::SystemClock;
