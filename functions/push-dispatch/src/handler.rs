//! `push-dispatch`: the push queue's consumer. Each message is one event, delivered to its
//! subscribers; only the messages that failed go back to the queue (partial batch response),
//! and after their retries they land in the dead-letter queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    connections::DynamoDbConnections,
    postgres::PostgresCatalog,
    push::{ApiGatewayPusher, TokioPause, decode},
    redis::RedisSeatLocks,
    wiring::{Clients, StartupError},
};
use ticketrush_core::dispatch::{DispatchError, DispatchReport, DispatchSettings, Dispatcher};
use ticketrush_lambda::metrics::{self, Metric};

const FUNCTION: &str = "push-dispatch";

pub struct PushDispatchFunction {
    pub registry: DynamoDbConnections,
    pub pusher: ApiGatewayPusher,
    pub locks: RedisSeatLocks,
    pub catalog: PostgresCatalog,
    pub pause: TokioPause,
    pub clock: SystemClock,
    pub settings: DispatchSettings,
}

impl PushDispatchFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            registry: DynamoDbConnections::from_env(clients.sdk(), env)?,
            pusher: ApiGatewayPusher::from_env(clients.sdk(), env)?,
            locks: RedisSeatLocks::new(clients.redis(env).await?),
            catalog: PostgresCatalog::new(clients.postgres(env)?),
            pause: TokioPause,
            clock: SystemClock,
            settings: config::dispatch_settings_from_env(env)?,
        })
    }
}

/// The records of a batch are delivered concurrently: a slow one (a seat flush waiting out
/// its window) does not hold up the others.
pub async fn handle(f: &PushDispatchFunction, event: SqsEvent) -> SqsBatchResponse {
    record_queue_age(&event, f.clock.now());
    let outcomes = join_all(event.records.iter().map(|r| deliver(f, r))).await;
    let mut response = SqsBatchResponse::default();
    for (record, ok) in event.records.iter().zip(outcomes) {
        if !ok {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = record.message_id.clone().unwrap_or_default();
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn deliver(f: &PushDispatchFunction, record: &SqsMessage) -> bool {
    let id = record.message_id.as_deref().unwrap_or("");
    let event = match decode(record.body.as_deref().unwrap_or("")) {
        Ok(e) => e,
        Err(e) => {
            // Retries cannot fix it; it goes to the dead-letter queue for a person to read.
            tracing::error!(message_id = id, error = %e, "push message refused");
            return false;
        }
    };
    let dispatcher = Dispatcher {
        registry: &f.registry,
        pusher: &f.pusher,
        locks: &f.locks,
        catalog: &f.catalog,
        pause: &f.pause,
        settings: f.settings,
    };
    match dispatcher.dispatch(&event, f.clock.now()).await {
        Ok(report) => {
            count(&report, 0);
            tracing::debug!(
                message_id = id,
                delivered = report.delivered,
                gone = report.gone,
                expired_tokens = report.expired_tokens,
                messages = report.messages,
                "push delivered"
            );
            true
        }
        Err(e) => {
            if let DispatchError::Undelivered { failed, report, .. } = &e {
                count(report, *failed);
            }
            tracing::warn!(message_id = id, error = %e, "push not delivered; the queue retries it");
            false
        }
    }
}

/// Connections reached, gone, failed and throttled, and tokens passed over, as metrics.
fn count(report: &DispatchReport, failed: u32) {
    metrics::count(FUNCTION, Metric::PushesDelivered, report.delivered.into());
    metrics::count(FUNCTION, Metric::PushesGone, report.gone.into());
    metrics::count(FUNCTION, Metric::PushesFailed, failed.into());
    metrics::count(FUNCTION, Metric::PushesThrottled, report.throttled.into());
    metrics::count(
        FUNCTION,
        Metric::PushTokensExpired,
        report.expired_tokens.into(),
    );
}

/// How long the batch's oldest message waited in the queue (its `SentTimestamp`).
fn record_queue_age(event: &SqsEvent, now: chrono::DateTime<chrono::Utc>) {
    let oldest = event
        .records
        .iter()
        .filter_map(|r| r.attributes.get("SentTimestamp")?.parse::<i64>().ok())
        .min();
    if let Some(sent) = oldest {
        let age = (now.timestamp_millis() - sent).max(0);
        metrics::distribution(FUNCTION, Metric::PushQueueAge, &[age as f64]);
    }
}
