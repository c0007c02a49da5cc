//! Connections and subscriptions in DynamoDB: `connections` keyed by connection id (with the
//! user for the `byUser` index, the token's expiry, the set of topic keys it holds and a
//! TTL), `subscriptions` keyed by topic key and connection id (with the token's expiry, so a
//! push reads one table, and the `byConnection` index to clean up after a connection).
//!
//! The `topics` set on the connection is what bounds its subscriptions: a subscribe adds its
//! key with a conditional update (`size(topics) < max`, or the key already there), so the
//! count and the check are one atomic step however many subscribes of one connection run at
//! once; the subscription record is written after it.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, SdkError},
    types::{AttributeValue, DeleteRequest, PutRequest, ReturnValue, WriteRequest},
};
use chrono::{DateTime, Utc};
use ticketrush_core::{
    StoreError, UserId,
    push::{
        Connection, ConnectionId, ConnectionRegistry, SubscribeOutcome, Subscriber, SubscriberPage,
        TopicKey,
    },
    time,
};

use crate::{
    aws::PushResources,
    config::{ConfigError, Env},
};

/// Subscribers read per page: well under DynamoDB's 1 MB page for these small items, and
/// few pages per push (each page is one Query round trip).
const PAGE: i32 = 2_000;
/// DynamoDB's batch write limit.
const BATCH: usize = 25;

#[derive(Clone)]
pub struct DynamoDbConnections {
    client: aws_sdk_dynamodb::Client,
    connections: String,
    subscriptions: String,
}

impl DynamoDbConnections {
    pub fn new(client: aws_sdk_dynamodb::Client, names: &PushResources) -> Self {
        Self {
            client,
            connections: names.connections_table.clone(),
            subscriptions: names.subscriptions_table.clone(),
        }
    }

    /// The tables named by `CONNECTIONS_TABLE` and `SUBSCRIPTIONS_TABLE`.
    pub fn from_env(sdk: &aws_config::SdkConfig, env: &Env) -> Result<Self, ConfigError> {
        Ok(Self::new(
            aws_sdk_dynamodb::Client::new(sdk),
            &PushResources::from_env(env)?,
        ))
    }
}

fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let text = format!("DynamoDB: {}", DisplayErrorContext(&err));
    match err {
        SdkError::ServiceError(_) => StoreError::internal(text),
        _ => StoreError::unavailable(text),
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn epoch(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(t.timestamp().to_string())
}

/// An epoch-seconds attribute of `item`, if there is one.
fn instant(item: &HashMap<String, AttributeValue>, name: &str) -> Option<DateTime<Utc>> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
}

/// Whether a write was refused by its condition.
fn condition_failed<E, R>(err: &SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    matches!(err, SdkError::ServiceError(e) if e.err().code() == Some("ConditionalCheckFailedException"))
}

impl DynamoDbConnections {
    /// One batch write (at most `BATCH` requests), retrying unprocessed items until none are
    /// left.
    async fn write_all(&self, items: HashMap<String, Vec<WriteRequest>>) -> Result<(), StoreError> {
        let mut pending = Some(items);
        while let Some(items) = pending.take().filter(|m| !m.is_empty()) {
            let out = self
                .client
                .batch_write_item()
                .set_request_items(Some(items))
                .send()
                .await
                .map_err(store_error)?;
            pending = out.unprocessed_items;
        }
        Ok(())
    }
}

/// The connection's record; `topics` is the set of keys it is subscribed under.
fn connection_item(
    connection: &Connection,
    topics: &[&TopicKey],
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("connectionId".to_owned(), s(connection.id.as_str())),
        (
            "connectedAt".to_owned(),
            s(&time::format(&connection.connected_at)),
        ),
        ("expiresAt".to_owned(), epoch(connection.expires_at)),
    ]);
    if let Some(user) = &connection.user {
        item.insert("userId".to_owned(), s(user.as_str()));
    }
    if let Some(t) = connection.token_expires_at {
        item.insert("tokenExpiresAt".to_owned(), epoch(t));
    }
    if !topics.is_empty() {
        item.insert("topics".to_owned(), key_set(topics));
    }
    item
}

fn key_set(keys: &[&TopicKey]) -> AttributeValue {
    AttributeValue::Ss(keys.iter().map(|k| k.as_str().to_owned()).collect())
}

fn subscription_item(
    key: &TopicKey,
    id: &ConnectionId,
    expires_at: DateTime<Utc>,
    token_expires_at: Option<DateTime<Utc>>,
) -> HashMap<String, AttributeValue> {
    let mut item = HashMap::from([
        ("topic".to_owned(), s(key.as_str())),
        ("connectionId".to_owned(), s(id.as_str())),
        ("expiresAt".to_owned(), epoch(expires_at)),
    ]);
    if let Some(t) = token_expires_at {
        item.insert("tokenExpiresAt".to_owned(), epoch(t));
    }
    item
}

fn put(item: HashMap<String, AttributeValue>) -> Result<WriteRequest, StoreError> {
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(StoreError::internal)?;
    Ok(WriteRequest::builder().put_request(put).build())
}

