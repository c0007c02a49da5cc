//! Every function, built once over shared clients, and called by name.

use admin_sales_policy::SalesPolicyFunction;
use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::{
    apigw::{
        ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
        ApiGatewayProxyResponse, ApiGatewayV2CustomAuthorizerV2Request,
        ApiGatewayWebsocketProxyRequest,
    },
    sqs::{SqsBatchResponse, SqsEvent},
};
use concert_detail::ConcertDetailFunction;
use hold_confirm::HoldConfirmFunction;
use hold_expire::HoldExpireFunction;
use http_authorize::HttpAuthorizeFunction;
use lambda_http::{Body, LambdaEvent, Request, Response};
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
    config::Env,
    wiring::{Clients, StartupError},
};
use ticketrush_lambda::{
    Problem,
    limits::{FunctionLimits, limits_of},
    routes::PUSH_QUEUE_CONSUMER,
};
use ws_authorize::WsAuthorizeFunction;
use ws_connect::WsConnectFunction;
use ws_disconnect::WsDisconnectFunction;
use ws_message::WsMessageFunction;

use crate::concurrency::{self, Concurrency, Instance, Throttled};

/// Every function, each built by its own crate's `from_env` as its Lambda is, each invocation
/// taking one of the function's instances (`concurrency.rs`).
pub struct Functions {
    search: SearchFunction,
    concert_detail: ConcertDetailFunction,
    seat_map: SeatMapFunction,
    seat_select: SeatSelectFunction,
    seat_release: SeatReleaseFunction,
    hold_confirm: HoldConfirmFunction,
    queue_join: QueueJoinFunction,
    queue_status: QueueStatusFunction,
    queue_leave: QueueLeaveFunction,
    sales_policy: SalesPolicyFunction,
    reservations: ReservationsFunction,
    payment_webhook: PaymentWebhookFunction,
    hold_expire: HoldExpireFunction,
    queue_activate: QueueActivateFunction,
    sale_status_tick: SaleStatusTickFunction,
    ws_authorize: WsAuthorizeFunction,
    http_authorize: HttpAuthorizeFunction,
    ws_connect: WsConnectFunction,
    ws_disconnect: WsDisconnectFunction,
    ws_message: WsMessageFunction,
    push_dispatch: PushDispatchFunction,
    /// Each function's instances: at most its reserved concurrency run at once.
    concurrency: Concurrency,
}

/// A function's settings here. Its one PostgreSQL pool serves every instance, so it holds
/// what all of them hold in AWS: reserved concurrency × `DATABASE_MAX_CONNECTIONS`.
fn function_env(env: &Env, concurrency: &Concurrency, function: &str) -> Env {
    match limits_of(function).and_then(FunctionLimits::connections_per_instance) {
        Some(per_instance) => env.with(
            "DATABASE_MAX_CONNECTIONS",
            (concurrency.bound(function).max(1) * per_instance).to_string(),
        ),
        None => env.clone(),
    }
}

impl Functions {
    /// Each function gets a PostgreSQL pool of its own, as each Lambda does, so request
    /// traffic cannot starve the scheduled ticks; they share one Redis connection and the SDK
    /// settings. `concurrency` bounds each function's invocations.
    pub async fn new(
        env: &Env,
        clients: &Clients,
        concurrency: Concurrency,
    ) -> Result<Self, StartupError> {
        let env_of = |function: &str| function_env(env, &concurrency, function);
        Ok(Self {
            search: SearchFunction::from_env(&env_of("search"), clients).await?,
            concert_detail: ConcertDetailFunction::from_env(&env_of("concert-detail"), clients)
                .await?,
            seat_map: SeatMapFunction::from_env(&env_of("seat-map"), clients).await?,
            seat_select: SeatSelectFunction::from_env(&env_of("seat-select"), clients).await?,
            seat_release: SeatReleaseFunction::from_env(&env_of("seat-release"), clients).await?,
            hold_confirm: HoldConfirmFunction::from_env(&env_of("hold-confirm"), clients).await?,
            queue_join: QueueJoinFunction::from_env(&env_of("queue-join"), clients).await?,
            queue_status: QueueStatusFunction::from_env(&env_of("queue-status"), clients).await?,
            queue_leave: QueueLeaveFunction::from_env(&env_of("queue-leave"), clients).await?,
            sales_policy: SalesPolicyFunction::from_env(&env_of("admin-sales-policy"), clients)
                .await?,
            reservations: ReservationsFunction::from_env(&env_of("reservations"), clients).await?,
            payment_webhook: PaymentWebhookFunction::from_env(&env_of("payment-webhook"), clients)
                .await?,
            hold_expire: HoldExpireFunction::from_env(&env_of("hold-expire"), clients).await?,
            queue_activate: QueueActivateFunction::from_env(&env_of("queue-activate"), clients)
                .await?,
            sale_status_tick: SaleStatusTickFunction::from_env(
                &env_of("sale-status-tick"),
                clients,
            )
            .await?,
            ws_authorize: WsAuthorizeFunction::from_env(&env_of("ws-authorize"), clients).await?,
            http_authorize: HttpAuthorizeFunction::from_env(&env_of("http-authorize"), clients)
                .await?,
            ws_connect: WsConnectFunction::from_env(&env_of("ws-connect"), clients).await?,
            ws_disconnect: WsDisconnectFunction::from_env(&env_of("ws-disconnect"), clients)
                .await?,
            ws_message: WsMessageFunction::from_env(&env_of("ws-message"), clients).await?,
            push_dispatch: PushDispatchFunction::from_env(&env_of("push-dispatch"), clients)
                .await?,
            concurrency,
        })
    }

