use std::convert::Infallible;

use lambda_http::{run, service_fn};
use seat_map::{SeatMapFunction, handle};
use ticketrush_adapters::{
    config, postgres,
    redis::{RedisSeatLocks, RedisStore},
};
use ticketrush_lambda::{startup::or_exit, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let env = or_exit(
        ticketrush_adapters::secrets::process_env().await,
        "configuration",
    );
    let pg = or_exit(config::PostgresConfig::from_env(&env), "configuration");
    let redis = or_exit(config::RedisConfig::from_env(&env), "configuration");
    let function = SeatMapFunction {
        catalog: postgres::PostgresCatalog::new(or_exit(
            postgres::connect_lazy(&pg),
            "DATABASE_URL",
        )),
        locks: RedisSeatLocks::new(or_exit(RedisStore::connect(&redis).await, "REDIS_URL")),
    };
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
