use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, run, service_fn};
use push_dispatch::{PushDispatchFunction, handle};
use ticketrush_lambda::startup;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let function = startup::build(PushDispatchFunction::from_env).await;
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let function = &function;
        async move { Ok::<_, lambda_runtime::Error>(handle(function, event.payload).await) }
    }))
    .await
}
