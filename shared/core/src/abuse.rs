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

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, sync::Mutex};

    use super::*;
    use crate::fakes::at;

    /// The rules' view of the store, in memory: past holds with their time, fingerprint and
    /// request id; device claims; the blocks written.
    #[derive(Default)]
    struct FakeLedger {
        holds: Vec<(UserId, &'static str, &'static str, DateTime<Utc>)>,
        devices: Mutex<HashMap<String, (UserId, DateTime<Utc>)>>,
        blocks: Mutex<Vec<(UserId, Rule)>>,
    }

    impl AbuseLedger for FakeLedger {
        async fn holds_since(
            &self,
            user: &UserId,
            since: DateTime<Utc>,
        ) -> Result<u32, StoreError> {
            Ok(self
                .holds
                .iter()
                .filter(|(u, _, _, at)| u == user && *at >= since)
                .count() as u32)
        }

        async fn repeated_since(
            &self,
            user: &UserId,
            fingerprint: &str,
            request_id: &str,
            since: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            Ok(self.holds.iter().any(|(u, f, r, at)| {
                u == user && *f == fingerprint && *r != request_id && *at >= since
            }))
        }

        async fn claim_device(
            &self,
            device: &DeviceFingerprint,
            user: &UserId,
            now: DateTime<Utc>,
            since: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            let mut devices = self.devices.lock().unwrap();
            match devices.get(device.as_str()) {
                Some((other, at)) if other != user && *at >= since => Ok(false),
                _ => {
                    devices.insert(device.as_str().to_owned(), (user.clone(), now));
                    Ok(true)
                }
            }
        }

        async fn record_block(
            &self,
            user: &UserId,
            rule: Rule,
            _detail: &str,
        ) -> Result<(), StoreError> {
            self.blocks.lock().unwrap().push((user.clone(), rule));
            Ok(())
        }
    }

    const RULES: AbuseRules = AbuseRules {
        max_holds: 3,
        holds_window: Duration::from_secs(60),
        repeat_window: Duration::from_secs(10),
        device_window: Duration::from_secs(600),
    };

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    fn attempt<'a>(
        user: &'a UserId,
        fingerprint: &'a str,
        request_id: &'a str,
        device: Option<&'a DeviceFingerprint>,
        now: DateTime<Utc>,
    ) -> Attempt<'a> {
        Attempt {
            user,
            fingerprint,
            request_id,
            device,
            now,
        }
    }

    #[tokio::test]
    async fn the_hold_rate_counts_only_the_window_and_is_audited() {
        let ann = user("ann");
        let ledger = FakeLedger {
            holds: vec![
                (ann.clone(), "1:1", "r1", at(0)),
                (ann.clone(), "1:2", "r2", at(30)),
                (ann.clone(), "1:3", "r3", at(50)),
            ],
            ..Default::default()
        };
        let err = check_hold(&ledger, RULES, attempt(&ann, "1:4", "r4", None, at(59)))
            .await
            .unwrap_err();
        assert!(
            matches!(err, AbuseError::HoldRate { retry_after } if retry_after == RULES.holds_window)
        );
        assert_eq!(
            *ledger.blocks.lock().unwrap(),
            vec![(ann.clone(), Rule::HoldRate)]
        );
        // A minute after the first hold it has left the window.
        check_hold(&ledger, RULES, attempt(&ann, "1:4", "r4", None, at(61)))
            .await
            .unwrap();
        check_hold(
            &ledger,
            RULES,
            attempt(&user("bo"), "1:4", "r4", None, at(59)),
        )
        .await
        .expect("another buyer counts apart");
    }

    #[tokio::test]
    async fn the_same_seats_under_a_new_request_id_are_refused_within_the_window() {
        let ann = user("ann");
        let ledger = FakeLedger {
            holds: vec![(ann.clone(), "1:7,8", "r1", at(0))],
            ..Default::default()
        };
        let err = check_hold(&ledger, RULES, attempt(&ann, "1:7,8", "r2", None, at(5)))
            .await
            .unwrap_err();
        assert!(matches!(err, AbuseError::RepeatedRequest));
        check_hold(&ledger, RULES, attempt(&ann, "1:7,8", "r1", None, at(5)))
            .await
            .expect("the same request id is a replay, not a repeat");
        check_hold(&ledger, RULES, attempt(&ann, "1:7,8", "r2", None, at(11)))
            .await
            .expect("after the window");
        assert_eq!(ledger.blocks.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_device_serves_one_buyer_within_its_window() {
        let ledger = FakeLedger::default();
        let device = DeviceFingerprint::parse("device-abc").unwrap();
        let (ann, bo) = (user("ann"), user("bo"));
        check_hold(
            &ledger,
            RULES,
            attempt(&ann, "1:1", "r1", Some(&device), at(0)),
        )
        .await
        .unwrap();
        let err = check_hold(
            &ledger,
            RULES,
            attempt(&bo, "1:2", "r2", Some(&device), at(100)),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, AbuseError::DeviceShared));
        assert_eq!(
            *ledger.blocks.lock().unwrap(),
            vec![(bo.clone(), Rule::DeviceShared)]
        );
        check_hold(
            &ledger,
            RULES,
            attempt(&ann, "1:3", "r3", Some(&device), at(200)),
        )
        .await
        .expect("its own buyer again");
        check_hold(
            &ledger,
            RULES,
            attempt(&bo, "1:2", "r4", Some(&device), at(801)),
        )
        .await
        .expect("the window since ann's last use has passed");
    }
}
