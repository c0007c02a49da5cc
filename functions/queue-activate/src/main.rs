use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{LambdaEvent, run, service_fn};
use queue_activate::{QueueActivateFunction, handle};
use ticketrush_lambda::startup;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = startup::build(QueueActivateFunction::from_env).await;
    run(service_fn(|event: LambdaEvent<CloudWatchEvent>| {
        let function = &function;
        async move { Ok::<_, lambda_runtime::Error>(handle(function, event).await) }
    }))
    .await
}
