//! Every function, built once over shared clients, and called by name.

use admin_sales_policy::SalesPolicyFunction;
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use concert_detail::ConcertDetailFunction;
use hold_confirm::HoldConfirmFunction;
use hold_expire::HoldExpireFunction;
use lambda_http::{Body, Request, Response};
use payment_webhook::PaymentWebhookFunction;
use queue_activate::QueueActivateFunction;
use queue_join::QueueJoinFunction;
use queue_leave::QueueLeaveFunction;
use queue_status::QueueStatusFunction;
use reservations::ReservationsFunction;
use search::SearchFunction;
use seat_map::SeatMapFunction;
use seat_release::SeatReleaseFunction;
use seat_select::SeatSelectFunction;
use ticketrush_adapters::{
    SystemClock,
    cached_catalog::CachedCatalog,
    payment_webhook::HmacWebhookSignatures,
    postgres::{PostgresCatalog, PostgresCatalogAdmin, PostgresReservations, SandboxPayments},
    push::LoggingPushPublisher,
    queue_tokens::HmacQueueTokens,
    redis::{RedisSchedulerLock, RedisSeatLocks, RedisStore, RedisWaitingRoom},
};
use ticketrush_core::reservations::HoldSettings;
use ticketrush_lambda::Problem;

use crate::settings::LocalSettings;

pub struct Functions {
    search: SearchFunction<PostgresCatalog, SystemClock>,
    concert_detail: ConcertDetailFunction<PostgresCatalog, SystemClock>,
    seat_map: SeatMapFunction<PostgresCatalog, RedisSeatLocks>,
    seat_select: SeatSelectFunction<
        CachedCatalog<PostgresCatalog>,
        RedisSeatLocks,
        HmacQueueTokens,
        LoggingPushPublisher,
        SystemClock,
    >,
    seat_release: SeatReleaseFunction<RedisSeatLocks, LoggingPushPublisher>,
    hold_confirm: HoldConfirmFunction<
        CachedCatalog<PostgresCatalog>,
        RedisSeatLocks,
        PostgresReservations,
        LoggingPushPublisher,
        SystemClock,
    >,
    queue_join: QueueJoinFunction<
        CachedCatalog<PostgresCatalog>,
        RedisWaitingRoom,
        HmacQueueTokens,
        SystemClock,
    >,
    queue_status: QueueStatusFunction<RedisWaitingRoom, HmacQueueTokens, SystemClock>,
    queue_leave: QueueLeaveFunction<RedisWaitingRoom, SystemClock>,
    sales_policy: SalesPolicyFunction<PostgresCatalog, PostgresCatalogAdmin, LoggingPushPublisher>,
    reservations: ReservationsFunction<
        PostgresReservations,
        SandboxPayments,
        RedisSeatLocks,
        RedisWaitingRoom,
        LoggingPushPublisher,
        SystemClock,
    >,
    payment_webhook: PaymentWebhookFunction<
        PostgresReservations,
        HmacWebhookSignatures,
        RedisSeatLocks,
        LoggingPushPublisher,
        SystemClock,
    >,
    hold_expire: HoldExpireFunction<
        PostgresCatalog,
        RedisSeatLocks,
        PostgresReservations,
        RedisWaitingRoom,
        RedisSchedulerLock,
        LoggingPushPublisher,
        SystemClock,
    >,
    queue_activate: QueueActivateFunction<
        PostgresCatalog,
        RedisWaitingRoom,
        RedisSchedulerLock,
        LoggingPushPublisher,
        HmacQueueTokens,
        SystemClock,
    >,
}

