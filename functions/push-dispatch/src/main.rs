use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, run, service_fn};
use push_dispatch::{PushDispatchFunction, handle};
use ticketrush_adapters::{
    SystemClock, aws, config,
    connections::DynamoDbConnections,
    postgres,
    push::{ApiGatewayPusher, TokioPause},
    redis::{RedisSeatLocks, RedisStore},
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
    let pg = or_exit(config::PostgresConfig::from_env(&env), "configuration");
    let pool = or_exit(postgres::connect_lazy(&pg), "DATABASE_URL");
    let redis = or_exit(
        RedisStore::connect(&or_exit(
            config::RedisConfig::from_env(&env),
            "configuration",
        ))
        .await,
        "REDIS_URL",
    );
    let function = PushDispatchFunction {
        registry: or_exit(DynamoDbConnections::from_env(&sdk, &env), "configuration"),
        pusher: or_exit(ApiGatewayPusher::from_env(&sdk, &env), "configuration"),
        locks: RedisSeatLocks::new(redis),
        catalog: postgres::PostgresCatalog::new(pool),
        pause: TokioPause,
        clock: SystemClock,
        settings: or_exit(config::dispatch_settings_from_env(&env), "configuration"),
    };
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let function = &function;
        async move { Ok::<_, lambda_runtime::Error>(handle(function, event.payload).await) }
    }))
    .await
}
