use aws_lambda_events::event::cloudwatch_events::CloudWatchEvent;
use hold_expire::{HoldExpireFunction, handle};
use lambda_runtime::{LambdaEvent, run, service_fn};
use ticketrush_adapters::{
    SystemClock, aws, config, postgres,
    push::SqsPushPublisher,
    redis::{RedisSchedulerLock, RedisSeatLocks, RedisStore, RedisWaitingRoom},
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
    let tick = or_exit(config::hold_expire_tick_from_env(&env), "configuration");
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
    let gateway = or_exit(config::payment_gateway_from_env(&env), "configuration");
    let function = HoldExpireFunction {
        catalog: postgres::PostgresCatalog::new(pool.clone()),
        locks: RedisSeatLocks::new(redis.clone()),
        ledger: postgres::PostgresReservations::new(pool.clone()),
        gateway: postgres::payment_gateway(gateway, pool),
        room: RedisWaitingRoom::new(redis.clone()),
        scheduler: RedisSchedulerLock::new(redis),
        publisher: publisher.clone(),
        clock: SystemClock,
        seats: or_exit(config::seat_settings_from_env(&env), "configuration"),
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
