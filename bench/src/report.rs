use std::path::Path;

use serde::Serialize;

use crate::load::Measured;

#[derive(Serialize)]
pub struct Stats {
    pub requests: usize,
    pub errors: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl From<&Measured> for Stats {
    fn from(m: &Measured) -> Self {
        Self {
            requests: m.requests,
            errors: m.errors,
            rps: m.rps(),
            p50_ms: m.percentile_ms(0.50),
            p95_ms: m.percentile_ms(0.95),
            p99_ms: m.percentile_ms(0.99),
            max_ms: m.percentile_ms(1.0),
        }
    }
}

#[derive(Serialize)]
pub struct Row {
    pub scenario: String,
    pub concurrency: usize,
    pub app: Stats,
    pub raw: Stats,
    pub ratio: f64,
}

impl Row {
    pub fn new(scenario: &str, concurrency: usize, app: Measured, raw: Measured) -> Self {
        let (app, raw) = (Stats::from(&app), Stats::from(&raw));
        Self {
            scenario: scenario.into(),
            concurrency,
            ratio: if raw.rps > 0.0 {
                app.rps / raw.rps
            } else {
                0.0
            },
            app,
            raw,
        }
    }
}

fn baseline(scenario: &str) -> &'static str {
    match scenario {
        "search" => "the same listing SQL through sqlx (PostgresCatalog), no HTTP",
        "queue-join" => {
            "the same join Lua script by EVALSHA through redis-rs (RedisWaitingRoom), no HTTP"
        }
        "seat-select" => {
            "one iteration = select then release (2 requests); raw: the same select and release Lua scripts through redis-rs (RedisSeatLocks), no HTTP"
        }
        "hold-confirm" => {
            "one iteration = POST /api/holds for two seats the buyer selected beforehand (untimed), fresh seats each time; raw: pgbench (clients capped at 64) running the ledger's hold transaction (reservation insert, conditional seat update, reservation_seats) on fresh pairs, plus one nextval for the pair"
        }
        _ => "",
    }
}

pub fn line(scenario: &str, c: usize, app: &Measured, raw: &Measured) -> String {
    format!(
        "{scenario:<11} c={c:<4} app {:>8.0} req/s p50 {:>6.2} ms p99 {:>6.2} ms err {} | raw {:>8.0} req/s p99 {:>6.2} ms | ratio {:.2}",
        app.rps(),
        app.percentile_ms(0.5),
        app.percentile_ms(0.99),
        app.errors,
        raw.rps(),
        raw.percentile_ms(0.99),
        app.rps() / raw.rps().max(f64::MIN_POSITIVE)
    )
}

fn machine() -> (usize, String) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    (cores, cpu)
}

fn commit() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

pub fn write(dir: &Path, rows: &[Row], peak_rss_kib: Option<u64>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let (cores, cpu) = machine();
    let commit = commit();
    let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let json = serde_json::json!({
        "commit": commit, "at": when, "cores": cores, "cpu": cpu,
        "peakRssKib": peak_rss_kib, "rows": rows,
    });
    std::fs::write(
        dir.join("latest.json"),
        serde_json::to_string_pretty(&json)?,
    )?;

    let mut md = format!(
        "# ticketrush bench\n\ncommit `{commit}`, {when}, {cores} cores, {cpu}\n\n\
         Peak RSS of ticketrush-local: {}\n\n\
         | scenario | conc. | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | raw req/s | raw p99 ms | ratio |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        peak_rss_kib.map_or("unknown".into(), |k| format!(
            "{:.1} MiB",
            k as f64 / 1024.0
        ))
    );
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} |\n",
            r.scenario,
            r.concurrency,
            r.app.rps,
            r.app.p50_ms,
            r.app.p95_ms,
            r.app.p99_ms,
            r.app.max_ms,
            r.app.errors,
            r.raw.rps,
            r.raw.p99_ms,
            r.ratio
        ));
    }
    md.push_str("\nBaselines, measured in the same run at the same concurrency:\n\n");
    let mut seen = Vec::new();
    for r in rows {
        if !seen.contains(&r.scenario) {
            md.push_str(&format!("- {}: {}\n", r.scenario, baseline(&r.scenario)));
            seen.push(r.scenario.clone());
        }
    }
    std::fs::write(dir.join("latest.md"), md)
}
