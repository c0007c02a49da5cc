//! `surge`: the opening minute. A cohort of distinct buyers (tokens signed before the clock
//! starts) arrives at once on one OPEN queue-gated concert: each joins the queue, polls its
//! status until the admission tick lets it in, clicks seats of one performance (the next
//! one on 409) and confirms a hold. The runtime runs with the active cap above the cohort,
//! so every buyer is admitted by the ticks rather than waiting for tokens to expire.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use reqwest::{Client, Method};
use serde_json::{Value, json};
use sqlx::PgPool;
use ticketrush_core::{ConcertId, OptionId};

use crate::{load::token, server::Server};

/// Cohorts measured, and the fresh seats each is offered.
pub const COHORTS: &[usize] = &[1_000, 5_000];
pub const SEATS_OFFERED: usize = 10;
/// Bound on one buyer's wait for admission.
const ADMISSION_BOUND: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(500);

/// One step's answers.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Step {
    pub requests: u64,
    pub ok: u64,
    /// 4xx answers by their problem `code`.
    pub client_errors: BTreeMap<String, u64>,
    pub server_errors: u64,
    /// Transport failures (no answer at all).
    pub failed: u64,
    #[serde(skip)]
    latencies_us: Vec<u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// What one cohort saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Surge {
    pub buyers: usize,
    pub seats_offered: usize,
    pub holds: u64,
    pub first_join_to_last_hold_s: f64,
    pub steps: BTreeMap<&'static str, Step>,
    /// PostgreSQL transactions committed or rolled back in the bench database during the
    /// run, per click: holds and the ticks are in it too, so it bounds the clicks' share.
    pub pg_transactions: i64,
    pub pg_transactions_per_click: f64,
}

#[derive(Default)]
struct Steps(Mutex<BTreeMap<&'static str, Step>>);

impl Steps {
    fn record(&self, step: &'static str, status: Option<u16>, code: Option<&str>, took: Duration) {
        let mut all = self.0.lock().expect("steps");
        let s = all.entry(step).or_default();
        s.requests += 1;
        s.latencies_us.push(took.as_micros() as u64);
        match status {
            None => s.failed += 1,
            Some(200..=299) => s.ok += 1,
            Some(400..=499) => {
                *s.client_errors
                    .entry(code.unwrap_or("(none)").to_owned())
                    .or_default() += 1;
            }
            Some(_) => s.server_errors += 1,
        }
    }
}

struct Buyer {
    client: Client,
    base: String,
    bearer: String,
    steps: Arc<Steps>,
}

impl Buyer {
    async fn call(
        &self,
        step: &'static str,
        method: Method,
        path: &str,
        queue_token: Option<&str>,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.bearer);
        if let Some(t) = queue_token {
            req = req.header("X-Queue-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let started = Instant::now();
        let answer = match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                Some((status, resp.json().await.unwrap_or(Value::Null)))
            }
            Err(_) => None,
        };
        let code = answer
            .as_ref()
            .and_then(|(_, b)| b["code"].as_str().map(str::to_owned));
        self.steps.record(
            step,
            answer.as_ref().map(|(s, _)| *s),
            code.as_deref(),
            started.elapsed(),
        );
        answer
    }

    /// The whole walk; true if it ended with a hold.
    async fn buy(&self, concert: ConcertId, option: OptionId, seats: &[i64], tag: &str) -> bool {
        let queue = format!("/api/queue/{concert}");
        let Some((200, mut view)) = self
            .call("join", Method::POST, &format!("{queue}/join"), None, None)
            .await
        else {
            return false;
        };
        let admitted_by = Instant::now() + ADMISSION_BOUND;
        while view["status"] != "ACTIVE" {
            if Instant::now() > admitted_by {
                return false;
            }
            tokio::time::sleep(POLL).await;
            match self
                .call(
                    "status",
                    Method::GET,
                    &format!("{queue}/status"),
                    None,
                    None,
                )
                .await
            {
                Some((200, next)) => view = next,
                _ => continue,
            }
        }
        let Some(token) = view["activeToken"].as_str().map(str::to_owned) else {
            return false;
        };
        for seat in seats {
            let answer = self
                .call(
                    "select",
                    Method::POST,
                    &format!("/api/options/{option}/seats/{seat}/select"),
                    Some(&token),
                    Some(json!({"requestId": format!("{tag}-s{seat}")})),
                )
                .await;
            if let Some((200, _)) = answer {
                let held = self
                    .call(
                        "hold",
                        Method::POST,
                        "/api/holds",
                        Some(&token),
                        Some(json!({"optionId": option.get(), "seatIds": [seat], "requestId": format!("{tag}-hold")})),
                    )
                    .await;
                return matches!(held, Some((201, _)));
            }
        }
        false
    }
}

