//! Abuse rules on holds: how often one buyer holds, the same hold asked again under a new
//! request id, and one device used by several buyers.

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::{StoreError, UserId, ValidationError};

/// A client's device fingerprint (the `X-Device-Fingerprint` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFingerprint(String);

impl DeviceFingerprint {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.chars().all(|c| c.is_ascii_graphic())
        {
            return Err(ValidationError::new(
                "X-Device-Fingerprint",
                format!("must be 1 to {} printable characters", Self::MAX_LEN),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbuseRules {
    pub max_holds: u32,
    pub holds_window: Duration,
    pub repeat_window: Duration,
    pub device_window: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    HoldRate,
    RepeatedRequest,
    DeviceShared,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::HoldRate => "HOLD_RATE",
            Rule::RepeatedRequest => "REPEATED_REQUEST",
            Rule::DeviceShared => "DEVICE_SHARED",
        }
    }
}

/// A hold attempt, as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    pub user: &'a UserId,
    /// What is being held (performance and seats).
    pub fingerprint: &'a str,
    pub request_id: &'a str,
    pub device: Option<&'a DeviceFingerprint>,
    pub now: DateTime<Utc>,
}

/// What the store knows about a buyer's recent holds and devices.
pub trait AbuseLedger: Send + Sync {
    /// Holds this buyer made since `since`.
    fn holds_since(
        &self,
        user: &UserId,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Whether this buyer held exactly `fingerprint` since `since` under another request id.
    fn repeated_since(
        &self,
        user: &UserId,
        fingerprint: &str,
        request_id: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Claims the device for this buyer unless another buyer used it since `since`;
    /// true if the claim stands.
    fn claim_device(
        &self,
        device: &DeviceFingerprint,
        user: &UserId,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Writes the block in a transaction of its own.
    fn record_block(
        &self,
        user: &UserId,
        rule: Rule,
        detail: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, Error)]
pub enum AbuseError {
    #[error("too many holds in a short time; try again later")]
    HoldRate { retry_after: Duration },
    #[error("the same seats were just requested under another requestId")]
    RepeatedRequest,
    #[error("this device is in use by another account")]
    DeviceShared,
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn ago(now: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    now - chrono::Duration::from_std(d).unwrap_or_default()
}

/// Checks the rules; a block is audited before it is returned.
pub async fn check_hold<A: AbuseLedger>(
    ledger: &A,
    rules: AbuseRules,
    attempt: Attempt<'_>,
) -> Result<(), AbuseError> {
    let (rule, detail, error) = if ledger
        .holds_since(attempt.user, ago(attempt.now, rules.holds_window))
        .await?
        >= rules.max_holds
    {
        (
            Rule::HoldRate,
            format!(
                "{} holds within {} s",
                rules.max_holds,
                rules.holds_window.as_secs()
            ),
            AbuseError::HoldRate {
                retry_after: rules.holds_window,
            },
        )
    } else if ledger
        .repeated_since(
            attempt.user,
            attempt.fingerprint,
            attempt.request_id,
            ago(attempt.now, rules.repeat_window),
        )
        .await?
    {
        (
            Rule::RepeatedRequest,
            format!(
                "{} again under request {}",
                attempt.fingerprint, attempt.request_id
            ),
            AbuseError::RepeatedRequest,
        )
    } else if let Some(device) = attempt.device
        && !ledger
            .claim_device(
                device,
                attempt.user,
                attempt.now,
                ago(attempt.now, rules.device_window),
            )
            .await?
    {
        (
            Rule::DeviceShared,
            format!("device {} already used by another buyer", device.as_str()),
            AbuseError::DeviceShared,
        )
    } else {
        return Ok(());
    };
    ledger.record_block(attempt.user, rule, &detail).await?;
    Err(error)
}
