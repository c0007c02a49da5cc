use std::convert::Infallible;

use lambda_http::{run, service_fn};
use queue_leave::{QueueLeaveFunction, handle};
use ticketrush_adapters::{SystemClock, config, redis::RedisStore, redis::RedisWaitingRoom};
use ticketrush_lambda::{startup::or_exit, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let env = or_exit(
        ticketrush_adapters::secrets::process_env().await,
        "configuration",
    );
    let redis = or_exit(config::RedisConfig::from_env(&env), "configuration");
    let function = QueueLeaveFunction {
        room: RedisWaitingRoom::new(or_exit(RedisStore::connect(&redis).await, "REDIS_URL")),
        clock: SystemClock,
    };
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
