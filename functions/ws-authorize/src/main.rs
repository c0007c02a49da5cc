use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_runtime::{LambdaEvent, run, service_fn};
use ticketrush_adapters::jwt::TokenVerifier;
use ticketrush_lambda::{startup::or_exit, telemetry};
use ws_authorize::{WsAuthorizeFunction, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let env = or_exit(
        ticketrush_adapters::secrets::process_env().await,
        "configuration",
    );
    let function = WsAuthorizeFunction {
        tokens: or_exit(TokenVerifier::from_env(&env).await, "configuration"),
    };
    run(service_fn(
        |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
            let function = &function;
            async move { Ok::<_, lambda_runtime::Error>(handle(function, &event.payload)) }
        },
    ))
    .await
}
