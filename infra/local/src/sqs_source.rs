//! The push queue as push-dispatch's event source, the way Lambda's SQS trigger runs it:
//! long-poll a batch, invoke, delete what succeeded, and leave the reported failures to
//! come back after their visibility timeout (and, after their retries, to the DLQ).

use std::{collections::HashSet, sync::Arc, time::Duration};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};

use crate::functions::Functions;

/// Lambda's default (and largest standard) batch.
const BATCH: i32 = 10;

/// Starts `pollers` receive loops, each one Lambda instance's worth of concurrency.
pub fn start(functions: Arc<Functions>, sqs: aws_sdk_sqs::Client, queue: String, pollers: u16) {
    for _ in 0..pollers.max(1) {
        let (functions, sqs, queue) = (functions.clone(), sqs.clone(), queue.clone());
        tokio::spawn(async move { poll(functions, sqs, queue).await });
    }
}

async fn poll(functions: Arc<Functions>, sqs: aws_sdk_sqs::Client, queue: String) {
    let url = loop {
        match sqs.get_queue_url().queue_name(&queue).send().await {
            Ok(out) => break out.queue_url.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(queue, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "push queue not reachable yet");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    let region = sqs
        .config()
        .region()
        .map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
    let arn = format!("arn:aws:sqs:{region}:000000000000:{queue}");
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(BATCH)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "push queue receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let records: Vec<SqsMessage> = messages
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id.clone();
                record.receipt_handle = m.receipt_handle.clone();
                record.body = m.body.clone();
                record.md5_of_body = m.md5_of_body.clone();
                record.attributes = m
                    .attributes
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), v.clone()))
                    .collect();
                record.event_source = Some("aws:sqs".into());
                record.event_source_arn = Some(arn.clone());
                record.aws_region = Some(region.clone());
                record
            })
            .collect();
        let mut event = SqsEvent::default();
        event.records = records;
        let response = functions.invoke_push_dispatch(event).await;
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let entries: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !failed.contains(m.message_id.as_deref().unwrap_or("")))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle.clone())
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            continue;
        }
        if let Err(e) = sqs
            .delete_message_batch()
            .queue_url(&url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            // They come back after the visibility timeout and are delivered again.
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "delivered push messages not deleted");
        }
    }
}
