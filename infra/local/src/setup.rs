use std::path::Path;

use chrono::Utc;
use ticketrush_adapters::{aws, postgres};

use crate::{samples, settings::LocalSettings};

/// Database, schema, emulator resources and (optionally) the sample catalog. Idempotent.
pub async fn run(
    settings: &LocalSettings,
    samples_path: Option<&Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    postgres::ensure_database(&settings.postgres).await?;
    let pool = postgres::connect_lazy(&settings.postgres)?;
    postgres::MIGRATOR.run(&pool).await?;
    println!("database ready, migrations applied");

    let sdk = aws::sdk_config().await;
    aws::provision(
        &aws_sdk_dynamodb::Client::new(&sdk),
        &aws_sdk_sqs::Client::new(&sdk),
        &settings.push,
    )
    .await?;
    println!("emulator tables and queues ready");

    if let Some(path) = samples_path {
        let catalog = samples::read(path)?;
        let report = catalog.load(&pool, Utc::now()).await?;
        println!(
            "sample catalog loaded: {} concerts, {} seats",
            report.concerts, report.seats
        );
    }
    pool.close().await;
    Ok(())
}
