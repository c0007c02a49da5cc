use std::path::Path;

use serde::Serialize;

use crate::{
    coldstart::ColdStart,
    load::Measured,
    push::{Coalescing, FanoutRow},
};

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
        "seat-select-spread" => {
            "as seat-select, but iteration i clicks in performance i mod 64 of a bench concert (64 performances of 200 seats); raw: the same two Lua scripts through redis-rs on the same seats"
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

/// Everything one run measured.
#[derive(Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub rows: Vec<Row>,
    /// The emulator's SQS `SendMessage` alone, at the `seat-select-spread` levels.
    pub emulator_sends: Vec<(usize, Stats)>,
    pub fanout: Vec<FanoutRow>,
    pub coalescing: Option<Coalescing>,
    pub cold_start: Vec<ColdStart>,
    pub surge: Vec<crate::surge::Surge>,
    pub peak_rss_kib: Option<u64>,
    /// The 1-minute load average, sampled every 5 s during the run.
    pub load_averages: Vec<f64>,
    /// Wall time of each scenario, drains and setup included, then of the whole run.
    pub wall_seconds: Vec<(String, f64)>,
}

pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("unknown".into(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "not met" }
}

/// The issue's targets, each with the figure this run measured.
fn targets(r: &Report) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    for scenario in ["seat-select", "seat-select-spread", "queue-join"] {
        let rows: Vec<&Row> = r.rows.iter().filter(|x| x.scenario == scenario).collect();
        if rows.is_empty() {
            continue;
        }
        let ratios: Vec<String> = rows
            .iter()
            .map(|x| format!("{:.2} at {}", x.ratio, x.concurrency))
            .collect();
        out.push((
            format!("`{scenario}` req/s ≥ 0.4 × raw Redis at equal concurrency"),
            ratios.join(", "),
            verdict(rows.iter().all(|x| x.ratio >= 0.4)),
        ));
        if let Some(x) = rows.iter().find(|x| x.concurrency == 64) {
            out.push((
                format!("`{scenario}` p99 ≤ 5 ms at 64 clients"),
                format!("{:.2} ms", x.app.p99_ms),
                verdict(x.app.p99_ms <= 5.0),
            ));
        }
    }
    let holds: Vec<&Row> = r
        .rows
        .iter()
        .filter(|x| x.scenario == "hold-confirm")
        .collect();
    if !holds.is_empty() {
        out.push((
            "`hold-confirm` req/s ≥ 0.5 × pgbench".into(),
            holds
                .iter()
                .map(|x| format!("{:.2} at {}", x.ratio, x.concurrency))
                .collect::<Vec<_>>()
                .join(", "),
            verdict(holds.iter().all(|x| x.ratio >= 0.5)),
        ));
    }
    if let Some(f) = r.fanout.iter().find(|f| f.clients == 10_000) {
        let all = f.app.received == f.clients;
        out.push((
            "`fanout` to 10,000 clients: the last receives within 1 s".into(),
            format!(
                "{:.0} ms ({} of {} received)",
                f.app.max_ms, f.app.received, f.clients
            ),
            verdict(all && f.app.max_ms <= 1000.0),
        ));
    } else if r.coalescing.is_some() {
        out.push((
            "`fanout` to 10,000 clients: the last receives within 1 s".into(),
            "10,000 level not run".into(),
            "not met",
        ));
    }
    let booted: Vec<&ColdStart> = r
        .cold_start
        .iter()
        .filter(|c| c.init_ms.is_some())
        .collect();
    if !r.cold_start.is_empty() {
        let failed = r.cold_start.len() - booted.len();
        let slowest = booted.iter().max_by(|a, b| {
            a.init_ms
                .unwrap_or(0.0)
                .total_cmp(&b.init_ms.unwrap_or(0.0))
        });
        let biggest = booted.iter().max_by_key(|c| c.idle_rss_kib.unwrap_or(0));
        let over_init = booted
            .iter()
            .filter(|c| c.init_ms.unwrap_or(0.0) > 10.0)
            .count();
        let over_rss = booted
            .iter()
            .filter(|c| c.idle_rss_kib.unwrap_or(0) * 1024 > 15_000_000)
            .count();
        out.push((
            "function init (spawn to first poll) ≤ 10 ms".into(),
            slowest.map_or("none booted".into(), |c| {
                format!(
                    "slowest {} {:.1} ms; {over_init} of {} over; {failed} failed to boot",
                    c.function,
                    c.init_ms.unwrap_or(0.0),
                    booted.len()
                )
            }),
            verdict(failed == 0 && over_init == 0),
        ));
        out.push((
            "function idle RSS ≤ 15 MB (14.3 MiB)".into(),
            biggest.map_or("none booted".into(), |c| {
                format!(
                    "largest {} {}; {over_rss} of {} over",
                    c.function,
                    mib(c.idle_rss_kib),
                    booted.len()
                )
            }),
            verdict(failed == 0 && over_rss == 0),
        ));
    }
    out
}

