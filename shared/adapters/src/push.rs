//! The push path's adapters: events onto the SQS push queue (and back off it), posts to
//! connections through API Gateway's management API, and waiting on tokio.

use std::time::Duration;

use aws_sdk_apigatewaymanagement::{
    error::{ProvideErrorMetadata, SdkError},
    operation::post_to_connection::PostToConnectionError,
    primitives::Blob,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;
use tokio::sync::OnceCell;

use crate::{
    aws::PushResources,
    config::{ConfigError, Env},
};
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey, StoreError, UserId, ValidationError,
    push::{
        ConnectionId, ConnectionPusher, Pause, PostOutcome, PushEvent, PushPublisher,
        ReservationUpdate,
    },
    queue::ActiveToken,
    reservations::{ReservationId, ReservationStatus},
};

/// Logs each event instead of delivering it: for tests of use cases whose pushes are not
/// what the test is about. Never on a runtime path.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingPushPublisher;

impl PushPublisher for LoggingPushPublisher {
    async fn publish(&self, event: PushEvent) {
        let logged = Logged::of(&event);
        tracing::debug!(event = logged.kind, ids = %logged.ids, "push (logged, not delivered)");
    }
}

/// What a log line may say about an event: its type and the ids it is about. Never its body:
/// a QUEUE_ACTIVE carries the buyer's active token, which would let anyone reading the logs
/// buy in their place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// The event's wire name (`QUEUE_ACTIVE`, `SEATS_CHANGED`, ...).
    pub kind: &'static str,
    /// `name=value` pairs of its ids, space-separated.
    pub ids: String,
}

/// Concert ids listed for a refresh before the rest are only counted.
const LOGGED_CONCERTS: usize = 10;

impl Logged {
    pub fn of(event: &PushEvent) -> Self {
        let (kind, ids) = match event {
            PushEvent::QueueActive { concert, user, .. } => {
                ("QUEUE_ACTIVE", format!("concert={concert} user={user}"))
            }
            PushEvent::QueueRank { concert, user, .. } => {
                ("QUEUE_RANK", format!("concert={concert} user={user}"))
            }
            PushEvent::SeatsChanged { performance } => (
                "SEATS_CHANGED",
                format!(
                    "concert={} option={}",
                    performance.concert, performance.option
                ),
            ),
            PushEvent::ConcertChanged { concert } => {
                ("CONCERT_CHANGED", format!("concert={concert}"))
            }
            PushEvent::ConcertsRefresh { concerts, .. } => {
                let mut listed: Vec<String> = concerts
                    .iter()
                    .take(LOGGED_CONCERTS)
                    .map(ToString::to_string)
                    .collect();
                if concerts.len() > LOGGED_CONCERTS {
                    listed.push(format!("+{}", concerts.len() - LOGGED_CONCERTS));
                }
                ("CONCERTS_REFRESH", format!("concerts={}", listed.join(",")))
            }
            PushEvent::ReservationStatus { user, update } => (
                "RESERVATION_STATUS",
                match update {
                    ReservationUpdate::Failed { request_id } => {
                        format!("user={user} request={request_id}")
                    }
                    ReservationUpdate::Changed { reservation, .. } => {
                        format!("user={user} reservation={reservation}")
                    }
                },
            ),
        };
        Self { kind, ids }
    }
}

/// An event as it travels on the queue.
#[derive(Debug, Serialize, Deserialize)]
#[serde(
    tag = "event",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
enum WireEvent {
    QueueActive {
        concert_id: i64,
        user_id: String,
        active_token: String,
        expires_at: DateTime<Utc>,
    },
    QueueRank {
        concert_id: i64,
        user_id: String,
        rank: u64,
        estimated_wait_seconds: u64,
    },
    SeatsChanged {
        concert_id: i64,
        option_id: i64,
    },
    ConcertChanged {
        concert_id: i64,
    },
    ConcertsRefresh {
        concert_ids: Vec<i64>,
        at: DateTime<Utc>,
    },
    ReservationStatus {
        user_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reservation_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
        status: String,
    },
}

