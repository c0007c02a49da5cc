//! Every function, built once over shared clients, and called by name.

use admin_sales_policy::SalesPolicyFunction;
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::{
    apigw::{
        ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
        ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest,
    },
    sqs::{SqsBatchResponse, SqsEvent},
};
use concert_detail::ConcertDetailFunction;
use hold_confirm::HoldConfirmFunction;
use hold_expire::HoldExpireFunction;
use lambda_http::{Body, Request, Response};
use payment_webhook::PaymentWebhookFunction;
use push_dispatch::PushDispatchFunction;
use queue_activate::QueueActivateFunction;
use queue_join::QueueJoinFunction;
use queue_leave::QueueLeaveFunction;
use queue_status::QueueStatusFunction;
use reservations::ReservationsFunction;
use sale_status_tick::SaleStatusTickFunction;
use search::SearchFunction;
use seat_map::SeatMapFunction;
use seat_release::SeatReleaseFunction;
use seat_select::SeatSelectFunction;
use ticketrush_adapters::{
    SystemClock,
    cached_catalog::CachedCatalog,
    connections::DynamoDbConnections,
    jwt::TokenVerifier,
    payment_webhook::HmacWebhookSignatures,
    postgres::{
        self, PostgresCatalog, PostgresCatalogAdmin, PostgresReservations, SandboxPayments,
        payment_gateway,
    },
    push::{ApiGatewayPusher, SqsPushPublisher, TokioPause},
    queue_tokens::HmacQueueTokens,
    redis::{
        RedisPublishedStatuses, RedisSchedulerLock, RedisSeatLocks, RedisStore, RedisWaitingRoom,
    },
};
use ticketrush_core::reservations::HoldSettings;
use ticketrush_lambda::Problem;
use ws_authorize::WsAuthorizeFunction;
use ws_connect::WsConnectFunction;
use ws_disconnect::WsDisconnectFunction;
use ws_message::WsMessageFunction;

use crate::settings::LocalSettings;

pub struct Functions {
    search: SearchFunction<PostgresCatalog, SystemClock>,
    concert_detail: ConcertDetailFunction<PostgresCatalog, SystemClock>,
    seat_map: SeatMapFunction<PostgresCatalog, RedisSeatLocks>,
    seat_select: SeatSelectFunction<
        CachedCatalog<PostgresCatalog>,
        RedisSeatLocks,
        HmacQueueTokens,
        SqsPushPublisher,
        SystemClock,
    >,
    seat_release: SeatReleaseFunction<RedisSeatLocks, SqsPushPublisher>,
    hold_confirm: HoldConfirmFunction<
        CachedCatalog<PostgresCatalog>,
        RedisSeatLocks,
        PostgresReservations,
        SqsPushPublisher,
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
    sales_policy: SalesPolicyFunction<PostgresCatalog, PostgresCatalogAdmin, SqsPushPublisher>,
    reservations: ReservationsFunction<
        PostgresReservations,
        SandboxPayments,
        RedisSeatLocks,
        RedisWaitingRoom,
        SqsPushPublisher,
        SystemClock,
    >,
    payment_webhook: PaymentWebhookFunction<
        PostgresReservations,
        SandboxPayments,
        HmacWebhookSignatures,
        RedisSeatLocks,
        SqsPushPublisher,
        SystemClock,
    >,
    hold_expire: HoldExpireFunction<
        PostgresCatalog,
        RedisSeatLocks,
        PostgresReservations,
        SandboxPayments,
        RedisWaitingRoom,
        RedisSchedulerLock,
        SqsPushPublisher,
        SystemClock,
    >,
    queue_activate: QueueActivateFunction<
        PostgresCatalog,
        RedisWaitingRoom,
        RedisSchedulerLock,
        SqsPushPublisher,
        HmacQueueTokens,
        SystemClock,
    >,
    sale_status_tick: SaleStatusTickFunction<
        PostgresCatalog,
        RedisPublishedStatuses,
        RedisSchedulerLock,
        SqsPushPublisher,
        SystemClock,
    >,
    ws_authorize: WsAuthorizeFunction,
    ws_connect: WsConnectFunction<DynamoDbConnections, SystemClock>,
    ws_disconnect: WsDisconnectFunction<DynamoDbConnections>,
    ws_message: WsMessageFunction<DynamoDbConnections, ApiGatewayPusher, SystemClock>,
    push_dispatch: PushDispatchFunction<
        DynamoDbConnections,
        ApiGatewayPusher,
        RedisSeatLocks,
        PostgresCatalog,
        TokioPause,
        SystemClock,
    >,
}

