//! A function under test is built the way it is in AWS and in the local runtime: through its
//! crate's `from_env`, from these settings and clients.

use ticketrush_adapters::{config::Env, wiring::Clients};

use crate::{aws_config, runtime, unique};

/// What a function under test starts with.
pub struct Wiring {
    pub env: Env,
    pub clients: Clients,
    /// The push queue this test's publishers write to; nothing else reads it.
    pub push_queue_url: String,
}

impl Wiring {
    /// The test schema at `database_url`, Redis under a key prefix of its own, the emulator with
    /// a push queue of its own, the test secrets, and `extra` on top.
    pub async fn new(database_url: &str, extra: &[(&str, &str)]) -> Self {
        let clients = Clients::new(aws_config().await);
        let push_queue_url = aws_sdk_sqs::Client::new(clients.sdk())
            .create_queue()
            .queue_name(unique("handler-push-"))
            .send()
            .await
            .expect("the emulator creates a push queue (make services)")
            .queue_url
            .expect("queue url");
        let prefix = unique("test");
        let mut vars = runtime::base_env(database_url);
        vars.extend([
            ("REDIS_KEY_PREFIX", prefix),
            ("PUSH_QUEUE_URL", push_queue_url.clone()),
            ("APIGW_MANAGEMENT_ENDPOINT", "http://127.0.0.1:9".to_owned()),
        ]);
        let env = Env::from_pairs(
            vars.into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
        );
        Self {
            env,
            clients,
            push_queue_url,
        }
    }

    /// The Redis store the function under test uses (same connection, same key prefix).
    pub async fn redis(&self) -> ticketrush_adapters::redis::RedisStore {
        self.clients.redis(&self.env).await.expect("redis store")
    }

    /// The bodies of what the function published so far (up to 10 at a time, removed).
    pub async fn published(&self) -> Vec<String> {
        let sqs = aws_sdk_sqs::Client::new(self.clients.sdk());
        let out = sqs
            .receive_message()
            .queue_url(&self.push_queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("receive from the test push queue");
        out.messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect()
    }
}
