//! Push publishers.

use ticketrush_core::push::{PushEvent, PushPublisher};

/// Logs each event instead of delivering it. The default wiring until the SQS publisher
/// and the WebSocket API exist; the state it reports can always be read back over HTTP.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoggingPushPublisher;

impl PushPublisher for LoggingPushPublisher {
    async fn publish(&self, event: PushEvent) {
        match event {
            PushEvent::QueueActive {
                concert,
                user,
                expires_at,
                ..
            } => {
                tracing::info!(event = "QUEUE_ACTIVE", %concert, %user, %expires_at, "push (logged, not delivered)");
            }
            PushEvent::QueueRank {
                concert,
                user,
                rank,
                ..
            } => {
                tracing::debug!(event = "QUEUE_RANK", %concert, %user, rank, "push (logged, not delivered)");
            }
            PushEvent::ReservationStatus { user, update } => {
                tracing::info!(event = "RESERVATION_STATUS", %user, ?update, "push (logged, not delivered)");
            }
            PushEvent::ConcertChanged { concert } => {
                tracing::info!(event = "CONCERTS_REFRESH", %concert, "push (logged, not delivered)");
            }
            PushEvent::SeatsChanged { option } => {
                tracing::debug!(event = "SEAT_STATUS", %option, "push (logged, not delivered)");
            }
        }
    }
}
