use aws_lambda_events::event::apigw::ApiGatewayV2CustomAuthorizerV2Request;
use http_authorize::{HttpAuthorizeFunction, handle};
use lambda_runtime::{LambdaEvent, run, service_fn};
use ticketrush_lambda::startup;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = startup::build(HttpAuthorizeFunction::from_env).await;
    run(service_fn(
        |event: LambdaEvent<ApiGatewayV2CustomAuthorizerV2Request>| {
            let function = &function;
            async move { Ok::<_, lambda_runtime::Error>(handle(function, &event.payload).await) }
        },
    ))
    .await
}
