//! `queue-activate`: the scheduled admission tick loop (a minute of ticks per invocation).

use std::ops::AddAssign;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::LambdaEvent;
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
};
use ticketrush_lambda::{
    metrics::{self, Metric},
    routes::QUEUE_ACTIVATE_SCHEDULE,
    ticks::{self, TickLoopSummary},
};

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

/// What the ticks that ran did, added up.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionTotals {
    /// The most concerts on sale that one tick served.
    pub concerts: u32,
    pub admitted: u32,
    pub dropped: u32,
    pub rank_updates: u32,
}

impl AddAssign for AdmissionTotals {
    fn add_assign(&mut self, tick: Self) {
        self.concerts = self.concerts.max(tick.concerts);
        self.admitted += tick.admitted;
        self.dropped += tick.dropped;
        self.rank_updates += tick.rank_updates;
    }
}

/// Runs the admission ticks of the schedule period the event covers, each under its own
/// lock. A tick whose store fails is logged; the next one admits what it left.
pub async fn handle(
    f: &QueueActivateFunction,
    event: LambdaEvent<CloudWatchEvent>,
) -> TickLoopSummary<AdmissionTotals> {
    ticks::run(
        &QUEUE_ACTIVATE_SCHEDULE,
        &event,
        f.settings.tick,
        |tick| async move {
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
            if !report.ran {
                return Ok::<_, StoreError>(None);
            }
            for line in &report.lines {
                metrics::concert(
                    "queue-activate",
                    &line.concert.to_string(),
                    &[
                        (Metric::WaitingRoomDepth, line.waiting as f64),
                        (Metric::ActiveBuyers, line.active as f64),
                        (Metric::Admits, line.admitted.into()),
                        (Metric::LastInLineWait, line.last_wait_seconds as f64),
                    ],
                );
            }
            if report.admitted > 0 || report.dropped > 0 {
                tracing::info!(
                    tick = tick.sequence,
                    concerts = report.concerts,
                    admitted = report.admitted,
                    dropped = report.dropped,
                    "admission tick"
                );
            }
            Ok(Some(AdmissionTotals {
                concerts: report.concerts,
                admitted: report.admitted,
                dropped: report.dropped,
                rank_updates: report.rank_updates,
            }))
        },
    )
    .await
}
