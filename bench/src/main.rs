//! `ticketrush-bench`: starts `ticketrush-local`, runs each scenario at a few concurrency
//! levels from this separate process, measures the raw store doing the same work in the
//! same run, and writes `bench/results/latest.{md,json}`. Loopback only; every loop is
//! bounded in count and time.

mod holds;
mod load;
mod report;
mod server;

use std::{path::PathBuf, time::Duration};

use clap::Parser;

#[derive(Parser)]
#[command(name = "ticketrush-bench")]
struct Args {
    /// The release `ticketrush-local` binary.
    #[arg(long)]
    server: PathBuf,
    /// `all`, or one of: search, queue-join, seat-select, hold-confirm.
    #[arg(long, default_value = "all")]
    scenario: String,
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

pub const SCENARIOS: &[&str] = &["search", "queue-join", "seat-select", "hold-confirm"];

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let chosen: Vec<&str> = if args.scenario == "all" {
        SCENARIOS.to_vec()
    } else {
        let s = SCENARIOS
            .iter()
            .find(|s| **s == args.scenario)
            .ok_or_else(|| {
                format!(
                    "unknown scenario {:?}; one of {SCENARIOS:?} or all",
                    args.scenario
                )
            })?;
        vec![*s]
    };
    let bounds = load::Bounds {
        duration: Duration::from_secs(args.seconds),
        max_requests: args.max_requests,
    };
    let server = server::Server::start(&args.server).await?;
    println!("ticketrush-local (release) at {}", server.base_url);
    let mut rows = Vec::new();
    for scenario in chosen {
        for &c in &args.concurrency {
            let (app, raw) = load::run(scenario, &server, c, bounds).await?;
            println!("{}", report::line(scenario, c, &app, &raw));
            rows.push(report::Row::new(scenario, c, app, raw));
        }
    }
    let peak_rss_kib = server.peak_rss_kib();
    server.stop().await;
    report::write(&args.out, &rows, peak_rss_kib)?;
    println!("report: {}", args.out.join("latest.md").display());
    Ok(())
}
