//! `queue-activate`: the scheduled admission tick.

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde::Serialize;
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    postgres::PostgresCatalog,
    push::SqsPushPublisher,
    queue_tokens::HmacQueueTokens,
    redis::{RedisSchedulerLock, RedisWaitingRoom},
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    StoreError,
    queue::{ActivationError, ActivationPorts, QueueSettings, activate_tick},
    schedule::TickRun,
};
use ticketrush_lambda::metrics::{self, Metric};

pub struct QueueActivateFunction {
    pub catalog: PostgresCatalog,
    pub room: RedisWaitingRoom,
    pub lock: RedisSchedulerLock,
    pub publisher: SqsPushPublisher,
    pub tokens: HmacQueueTokens,
    pub clock: SystemClock,
    pub settings: QueueSettings,
}

impl QueueActivateFunction {
    /// The catalog's pool waits for a connection for up to the tick's period.
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let publisher = SqsPushPublisher::from_env(clients.sdk(), env)?;
        let settings = config::queue_settings_from_env(env)?;
        let pool = clients.postgres_for_tick(env, settings.tick)?;
        let redis = clients.redis(env).await?;
        Ok(Self {
            catalog: PostgresCatalog::new(pool),
            room: RedisWaitingRoom::new(redis.clone()),
            lock: RedisSchedulerLock::new(redis),
            publisher,
            tokens: HmacQueueTokens::from_env(env)?,
            clock: SystemClock,
            settings,
        })
    }
}

/// What the invocation returns (and logs).
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TickSummary {
    pub ran: bool,
    pub concerts: u32,
    pub admitted: u32,
    pub dropped: u32,
    pub rank_updates: u32,
}

/// Runs the tick the event was scheduled for. `invocation_id` names this run as the lock's
/// owner. A store failure fails the invocation, so the scheduler retries it.
pub async fn handle(
    f: &QueueActivateFunction,
    event: CloudWatchEvent,
    invocation_id: &str,
) -> Result<TickSummary, StoreError> {
    let tick = TickRun::new(event.time, f.settings.tick, invocation_id);
    let report = activate_tick(
        ActivationPorts {
            catalog: &f.catalog,
            room: &f.room,
            lock: &f.lock,
            publisher: &f.publisher,
            tokens: &f.tokens,
        },
        &f.settings,
        &tick,
        f.clock.now(),
    )
    .await
    .map_err(|ActivationError::Store(e)| e)?;
    let summary = TickSummary {
        ran: report.ran,
        concerts: report.concerts,
        admitted: report.admitted,
        dropped: report.dropped,
        rank_updates: report.rank_updates,
    };
    metrics::count("queue-activate", Metric::Admits, summary.admitted.into());
    if summary.ran && (summary.admitted > 0 || summary.dropped > 0) {
        tracing::info!(
            tick = tick.sequence,
            concerts = summary.concerts,
            admitted = summary.admitted,
            dropped = summary.dropped,
            "admission tick"
        );
    }
    Ok(summary)
}