impl ConnectionRegistry for DynamoDbConnections {
    async fn register(&self, connection: &Connection) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.connections)
            .set_item(Some(connection_item(connection, &[])))
            .send()
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    /// Both records in one `BatchWriteItem`: one round trip per `$connect`.
    async fn register_subscribed(
        &self,
        connection: &Connection,
        key: &TopicKey,
    ) -> Result<(), StoreError> {
        self.write_all(HashMap::from([
            (
                self.connections.clone(),
                vec![put(connection_item(connection, &[key]))?],
            ),
            (
                self.subscriptions.clone(),
                vec![put(subscription_item(
                    key,
                    &connection.id,
                    connection.expires_at,
                    connection.token_expires_at,
                ))?],
            ),
        ]))
        .await
    }

    async fn connection(&self, id: &ConnectionId) -> Result<Option<Connection>, StoreError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.connections)
            .key("connectionId", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?
            .item;
        let Some(item) = item else { return Ok(None) };
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let connected_at = text("connectedAt")
            .and_then(|t| time::parse_instant(&t))
            .unwrap_or_default();
        Ok(Some(Connection {
            id: id.clone(),
            user: text("userId").and_then(|u| UserId::parse(&u).ok()),
            token_expires_at: instant(&item, "tokenExpiresAt"),
            connected_at,
            expires_at: instant(&item, "expiresAt").unwrap_or_default(),
        }))
    }

    async fn remove(&self, id: &ConnectionId) -> Result<(), StoreError> {
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.subscriptions)
                .index_name("byConnection")
                .key_condition_expression("connectionId = :c")
                .expression_attribute_values(":c", s(id.as_str()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(store_error)?;
            let keys: Vec<String> = page
                .items()
                .iter()
                .filter_map(|i| i.get("topic").and_then(|t| t.as_s().ok()).cloned())
                .collect();
            for chunk in keys.chunks(BATCH) {
                let requests = chunk
                    .iter()
                    .map(|topic| {
                        let delete = DeleteRequest::builder()
                            .key("topic", s(topic))
                            .key("connectionId", s(id.as_str()))
                            .build()
                            .map_err(StoreError::internal)?;
                        Ok(WriteRequest::builder().delete_request(delete).build())
                    })
                    .collect::<Result<Vec<_>, StoreError>>()?;
                self.write_all(HashMap::from([(self.subscriptions.clone(), requests)]))
                    .await?;
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        self.client
            .delete_item()
            .table_name(&self.connections)
            .key("connectionId", s(id.as_str()))
            .send()
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    /// The key joins the connection's `topics` set first, on condition that the connection
    /// exists and holds the key or fewer than `max`; the update answers with the record, whose
    /// token expiry the subscription then carries.
    async fn subscribe(
        &self,
        key: &TopicKey,
        id: &ConnectionId,
        expires_at: DateTime<Utc>,
        max: usize,
    ) -> Result<SubscribeOutcome, StoreError> {
        let added = self
            .client
            .update_item()
            .table_name(&self.connections)
            .key("connectionId", s(id.as_str()))
            .update_expression("ADD topics :keys")
            .condition_expression(
                "attribute_exists(connectionId) AND (attribute_not_exists(topics) \
                 OR contains(topics, :key) OR size(topics) < :max)",
            )
            .expression_attribute_values(":keys", key_set(&[key]))
            .expression_attribute_values(":key", s(key.as_str()))
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        let record = match added {
            Ok(out) => out.attributes.unwrap_or_default(),
            // Refused: a connection that is gone, or one that is full.
            Err(err) if condition_failed(&err) => {
                return Ok(match self.connection(id).await? {
                    Some(_) => SubscribeOutcome::Full,
                    None => SubscribeOutcome::NoConnection,
                });
            }
            Err(err) => return Err(store_error(err)),
        };
        let token_expires_at = instant(&record, "tokenExpiresAt");
        self.client
            .put_item()
            .table_name(&self.subscriptions)
            .set_item(Some(subscription_item(
                key,
                id,
                expires_at,
                token_expires_at,
            )))
            .send()
            .await
            .map_err(store_error)?;
        Ok(SubscribeOutcome::Subscribed)
    }

    /// The subscription goes first, then its key leaves the connection's set: a failure in
    /// between leaves the count high, never a subscription uncounted.
    async fn unsubscribe(&self, key: &TopicKey, id: &ConnectionId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.subscriptions)
            .key("topic", s(key.as_str()))
            .key("connectionId", s(id.as_str()))
            .send()
            .await
            .map_err(store_error)?;
        let removed = self
            .client
            .update_item()
            .table_name(&self.connections)
            .key("connectionId", s(id.as_str()))
            .update_expression("DELETE topics :keys")
            // Without it, the update would create a record for a connection that is gone.
            .condition_expression("attribute_exists(connectionId)")
            .expression_attribute_values(":keys", key_set(&[key]))
            .send()
            .await;
        match removed {
            Ok(_) => Ok(()),
            Err(err) if condition_failed(&err) => Ok(()),
            Err(err) => Err(store_error(err)),
        }
    }

    async fn subscribers(
        &self,
        key: &TopicKey,
        page: Option<&str>,
    ) -> Result<SubscriberPage, StoreError> {
        let start = page.map(|after| {
            HashMap::from([
                ("topic".to_owned(), s(key.as_str())),
                ("connectionId".to_owned(), s(after)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.subscriptions)
            .key_condition_expression("topic = :t")
            .expression_attribute_values(":t", s(key.as_str()))
            .projection_expression("connectionId, tokenExpiresAt")
            .limit(PAGE)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(store_error)?;
        let connections = out
            .items()
            .iter()
            .filter_map(|item| {
                let id = item.get("connectionId").and_then(|c| c.as_s().ok())?;
                Some(Subscriber {
                    id: ConnectionId::parse(id).ok()?,
                    token_expires_at: instant(item, "tokenExpiresAt"),
                })
            })
            .collect();
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| k.get("connectionId"))
            .and_then(|c| c.as_s().ok())
            .cloned();
        Ok(SubscriberPage { connections, next })
    }
}
