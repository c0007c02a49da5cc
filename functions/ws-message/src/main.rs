use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{LambdaEvent, run, service_fn};
use ticketrush_lambda::startup;
use ws_message::{WsMessageFunction, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = startup::build(WsMessageFunction::from_env).await;
    run(service_fn(
        |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let function = &function;
            async move { Ok::<_, lambda_runtime::Error>(handle(function, &event.payload).await) }
        },
    ))
    .await
}
