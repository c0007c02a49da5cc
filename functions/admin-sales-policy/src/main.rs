use std::convert::Infallible;

use admin_sales_policy::{SalesPolicyFunction, handle};
use lambda_http::{run, service_fn};
use ticketrush_lambda::startup;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let function = startup::build(SalesPolicyFunction::from_env).await;
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