impl Functions {
    pub fn new(settings: &LocalSettings, pool: sqlx::PgPool, redis: RedisStore) -> Self {
        let catalog = PostgresCatalog::new(pool.clone());
        let room = RedisWaitingRoom::new(redis.clone());
        let locks = RedisSeatLocks::new(redis.clone());
        Self {
            search: SearchFunction {
                catalog: catalog.clone(),
                clock: SystemClock,
                realtime: settings.realtime,
            },
            concert_detail: ConcertDetailFunction {
                catalog: catalog.clone(),
                clock: SystemClock,
            },
            seat_map: SeatMapFunction {
                catalog: catalog.clone(),
                locks: locks.clone(),
            },
            seat_select: SeatSelectFunction {
                catalog: CachedCatalog::new(catalog.clone(), settings.catalog_cache_ttl),
                locks: locks.clone(),
                tokens: settings.queue_tokens.clone(),
                publisher: LoggingPushPublisher,
                clock: SystemClock,
                settings: settings.seats,
            },
            hold_confirm: HoldConfirmFunction {
                catalog: CachedCatalog::new(catalog.clone(), settings.catalog_cache_ttl),
                locks: locks.clone(),
                ledger: PostgresReservations::new(pool.clone()),
                publisher: LoggingPushPublisher,
                clock: SystemClock,
                settings: HoldSettings {
                    hold_ttl: settings.hold_ttl,
                    seats: settings.seats,
                    abuse: settings.abuse,
                },
            },
            seat_release: SeatReleaseFunction {
                locks: locks.clone(),
                publisher: LoggingPushPublisher,
                settings: settings.seats,
            },
            queue_join: QueueJoinFunction {
                catalog: CachedCatalog::new(catalog.clone(), settings.catalog_cache_ttl),
                room: room.clone(),
                tokens: settings.queue_tokens.clone(),
                clock: SystemClock,
                settings: settings.queue.clone(),
            },
            queue_status: QueueStatusFunction {
                room: room.clone(),
                tokens: settings.queue_tokens.clone(),
                clock: SystemClock,
                settings: settings.queue.clone(),
            },
            queue_leave: QueueLeaveFunction {
                room: room.clone(),
                clock: SystemClock,
            },
            sales_policy: SalesPolicyFunction {
                catalog: catalog.clone(),
                admin: PostgresCatalogAdmin::new(pool.clone()),
                publisher: LoggingPushPublisher,
            },
            reservations: ReservationsFunction {
                ledger: PostgresReservations::new(pool.clone()),
                gateway: SandboxPayments::new(pool.clone()),
                locks: locks.clone(),
                room: room.clone(),
                publisher: LoggingPushPublisher,
                clock: SystemClock,
                seats: settings.seats,
                payments: settings.payments,
            },
            payment_webhook: PaymentWebhookFunction {
                ledger: PostgresReservations::new(pool.clone()),
                signatures: settings.webhook_signatures.clone(),
                locks: locks.clone(),
                publisher: LoggingPushPublisher,
                clock: SystemClock,
                seats: settings.seats,
                payments: settings.payments,
            },
            hold_expire: HoldExpireFunction {
                catalog: catalog.clone(),
                locks,
                ledger: PostgresReservations::new(pool.clone()),
                room: room.clone(),
                scheduler: RedisSchedulerLock::new(redis.clone()),
                publisher: LoggingPushPublisher,
                clock: SystemClock,
                seats: settings.seats,
                tick: settings.hold_expire_tick,
            },
            queue_activate: QueueActivateFunction {
                catalog,
                room,
                lock: RedisSchedulerLock::new(redis),
                publisher: LoggingPushPublisher,
                tokens: settings.queue_tokens.clone(),
                clock: SystemClock,
                settings: settings.queue.clone(),
            },
        }
    }

    /// Calls the named HTTP function's handler, as Lambda would.
    pub async fn invoke_http(&self, function: &str, req: Request) -> Response<Body> {
        match function {
            "search" => search::handle(&self.search, req).await,
            "concert-detail" => concert_detail::handle(&self.concert_detail, req).await,
            "seat-map" => seat_map::handle(&self.seat_map, req).await,
            "seat-select" => seat_select::handle(&self.seat_select, req).await,
            "seat-release" => seat_release::handle(&self.seat_release, req).await,
            "hold-confirm" => hold_confirm::handle(&self.hold_confirm, req).await,
            "reservations" => reservations::handle(&self.reservations, req).await,
            "payment-webhook" => payment_webhook::handle(&self.payment_webhook, req).await,
            "admin-sales-policy" => admin_sales_policy::handle(&self.sales_policy, req).await,
            "queue-join" => queue_join::handle(&self.queue_join, req).await,
            "queue-status" => queue_status::handle(&self.queue_status, req).await,
            "queue-leave" => queue_leave::handle(&self.queue_leave, req).await,
            other => Problem::internal(&format!("no local binding for HTTP function {other}"))
                .into_response(),
        }
    }

    /// Calls the named scheduled function with a scheduled event, as EventBridge would.
    pub async fn invoke_scheduled(
        &self,
        function: &str,
        event: CloudWatchEvent,
        invocation_id: &str,
    ) {
        let outcome = match function {
            "queue-activate" => queue_activate::handle(&self.queue_activate, event, invocation_id)
                .await
                .map(|_| ()),
            "hold-expire" => hold_expire::handle(&self.hold_expire, event, invocation_id)
                .await
                .map(|_| ()),
            other => {
                tracing::error!(function = other, "no local binding for scheduled function");
                Ok(())
            }
        };
        if let Err(err) = outcome {
            tracing::warn!(function, error = %err, "scheduled invocation failed; the next tick retries");
        }
    }
}
