//! `ticketrush-bench`: starts `ticketrush-local`, runs each scenario at a few concurrency
//! levels from this separate process, measures the raw store doing the same work in the
//! same run, and writes `bench/results/latest.{md,json}`. Loopback only; every loop is
//! bounded in count and time.

mod coldstart;
mod holds;
mod limits;
mod load;
mod push;
mod report;
mod server;
mod spread;
mod surge;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use clap::Parser;

#[derive(Parser)]
#[command(name = "ticketrush-bench")]
struct Args {
    /// The optimised (`bench-release`) `ticketrush-local` binary.
    #[arg(long, required_unless_present = "broadcast_server")]
    server: Option<PathBuf>,
    /// `all`, or a comma-separated list of the scenarios (see SCENARIOS).
    #[arg(long, value_delimiter = ',', default_value = "all")]
    scenario: Vec<String>,
    /// Runs the bare WebSocket broadcast server the `fanout` baseline measures, instead.
    #[arg(long, hide = true)]
    broadcast_server: bool,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "16,64,256")]
    concurrency: Vec<usize>,
    /// Time bound per measurement.
    #[arg(long, default_value_t = 4)]
    seconds: u64,
    /// Count bound per measurement.
    #[arg(long, default_value_t = 100_000)]
    max_requests: usize,
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

/// In run order. cold-start goes first, while the machine is quiet: init is a few
/// milliseconds of CPU, and the emulator still working off `fanout` would be measured too.
pub const SCENARIOS: &[&str] = &[
    "cold-start",
    "search",
    "queue-join",
    "seat-select",
    "seat-select-spread",
    "hold-confirm",
    "fanout",
    "surge",
];

/// Bound on waiting for the push work of one measurement to finish before the next.
const DRAIN_BOUND: Duration = Duration::from_secs(120);

/// Samples the 1-minute load average every 5 s until aborted.
fn watch_load(samples: Arc<Mutex<Vec<f64>>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Some(l) = report::load_average() {
                samples.lock().expect("samples").push(l);
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    })
}

/// The named scenarios in the order of SCENARIOS; `all` is every one.
fn chosen_scenarios(named: &[String]) -> Result<Vec<&'static str>, String> {
    if let Some(unknown) = named
        .iter()
        .find(|n| *n != "all" && !SCENARIOS.contains(&n.as_str()))
    {
        return Err(format!(
            "unknown scenario {unknown:?}; one or more of {SCENARIOS:?}, or all"
        ));
    }
    let all = named.iter().any(|n| n == "all");
    Ok(SCENARIOS
        .iter()
        .copied()
        .filter(|s| all || named.iter().any(|n| n == s))
        .collect())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.broadcast_server {
        return push::broadcast_server().await;
    }
    let server_binary = args.server.ok_or("--server is required")?;
    let chosen = chosen_scenarios(&args.scenario)?;
    let open_files = limits::raise_open_files();
    let bounds = load::Bounds {
        duration: Duration::from_secs(args.seconds),
        max_requests: args.max_requests,
    };
    let load_samples = Arc::new(Mutex::new(Vec::new()));
    let watcher = watch_load(load_samples.clone());
    // Push tables and queue of this run's own: nothing else consumes its events.
    let names = push::PushNames::new("run");
    let server = server::Server::start(&server_binary, &names.env()).await?;
    println!(
        "ticketrush-local (bench-release) at {}; open-file limit {open_files}",
        server.base_url
    );
    let mut report = report::Report::default();
    let run_started = std::time::Instant::now();
    for scenario in chosen {
        let scenario_started = std::time::Instant::now();
        match scenario {
            "fanout" => {
                // The coalescing count needs the push queue to itself.
                push::drain(&names, DRAIN_BOUND).await;
                let hot = load::hot_target().await?;
                let concert = hot.concert;
                let coalescing = push::coalescing(&server, hot).await?;
                println!(
                    "coalescing: {} clicks in {:.1} s -> {} SEAT_STATUS messages",
                    coalescing.clicks, coalescing.click_seconds, coalescing.messages
                );
                report.coalescing = Some(coalescing);
                report.fanout = push::fanout(&server_binary, concert, open_files).await?;
            }
            "surge" => {
                let pool = ticketrush_adapters::postgres::connect_lazy(
                    &ticketrush_adapters::config::PostgresConfig {
                        max_connections: 2,
                        ..ticketrush_adapters::config::PostgresConfig::from_env(
                            &ticketrush_adapters::config::Env::process(),
                        )?
                    },
                )?;
                let mut taken = Vec::new();
                for &buyers in surge::COHORTS {
                    push::drain(&names, DRAIN_BOUND).await;
                    let run = surge::run(&server, &pool, buyers, &mut taken).await?;
                    for line in surge::lines(&run) {
                        println!("{line}");
                    }
                    report.surge.push(run);
                }
            }
            "cold-start" => {
                let bin_dir = server_binary.parent().unwrap_or(Path::new("."));
                // ws-message and push-dispatch need an `@connections` endpoint to boot.
                let mut env = names.env();
                env.push(("APIGW_MANAGEMENT_ENDPOINT", server.base_url.clone()));
                report.cold_start = coldstart::run(bin_dir, Path::new("."), &env).await;
            }
            _ => {
                for &c in &args.concurrency {
                    let (waited, backlog) = push::drain(&names, DRAIN_BOUND).await;
                    if backlog > push::IDLE_QUEUE {
                        println!(
                            "push queue: {backlog} messages left by the last measurement, drained in {waited:.1} s"
                        );
                    }
                    let measured_from = std::time::Instant::now();
                    let (app, raw) = load::run(scenario, &server, c, bounds).await?;
                    println!(
                        "{} ({:.0} s with setup)",
                        report::line(scenario, c, &app, &raw),
                        measured_from.elapsed().as_secs_f64()
                    );
                    report.rows.push(report::Row::new(scenario, c, app, raw));
                    if scenario == "search" {
                        println!("{}", load::search_cache(c, bounds).await?);
                    }
                    if scenario == "seat-select-spread" {
                        let sends = push::sqs_send(c, bounds).await?;
                        println!(
                            "emulator SQS send c={c}: {:.0} sends/s, p99 {:.2} ms",
                            sends.rps(),
                            sends.percentile_ms(0.99)
                        );
                        report.emulator_sends.push((c, report::Stats::from(&sends)));
                    }
                }
            }
        }
        let took = scenario_started.elapsed().as_secs_f64();
        println!("{scenario}: {took:.0} s");
        report.wall_seconds.push((scenario.to_owned(), took));
    }
    report
        .wall_seconds
        .push(("total".to_owned(), run_started.elapsed().as_secs_f64()));
    report.peak_rss_kib = server.peak_rss_kib();
    server.stop().await;
    names.remove().await;
    watcher.abort();
    report.load_averages = load_samples.lock().expect("samples").clone();
    report::write(&args.out, &report)?;
    println!("report: {}", args.out.join("latest.md").display());
    Ok(())
}
