use aws_lambda_events::event::apigw::ApiGatewayWebsocketProxyRequest;
use lambda_runtime::{LambdaEvent, run, service_fn};
use ticketrush_adapters::{aws, connections::DynamoDbConnections};
use ticketrush_lambda::{startup::or_exit, telemetry};
use ws_disconnect::{WsDisconnectFunction, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let env = or_exit(
        ticketrush_adapters::secrets::process_env().await,
        "configuration",
    );
    let sdk = aws::sdk_config().await;
    let function = WsDisconnectFunction {
        registry: or_exit(DynamoDbConnections::from_env(&sdk, &env), "configuration"),
    };
    run(service_fn(
        |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let function = &function;
            async move { Ok::<_, lambda_runtime::Error>(handle(function, &event.payload).await) }
        },
    ))
    .await
}
