//! Secrets Manager at cold start, against the AWS emulator.

use ticketrush_adapters::{config::ConfigError, secrets};
use ticketrush_testkit::{aws_config, unique};

#[tokio::test]
async fn secret_arns_resolve_to_their_values_and_a_bad_one_names_the_variable() {
    let client = aws_sdk_secretsmanager::Client::new(&aws_config().await);
    let arn = client
        .create_secret()
        .name(unique("database-url-"))
        .secret_string("postgres://u:hunter2@db/ticketrush")
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("arn");

    let refs = secrets::secret_refs([("DATABASE_URL_SECRET_ARN".to_owned(), arn.clone())]);
    let resolved = secrets::read(&client, refs).await.expect("resolves");
    assert_eq!(
        resolved.get("DATABASE_URL").map(String::as_str),
        Some("postgres://u:hunter2@db/ticketrush")
    );

    // The same account and Region as the real one (each emulator has its own account id).
    let (account_prefix, _) = arn.rsplit_once(":secret:").expect("a secret ARN");
    let missing = format!("{account_prefix}:secret:{}", unique("absent-"));
    let err = secrets::read(&client, vec![("REDIS_URL".to_owned(), missing)])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConfigError::Secret { name, .. } if name == "REDIS_URL_SECRET_ARN"),
        "{err}"
    );
}
