use std::convert::Infallible;

use lambda_http::{run, service_fn};
use queue_status::{QueueStatusFunction, handle};
use ticketrush_lambda::startup;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let function = startup::build(QueueStatusFunction::from_env).await;
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
