//! `push-dispatch`: the push queue's consumer. Each message is one event, delivered to its
//! subscribers; only the messages that failed go back to the queue (partial batch response),
//! and after their retries they land in the dead-letter queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures_util::future::join_all;
use ticketrush_adapters::push::decode;
use ticketrush_core::{
    Clock,
    catalog::CatalogRepository,
    dispatch::{DispatchError, DispatchReport, DispatchSettings, Dispatcher},
    push::{ConnectionPusher, ConnectionRegistry, Pause},
    seats::SeatLocks,
};
use ticketrush_lambda::metrics::{self, Metric};

const FUNCTION: &str = "push-dispatch";

pub struct PushDispatchFunction<R, P, L, C, W, K> {
    pub registry: R,
    pub pusher: P,
    pub locks: L,
    pub catalog: C,
    pub pause: W,
    pub clock: K,
    pub settings: DispatchSettings,
}

/// The records of a batch are delivered concurrently: a slow one (a seat flush waiting out
/// its window) does not hold up the others.
pub async fn handle<R, P, L, C, W, K>(
    f: &PushDispatchFunction<R, P, L, C, W, K>,
    event: SqsEvent,
) -> SqsBatchResponse
where
    R: ConnectionRegistry,
    P: ConnectionPusher,
    L: SeatLocks,
    C: CatalogRepository,
    W: Pause,
    K: Clock,
{
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

async fn deliver<R, P, L, C, W, K>(
    f: &PushDispatchFunction<R, P, L, C, W, K>,
    record: &SqsMessage,
) -> bool
where
    R: ConnectionRegistry,
    P: ConnectionPusher,
    L: SeatLocks,
    C: CatalogRepository,
    W: Pause,
    K: Clock,
{
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

/// Connections reached, gone and failed, as metrics.
fn count(report: &DispatchReport, failed: u32) {
    metrics::count(FUNCTION, Metric::PushesDelivered, report.delivered.into());
    metrics::count(FUNCTION, Metric::PushesGone, report.gone.into());
    metrics::count(FUNCTION, Metric::PushesFailed, failed.into());
}
