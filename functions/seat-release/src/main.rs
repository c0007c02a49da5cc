use std::convert::Infallible;

use lambda_http::{run, service_fn};
use seat_release::{SeatReleaseFunction, handle};
use ticketrush_adapters::{
    aws, config,
    push::SqsPushPublisher,
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
    let publisher = or_exit(
        SqsPushPublisher::from_env(&aws::sdk_config().await, &env),
        "configuration",
    );
    let redis = or_exit(config::RedisConfig::from_env(&env), "configuration");
    let function = SeatReleaseFunction {
        locks: RedisSeatLocks::new(or_exit(RedisStore::connect(&redis).await, "REDIS_URL")),
        publisher: publisher.clone(),
        settings: or_exit(config::seat_settings_from_env(&env), "configuration"),
    };
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