    /// Calls the named HTTP function's handler, as Lambda would; throttled, the answer is
    /// API Gateway's.
    pub async fn invoke_http(&self, function: &str, req: Request) -> Response<Body> {
        let Ok(_instance) = self.concurrency.start_or_throttle(function).await else {
            return concurrency::http_api_throttled();
        };
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

    /// Calls the named scheduled function with a scheduled invocation, as EventBridge
    /// Scheduler would; the function's tick loop logs its own failures.
    pub async fn invoke_scheduled(&self, function: &str, event: LambdaEvent<CloudWatchEvent>) {
        // Scheduler invokes asynchronously: Lambda keeps a throttled event and runs it once an
        // instance is free.
        let _instance = self.concurrency.start(function).await;
        match function {
            "queue-activate" => {
                queue_activate::handle(&self.queue_activate, event).await;
            }
            "hold-expire" => {
                hold_expire::handle(&self.hold_expire, event).await;
            }
            "sale-status-tick" => {
                sale_status_tick::handle(&self.sale_status_tick, event).await;
            }
            other => tracing::error!(function = other, "no local binding for scheduled function"),
        }
    }

    /// The `$connect` authorizer.
    pub async fn authorize_ws(
        &self,
        event: &ApiGatewayCustomAuthorizerRequestTypeRequest,
    ) -> Result<ApiGatewayCustomAuthorizerResponse, Throttled> {
        let _instance = self.concurrency.start_or_throttle("ws-authorize").await?;
        Ok(ws_authorize::handle(&self.ws_authorize, event).await)
    }

    /// The HttpApi's Lambda authorizer, for the routes that take an optional token.
    pub async fn authorize_http(
        &self,
        event: &ApiGatewayV2CustomAuthorizerV2Request,
    ) -> Result<http_authorize::Answer, Throttled> {
        let _instance = self.concurrency.start_or_throttle("http-authorize").await?;
        Ok(http_authorize::handle(&self.http_authorize, event).await)
    }

    /// Calls the WebSocket function a route key names, as API Gateway would.
    pub async fn invoke_ws(
        &self,
        function: &str,
        event: &ApiGatewayWebsocketProxyRequest,
    ) -> Result<ApiGatewayProxyResponse, Throttled> {
        let _instance = self.concurrency.start_or_throttle(function).await?;
        Ok(match function {
            "ws-connect" => ws_connect::handle(&self.ws_connect, event).await,
            "ws-disconnect" => ws_disconnect::handle(&self.ws_disconnect, event).await,
            "ws-message" => ws_message::handle(&self.ws_message, event).await,
            other => {
                tracing::error!(function = other, "no local binding for WebSocket function");
                ticketrush_lambda::websocket::status(500)
            }
        })
    }

    /// An instance of push-dispatch, waited for: the event source reads a batch only when an
    /// instance is free to run it.
    pub async fn push_dispatch_instance(&self) -> Instance {
        self.concurrency.start(PUSH_QUEUE_CONSUMER).await
    }

    /// Calls push-dispatch on the instance the batch was read for, as the SQS event source
    /// would.
    pub async fn invoke_push_dispatch(
        &self,
        _instance: Instance,
        event: SqsEvent,
    ) -> SqsBatchResponse {
        push_dispatch::handle(&self.push_dispatch, event).await
    }
}
