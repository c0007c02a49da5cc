use std::convert::Infallible;

use lambda_http::{run, service_fn};
use seat_select::{SeatSelectFunction, handle};
use ticketrush_adapters::{
    SystemClock, aws,
    cached_catalog::CachedCatalog,
    config, postgres,
    push::SqsPushPublisher,
    queue_tokens::HmacQueueTokens,
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
    let pg = or_exit(config::PostgresConfig::from_env(&env), "configuration");
    let redis = or_exit(config::RedisConfig::from_env(&env), "configuration");
    let catalog =
        postgres::PostgresCatalog::new(or_exit(postgres::connect_lazy(&pg), "DATABASE_URL"));
    let function = SeatSelectFunction {
        catalog: CachedCatalog::new(
            catalog,
            or_exit(config::catalog_cache_ttl_from_env(&env), "configuration"),
        ),
        locks: RedisSeatLocks::new(or_exit(RedisStore::connect(&redis).await, "REDIS_URL")),
        tokens: or_exit(HmacQueueTokens::from_env(&env), "configuration"),
        publisher: publisher.clone(),
        clock: SystemClock,
        settings: or_exit(config::seat_settings_from_env(&env), "configuration"),
    };
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