async fn pg_transactions(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await
}

/// An OPEN queue-gated concert and `SEATS_OFFERED` seats of one of its performances that no
/// one holds, selects or has bought.
async fn fresh_seats(
    pool: &PgPool,
    avoid: &[i64],
) -> Result<(ConcertId, OptionId, Vec<i64>), Box<dyn std::error::Error>> {
    let (concert, option): (i64, i64) = sqlx::query_as(
        r#"SELECT c.id, p.id FROM concerts c
           JOIN sales_policies s ON s.concert_id = c.id
           JOIN performances p ON p.concert_id = c.id
           WHERE s.queue_gated AND s.general_sale_starts_at <= now()
             AND (s.sale_ends_at IS NULL OR s.sale_ends_at > now()) AND p.starts_at > now()
           ORDER BY c.id, p.starts_at DESC LIMIT 1"#,
    )
    .fetch_one(pool)
    .await?;
    let seats: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM seats WHERE performance_id = $1 AND status = 'AVAILABLE' AND NOT (id = ANY($2)) ORDER BY id DESC LIMIT $3",
    )
    .bind(option)
    .bind(avoid)
    .bind(SEATS_OFFERED as i64)
    .fetch_all(pool)
    .await?;
    Ok((
        ConcertId::from_stored(concert),
        OptionId::from_stored(option),
        seats,
    ))
}

fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

/// One cohort through the runtime.
pub async fn run(
    server: &Server,
    pool: &PgPool,
    buyers: usize,
    avoid: &mut Vec<i64>,
) -> Result<Surge, Box<dyn std::error::Error>> {
    let (concert, option, seats) = fresh_seats(pool, avoid).await?;
    avoid.extend(&seats);
    let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();
    let steps = Arc::new(Steps::default());
    // Signed and connected before the clock starts; one client (and connection) per buyer.
    let cohort: Vec<Buyer> = (0..buyers)
        .map(|i| Buyer {
            client: Client::new(),
            base: server.base_url.clone(),
            bearer: token(&format!("surge-{run_id}-{i}")),
            steps: steps.clone(),
        })
        .collect();
    let seats = Arc::new(seats);
    let before = pg_transactions(pool).await?;
    let started = Instant::now();
    let last_hold = Arc::new(Mutex::new(None::<Instant>));
    let walks: Vec<_> = cohort
        .into_iter()
        .enumerate()
        .map(|(i, buyer)| {
            let (seats, last_hold) = (seats.clone(), last_hold.clone());
            let tag = format!("{run_id}-{i}");
            tokio::spawn(async move {
                let held = buyer.buy(concert, option, &seats, &tag).await;
                if held {
                    *last_hold.lock().expect("last hold") = Some(Instant::now());
                }
                held
            })
        })
        .collect();
    let mut holds = 0;
    for walk in walks {
        if walk.await? {
            holds += 1;
        }
    }
    let transactions = pg_transactions(pool).await? - before;
    let took = last_hold
        .lock()
        .expect("last hold")
        .map_or(0.0, |t| t.duration_since(started).as_secs_f64());
    let mut steps = std::mem::take(&mut *steps.0.lock().expect("steps"));
    for s in steps.values_mut() {
        s.latencies_us.sort_unstable();
        s.p50_ms = percentile_ms(&s.latencies_us, 0.50);
        s.p99_ms = percentile_ms(&s.latencies_us, 0.99);
    }
    let clicks = steps.get("select").map_or(0, |s| s.requests);
    Ok(Surge {
        buyers,
        seats_offered: seats.len(),
        holds,
        first_join_to_last_hold_s: took,
        pg_transactions: transactions,
        pg_transactions_per_click: transactions as f64 / clicks.max(1) as f64,
        steps,
    })
}

/// The report's lines for one cohort.
pub fn lines(s: &Surge) -> Vec<String> {
    let mut out = vec![format!(
        "surge {} buyers: {} holds of {} seats offered; first join to last hold {:.1} s; \
         {} PostgreSQL transactions, {:.3} per click (holds and ticks included)",
        s.buyers,
        s.holds,
        s.seats_offered,
        s.first_join_to_last_hold_s,
        s.pg_transactions,
        s.pg_transactions_per_click
    )];
    for (name, step) in &s.steps {
        let codes: Vec<String> = step
            .client_errors
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        out.push(format!(
            "  {name:<6} requests {:>6}  2xx {:>6}  4xx [{}]  5xx {}  no answer {}  p50 {:.2} ms  p99 {:.2} ms",
            step.requests,
            step.ok,
            codes.join(", "),
            step.server_errors,
            step.failed,
            step.p50_ms,
            step.p99_ms
        ));
    }
    out
}
