//! The push queue as push-dispatch's event source, the way Lambda's SQS trigger runs it: wait
//! for a free instance of the function, gather a batch as the template's `BatchSize` and
//! `MaximumBatchingWindowInSeconds` say (`PUSH_QUEUE_BATCHING`), invoke, delete what
//! succeeded, and leave the reported failures to come back after their visibility timeout
//! (and, after their retries, to the DLQ).

use std::{collections::HashSet, sync::Arc, time::Duration};

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use ticketrush_lambda::limits::{PUSH_QUEUE_BATCHING, SQS_RECEIVE_MAX, SqsBatching};
use tokio::time::Instant;

use crate::functions::Functions;

/// How long a receive waits for the first message of a batch (a long poll).
const FIRST_WAIT_SECS: i32 = 1;
/// Between receives that found nothing while a window is open.
const WINDOW_POLL_PAUSE: Duration = Duration::from_millis(50);

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
        // Lambda polls only for batches it has an instance to run.
        let instance = functions.push_dispatch_instance().await;
        let messages = gather(PUSH_QUEUE_BATCHING, |max, wait| {
            receive(&sqs, &url, max, wait)
        })
        .await;
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
        let response = functions.invoke_push_dispatch(instance, event).await;
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

/// One `ReceiveMessage` of up to `max` messages, waiting up to `wait_secs` for the first; a
/// failed one is logged and reads as nothing, after a pause.
async fn receive(sqs: &aws_sdk_sqs::Client, url: &str, max: u32, wait_secs: i32) -> Vec<Message> {
    let received = sqs
        .receive_message()
        .queue_url(url)
        .max_number_of_messages(max as i32)
        .wait_time_seconds(wait_secs)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await;
    match received {
        Ok(out) => out.messages.unwrap_or_default(),
        Err(e) => {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "push queue receive failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
            Vec::new()
        }
    }
}

/// A batch as Lambda's SQS event source gathers one: a long poll for the first messages,
/// then, within the batching window that opens with them, more receives (of at most ten
/// each) until the batch is full. A zero window invokes with what the first receive returned.
async fn gather<T, F, Fut>(batching: SqsBatching, mut receive: F) -> Vec<T>
where
    F: FnMut(u32, i32) -> Fut,
    Fut: Future<Output = Vec<T>>,
{
    let want = batching.batch_size.max(1);
    let mut batch = receive(want.min(SQS_RECEIVE_MAX), FIRST_WAIT_SECS).await;
    if batch.is_empty() {
        return batch;
    }
    let window = Duration::from_secs(batching.maximum_batching_window_secs.into());
    let closes = Instant::now() + window;
    while (batch.len() as u32) < want {
        let left = closes.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Long polls in whole seconds, so a receive never outlasts the window.
        let wait = i32::try_from(left.as_secs()).unwrap_or(20).min(20);
        let more = receive((want - batch.len() as u32).min(SQS_RECEIVE_MAX), wait).await;
        if more.is_empty() {
            // A short poll (or a long poll the emulator cut short) found nothing yet.
            tokio::time::sleep(WINDOW_POLL_PAUSE.min(left)).await;
        }
        batch.extend(more);
    }
    batch
}

#[cfg(test)]
mod tests {
    use std::{cell::RefCell, collections::VecDeque};

    use super::*;

    /// A queue of `n` messages.
    fn queue(n: u32) -> RefCell<VecDeque<u32>> {
        RefCell::new((0..n).collect())
    }

    /// A receive: at most `max` messages, and when there are none, a long poll's wait.
    async fn take(
        q: &RefCell<VecDeque<u32>>,
        asked: &RefCell<Vec<u32>>,
        max: u32,
        wait: i32,
    ) -> Vec<u32> {
        asked.borrow_mut().push(max);
        let got: Vec<u32> = {
            let mut q = q.borrow_mut();
            let n = (max as usize).min(q.len());
            q.drain(..n).collect()
        };
        if got.is_empty() {
            tokio::time::sleep(Duration::from_secs(wait as u64)).await;
        }
        got
    }

    #[tokio::test]
    async fn a_zero_window_invokes_with_one_receive_of_at_most_ten() {
        let (q, asked) = (queue(25), RefCell::new(Vec::new()));
        let batching = SqsBatching {
            batch_size: 10,
            maximum_batching_window_secs: 0,
        };
        let batch = gather(batching, |max, wait| take(&q, &asked, max, wait)).await;
        assert_eq!(batch, (0..10).collect::<Vec<_>>());
        assert_eq!(*asked.borrow(), vec![10]);
    }

    #[tokio::test]
    async fn a_window_gathers_up_to_the_batch_size_in_receives_of_ten() {
        let (q, asked) = (queue(120), RefCell::new(Vec::new()));
        let batching = SqsBatching {
            batch_size: 50,
            maximum_batching_window_secs: 20,
        };
        let batch = gather(batching, |max, wait| take(&q, &asked, max, wait)).await;
        assert_eq!(batch, (0..50).collect::<Vec<_>>());
        assert_eq!(*asked.borrow(), vec![10, 10, 10, 10, 10]);
        assert_eq!(q.borrow().len(), 70, "nothing read past the batch");
    }

    #[tokio::test]
    async fn a_window_closes_on_a_short_batch() {
        let (q, asked) = (queue(3), RefCell::new(Vec::new()));
        let batching = SqsBatching {
            batch_size: 50,
            maximum_batching_window_secs: 1,
        };
        let batch = gather(batching, |max, wait| take(&q, &asked, max, wait)).await;
        assert_eq!(batch, vec![0, 1, 2]);
        assert!(
            asked.borrow().len() > 1,
            "it kept polling within the window"
        );
    }

    #[tokio::test]
    async fn an_empty_queue_gives_an_empty_batch_after_one_long_poll() {
        let (q, asked) = (queue(0), RefCell::new(Vec::new()));
        let batch = gather(PUSH_QUEUE_BATCHING, |max, wait| {
            assert_eq!(wait, FIRST_WAIT_SECS);
            take(&q, &asked, max, 0)
        })
        .await;
        assert!(batch.is_empty());
        assert_eq!(asked.borrow().len(), 1);
    }
}
