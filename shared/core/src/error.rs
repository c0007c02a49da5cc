use std::sync::Arc;

use thiserror::Error;

/// The vendor's error behind a `StoreError`, kept whole (shared, so the error stays `Clone`
/// for caches that hand one failure to every waiting caller).
pub type StoreCause = Arc<dyn std::error::Error + Send + Sync>;

/// What a port reports when its store fails. Adapters translate vendor errors into this.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The store cannot be reached or did not answer in time; retrying later can succeed.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] StoreCause),
    /// Anything else: a bug or corrupt data. Logged, never shown to the caller.
    #[error("store failure: {0}")]
    Internal(#[source] StoreCause),
}

impl StoreError {
    /// From a vendor error (kept as the source) or a message.
    pub fn unavailable(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Unavailable(Arc::from(cause.into()))
    }

    /// From a vendor error (kept as the source) or a message.
    pub fn internal(cause: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Internal(Arc::from(cause.into()))
    }
}

/// Input that failed a domain rule. `field` names the parameter so a person can fix it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A query parameter that must be an integer from `min` to `max`; absent, it is `default`.
pub fn bounded_integer(
    field: &'static str,
    raw: Option<&str>,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ValidationError> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.trim().parse::<i64>() {
        Ok(v) if v >= i64::from(min) && v <= i64::from(max) => Ok(v as u32),
        _ => Err(ValidationError::new(
            field,
            format!("must be an integer from {min} to {max}, got {raw:?}"),
        )),
    }
}
