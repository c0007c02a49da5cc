use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use lambda_runtime::{LambdaEvent, run, service_fn};
use queue_activate::{QueueActivateFunction, handle};
use ticketrush_adapters::{
    SystemClock, aws, config, postgres,
    push::SqsPushPublisher,
    queue_tokens::HmacQueueTokens,
    redis::{RedisSchedulerLock, RedisStore, RedisWaitingRoom},
};
use ticketrush_lambda::{startup::or_exit, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let env = or_exit(
        ticketrush_adapters::secrets::process_env().await,
        "configuration",
    );
    let publisher = or_exit(
        SqsPushPublisher::from_env(&aws::sdk_config().await, &env),
        "configuration",
    );
    let settings = or_exit(config::queue_settings_from_env(&env), "configuration");
    let pg =
        or_exit(config::PostgresConfig::from_env(&env), "configuration").for_tick(settings.tick);
    let redis = or_exit(
        RedisStore::connect(&or_exit(
            config::RedisConfig::from_env(&env),
            "configuration",
        ))
        .await,
        "REDIS_URL",
    );
    let function = QueueActivateFunction {
        catalog: postgres::PostgresCatalog::new(or_exit(
            postgres::connect_lazy(&pg),
            "DATABASE_URL",
        )),
        room: RedisWaitingRoom::new(redis.clone()),
        lock: RedisSchedulerLock::new(redis),
        publisher: publisher.clone(),
        tokens: or_exit(HmacQueueTokens::from_env(&env), "configuration"),
        clock: SystemClock,
        settings,
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
