//! `sale-status-tick`: the scheduled tick that pushes a CONCERTS_REFRESH with the cards whose
//! sale status changed since screens were last told.

use std::time::Duration;

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use serde::Serialize;
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    postgres::PostgresCatalog,
    push::SqsPushPublisher,
    redis::{RedisPublishedStatuses, RedisSchedulerLock},
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    schedule::TickRun,
    status_tick::{StatusTickError, sale_status_tick},
};

pub struct SaleStatusTickFunction {
    pub catalog: PostgresCatalog,
    pub statuses: RedisPublishedStatuses,
    pub scheduler: RedisSchedulerLock,
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
            scheduler: RedisSchedulerLock::new(redis),
            publisher: SqsPushPublisher::from_env(clients.sdk(), env)?,
            clock: SystemClock,
            tick,
        })
    }
}

#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StatusTickSummary {
    pub ran: bool,
    pub concerts: u32,
    pub changed: u32,
}

/// Runs the tick the event was scheduled for; a store failure fails the invocation so the
/// scheduler retries it.
pub async fn handle(
    f: &SaleStatusTickFunction,
    event: CloudWatchEvent,
    invocation_id: &str,
) -> Result<StatusTickSummary, StatusTickError> {
    let tick = TickRun::new(event.time, f.tick, invocation_id);
    let report = sale_status_tick(
        &f.catalog,
        &f.statuses,
        &f.scheduler,
        &f.publisher,
        &tick,
        f.clock.now(),
    )
    .await?;
    for (concert, status) in &report.changed {
        tracing::info!(tick = tick.sequence, %concert, %status, "sale status changed");
    }
    Ok(StatusTickSummary {
        ran: report.ran,
        concerts: report.concerts,
        changed: report.changed.len() as u32,
    })
}
