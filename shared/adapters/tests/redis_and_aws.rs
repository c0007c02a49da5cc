//! RedisStore against real Redis, and provisioning against the AWS emulator.

use ticketrush_adapters::{
    aws::{self, PushResources},
    config::{RedisConfig, Secret},
    redis::RedisStore,
};
use ticketrush_core::StoreError;
use ticketrush_testkit::{setting, unique};

fn redis_config(url: String) -> RedisConfig {
    RedisConfig {
        url: Secret::from(url),
        key_prefix: unique("test"),
        timeout: std::time::Duration::from_millis(300),
    }
}

#[tokio::test]
async fn redis_answers_and_keys_carry_the_prefix() {
    let store = RedisStore::connect(&redis_config(setting(
        "TEST_REDIS_URL",
        "redis://127.0.0.1:6379/15",
    )))
    .await
    .unwrap();
    store.ping().await.unwrap();
    assert!(
        store
            .key("queue:{42}")
            .starts_with(&format!("{}:", store.prefix))
    );
}

#[tokio::test]
async fn a_dead_redis_is_unavailable() {
    let store = RedisStore::connect(&redis_config("redis://127.0.0.1:1/0".into()))
        .await
        .unwrap();
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test]
async fn provisioning_is_idempotent() {
    let sdk = ticketrush_testkit::aws_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let names = PushResources {
        connections_table: unique("connections-"),
        subscriptions_table: unique("subscriptions-"),
        push_queue: unique("push-"),
        push_dead_letter_queue: unique("push-dlq-"),
        visibility_timeout_secs: 30,
        max_receive_count: 3,
    };
    aws::provision(&dynamo, &sqs, &names).await.unwrap();
    aws::provision(&dynamo, &sqs, &names).await.unwrap();
    let tables = dynamo.list_tables().send().await.unwrap();
    assert!(tables.table_names().contains(&names.connections_table));
    assert!(tables.table_names().contains(&names.subscriptions_table));
    let queue = sqs
        .get_queue_url()
        .queue_name(&names.push_queue)
        .send()
        .await
        .unwrap();
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(queue.queue_url().unwrap())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap();
    let redrive =
        attrs.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy].clone();
    assert!(redrive.contains(&names.push_dead_letter_queue), "{redrive}");
}
