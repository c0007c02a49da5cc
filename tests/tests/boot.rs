//! Every function binary boots as a Lambda: started under our Runtime API stand-in with the
//! usual AWS_LAMBDA_* variables and only `*_SECRET_ARN` settings (read from the emulator's
//! Secrets Manager at cold start, as in AWS), it answers its `events/` sample. Init time
//! (spawn to first `next` poll) and idle RSS are printed as a table.
//!
//! Boots the binaries the workspace build left next to this test (target/<profile>/), or
//! those in TICKETRUSH_FUNCTION_BIN_DIR (`<name>` or `<name>/bootstrap`).

use std::{
    collections::HashMap,
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use ticketrush_adapters::aws::{self, PushResources};
use ticketrush_testkit::{
    aws_config,
    db::TestDb,
    lambda_api::{Record, RuntimeApi, rss_kib},
    runtime::{
        TEST_JWT_SECRET, TEST_PAYMENT_WEBHOOK_SECRET, TEST_QUEUE_TOKEN_SECRET, base_env,
        local_binary,
    },
    setting, unique,
};
use tokio::process::Command;

const BOOT_TIMEOUT: Duration = Duration::from_secs(30);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .to_owned()
}

fn binary(name: &str) -> PathBuf {
    match std::env::var_os("TICKETRUSH_FUNCTION_BIN_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            let packaged = dir.join(name).join("bootstrap");
            if packaged.exists() {
                packaged
            } else {
                dir.join(name)
            }
        }
        None => profile_dir().join(name),
    }
}

fn function_crates() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("functions"))
        .expect("functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[derive(Debug)]
struct Boot {
    init: Option<Duration>,
    rss_kib: Option<u64>,
    record: Record,
    /// Why the boot failed, if it did.
    failure: Option<String>,
    /// Metrics it wrote on stdout in Embedded Metric Format, as `Name=value`.
    metrics: Vec<String>,
}

/// Runs `bin` under a fresh Runtime API stand-in for one invocation of `event`.
async fn boot(name: &str, bin: &Path, event: Vec<u8>, env: &[(String, String)]) -> Boot {
    let api = RuntimeApi::start(name, event).await;
    let log = std::env::temp_dir().join(format!("{}-{name}.log", unique("boot-")));
    let stderr = std::fs::File::create(&log).expect("log file");
    let out = log.with_extension("stdout");
    let stdout = std::fs::File::create(&out).expect("stdout file");
    let started = Instant::now();
    let mut child = Command::new(bin)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.endpoint())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env(
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "2026/11/21/[$LATEST]0123456789abcdef",
        )
        .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
        .env("_HANDLER", "bootstrap")
        .env("LAMBDA_TASK_ROOT", "/var/task")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let pid = child.id().expect("pid");

    let mut failure = None;
    let mut rss = None;
    let deadline = Instant::now() + BOOT_TIMEOUT;
    loop {
        let record = api.record();
        if let Some(body) = &record.init_error {
            failure = Some(format!("init error: {body}"));
        } else if let Some((kind, body)) = &record.error {
            failure = Some(format!("error response {kind}: {body}"));
        } else if record.response.is_some() && record.polls.len() >= 2 {
            // Back in `next` after answering: idle, as Lambda would freeze it.
            rss = rss_kib(pid);
        } else if let Ok(Some(status)) = child.try_wait() {
            failure = Some(format!("exited early with {status}"));
        } else if Instant::now() > deadline {
            failure = Some(format!("no answer within {BOOT_TIMEOUT:?}"));
        } else {
            api.changed(Duration::from_millis(50)).await;
            continue;
        }
        break;
    }
    let _ = child.kill().await;
    let record = api.record();
    let init = record.polls.first().map(|t| t.duration_since(started));
    if let Some(f) = &mut failure {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let _ = write!(f, "\n--- {name} stderr (last lines) ---\n");
        for line in tail.into_iter().rev() {
            let _ = writeln!(f, "{line}");
        }
    }
    let _ = std::fs::remove_file(&log);
    let metrics = match emf_metrics(&std::fs::read_to_string(&out).unwrap_or_default()) {
        Ok(m) => m,
        Err(bad) => {
            failure.get_or_insert(format!("malformed EMF line on stdout: {bad}"));
            Vec::new()
        }
    };
    let _ = std::fs::remove_file(&out);
    Boot {
        init,
        rss_kib: rss,
        record,
        failure,
        metrics,
    }
}

/// The metrics in the EMF lines of `stdout`: every declared metric must carry its value.
fn emf_metrics(stdout: &str) -> Result<Vec<String>, String> {
    let mut found = Vec::new();
    for line in stdout.lines().filter(|l| l.contains("\"_aws\"")) {
        let doc: serde_json::Value = serde_json::from_str(line).map_err(|_| line.to_owned())?;
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .ok_or_else(|| line.to_owned())?;
        for metric in declared {
            let name = metric["Name"].as_str().ok_or_else(|| line.to_owned())?;
            // EMF values are numbers: counts, or durations with a fraction.
            let value = doc[name].as_f64().ok_or_else(|| line.to_owned())?;
            found.push(format!("{name}={}", value.round()));
        }
    }
    Ok(found)
}