pub fn write(dir: &Path, r: &Report) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let (cores, cpu) = machine();
    let commit = commit();
    let when = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let json = serde_json::json!({
        "commit": commit, "at": when, "cores": cores, "cpu": cpu, "report": r,
        "targets": targets(r).iter().map(|(t, m, v)| serde_json::json!({"target": t, "measured": m, "verdict": v})).collect::<Vec<_>>(),
    });
    std::fs::write(
        dir.join("latest.json"),
        serde_json::to_string_pretty(&json)?,
    )?;

    let load = if r.load_averages.is_empty() {
        "unknown".to_owned()
    } else {
        let max = r.load_averages.iter().copied().fold(f64::MIN, f64::max);
        let mean = r.load_averages.iter().sum::<f64>() / r.load_averages.len() as f64;
        format!(
            "mean {mean:.2}, max {max:.2} over {} samples",
            r.load_averages.len()
        )
    };
    let walls = r
        .wall_seconds
        .iter()
        .map(|(s, t)| format!("{s} {t:.0} s"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut md = format!(
        "# ticketrush bench\n\ncommit `{commit}`, {when}, {cores} cores, {cpu}\n\n\
         Load average (1 min, sampled every 5 s during the run): {load}\n\n\
         Peak RSS of ticketrush-local: {}\n\n\
         Wall time: {walls}\n\n",
        mib(r.peak_rss_kib)
    );
    if !r.rows.is_empty() {
        md.push_str(
            "| scenario | conc. | req/s | p50 ms | p95 ms | p99 ms | max ms | errors | raw req/s | raw p99 ms | ratio |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for x in &r.rows {
            md.push_str(&format!(
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} | {:.0} | {:.2} | {:.2} |\n",
                x.scenario,
                x.concurrency,
                x.app.rps,
                x.app.p50_ms,
                x.app.p95_ms,
                x.app.p99_ms,
                x.app.max_ms,
                x.app.errors,
                x.raw.rps,
                x.raw.p99_ms,
                x.ratio
            ));
        }
        md.push_str("\nBaselines, measured in the same run at the same concurrency:\n\n");
        let mut seen = Vec::new();
        for x in &r.rows {
            if !seen.contains(&x.scenario) {
                md.push_str(&format!("- {}: {}\n", x.scenario, baseline(&x.scenario)));
                seen.push(x.scenario.clone());
            }
        }
    }
    if !r.emulator_sends.is_empty() {
        md.push_str(
            "\n## The emulator's SQS send\n\n\
             A click that opens its performance's flush window sends one SQS message before it \
             answers; in `seat-select-spread` most clicks do. This is moto's `SendMessage` alone \
             at the same concurrency, in the same run (in AWS, SQS takes this load without \
             queueing).\n\n\
             | conc. | sends/s | p50 ms | p99 ms | max ms | errors |\n\
             | --- | --- | --- | --- | --- | --- |\n",
        );
        for (c, s) in &r.emulator_sends {
            md.push_str(&format!(
                "| {c} | {:.0} | {:.2} | {:.2} | {:.2} | {} |\n",
                s.rps, s.p50_ms, s.p99_ms, s.max_ms, s.errors
            ));
        }
    }
    if !r.fanout.is_empty() {
        md.push_str(
            "\n## Fan-out: one CONCERTS_REFRESH to every socket on `concerts.live`\n\n\
             Per socket, from the start of the publish call to the frame's arrival (ms). `last` is the \
             slowest socket, i.e. when the last one had it. Of 3 rounds per level, the round with the \
             median `last` is shown (all rounds are in latest.json).\n\n\
             | clients | received | publish ms | first ms | p50 ms | p99 ms | last ms | raw p50 ms | raw p99 ms | raw last ms | DynamoDB read ms | connect s | local peak RSS |\n\
             | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
        );
        for f in &r.fanout {
            md.push_str(&format!(
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} |\n",
                f.clients,
                f.app.received,
                f.app.publish_ms,
                f.app.first_ms,
                f.app.p50_ms,
                f.app.p99_ms,
                f.app.max_ms,
                f.raw.p50_ms,
                f.raw.p99_ms,
                f.raw.max_ms,
                f.subscriber_read_ms,
                f.connect_s,
                mib(f.server_peak_rss_kib)
            ));
        }
        md.push_str(
            "\n- Path: `SqsPushPublisher` sends the event to the emulator's SQS (`publish ms`); a \
             ticketrush-local receive loop hands it to push-dispatch, which reads the cards from \
             PostgreSQL and every subscriber of the `concerts.live` shards from the emulator's \
             DynamoDB, then posts the frame to each connection through `@connections` (HTTP on \
             loopback, SDK-signed) and the runtime writes it to the socket.\n\
             - `DynamoDB read ms`: the bench reading all those subscribers itself right after the \
             level, page by page, as push-dispatch does: the emulator's share of one delivery (the \
             SQS receive wait is within `first ms`).\n\
             - raw: the same number of sockets on a bare tokio-tungstenite server in a child \
             process, one `tokio::sync::broadcast` of a frame of similar size written to every \
             socket when the bench writes it to the child's stdin. No queue, no store, no \
             `@connections`.\n",
        );
    }
    if !r.surge.is_empty() {
        md.push_str(
            "\n## Surge\n\n\
             Distinct buyers arrive at once on one OPEN queue-gated concert: join, poll status every \
             500 ms until admitted by the real tick, click seats of one performance (the next on \
             409), hold. The runtime's active cap is above the cohort. 4xx are by problem code.\n\n```\n",
        );
        for s in &r.surge {
            for line in crate::surge::lines(s) {
                md.push_str(&line);
                md.push('\n');
            }
        }
        md.push_str("```\n");
    }
    if let Some(c) = &r.coalescing {
        md.push_str(&format!(
            "\n## Seat-map coalescing\n\n\
             | clicks | seconds clicking | SEAT_STATUS messages | seat changes carried | messages per 1,000 clicks |\n\
             | --- | --- | --- | --- | --- |\n\
             | {} | {:.1} | {} | {} | {:.1} |\n\n\
             One socket subscribed to `seats.{{optionId}}` of the hot performance while 500 buyers, \
             one starting every 10 ms and at most 16 at a time, select and release a seat each \
             through the runtime (a 409 is one click).\n",
            c.clicks,
            c.click_seconds,
            c.messages,
            c.seat_changes_carried,
            c.messages_per_1000_clicks
        ));
    }
    if !r.cold_start.is_empty() {
        md.push_str(
            "\n## Cold start\n\n\
             Each function binary (optimised build, the `bench-release` profile) under a minimal Runtime API stub: spawn to its first \
             `GET /2018-06-01/runtime/invocation/next` (median of 3 boots), and its RSS while it \
             waits in that poll, before any event.\n\n\
             | function | init ms | each boot ms | idle RSS | note |\n| --- | --- | --- | --- | --- |\n",
        );
        for c in &r.cold_start {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                c.function,
                c.init_ms.map_or("-".into(), |v| format!("{v:.1}")),
                c.init_ms_each
                    .iter()
                    .map(|v| format!("{v:.1}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                mib(c.idle_rss_kib),
                c.failure.as_deref().unwrap_or("")
            ));
        }
    }
    let t = targets(r);
    if !t.is_empty() {
        md.push_str("\n## Targets\n\n| target | measured | verdict |\n| --- | --- | --- |\n");
        for (target, measured, v) in t {
            md.push_str(&format!("| {target} | {measured} | {v} |\n"));
        }
    }
    std::fs::write(dir.join("latest.md"), md)
}
