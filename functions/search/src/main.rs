use std::convert::Infallible;

use lambda_http::{run, service_fn};
use search::{SearchFunction, handle};
use ticketrush_adapters::{SystemClock, config, postgres};
use ticketrush_lambda::{startup::or_exit, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let env = or_exit(
        ticketrush_adapters::secrets::process_env().await,
        "configuration",
    );
    let pg = or_exit(config::PostgresConfig::from_env(&env), "configuration");
    let function = SearchFunction {
        catalog: postgres::PostgresCatalog::new(or_exit(
            postgres::connect_lazy(&pg),
            "DATABASE_URL",
        )),
        clock: SystemClock,
        realtime: or_exit(config::realtime_from_env(&env), "configuration"),
    };
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