#[derive(Debug, Error)]
pub enum WireError {
    #[error("not a push event: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("invalid push event: {0}")]
    Invalid(#[from] ValidationError),
}

/// The queue message body for an event.
pub fn encode(event: &PushEvent) -> String {
    let wire = match event {
        PushEvent::QueueActive {
            concert,
            user,
            token,
            expires_at,
        } => WireEvent::QueueActive {
            concert_id: concert.get(),
            user_id: user.to_string(),
            active_token: token.as_str().to_owned(),
            expires_at: *expires_at,
        },
        PushEvent::QueueRank {
            concert,
            user,
            rank,
            estimated_wait_seconds,
        } => WireEvent::QueueRank {
            concert_id: concert.get(),
            user_id: user.to_string(),
            rank: *rank,
            estimated_wait_seconds: *estimated_wait_seconds,
        },
        PushEvent::SeatsChanged { performance } => WireEvent::SeatsChanged {
            concert_id: performance.concert.get(),
            option_id: performance.option.get(),
        },
        PushEvent::ConcertChanged { concert } => WireEvent::ConcertChanged {
            concert_id: concert.get(),
        },
        PushEvent::ConcertsRefresh { concerts, at } => WireEvent::ConcertsRefresh {
            concert_ids: concerts.iter().map(|c| c.get()).collect(),
            at: *at,
        },
        PushEvent::ReservationStatus { user, update } => match update {
            ReservationUpdate::Failed { request_id } => WireEvent::ReservationStatus {
                user_id: user.to_string(),
                reservation_id: None,
                request_id: Some(request_id.clone()),
                status: "FAILED".into(),
            },
            ReservationUpdate::Changed {
                reservation,
                status,
            } => WireEvent::ReservationStatus {
                user_id: user.to_string(),
                reservation_id: Some(reservation.to_string()),
                request_id: None,
                status: status.as_str().into(),
            },
        },
    };
    serde_json::to_string(&wire).expect("a wire event is plain data")
}

/// An event read back from a queue message, checked as any other input.
pub fn decode(body: &str) -> Result<PushEvent, WireError> {
    let positive = |field: &'static str, v: i64| {
        (v > 0)
            .then_some(v)
            .ok_or_else(|| ValidationError::new(field, "must be positive"))
    };
    let concert = |v: i64| positive("concertId", v).map(ConcertId::from_stored);
    Ok(match serde_json::from_str::<WireEvent>(body)? {
        WireEvent::QueueActive {
            concert_id,
            user_id,
            active_token,
            expires_at,
        } => PushEvent::QueueActive {
            concert: concert(concert_id)?,
            user: UserId::parse(&user_id)?,
            token: ActiveToken::parse(&active_token)?,
            expires_at,
        },
        WireEvent::QueueRank {
            concert_id,
            user_id,
            rank,
            estimated_wait_seconds,
        } => PushEvent::QueueRank {
            concert: concert(concert_id)?,
            user: UserId::parse(&user_id)?,
            rank,
            estimated_wait_seconds,
        },
        WireEvent::SeatsChanged {
            concert_id,
            option_id,
        } => PushEvent::SeatsChanged {
            performance: PerformanceKey {
                concert: concert(concert_id)?,
                option: OptionId::from_stored(positive("optionId", option_id)?),
            },
        },
        WireEvent::ConcertChanged { concert_id } => PushEvent::ConcertChanged {
            concert: concert(concert_id)?,
        },
        WireEvent::ConcertsRefresh { concert_ids, at } => PushEvent::ConcertsRefresh {
            concerts: concert_ids
                .into_iter()
                .map(concert)
                .collect::<Result<_, _>>()?,
            at,
        },
        WireEvent::ReservationStatus {
            user_id,
            reservation_id,
            request_id,
            status,
        } => {
            let update = match (reservation_id, request_id) {
                (Some(id), _) => ReservationUpdate::Changed {
                    reservation: ReservationId::parse("reservationId", &id)?,
                    status: ReservationStatus::from_stored(&status)
                        .ok_or_else(|| ValidationError::new("status", "unknown status"))?,
                },
                (None, Some(request_id)) => ReservationUpdate::Failed { request_id },
                (None, None) => {
                    return Err(ValidationError::new(
                        "reservationId",
                        "a reservation id or a request id is needed",
                    )
                    .into());
                }
            };
            PushEvent::ReservationStatus {
                user: UserId::parse(&user_id)?,
                update,
            }
        }
    })
}

/// Publishes onto the push queue. A failure is logged and never reaches the caller: the
/// state an event reports can always be read back, and the next change publishes again.
#[derive(Clone)]
pub struct SqsPushPublisher {
    client: aws_sdk_sqs::Client,
    queue: String,
    url: std::sync::Arc<OnceCell<String>>,
}

impl SqsPushPublisher {
    /// `queue` is the queue's URL, or its name (looked up once, on first use).
    pub fn new(client: aws_sdk_sqs::Client, queue: impl Into<String>) -> Self {
        Self {
            client,
            queue: queue.into(),
            url: std::sync::Arc::new(OnceCell::new()),
        }
    }

    /// The queue from `PUSH_QUEUE_URL`, or else `PUSH_QUEUE_NAME`.
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, ConfigError> {
        let queue = match env.optional("PUSH_QUEUE_URL") {
            Some(url) => url,
            None => PushResources::from_env(env)?.push_queue,
        };
        Ok(Self::new(aws_sdk_sqs::Client::new(sdk), queue))
    }

