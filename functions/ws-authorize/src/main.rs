use aws_lambda_events::event::apigw::ApiGatewayCustomAuthorizerRequestTypeRequest;
use lambda_runtime::{LambdaEvent, run, service_fn};
use ticketrush_lambda::startup;
use ws_authorize::{WsAuthorizeFunction, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = startup::build(WsAuthorizeFunction::from_env).await;
    run(service_fn(
        |event: LambdaEvent<ApiGatewayCustomAuthorizerRequestTypeRequest>| {
            let function = &function;
            async move { Ok::<_, lambda_runtime::Error>(handle(function, &event.payload).await) }
        },
    ))
    .await
}
