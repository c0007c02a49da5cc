use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest;
use lambda_runtime::{LambdaEvent, run, service_fn};
use migrate::{MigrateFunction, handle};
use ticketrush_adapters::{config, postgres, secrets};
use ticketrush_lambda::{startup::or_exit, telemetry};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init();
    let env = or_exit(secrets::process_env().await, "configuration");
    let pg = or_exit(config::PostgresConfig::from_env(&env), "configuration");
    let function = MigrateFunction {
        pool: or_exit(postgres::connect_lazy(&pg), "DATABASE_URL"),
        http: or_exit(reqwest::Client::builder().build(), "HTTP client"),
    };
    run(service_fn(
        |event: LambdaEvent<CloudFormationCustomResourceRequest>| {
            let function = &function;
            async move {
                handle(function, event.payload)
                    .await
                    .map(|outcome| serde_json::json!({ "success": outcome.success }))
                    .map_err(lambda_runtime::Error::from)
            }
        },
    ))
    .await
}