    async fn url(&self) -> Result<&str, String> {
        self.url
            .get_or_try_init(|| async {
                if self.queue.starts_with("https://") || self.queue.starts_with("http://") {
                    return Ok(self.queue.clone());
                }
                self.client
                    .get_queue_url()
                    .queue_name(&self.queue)
                    .send()
                    .await
                    .map_err(|e| format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?
                    .queue_url
                    .ok_or_else(|| "no queue url".to_owned())
            })
            .await
            .map(String::as_str)
    }
}

impl PushPublisher for SqsPushPublisher {
    async fn publish(&self, event: PushEvent) {
        // Boxed: the SDK's future is deep, and every use case that publishes would carry it.
        Box::pin(self.send(event)).await
    }

    /// `SendMessageBatch`, up to ten events (and well under its payload limit) a call.
    async fn publish_all(&self, events: Vec<PushEvent>) {
        Box::pin(self.send_batches(events)).await
    }
}

/// Entries per `SendMessageBatch` call (SQS's limit).
const SEND_BATCH: usize = 10;
/// Body bytes per `SendMessageBatch` call: well under SQS's 256 KiB payload limit.
const SEND_BATCH_BYTES: usize = 200 * 1024;

/// Consecutive runs of bodies, each within both batch limits.
fn batches(bodies: &[String]) -> Vec<&[String]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, body) in bodies.iter().enumerate() {
        if i > start && (i - start == SEND_BATCH || bytes + body.len() > SEND_BATCH_BYTES) {
            out.push(&bodies[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += body.len();
    }
    if start < bodies.len() {
        out.push(&bodies[start..]);
    }
    out
}

impl SqsPushPublisher {
    async fn send_batches(&self, events: Vec<PushEvent>) {
        if events.is_empty() {
            return;
        }
        let bodies: Vec<String> = events.iter().map(encode).collect();
        let url = match self.url().await {
            Ok(url) => url,
            Err(error) => {
                tracing::warn!(%error, events = bodies.len(), "push events not published");
                return;
            }
        };
        // The batches are consecutive runs of `bodies`, so `first` maps an entry back to its event.
        let mut first = 0;
        for batch in batches(&bodies) {
            let events = &events[first..first + batch.len()];
            first += batch.len();
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                })
                .collect::<Result<Vec<_>, _>>();
            let sent = match entries {
                Ok(entries) => self
                    .client
                    .send_message_batch()
                    .queue_url(url)
                    .set_entries(Some(entries))
                    .send()
                    .await
                    .map_err(|e| format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e))),
                Err(e) => Err(e.to_string()),
            };
            match sent {
                Ok(out) => {
                    for failed in out.failed() {
                        let logged = failed
                            .id()
                            .parse::<usize>()
                            .ok()
                            .and_then(|i| events.get(i))
                            .map(Logged::of);
                        tracing::warn!(
                            code = failed.code(),
                            error = ?failed.message(),
                            event = logged.as_ref().map_or("", |l| l.kind),
                            ids = logged.as_ref().map_or("", |l| l.ids.as_str()),
                            "push event not published"
                        );
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, events = batch.len(), "push events not published");
                }
            }
        }
    }

    async fn send(&self, event: PushEvent) {
        let body = encode(&event);
        let sent = match self.url().await {
            Ok(url) => self
                .client
                .send_message()
                .queue_url(url)
                .message_body(&body)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| format!("{}", aws_sdk_sqs::error::DisplayErrorContext(&e))),
            Err(e) => Err(e),
        };
        if let Err(error) = sent {
            let logged = Logged::of(&event);
            tracing::warn!(%error, event = logged.kind, ids = %logged.ids, "push event not published");
        }
    }
}