/// What the functions need: the secrets (stored in the emulator, given as `*_SECRET_ARN`),
/// push tables and queues, and the @connections endpoint.
async fn function_env(db: &TestDb, connections: std::net::SocketAddr) -> Vec<(String, String)> {
    let client = aws_sdk_secretsmanager::Client::new(&aws_config().await);
    let mut env = vec![
        (
            "AWS_ENDPOINT_URL".to_owned(),
            ticketrush_testkit::aws_backend::endpoint().await,
        ),
        ("AWS_REGION".into(), setting("AWS_REGION", "us-east-1")),
        (
            "AWS_ACCESS_KEY_ID".into(),
            setting("AWS_ACCESS_KEY_ID", "local"),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            setting("AWS_SECRET_ACCESS_KEY", "local"),
        ),
        ("REDIS_KEY_PREFIX".into(), unique("boot")),
        ("RUST_LOG".into(), "warn".into()),
        // Named explicitly, as the template's PaymentGateway parameter does.
        ("PAYMENT_GATEWAY".into(), "sandbox".into()),
    ];
    let secrets = [
        ("DATABASE_URL", db.url.clone()),
        (
            "REDIS_URL",
            setting("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        ),
        ("QUEUE_TOKEN_SECRET", TEST_QUEUE_TOKEN_SECRET.to_owned()),
        ("JWT_SECRET", TEST_JWT_SECRET.to_owned()),
        (
            "PAYMENT_WEBHOOK_SECRET",
            TEST_PAYMENT_WEBHOOK_SECRET.to_owned(),
        ),
    ];
    // Push tables and queues of this run's own, as the template creates them.
    let names = PushResources {
        connections_table: unique("connections-"),
        subscriptions_table: unique("subscriptions-"),
        push_queue: unique("push-"),
        push_dead_letter_queue: unique("push-dlq-"),
        visibility_timeout_secs: 30,
        max_receive_count: 3,
    };
    let sdk = aws_config().await;
    aws::provision(
        &aws_sdk_dynamodb::Client::new(&sdk),
        &aws_sdk_sqs::Client::new(&sdk),
        &names,
    )
    .await
    .expect("provision push tables and queues");
    env.extend([
        ("CONNECTIONS_TABLE".into(), names.connections_table),
        ("SUBSCRIPTIONS_TABLE".into(), names.subscriptions_table),
        ("PUSH_QUEUE_NAME".into(), names.push_queue),
        ("PUSH_DLQ_NAME".into(), names.push_dead_letter_queue),
        (
            "APIGW_MANAGEMENT_ENDPOINT".into(),
            format!("http://{connections}"),
        ),
    ]);
    for (name, value) in secrets {
        let arn = client
            .create_secret()
            .name(unique(&format!(
                "{}-",
                name.to_lowercase().replace('_', "-")
            )))
            .secret_string(value)
            .send()
            .await
            .expect("create secret in the emulator")
            .arn
            .expect("arn");
        env.push((format!("{name}_SECRET_ARN"), arn));
    }
    env
}

fn event_for(name: &str) -> Vec<u8> {
    std::fs::read(root().join("events").join(format!("{name}.json")))
        .unwrap_or_else(|e| panic!("events/{name}.json: {e}"))
}

/// Checks the answer for the kind of event; `None` if it is right.
fn wrong_answer(name: &str, event: &serde_json::Value, boot: &Boot) -> Option<String> {
    let response = boot.record.response.as_ref()?;
    if event.get("methodArn").is_some() {
        // A REQUEST authorizer answers with a policy, Allow or Deny.
        let ok = response["policyDocument"]["Statement"][0]["Effect"].is_string()
            && response["principalId"].is_string();
        return (!ok).then(|| format!("{name}: authorizer policy {response}"));
    }
    if event.get("routeArn").is_some() {
        // An HTTP API Lambda authorizer answers a simple response.
        let ok = response["isAuthorized"].is_boolean();
        return (!ok).then(|| format!("{name}: authorizer simple response {response}"));
    }
    if event.get("requestContext").is_some() {
        let status = response["statusCode"].as_u64().unwrap_or(0);
        return (!(200..500).contains(&status))
            .then(|| format!("{name}: HTTP status {status}: {response}"));
    }
    if event.get("RequestType").is_some() {
        let reported = boot.record.cfn_responses.first();
        let ok = response["success"] == true && reported.is_some_and(|r| r["Status"] == "SUCCESS");
        return (!ok).then(|| format!("{name}: custom resource {response} / {reported:?}"));
    }
    None
}

#[tokio::test]
async fn every_function_boots_under_the_runtime_api_and_answers_its_sample_event() {
    let db = TestDb::new().await;
    // Plays the WebSocket @connections API for the functions that post to it.
    let connections = RuntimeApi::start("connections", Vec::new()).await;
    let env = function_env(&db, connections.addr).await;
    // The sample catalog, so the sample events find concert 1 and its seats.
    let setup = Command::new(local_binary())
        .args(["setup", "--samples"])
        .arg(root().join("samples/catalog.json"))
        .envs(base_env(&db.url))
        .env(
            "REDIS_KEY_PREFIX",
            &env.iter().find(|(k, _)| k == "REDIS_KEY_PREFIX").unwrap().1,
        )
        .stdout(Stdio::null())
        .status()
        .await
        .expect("ticketrush-local setup");
    assert!(setup.success(), "loading the sample catalog failed");
    let mut failures = Vec::new();
    let mut table = String::from(
        "function              init (ms)   idle RSS (MiB)   answer                          metrics (EMF)\n\
         --------------------  ---------   --------------   -----------------------------   -------------\n",
    );
    let mut rows = HashMap::new();
    for name in function_crates() {
        let bin = binary(&name);
        assert!(
            bin.exists(),
            "{} is missing: build the functions first (cargo build --workspace, as make test does)",
            bin.display()
        );
        // The migration custom resource reports to a URL: the stand-in takes that too.
        let mut event_json: serde_json::Value =
            serde_json::from_slice(&event_for(&name)).expect("event JSON");
        let boot = if event_json.get("RequestType").is_some() {
            boot_custom_resource(&name, &bin, &mut event_json, &env).await
        } else {
            boot(&name, &bin, serde_json::to_vec(&event_json).unwrap(), &env).await
        };
        let answer = match (&boot.failure, wrong_answer(&name, &event_json, &boot)) {
            (Some(f), _) => {
                failures.push(format!("{name}: {f}"));
                "FAILED".to_owned()
            }
            (None, Some(wrong)) => {
                failures.push(wrong);
                "WRONG".to_owned()
            }
            (None, None) => match &boot.record.response {
                Some(r) if r.get("statusCode").is_some() => {
                    // A refusal names its problem code, so the table says why.
                    let body: serde_json::Value = r["body"]
                        .as_str()
                        .and_then(|b| serde_json::from_str(b).ok())
                        .unwrap_or_default();
                    match body["code"].as_str() {
                        Some(code) => format!("HTTP {} {code}", r["statusCode"]),
                        None => format!("HTTP {}", r["statusCode"]),
                    }
                }
                Some(r) if r.get("policyDocument").is_some() => {
                    format!("policy {}", r["policyDocument"]["Statement"][0]["Effect"])
                }
                Some(r) if r.get("isAuthorized").is_some() => {
                    format!("isAuthorized {}", r["isAuthorized"])
                }
                Some(_) => "ok".to_owned(),
                None => "none".to_owned(),
            },
        };
        let init_ms = boot
            .init
            .map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
            .unwrap_or_else(|| "-".into());
        let rss = boot
            .rss_kib
            .map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or_else(|| "-".into());
        let metrics = boot.metrics.join(" ");
        let _ = writeln!(
            table,
            "{name:<20}  {init_ms:>9}   {rss:>14}   {answer:<29}   {metrics}"
        );

        rows.insert(name, (boot.init, boot.rss_kib));
    }
    println!("\n{table}");
    let report = profile_dir().join("..").join("boot-check.txt");
    let _ = std::fs::write(&report, &table);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        rows.values()
            .all(|(init, rss)| init.is_some() && rss.is_some())
    );
}

async fn boot_custom_resource(
    name: &str,
    bin: &Path,
    event: &mut serde_json::Value,
    env: &[(String, String)],
) -> Boot {
    // CloudFormation's presigned response URL, played by a second stand-in.
    let reporter = RuntimeApi::start("cfn", Vec::new()).await;
    event["ResponseURL"] = format!("http://{}/cfn-response", reporter.addr).into();
    let mut boot = boot(name, bin, serde_json::to_vec(event).unwrap(), env).await;
    boot.record.cfn_responses = reporter.record().cfn_responses;
    boot
}

#[tokio::test]
async fn a_function_missing_its_configuration_fails_the_boot_check() {
    let name = "search";
    let event = event_for(name);
    let boot = boot(name, &binary(name), event, &[]).await;
    let failure = boot.failure.expect("a boot without DATABASE_URL must fail");
    assert!(failure.contains("exited early"), "{failure}");
    assert!(boot.record.polls.is_empty(), "it never polled for work");
}

#[tokio::test]
async fn a_payment_function_without_an_explicit_gateway_refuses_to_start() {
    let db = TestDb::new().await;
    let connections = RuntimeApi::start("connections", Vec::new()).await;
    let env: Vec<(String, String)> = function_env(&db, connections.addr)
        .await
        .into_iter()
        .filter(|(k, _)| k != "PAYMENT_GATEWAY")
        .collect();
    for name in ["reservations", "payment-webhook", "hold-expire"] {
        let boot = boot(name, &binary(name), event_for(name), &env).await;
        let failure = boot
            .failure
            .unwrap_or_else(|| panic!("{name} started with no PAYMENT_GATEWAY"));
        assert!(failure.contains("exited early"), "{name}: {failure}");
        assert!(failure.contains("PAYMENT_GATEWAY"), "{name}: {failure}");
        assert!(boot.record.polls.is_empty(), "{name} never polled for work");
    }
}
