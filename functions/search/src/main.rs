use std::convert::Infallible;

use lambda_http::{run, service_fn};
use search::{SearchFunction, handle};
use ticketrush_lambda::startup;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let function = startup::build(SearchFunction::from_env).await;
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