/// Posts through API Gateway's `@connections` management API.
#[derive(Clone)]
pub struct ApiGatewayPusher {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiGatewayPusher {
    /// `endpoint` is the WebSocket API's management URL:
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`.
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        // One layer owns throttling: the dispatcher retries a throttled post with jittered
        // backoff and counts it, so the SDK must not retry it again underneath; any other
        // failure fails the message, which SQS redelivers.
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(config),
        }
    }

    /// The endpoint from `APIGW_MANAGEMENT_ENDPOINT`.
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, ConfigError> {
        Ok(Self::new(
            sdk,
            &crate::config::management_endpoint_from_env(env)?,
        ))
    }
}

/// Error codes API Gateway uses to say "slow down".
fn is_throttling(code: Option<&str>) -> bool {
    matches!(
        code,
        Some(
            "LimitExceededException"
                | "TooManyRequestsException"
                | "ThrottlingException"
                | "Throttling"
        )
    )
}

impl ConnectionPusher for ApiGatewayPusher {
    async fn post(&self, id: &ConnectionId, message: &[u8]) -> Result<PostOutcome, StoreError> {
        let sent = self
            .client
            .post_to_connection()
            .connection_id(id.as_str())
            .data(Blob::new(message))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(PostOutcome::Delivered),
            Err(SdkError::ServiceError(e)) => match e.err() {
                PostToConnectionError::GoneException(_) => Ok(PostOutcome::Gone),
                PostToConnectionError::LimitExceededException(_) => Ok(PostOutcome::Throttled),
                other if is_throttling(other.code()) => Ok(PostOutcome::Throttled),
                other => Err(StoreError::internal(format!(
                    "PostToConnection: {}",
                    aws_sdk_apigatewaymanagement::error::DisplayErrorContext(other)
                ))),
            },
            Err(e) => Err(StoreError::unavailable(format!(
                "PostToConnection: {}",
                aws_sdk_apigatewaymanagement::error::DisplayErrorContext(&e)
            ))),
        }
    }
}

/// Waits on the tokio timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioPause;

impl Pause for TokioPause {
    async fn pause(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_keep_order_and_both_limits() {
        let small: Vec<String> = (0..25).map(|i| format!("event-{i}")).collect();
        let sizes: Vec<usize> = batches(&small).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [10, 10, 5]);
        assert_eq!(batches(&small).concat(), small);

        let big: Vec<String> = (0..5).map(|_| "x".repeat(90 * 1024)).collect();
        let sizes: Vec<usize> = batches(&big).iter().map(|b| b.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn every_event_survives_the_queue() {
        let at = Utc::now();
        let user = UserId::parse("u-1").unwrap();
        let events = vec![
            PushEvent::QueueActive {
                concert: ConcertId::from_stored(3),
                user: user.clone(),
                token: ActiveToken::parse("a.b-c").unwrap(),
                expires_at: at,
            },
            PushEvent::QueueRank {
                concert: ConcertId::from_stored(3),
                user: user.clone(),
                rank: 7,
                estimated_wait_seconds: 30,
            },
            PushEvent::SeatsChanged {
                performance: PerformanceKey {
                    concert: ConcertId::from_stored(3),
                    option: OptionId::from_stored(9),
                },
            },
            PushEvent::ConcertChanged {
                concert: ConcertId::from_stored(3),
            },
            PushEvent::ConcertsRefresh {
                concerts: vec![ConcertId::from_stored(1), ConcertId::from_stored(2)],
                at,
            },
            PushEvent::ReservationStatus {
                user: user.clone(),
                update: ReservationUpdate::Failed {
                    request_id: "r1".into(),
                },
            },
            PushEvent::ReservationStatus {
                user,
                update: ReservationUpdate::Changed {
                    reservation: ReservationId::parse("id", "8f14e45f-ceea-467f-a0e6-2a0b5c1b1a8d")
                        .unwrap(),
                    status: ReservationStatus::Confirmed,
                },
            },
        ];
        for event in events {
            assert_eq!(decode(&encode(&event)).unwrap(), event);
        }
    }

    #[test]
    fn a_logged_event_names_its_type_and_ids_and_never_its_token() {
        let token = "secret.active-token_123";
        let active = PushEvent::QueueActive {
            concert: ConcertId::from_stored(3),
            user: UserId::parse("u-1").unwrap(),
            token: ActiveToken::parse(token).unwrap(),
            expires_at: Utc::now(),
        };
        assert!(encode(&active).contains(token), "the body does carry it");
        let logged = Logged::of(&active);
        assert_eq!(logged.kind, "QUEUE_ACTIVE");
        assert_eq!(logged.ids, "concert=3 user=u-1");
        assert!(!format!("{logged:?}").contains(token));

        let many = PushEvent::ConcertsRefresh {
            concerts: (1..=25).map(ConcertId::from_stored).collect(),
            at: Utc::now(),
        };
        assert_eq!(Logged::of(&many).ids, "concerts=1,2,3,4,5,6,7,8,9,10,+15");
        let failed = PushEvent::ReservationStatus {
            user: UserId::parse("u-1").unwrap(),
            update: ReservationUpdate::Failed {
                request_id: "r1".into(),
            },
        };
        assert_eq!(Logged::of(&failed).ids, "user=u-1 request=r1");
    }

    #[test]
    fn bad_messages_are_refused() {
        assert!(matches!(decode("not json"), Err(WireError::Malformed(_))));
        assert!(matches!(
            decode(r#"{"event":"SEATS_CHANGED","concertId":1,"optionId":0}"#),
            Err(WireError::Invalid(_))
        ));
        assert!(decode(r#"{"event":"NOPE"}"#).is_err());
    }
}
