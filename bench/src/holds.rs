//! `hold-confirm`: buyers who already selected two seats each confirm a hold through the
//! runtime; the raw baseline is pgbench running the same transaction SQL the ledger runs.
//! Every iteration takes fresh seats, and the bench performance is reset before each phase.

use std::{path::Path, process::Stdio, sync::Arc, time::Duration};

use chrono::Utc;
use sqlx::PgPool;
use ticketrush_adapters::{
    config::{Env, RedisConfig},
    redis::{RedisSeatLocks, RedisStore},
};
use ticketrush_core::{
    ConcertId, OptionId, PerformanceKey,
    catalog::{PerformanceDraft, SectionLayout},
    seats::SeatLocks,
};

use crate::{
    load::{Bounds, Measured, drive, token},
    server::{BENCH_REDIS_PREFIX, Server},
    spread::create_bench_concert,
};

const SLUG: &str = "bench-hold-confirm";
const ROWS: u16 = 100;
const SEATS_PER_ROW: u16 = 200;
/// Seat pairs selected ahead of one app phase.
const APP_PAIRS: usize = 4_000;

/// The bench performance: 20,000 seats, on sale, not queue-gated.
async fn bench_option(pool: &PgPool) -> Result<OptionId, Box<dyn std::error::Error>> {
    let existing: Option<i64> = sqlx::query_scalar(
        "SELECT p.id FROM performances p JOIN concerts c ON c.id = p.concert_id WHERE c.slug = $1",
    )
    .bind(SLUG)
    .fetch_optional(pool)
    .await?;
    if let Some(id) = existing {
        sqlx::query("UPDATE performances SET starts_at = now() + interval '30 days' WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?;
        return Ok(OptionId::from_stored(id));
    }
    let performance = PerformanceDraft {
        code: "B1".into(),
        starts_at: Utc::now() + chrono::Duration::days(30),
        hall: "Main".into(),
        sections: vec![SectionLayout {
            name: "B".into(),
            rows: ROWS,
            seats_per_row: SEATS_PER_ROW,
            grade: "R".into(),
            price: 100_000,
        }],
    };
    create_bench_concert(pool, SLUG, "Bench: hold confirm", vec![performance]).await?;
    Box::pin(bench_option(pool)).await
}

/// Every seat AVAILABLE again, no reservations, no soft locks left from the last phase's
/// selections, and Redis agreeing.
async fn reset(
    pool: &PgPool,
    store: &RedisStore,
    locks: &RedisSeatLocks,
    option: OptionId,
) -> Result<(), Box<dyn std::error::Error>> {
    let concert: i64 = sqlx::query_scalar("SELECT concert_id FROM performances WHERE id = $1")
        .bind(option.get())
        .fetch_one(pool)
        .await?;
    let performance = PerformanceKey {
        concert: ConcertId::from_stored(concert),
        option,
    };
    crate::load::delete_keys(store, &format!("seat:{{{concert}}}*")).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE seats SET status = 'AVAILABLE', reservation_id = NULL WHERE performance_id = $1 AND status <> 'AVAILABLE'")
        .bind(option.get())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM reservation_seats WHERE reservation_id IN (SELECT id FROM reservations WHERE performance_id = $1)")
        .bind(option.get())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM reservations WHERE performance_id = $1")
        .bind(option.get())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    locks
        .resync(performance, &[], Duration::from_millis(200))
        .await?;
    Ok(())
}

async fn seat_ids(pool: &PgPool, option: OptionId) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM seats WHERE performance_id = $1 ORDER BY id")
        .bind(option.get())
        .fetch_all(pool)
        .await
}

