use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use lambda_runtime::{LambdaEvent, run, service_fn};
use migrate::{MigrateFunction, handle};
use ticketrush_lambda::startup;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = startup::build(MigrateFunction::from_env).await;
    run(service_fn(
        |event: LambdaEvent<CloudFormationCustomResourceRequest>| {
            let function = &function;
            async move {
                handle(function, event.payload)
                    .await
                    .map(|outcome| serde_json::json!({ "success": outcome.success }))
                    .map_err(lambda_runtime::Error::from)
            }
        },
    ))
    .await
}
