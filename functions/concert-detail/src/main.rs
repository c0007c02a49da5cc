use std::convert::Infallible;

use concert_detail::{ConcertDetailFunction, handle};
use lambda_http::{run, service_fn};
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
    let function = ConcertDetailFunction {
        catalog: postgres::PostgresCatalog::new(or_exit(
            postgres::connect_lazy(&pg),
            "DATABASE_URL",
        )),
        clock: SystemClock,
    };
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