pub async fn run(
    server: &Server,
    pool: &PgPool,
    concurrency: usize,
    bounds: Bounds,
) -> Result<(Measured, Measured), Box<dyn std::error::Error>> {
    let env = Env::process();
    let store = RedisStore::connect(&RedisConfig {
        key_prefix: BENCH_REDIS_PREFIX.into(),
        ..RedisConfig::from_env(&env)?
    })
    .await?;
    let locks = RedisSeatLocks::new(store.clone());
    let option = bench_option(pool).await?;
    let seats = Arc::new(seat_ids(pool, option).await?);
    // Selected ahead for the app phase: more than the few seconds of a measurement can use
    // here (the runtime confirms a few hundred holds a second on 2 cores), fewer than the
    // whole performance, so the untimed selects stay short.
    let pairs = (seats.len() / 2).min(bounds.max_requests).min(APP_PAIRS);
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();

    reset(pool, &store, &locks, option).await?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let buyers: Arc<Vec<String>> = Arc::new(
        (0..pairs)
            .map(|i| token(&format!("bench-{run_id}-{concurrency}-hold-{i}")))
            .collect(),
    );
    let base = server.base_url.clone();
    // Untimed: every buyer selects its two seats first, so the clock sees only confirms.
    let select_base = format!("{base}/api/options/{option}/seats");
    let select_url = move |seat: i64| format!("{select_base}/{seat}/select");
    let first_failure = Arc::new(std::sync::OnceLock::<String>::new());
    let selected = drive(
        concurrency,
        Bounds {
            duration: Duration::from_secs(60),
            max_requests: pairs * 2,
        },
        {
            let (http, buyers, seats) = (http.clone(), buyers.clone(), seats.clone());
            let first_failure = first_failure.clone();
            move |i| {
                let (http, buyers) = (http.clone(), buyers.clone());
                let first_failure = first_failure.clone();
                let url = select_url(seats[i]);
                async move {
                    let answer = http
                        .post(url)
                        .bearer_auth(&buyers[i / 2])
                        .json(&serde_json::json!({"requestId": format!("s{i}")}))
                        .send()
                        .await;
                    let failure = match answer {
                        Ok(r) if r.status().is_success() => return true,
                        Ok(r) => format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
                        Err(e) => e.to_string(),
                    };
                    let _ = first_failure.set(failure);
                    false
                }
            }
        },
    )
    .await;
    if selected.errors > 0 {
        return Err(format!(
            "{} of the untimed seat selections failed; the first: {}",
            selected.errors,
            first_failure.get().map_or("", String::as_str)
        )
        .into());
    }
    let hold_url = format!("{base}/api/holds");
    let app = drive(
        concurrency,
        Bounds {
            duration: bounds.duration,
            max_requests: pairs,
        },
        {
            let (http, buyers, seats) = (http.clone(), buyers.clone(), seats.clone());
            move |i| {
                let (http, buyers, url) = (http.clone(), buyers.clone(), hold_url.clone());
                let body = serde_json::json!({
                    "optionId": option.get(),
                    "seatIds": [seats[2 * i], seats[2 * i + 1]],
                    "requestId": format!("h{i}"),
                });
                async move {
                    matches!(http.post(url).bearer_auth(&buyers[i]).json(&body).send().await,
                        Ok(r) if r.status() == reqwest::StatusCode::CREATED)
                }
            }
        },
    )
    .await;

    reset(pool, &store, &locks, option).await?;
    // The script takes the next fresh pair from a sequence: one extra tiny statement.
    sqlx::query("DROP SEQUENCE IF EXISTS bench_hold_pair")
        .execute(pool)
        .await?;
    sqlx::query("CREATE SEQUENCE bench_hold_pair")
        .execute(pool)
        .await?;
    let mut raw = pgbench(option, &seats, concurrency, bounds.duration, &run_id).await?;
    // A transaction past the last fresh pair moves nothing: count it as an error.
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reservations WHERE performance_id = $1")
            .bind(option.get())
            .fetch_one(pool)
            .await?;
    raw.errors = raw.requests.saturating_sub(held as usize);
    reset(pool, &store, &locks, option).await?;
    Ok((app, raw))
}

