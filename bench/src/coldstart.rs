//! `cold-start`: each function binary (optimised build) started under a minimal Lambda Runtime API
//! stub, timed from spawn until its first `GET /2018-06-01/runtime/invocation/next`, and its
//! resident memory while it waits in that poll (the stub never answers it, so the function
//! sits idle as Lambda would freeze it).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use serde::Serialize;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

const BOOTS: usize = 3;
const BOOT_BOUND: Duration = Duration::from_secs(10);
/// Time given after the first poll for the process to settle before its RSS is read.
const SETTLE: Duration = Duration::from_millis(300);

#[derive(Debug, Serialize)]
pub struct ColdStart {
    pub function: String,
    /// Median over the boots, spawn to first poll.
    pub init_ms: Option<f64>,
    pub init_ms_each: Vec<f64>,
    /// Median idle RSS, in the first poll.
    pub idle_rss_kib: Option<u64>,
    pub failure: Option<String>,
}

/// The function crates, by directory under `functions/`.
pub fn functions(root: &Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("functions"))?
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// What the stub saw a function do first.
enum Seen {
    Polled,
    InitError,
}

/// Reads one request head; the path, or None if the connection ended.
async fn request_path(tcp: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 64 * 1024 {
        let n = tcp.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf).into_owned();
    let path = head.split_whitespace().nth(1)?.to_owned();
    Some((path, buf))
}

/// Serves the Runtime API on a free port until dropped: the first `next` is reported and
/// left hanging; an `init/error` is reported and acknowledged.
async fn stub() -> std::io::Result<(String, mpsc::Receiver<Seen>, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = mpsc::channel(4);
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        // One function talks to it: a handful of connections at most.
        for _ in 0..16 {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            let Some((path, _)) = request_path(&mut tcp).await else {
                continue;
            };
            if path.ends_with("/runtime/invocation/next") {
                let _ = tx.send(Seen::Polled).await;
                held.push(tcp);
            } else if path.ends_with("/runtime/init/error") {
                let _ = tx.send(Seen::InitError).await;
                let _ = tcp
                    .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        }
    });
    Ok((addr, rx, server))
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One boot: (init, idle RSS) or why it failed.
async fn boot(
    name: &str,
    bin: &Path,
    env: &[(&str, String)],
) -> Result<(Duration, Option<u64>), String> {
    let (api, mut seen, server) = stub().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let outcome = tokio::select! {
        s = seen.recv() => match s {
            Some(Seen::Polled) => {
                let init = started.elapsed();
                tokio::time::sleep(SETTLE).await;
                Ok((init, child.id().and_then(rss_kib)))
            }
            Some(Seen::InitError) => Err("reported an init error".to_owned()),
            None => Err("the stub stopped".to_owned()),
        },
        status = child.wait() => Err(format!("exited before polling: {status:?}")),
        _ = tokio::time::sleep(BOOT_BOUND) => Err(format!("no poll within {BOOT_BOUND:?}")),
    };
    let _ = child.kill().await;
    server.abort();
    outcome
}

fn median<T: Copy + PartialOrd>(mut v: Vec<T>) -> Option<T> {
    v.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    v.get(v.len() / 2).copied()
}

/// Boots each function `BOOTS` times.
pub async fn run(bin_dir: &Path, root: &Path, env: &[(&str, String)]) -> Vec<ColdStart> {
    let names = match functions(root) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("cold-start: no functions/ under {}: {e}", root.display());
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for name in names {
        let bin: PathBuf = bin_dir.join(&name);
        let (mut inits, mut rss, mut failure) = (Vec::new(), Vec::new(), None);
        if !bin.exists() {
            failure = Some(format!("{} not built", bin.display()));
        } else {
            for _ in 0..BOOTS {
                match boot(&name, &bin, env).await {
                    Ok((init, kib)) => {
                        inits.push(init.as_secs_f64() * 1000.0);
                        rss.extend(kib);
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
        }
        let row = ColdStart {
            function: name,
            init_ms: median(inits.clone()),
            init_ms_each: inits,
            idle_rss_kib: median(rss),
            failure,
        };
        println!(
            "cold-start {:<20} init {} ms, idle RSS {} KiB{}",
            row.function,
            row.init_ms.map_or("-".into(), |v| format!("{v:.1}")),
            row.idle_rss_kib.map_or("-".into(), |v| v.to_string()),
            row.failure
                .as_deref()
                .map_or(String::new(), |f| format!(" ({f})"))
        );
        out.push(row);
    }
    out
}
