use std::convert::Infallible;

use lambda_http::{run, service_fn};
use payment_webhook::{PaymentWebhookFunction, handle};
use ticketrush_adapters::{
    SystemClock, aws, config,
    payment_webhook::HmacWebhookSignatures,
    postgres,
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
    let pg = or_exit(config::PostgresConfig::from_env(&env), "configuration");
    let redis = or_exit(
        RedisStore::connect(&or_exit(
            config::RedisConfig::from_env(&env),
            "configuration",
        ))
        .await,
        "REDIS_URL",
    );
    let gateway = or_exit(config::payment_gateway_from_env(&env), "configuration");
    let pool = or_exit(postgres::connect_lazy(&pg), "DATABASE_URL");
    let function = PaymentWebhookFunction {
        ledger: postgres::PostgresReservations::new(pool.clone()),
        gateway: postgres::payment_gateway(gateway, pool),
        signatures: or_exit(HmacWebhookSignatures::from_env(&env), "configuration"),
        locks: RedisSeatLocks::new(redis),
        publisher: publisher.clone(),
        clock: SystemClock,
        seats: or_exit(config::seat_settings_from_env(&env), "configuration"),
        payments: or_exit(config::payment_settings_from_env(&env), "configuration"),
    };
    run(service_fn(|req| async {
        Ok::<_, Infallible>(handle(&function, req).await)
    }))
    .await
}