/// The ledger's hold transaction, as `PostgresReservations::hold` runs it, on the next
/// fresh pair of seats.
const HOLD_SCRIPT: &str = r#"SELECT nextval('bench_hold_pair') - 1 AS pair \gset
\set s1 :first_seat + 2 * :pair
\set s2 :s1 + 1
BEGIN;
INSERT INTO reservations (user_id, request_id, fingerprint, concert_id, performance_id, status, hold_expires_at)
  SELECT 'pgbench-:run-:pair', 'h:pair', ':option::s1,:s2', concert_id, id, 'HOLD', now() + interval '10 minutes'
  FROM performances WHERE id = :option
  ON CONFLICT (user_id, request_id) DO NOTHING
  RETURNING id AS reservation \gset
WITH moved AS (
  UPDATE seats SET status = 'HOLD', reservation_id = ':reservation'::uuid, updated_at = now()
  WHERE id IN (SELECT id FROM seats WHERE performance_id = :option AND id = ANY(ARRAY[:s1, :s2]::bigint[]) ORDER BY id FOR UPDATE)
    AND status = 'AVAILABLE'
  RETURNING id)
SELECT count(*) AS moved FROM moved \gset
\if :moved = 2
INSERT INTO reservation_seats (reservation_id, seat_id) SELECT ':reservation'::uuid, unnest(ARRAY[:s1, :s2]::bigint[]);
COMMIT;
\else
ROLLBACK;
\endif
"#;

/// pgbench at the same concurrency (capped below the server's connection limit) for the
/// measurement's duration, every transaction on the next fresh pair of seats;
/// per-transaction latencies from its log.
async fn pgbench(
    option: OptionId,
    seats: &[i64],
    concurrency: usize,
    duration: Duration,
    run_id: &str,
) -> Result<Measured, Box<dyn std::error::Error>> {
    let first = seats[0];
    if seats.last().copied() != Some(first + seats.len() as i64 - 1) {
        return Err("the bench performance's seat ids are not contiguous".into());
    }
    let clients = concurrency.min(64);
    let dir = std::env::temp_dir().join(format!("ticketrush-pgbench-{run_id}-{concurrency}"));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("hold.sql");
    std::fs::write(&script, HOLD_SCRIPT)?;
    let url = std::env::var("DATABASE_URL")?;
    let started = std::time::Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("pgbench")
            .current_dir(&dir)
            .args(["-n", "-j", "2", "-l", "--log-prefix", "hold"])
            .arg("-c")
            .arg(clients.to_string())
            .arg("-T")
            .arg(duration.as_secs().max(1).to_string())
            .arg("-D")
            .arg(format!("option={}", option.get()))
            .arg("-D")
            .arg(format!("first_seat={first}"))
            .arg("-D")
            .arg(format!("run={run_id}"))
            .arg("-f")
            .arg(&script)
            .arg(&url)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output(),
    )
    .await??;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("pgbench failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let (latencies_us, seconds) = read_logs(&dir, seconds)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Measured {
        requests: latencies_us.len(),
        errors: 0,
        seconds,
        latencies_us,
    })
}

/// Latencies (third column, µs) from pgbench's per-transaction logs, and the span the
/// transactions covered (from the log's epoch timestamps), which leaves out pgbench's start.
fn read_logs(dir: &Path, fallback_secs: f64) -> std::io::Result<(Vec<u64>, f64)> {
    let mut latencies = Vec::new();
    let (mut first, mut last) = (f64::MAX, f64::MIN);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("hold."))
        {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                continue;
            }
            let (Ok(lat), Ok(sec), Ok(usec)) = (
                f[2].parse::<u64>(),
                f[4].parse::<f64>(),
                f[5].parse::<f64>(),
            ) else {
                continue;
            };
            let end = sec + usec / 1e6;
            latencies.push(lat);
            first = first.min(end - lat as f64 / 1e6);
            last = last.max(end);
        }
    }
    latencies.sort_unstable();
    let span = if last > first {
        last - first
    } else {
        fallback_secs
    };
    Ok((latencies, span))
}
