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
    config::Env,
    wiring::{Clients, StartupError},
};
use ticketrush_lambda::Problem;
use ws_authorize::WsAuthorizeFunction;
use ws_connect::WsConnectFunction;
use ws_disconnect::WsDisconnectFunction;
use ws_message::WsMessageFunction;

/// Every function, each built by its own crate's `from_env` as its Lambda is.
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
    ws_connect: WsConnectFunction,
    ws_disconnect: WsDisconnectFunction,
    ws_message: WsMessageFunction,
    push_dispatch: PushDispatchFunction,
}

impl Functions {
    /// Each function gets a PostgreSQL pool of its own, as each Lambda does, so request
    /// traffic cannot starve the scheduled ticks; they share one Redis connection and the SDK
    /// settings.
    pub async fn new(env: &Env, clients: &Clients) -> Result<Self, StartupError> {
        Ok(Self {
            search: SearchFunction::from_env(env, clients).await?,
            concert_detail: ConcertDetailFunction::from_env(env, clients).await?,
            seat_map: SeatMapFunction::from_env(env, clients).await?,
            seat_select: SeatSelectFunction::from_env(env, clients).await?,
            seat_release: SeatReleaseFunction::from_env(env, clients).await?,
            hold_confirm: HoldConfirmFunction::from_env(env, clients).await?,
            queue_join: QueueJoinFunction::from_env(env, clients).await?,
            queue_status: QueueStatusFunction::from_env(env, clients).await?,
            queue_leave: QueueLeaveFunction::from_env(env, clients).await?,
            sales_policy: SalesPolicyFunction::from_env(env, clients).await?,
            reservations: ReservationsFunction::from_env(env, clients).await?,
            payment_webhook: PaymentWebhookFunction::from_env(env, clients).await?,
            hold_expire: HoldExpireFunction::from_env(env, clients).await?,
            queue_activate: QueueActivateFunction::from_env(env, clients).await?,
            sale_status_tick: SaleStatusTickFunction::from_env(env, clients).await?,
            ws_authorize: WsAuthorizeFunction::from_env(env, clients).await?,
            ws_connect: WsConnectFunction::from_env(env, clients).await?,
            ws_disconnect: WsDisconnectFunction::from_env(env, clients).await?,
            ws_message: WsMessageFunction::from_env(env, clients).await?,
            push_dispatch: PushDispatchFunction::from_env(env, clients).await?,
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
                    .map_err(|e| ticketrush_core::StoreError::internal(e.to_string()))
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
