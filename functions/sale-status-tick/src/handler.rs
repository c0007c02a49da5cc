//! `sale-status-tick`: the scheduled tick loop (a minute of ticks per invocation) that
//! pushes a CONCERTS_REFRESH with the cards whose sale status changed since screens were
//! last told.

use std::{ops::AddAssign, time::Duration};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    postgres::PostgresCatalog,
    push::SqsPushPublisher,
    redis::{RedisPublishedStatuses, RedisSchedulerLock, RedisSearchCache},
    wiring::{Clients, StartupError},
};
use ticketrush_core::status_tick::{StatusTickError, sale_status_tick};
use ticketrush_lambda::{
    routes::SALE_STATUS_TICK_SCHEDULE,
    ticks::{self, TickLoopSummary},
};

pub struct SaleStatusTickFunction {
    pub catalog: PostgresCatalog,
    pub statuses: RedisPublishedStatuses,
    pub scheduler: RedisSchedulerLock,
    pub cache: RedisSearchCache,
    pub publisher: SqsPushPublisher,
    pub clock: SystemClock,
    pub tick: Duration,
}

impl SaleStatusTickFunction {
    /// The catalog's pool waits for a connection for up to the tick's period.
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let tick = config::sale_status_tick_from_env(env)?;
        let pool = clients.postgres_for_tick(env, tick)?;
        let redis = clients.redis(env).await?;
        Ok(Self {
            catalog: PostgresCatalog::new(pool),
            statuses: RedisPublishedStatuses::new(redis.clone()),
            scheduler: RedisSchedulerLock::new(redis.clone()),
            cache: RedisSearchCache::new(redis, config::search_cache_from_env(env)?),
            publisher: SqsPushPublisher::from_env(clients.sdk(), env)?,
            clock: SystemClock,
            tick,
        })
    }
}

/// What the ticks that ran did, added up.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusTotals {
    /// Status changes pushed.
    pub changed: u32,
}

impl AddAssign for StatusTotals {
    fn add_assign(&mut self, tick: Self) {
        self.changed += tick.changed;
    }
}

/// Runs the sale-status ticks of the schedule period the event covers, each under its own
/// lock, so a card flips within a tick of its change. A failed tick is logged; the next one
/// pushes what it left.
pub async fn handle(
    f: &SaleStatusTickFunction,
    event: LambdaEvent<CloudWatchEvent>,
) -> TickLoopSummary<StatusTotals> {
    ticks::run(
        &SALE_STATUS_TICK_SCHEDULE,
        &event,
        f.tick,
        |tick| async move {
            let report = sale_status_tick(
                &f.catalog,
                &f.statuses,
                &f.scheduler,
                &f.cache,
                &f.publisher,
                &tick,
                f.clock.now(),
            )
            .await?;
            if !report.ran {
                return Ok::<_, StatusTickError>(None);
            }
            for (concert, status) in &report.changed {
                tracing::info!(tick = tick.sequence, %concert, %status, "sale status changed");
            }
            Ok(Some(StatusTotals {
                changed: report.changed.len() as u32,
            }))
        },
    )
    .await
}
