//! AWS clients. The endpoint comes from the standard `AWS_ENDPOINT_URL`, so the same code
//! talks to real AWS, LocalStack or the local emulator.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use ticketrush_core::StoreError;

use crate::config::{ConfigError, Env};

/// Names of the push infrastructure, shared by every function that touches it.
#[derive(Debug, Clone)]
pub struct PushResources {
    pub connections_table: String,
    pub subscriptions_table: String,
    pub push_queue: String,
    pub push_dead_letter_queue: String,
    /// How long a received push message stays hidden; a failed one comes back after it.
    pub visibility_timeout_secs: u32,
    /// Receives before a message moves to the dead-letter queue.
    pub max_receive_count: u32,
}

#[derive(serde::Deserialize)]
struct PushResourceVars {
    connections_table: Option<String>,
    subscriptions_table: Option<String>,
    push_queue_name: Option<String>,
    push_dlq_name: Option<String>,
    push_visibility_timeout_secs: Option<u32>,
    push_max_receive_count: Option<u32>,
}

impl PushResources {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let vars: PushResourceVars = env.read()?;
        Ok(Self {
            connections_table: vars
                .connections_table
                .unwrap_or_else(|| "connections".to_owned()),
            subscriptions_table: vars
                .subscriptions_table
                .unwrap_or_else(|| "subscriptions".to_owned()),
            push_queue: vars.push_queue_name.unwrap_or_else(|| "push".to_owned()),
            push_dead_letter_queue: vars.push_dlq_name.unwrap_or_else(|| "push-dlq".to_owned()),
            visibility_timeout_secs: vars.push_visibility_timeout_secs.unwrap_or(30),
            max_receive_count: vars.push_max_receive_count.unwrap_or(3),
        })
    }

    /// The names as the settings `from_env` reads them, to start a process on these resources.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("CONNECTIONS_TABLE", self.connections_table.clone()),
            ("SUBSCRIPTIONS_TABLE", self.subscriptions_table.clone()),
            ("PUSH_QUEUE_NAME", self.push_queue.clone()),
            ("PUSH_DLQ_NAME", self.push_dead_letter_queue.clone()),
        ]
    }
}

/// Deletes the tables and queues, whatever of them exists (the emulator's, after a run).
pub async fn remove(
    dynamo: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    names: &PushResources,
) {
    for table in [&names.connections_table, &names.subscriptions_table] {
        let _ = dynamo.delete_table().table_name(table).send().await;
    }
    for queue in [&names.push_queue, &names.push_dead_letter_queue] {
        if let Ok(out) = sqs.get_queue_url().queue_name(queue).send().await {
            let _ = sqs.delete_queue().set_queue_url(out.queue_url).send().await;
        }
    }
}

/// Idle connections the SDK keeps per endpoint host: as many as push-dispatch posts at once by
/// default (`PUSH_CONCURRENCY`), so its pool stays warm between events, and no more, so a
/// burst of calls (the local runtime hosts every function in one process) leaves at most this
/// many behind instead of one per call that overlapped.
const POOL_MAX_IDLE_PER_HOST: usize = 64;
/// How long an idle connection is kept; hyper's default is 90 s.
const POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The shared SDK configuration from the environment, with the SDK's default HTTPS client
/// (hyper, rustls with aws-lc) but bounded idle pools. No `HTTPS_PROXY`: neither Lambda nor
/// the emulator on loopback is reached through one.
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::{Builder, tls};
    let http = Builder::new()
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .pool_max_idle_per_host(POOL_MAX_IDLE_PER_HOST)
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

fn unavailable(err: impl std::fmt::Display) -> StoreError {
    StoreError::unavailable(err.to_string())
}

/// Whether DynamoDB answers.
pub async fn ping(dynamo: &aws_sdk_dynamodb::Client) -> Result<(), StoreError> {
    dynamo
        .list_tables()
        .limit(1)
        .send()
        .await
        .map(|_| ())
        .map_err(unavailable)
}

/// A push table: string keys (hash, optional range), one keys-only index, a TTL.
struct TableShape<'a> {
    name: &'a str,
    key: (&'a str, Option<&'a str>),
    /// Index name, hash key, optional range key.
    index: (&'a str, &'a str, Option<&'a str>),
}

/// Creates the table if it is missing, as the SAM template declares it.
async fn create_table(
    dynamo: &aws_sdk_dynamodb::Client,
    shape: TableShape<'_>,
) -> Result<(), StoreError> {
    match dynamo.describe_table().table_name(shape.name).send().await {
        Ok(_) => return Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) => {}
        Err(e) => {
            return Err(unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(
                &e,
            )));
        }
    }
    let key_schema = |hash: &str, range: Option<&str>| {
        std::iter::once((hash.to_owned(), KeyType::Hash))
            .chain(range.map(|r| (r.to_owned(), KeyType::Range)))
            .map(|(name, kind)| {
                KeySchemaElement::builder()
                    .attribute_name(name)
                    .key_type(kind)
                    .build()
                    .map_err(unavailable)
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let (index_name, index_hash, index_range) = shape.index;
    let mut attributes: Vec<&str> = vec![shape.key.0];
    attributes.extend(shape.key.1);
    attributes.extend([index_hash].into_iter().chain(index_range));
    attributes.sort_unstable();
    attributes.dedup();
    let attributes = attributes
        .into_iter()
        .map(|name| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(unavailable)
        })
        .collect::<Result<Vec<_>, _>>()?;
    dynamo
        .create_table()
        .table_name(shape.name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(shape.key.0, shape.key.1)?))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(index_name)
                .set_key_schema(Some(key_schema(index_hash, index_range)?))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::KeysOnly)
                        .build(),
                )
                .build()
                .map_err(unavailable)?,
        )
        .send()
        .await
        .map_err(unavailable)?;
    enable_ttl(dynamo, shape.name).await
}

/// Creates the tables and queues if they are missing. The SAM template does this in AWS;
/// here it serves the emulator.
pub async fn provision(
    dynamo: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    names: &PushResources,
) -> Result<(), StoreError> {
    create_table(
        dynamo,
        TableShape {
            name: &names.connections_table,
            key: ("connectionId", None),
            index: ("byUser", "userId", None),
        },
    )
    .await?;
    create_table(
        dynamo,
        TableShape {
            name: &names.subscriptions_table,
            key: ("topic", Some("connectionId")),
            index: ("byConnection", "connectionId", Some("topic")),
        },
    )
    .await?;

    let dlq_url = sqs
        .create_queue()
        .queue_name(&names.push_dead_letter_queue)
        .send()
        .await
        .map_err(unavailable)?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(unavailable)?
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .unwrap_or_default();
    let redrive = format!(
        r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{}"}}"#,
        names.max_receive_count
    );
    sqs.create_queue()
        .queue_name(&names.push_queue)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            redrive,
        )
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            names.visibility_timeout_secs.to_string(),
        )
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}

async fn enable_ttl(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), StoreError> {
    dynamo
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expiresAt")
                .build()
                .map_err(unavailable)?,
        )
        .send()
        .await
        .map_err(unavailable)?;
    Ok(())
}
