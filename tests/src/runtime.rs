//! `ticketrush-local` as a real process, on a port of its own.

use std::{
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

use crate::{setting, unique};

pub const TEST_JWT_SECRET: &str = "test-secret-0123456789abcdef";
pub const TEST_QUEUE_TOKEN_SECRET: &str = "test-queue-token-secret-0123456789abcdef";
pub const TEST_PAYMENT_WEBHOOK_SECRET: &str = "test-payment-webhook-secret-0123456789abcdef";

/// The binary next to the test executable (target/<profile>/), unless overridden.
pub fn local_binary() -> PathBuf {
    if let Ok(path) = std::env::var("TICKETRUSH_LOCAL_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>");
    let bin = profile_dir.join("ticketrush-local");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p ticketrush-local), as make test does",
        bin.display()
    );
    bin
}

/// What every run of `ticketrush-local` in a test needs: the test database and Redis,
/// the emulator, and the test signing secret.
pub fn base_env(database_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_owned()),
        (
            "REDIS_URL",
            setting("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        ),
        (
            "AWS_ENDPOINT_URL",
            setting("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ),
        ("AWS_REGION", setting("AWS_REGION", "us-east-1")),
        ("AWS_ACCESS_KEY_ID", setting("AWS_ACCESS_KEY_ID", "local")),
        (
            "AWS_SECRET_ACCESS_KEY",
            setting("AWS_SECRET_ACCESS_KEY", "local"),
        ),
        ("JWT_SECRET", TEST_JWT_SECRET.to_owned()),
        ("QUEUE_TOKEN_SECRET", TEST_QUEUE_TOKEN_SECRET.to_owned()),
        (
            "PAYMENT_WEBHOOK_SECRET",
            TEST_PAYMENT_WEBHOOK_SECRET.to_owned(),
        ),
        ("PAYMENT_GATEWAY", "sandbox".to_owned()),
        ("RUST_LOG", setting("TEST_RUST_LOG", "warn")),
    ]
}

pub struct LocalRuntime {
    pub base_url: String,
    pub redis_prefix: String,
    /// Lines on stdout in Embedded Metric Format (with `METRICS_FORMAT=emf`).
    metric_lines: Arc<Mutex<Vec<String>>>,
    child: Child,
}

impl LocalRuntime {
    /// Starts the runtime against `database_url`, with test defaults and `extra` env on top.
    pub async fn start(database_url: &str, extra: &[(&str, &str)]) -> Self {
        let redis_prefix = unique("test");
        let mut cmd = Command::new(local_binary());
        cmd.arg("serve")
            .envs(base_env(database_url))
            .env("TICKETRUSH_BIND", "127.0.0.1:0")
            .env("DATABASE_ACQUIRE_TIMEOUT_MS", "1000")
            // Tests write the catalog behind the runtime's back; those of the search cache
            // turn it on.
            .env("SEARCH_CACHE_MILLIS", "0")
            .env("REDIS_KEY_PREFIX", &redis_prefix)
            .env("AWS_ENDPOINT_URL", crate::aws_backend::endpoint().await)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn ticketrush-local");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let base_url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(url) = line.strip_prefix("ticketrush-local is up at ") {
                    return url.trim().to_owned();
                }
            }
            panic!("ticketrush-local exited before it was up")
        })
        .await
        .expect("ticketrush-local starts within 30 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        let metric_lines = Arc::new(Mutex::new(Vec::new()));
        let kept = metric_lines.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("\"_aws\"") {
                    kept.lock().expect("metric lines").push(line);
                }
            }
        });
        Self {
            base_url,
            redis_prefix,
            metric_lines,
            child,
        }
    }

    /// The sum of `name` over the EMF lines written so far; each line must declare it.
    pub fn metric_total(&self, name: &str) -> u64 {
        let lines = self.metric_lines.lock().expect("metric lines");
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|doc| {
                doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .is_some_and(|m| m.iter().any(|m| m["Name"] == name))
            })
            .filter_map(|doc| doc[name].as_u64())
            .sum()
    }

    /// The process id, to read its resource use from /proc.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A token the runtime's authorizer accepts.
    pub fn token(&self, user: &str, tier: &str, admin: bool) -> String {
        token_with(TEST_JWT_SECRET, user, tier, admin, 3600)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

pub fn token_with(secret: &str, user: &str, tier: &str, admin: bool, ttl_secs: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = serde_json::json!({
        "sub": user, "tier": tier, "admin": admin,
        "iss": "ticketrush-local", "aud": "ticketrush",
        "iat": now, "exp": now + ttl_secs,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}
