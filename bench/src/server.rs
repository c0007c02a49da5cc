use std::{path::Path, process::Stdio};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, Command},
};

pub const BENCH_JWT_SECRET: &str = "bench-secret-0123456789abcdef";
pub const BENCH_REDIS_PREFIX: &str = "bench";
pub const BENCH_QUEUE_TOKEN_SECRET: &str = "bench-queue-token-secret-0123456789abcdef";

pub struct Server {
    pub base_url: String,
    child: Child,
}

impl Server {
    /// Starts the runtime on a free loopback port, with limits that keep the accepted path
    /// under measurement (no throttling, room for every bench user).
    /// `extra` settings go on top of the bench defaults.
    pub async fn start(
        binary: &Path,
        extra: &[(&str, String)],
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let mut child = Command::new(binary)
            .arg("serve")
            .env("TICKETRUSH_BIND", "127.0.0.1:0")
            .env("JWT_SECRET", BENCH_JWT_SECRET)
            .env("QUEUE_TOKEN_SECRET", BENCH_QUEUE_TOKEN_SECRET)
            .env(
                "PAYMENT_WEBHOOK_SECRET",
                "bench-payment-webhook-secret-0123456789abcdef",
            )
            .env("REDIS_KEY_PREFIX", BENCH_REDIS_PREFIX)
            .env("QUEUE_CAPACITY", "100000000")
            .env("QUEUE_JOIN_LIMIT", "1000000")
            // Above the surge cohort, so the ticks admit every buyer of it.
            .env("QUEUE_MAX_ACTIVE", "100000")
            .env("QUEUE_ADMIT_PER_TICK", "5000")
            .env("DATABASE_MAX_CONNECTIONS", "16")
            .env("RUST_LOG", "warn")
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let base_url = loop {
            match lines.next_line().await? {
                Some(line) => {
                    if let Some(url) = line.strip_prefix("ticketrush-local is up at ") {
                        break url.trim().to_owned();
                    }
                }
                None => return Err("ticketrush-local exited before it was up".into()),
            }
        };
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Self { base_url, child })
    }

    /// The process's peak resident set (VmHWM), from /proc.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
