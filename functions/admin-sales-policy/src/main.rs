use std::convert::Infallible;

use admin_sales_policy::{SalesPolicyFunction, handle};
use lambda_http::{run, service_fn};
use ticketrush_adapters::{aws, config, postgres, push::SqsPushPublisher};
use ticketrush_lambda::{startup::or_exit, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let env = or_exit(
        ticketrush_adapters::secrets::process_env().await,
        "configuration",
    );
    let publisher = or_exit(
        SqsPushPublisher::from_env(&aws::sdk_config().await, &env),
        "configuration",
    );
    let pg = or_exit(config::PostgresConfig::from_env(&env), "configuration");
    let pool = or_exit(postgres::connect_lazy(&pg), "DATABASE_URL");
    let function = SalesPolicyFunction {
        catalog: postgres::PostgresCatalog::new(pool.clone()),
        admin: postgres::PostgresCatalogAdmin::new(pool),
        publisher: publisher.clone(),
    };
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
