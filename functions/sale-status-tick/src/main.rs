use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{LambdaEvent, run, service_fn};
use sale_status_tick::{SaleStatusTickFunction, handle};
use ticketrush_adapters::{
    SystemClock, aws, config, postgres,
    push::SqsPushPublisher,
    redis::{RedisPublishedStatuses, RedisSchedulerLock, RedisStore},
};
use ticketrush_lambda::{startup::or_exit, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let env = or_exit(
        ticketrush_adapters::secrets::process_env().await,
        "configuration",
    );
    let sdk = aws::sdk_config().await;
    let tick = or_exit(config::sale_status_tick_from_env(&env), "configuration");
    let pg = or_exit(config::PostgresConfig::from_env(&env), "configuration").for_tick(tick);
    let pool = or_exit(postgres::connect_lazy(&pg), "DATABASE_URL");
    let redis = or_exit(
        RedisStore::connect(&or_exit(
            config::RedisConfig::from_env(&env),
            "configuration",
        ))
        .await,
        "REDIS_URL",
    );
    let function = SaleStatusTickFunction {
        catalog: postgres::PostgresCatalog::new(pool),
        statuses: RedisPublishedStatuses::new(redis.clone()),
        scheduler: RedisSchedulerLock::new(redis),
        publisher: or_exit(SqsPushPublisher::from_env(&sdk, &env), "configuration"),
        clock: SystemClock,
        tick,
    };
    run(service_fn(|event: LambdaEvent<CloudWatchEvent>| {
        let function = &function;
        async move {
            handle(function, event.payload, &event.context.request_id)
                .await
                .map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
