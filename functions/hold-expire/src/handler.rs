//! `hold-expire`: the scheduled tick loop (a minute of ticks per invocation) that expires
//! holds and frees their seats, and asks the payment gateway again for refunds the ledger
//! marked but the gateway has not confirmed.

use std::{ops::AddAssign, time::Duration};

use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use ticketrush_adapters::{
    SystemClock,
    config::{self, Env},
    postgres::{self, PostgresCatalog, PostgresReservations, SandboxPayments},
    push::SqsPushPublisher,
    redis::{RedisSchedulerLock, RedisSeatLocks, RedisWaitingRoom},
    wiring::{Clients, StartupError},
};
use ticketrush_core::{
    StoreError,
    payments::retry_refunds,
    reservations::{ExpiryPorts, expire_tick},
    schedule::TickRun,
    seats::SeatSettings,
};
use ticketrush_lambda::{
    metrics::{self, Metric},
    routes::HOLD_EXPIRE_SCHEDULE,
    ticks::{self, TickLoopSummary},
};

const FUNCTION: &str = "hold-expire";

pub struct HoldExpireFunction {
    pub catalog: PostgresCatalog,
    pub locks: RedisSeatLocks,
    pub ledger: PostgresReservations,
    pub gateway: SandboxPayments,
    pub room: RedisWaitingRoom,
    pub scheduler: RedisSchedulerLock,
    pub publisher: SqsPushPublisher,
    pub clock: SystemClock,
    pub seats: SeatSettings,
    pub tick: Duration,
}

impl HoldExpireFunction {
    pub async fn from_env(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        let tick = config::hold_expire_tick_from_env(env)?;
        let pool = clients.postgres_for_tick(env, tick)?;
        let redis = clients.redis(env).await?;
        Ok(Self {
            catalog: PostgresCatalog::new(pool.clone()),
            locks: RedisSeatLocks::new(redis.clone()),
            ledger: PostgresReservations::new(pool.clone()),
            gateway: postgres::payment_gateway(config::payment_gateway_from_env(env)?, pool),
            room: RedisWaitingRoom::new(redis.clone()),
            scheduler: RedisSchedulerLock::new(redis),
            publisher: SqsPushPublisher::from_env(clients.sdk(), env)?,
            clock: SystemClock,
            seats: config::seat_settings_from_env(env)?,
            tick,
        })
    }
}

/// What the ticks that ran did, added up.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ExpiryTotals {
    pub expired: u32,
    pub seats_freed: u32,
    pub locks_lapsed: u32,
    pub resynced: u32,
    pub refunds_returned: u32,
}

impl AddAssign for ExpiryTotals {
    fn add_assign(&mut self, tick: Self) {
        self.expired += tick.expired;
        self.seats_freed += tick.seats_freed;
        self.locks_lapsed += tick.locks_lapsed;
        self.resynced += tick.resynced;
        self.refunds_returned += tick.refunds_returned;
    }
}

/// Runs the expiry ticks of the schedule period the event covers, each under its own lock.
/// A tick whose store fails is logged; the next one expires what it left.
pub async fn handle(
    f: &HoldExpireFunction,
    event: LambdaEvent<CloudWatchEvent>,
) -> TickLoopSummary<ExpiryTotals> {
    ticks::run(&HOLD_EXPIRE_SCHEDULE, &event, f.tick, |tick| async move {
        expire_once(f, &tick).await
    })
    .await
}

/// One tick: None if another invocation had it.
async fn expire_once(
    f: &HoldExpireFunction,
    tick: &TickRun,
) -> Result<Option<ExpiryTotals>, StoreError> {
    let report = expire_tick(
        ExpiryPorts {
            catalog: &f.catalog,
            locks: &f.locks,
            ledger: &f.ledger,
            room: &f.room,
            scheduler: &f.scheduler,
            publisher: &f.publisher,
        },
        f.seats,
        tick,
        f.clock.now(),
    )
    .await?;
    if !report.ran {
        return Ok(None);
    }
    metrics::count(FUNCTION, Metric::HoldsExpired, report.expired.into());
    if report.expired > 0 || report.locks_lapsed > 0 || report.resynced > 0 {
        tracing::info!(
            tick = tick.sequence,
            expired = report.expired,
            seats_freed = report.seats_freed,
            locks_lapsed = report.locks_lapsed,
            resynced = report.resynced,
            "expiry tick"
        );
    }
    let refunds = retry_refunds(&f.ledger, &f.gateway).await?;
    if let Some(error) = &refunds.last_failure {
        tracing::error!(
            failed = refunds.failed,
            returned = refunds.returned,
            %error,
            "gateway refunds still failing; the next tick asks again"
        );
    } else if refunds.returned > 0 {
        tracing::info!(returned = refunds.returned, "gateway refunds retried");
    }
    Ok(Some(ExpiryTotals {
        expired: report.expired,
        seats_freed: report.seats_freed,
        locks_lapsed: report.locks_lapsed,
        resynced: report.resynced,
        refunds_returned: refunds.returned,
    }))
}