impl Functions {
    /// `management_endpoint` is where the push functions reach `@connections`. Each function
    /// gets a PostgreSQL pool of its own, sized by the same settings as each Lambda's
    /// (`DATABASE_MAX_CONNECTIONS`), so request traffic cannot starve the scheduled ticks; a
    /// tick waits for a connection for up to its period rather than failing.
    pub fn new(
        settings: &LocalSettings,
        redis: RedisStore,
        sdk: &aws_config::SdkConfig,
        management_endpoint: &str,
    ) -> Result<Self, sqlx::Error> {
        let pool = || postgres::connect_lazy(&settings.postgres);
        let tick_pool = |period: std::time::Duration| {
            postgres::connect_lazy(&settings.postgres.clone().for_tick(period))
        };
        let catalog = |pool: &sqlx::PgPool| PostgresCatalog::new(pool.clone());
        let cached = |pool: &sqlx::PgPool| {
            CachedCatalog::new(
                PostgresCatalog::new(pool.clone()),
                settings.catalog_cache_ttl,
            )
        };
        let hold_pool = pool()?;
        let reservations_pool = pool()?;
        let webhook_pool = pool()?;
        let sales_policy_pool = pool()?;
        let expire_pool = tick_pool(settings.hold_expire_tick)?;
        let publisher = SqsPushPublisher::new(
            aws_sdk_sqs::Client::new(sdk),
            settings.push.push_queue.clone(),
        );
        let registry = DynamoDbConnections::new(aws_sdk_dynamodb::Client::new(sdk), &settings.push);
        let pusher = ApiGatewayPusher::new(sdk, management_endpoint);
        let live_shards = settings.dispatch.live_shards;
        let room = RedisWaitingRoom::new(redis.clone());
        let locks = RedisSeatLocks::new(redis.clone());
        Ok(Self {
            search: SearchFunction {
                catalog: catalog(&pool()?),
                clock: SystemClock,
                realtime: settings.realtime,
            },
            concert_detail: ConcertDetailFunction {
                catalog: catalog(&pool()?),
                clock: SystemClock,
            },
            seat_map: SeatMapFunction {
                catalog: catalog(&pool()?),
                locks: locks.clone(),
            },
            seat_select: SeatSelectFunction {
                catalog: cached(&pool()?),
                locks: locks.clone(),
                tokens: settings.queue_tokens.clone(),
                publisher: publisher.clone(),
                clock: SystemClock,
                settings: settings.seats,
            },
            hold_confirm: HoldConfirmFunction {
                catalog: cached(&hold_pool),
                locks: locks.clone(),
                ledger: PostgresReservations::new(hold_pool),
                publisher: publisher.clone(),
                clock: SystemClock,
                settings: HoldSettings {
                    hold_ttl: settings.hold_ttl,
                    seats: settings.seats,
                    abuse: settings.abuse,
                },
            },
            seat_release: SeatReleaseFunction {
                locks: locks.clone(),
                publisher: publisher.clone(),
                settings: settings.seats,
            },
            queue_join: QueueJoinFunction {
                catalog: cached(&pool()?),
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
                catalog: catalog(&sales_policy_pool),
                admin: PostgresCatalogAdmin::new(sales_policy_pool),
                publisher: publisher.clone(),
            },
            reservations: ReservationsFunction {
                ledger: PostgresReservations::new(reservations_pool.clone()),
                gateway: payment_gateway(settings.payment_gateway, reservations_pool),
                locks: locks.clone(),
                room: room.clone(),
                publisher: publisher.clone(),
                clock: SystemClock,
                seats: settings.seats,
                payments: settings.payments,
            },
            payment_webhook: PaymentWebhookFunction {
                ledger: PostgresReservations::new(webhook_pool.clone()),
                gateway: payment_gateway(settings.payment_gateway, webhook_pool),
                signatures: settings.webhook_signatures.clone(),
                locks: locks.clone(),
                publisher: publisher.clone(),
                clock: SystemClock,
                seats: settings.seats,
                payments: settings.payments,
            },
            hold_expire: HoldExpireFunction {
                catalog: catalog(&expire_pool),
                locks,
                ledger: PostgresReservations::new(expire_pool.clone()),
                gateway: payment_gateway(settings.payment_gateway, expire_pool),
                room: room.clone(),
                scheduler: RedisSchedulerLock::new(redis.clone()),
                publisher: publisher.clone(),
                clock: SystemClock,
                seats: settings.seats,
                tick: settings.hold_expire_tick,
            },
            sale_status_tick: SaleStatusTickFunction {
                catalog: catalog(&tick_pool(settings.sale_status_tick)?),
                statuses: RedisPublishedStatuses::new(redis.clone()),
                scheduler: RedisSchedulerLock::new(redis.clone()),
                publisher: publisher.clone(),
                clock: SystemClock,
                tick: settings.sale_status_tick,
            },
            ws_authorize: WsAuthorizeFunction {
                tokens: TokenVerifier::SharedKey(settings.jwt.clone()),
            },
            ws_connect: WsConnectFunction {
                registry: registry.clone(),
                clock: SystemClock,
                live_shards,
            },
            ws_disconnect: WsDisconnectFunction {
                registry: registry.clone(),
            },
            ws_message: WsMessageFunction {
                registry: registry.clone(),
                pusher: pusher.clone(),
                clock: SystemClock,
                live_shards,
            },
            push_dispatch: PushDispatchFunction {
                registry,
                pusher,
                locks: RedisSeatLocks::new(redis.clone()),
                catalog: catalog(&pool()?),
                pause: TokioPause,
                clock: SystemClock,
                settings: settings.dispatch,
            },
            queue_activate: QueueActivateFunction {
                catalog: catalog(&tick_pool(settings.queue.tick)?),
                room,
                lock: RedisSchedulerLock::new(redis),
                publisher: publisher.clone(),
                tokens: settings.queue_tokens.clone(),
                clock: SystemClock,
                settings: settings.queue.clone(),
            },
        })
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
            "sale-status-tick" => {
                sale_status_tick::handle(&self.sale_status_tick, event, invocation_id)
                    .await
                    .map(|_| ())
                    .map_err(|e| ticketrush_core::StoreError::Internal(e.to_string()))
            }
            other => {
                tracing::error!(function = other, "no local binding for scheduled function");
                Ok(())
            }
        };
        if let Err(err) = outcome {
            tracing::warn!(function, error = %err, "scheduled invocation failed; the next tick retries");
        }
    }

    /// The `$connect` authorizer.
    pub fn authorize_ws(
        &self,
        event: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    ) -> ApiGatewayCustomAuthorizerResponse {
        ws_authorize::handle(&self.ws_authorize, event)
    }

    /// Calls the WebSocket function a route key names, as API Gateway would.
    pub async fn invoke_ws(
        &self,
        function: &str,
        event: &ApiGatewayWebsocketProxyRequest,
    ) -> ApiGatewayProxyResponse {
        match function {
            "ws-connect" => ws_connect::handle(&self.ws_connect, event).await,
            "ws-disconnect" => ws_disconnect::handle(&self.ws_disconnect, event).await,
            "ws-message" => ws_message::handle(&self.ws_message, event).await,
            other => {
                tracing::error!(function = other, "no local binding for WebSocket function");
                ticketrush_lambda::websocket::status(500)
            }
        }
    }

    /// Calls push-dispatch with a batch from the push queue, as the SQS event source would.
    pub async fn invoke_push_dispatch(&self, event: SqsEvent) -> SqsBatchResponse {
        push_dispatch::handle(&self.push_dispatch, event).await
    }
}
