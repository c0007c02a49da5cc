//! The operator page: the running sale as an operator would see it on the dashboard, fed
//! from the EMF lines the hosted functions emit (`ticketrush_lambda::metrics`), so it shows
//! the numbers CloudWatch would, computed nowhere else. `GET /local/operator` is the page,
//! `GET /local/operator/metrics.json` what it polls.

use std::{
    collections::BTreeMap,
    sync::{Arc, LazyLock, Mutex},
};

use axum::{
    Json, Router,
    http::header,
    response::{Html, IntoResponse},
    routing::get,
};
use serde::Serialize;
use ticketrush_lambda::metrics::{self, Dimensions, Metric, Unit};

use crate::http::AppState;

/// What the metric lines said since the runtime started.
#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Board {
    /// Every `function`-dimensioned count, summed over functions (zeros included).
    pub totals: BTreeMap<&'static str, f64>,
    /// The same counts by function.
    pub by_function: BTreeMap<String, BTreeMap<&'static str, f64>>,
    /// Per concert: the waiting-room gauges of the last tick, and admits summed.
    pub concerts: BTreeMap<String, ConcertLine>,
    /// `StoreErrors` summed by store.
    pub store_errors: BTreeMap<String, f64>,
    /// Millisecond metrics (`TickDuration`, `PushQueueAge`) by function.
    pub timings: BTreeMap<&'static str, BTreeMap<String, Timing>>,
    /// Metric lines read.
    pub lines: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConcertLine {
    pub waiting_room_depth: f64,
    pub active_buyers: f64,
    pub last_in_line_wait_seconds: f64,
    /// Admits of every tick, added up.
    pub admits: f64,
    /// Admits of the last tick.
    pub last_admits: f64,
    /// Admission ticks that reported this concert.
    pub ticks: u64,
}

#[derive(Debug, Default, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    pub count: u64,
    pub last: f64,
    pub max: f64,
}

impl Board {
    fn new() -> Self {
        let mut board = Board::default();
        for metric in Metric::ALL {
            if metric.dimensions() == Dimensions::Function && metric.unit() == Unit::Count {
                board.totals.insert(metric.name(), 0.0);
            }
        }
        board
    }

    /// Adds one EMF line; anything else is ignored.
    pub fn record(&mut self, line: &str) {
        let Some(parsed) = metrics::parse_line(line) else {
            return;
        };
        self.lines += 1;
        for (metric, values) in parsed.values {
            let sum: f64 = values.iter().sum();
            match (metric.dimensions(), metric.unit()) {
                (Dimensions::Function, Unit::Count) => {
                    *self.totals.entry(metric.name()).or_default() += sum;
                    *self
                        .by_function
                        .entry(parsed.function.clone())
                        .or_default()
                        .entry(metric.name())
                        .or_default() += sum;
                }
                (Dimensions::Function, _) => {
                    let timing = self
                        .timings
                        .entry(metric.name())
                        .or_default()
                        .entry(parsed.function.clone())
                        .or_default();
                    for v in values {
                        timing.count += 1;
                        timing.last = v;
                        timing.max = timing.max.max(v);
                    }
                }
                (Dimensions::FunctionConcert, _) => {
                    let Some(concert) = &parsed.key else { continue };
                    let line = self.concerts.entry(concert.clone()).or_default();
                    let last = values.last().copied().unwrap_or_default();
                    match metric {
                        Metric::WaitingRoomDepth => line.waiting_room_depth = last,
                        Metric::ActiveBuyers => line.active_buyers = last,
                        Metric::LastInLineWait => line.last_in_line_wait_seconds = last,
                        Metric::Admits => {
                            line.admits += sum;
                            line.last_admits = last;
                            line.ticks += 1;
                        }
                        _ => {}
                    }
                }
                (Dimensions::FunctionStore, _) => {
                    let store = parsed.key.clone().unwrap_or_else(|| "other".into());
                    *self.store_errors.entry(store).or_default() += sum;
                }
            }
        }
    }
}

static BOARD: LazyLock<Arc<Mutex<Board>>> = LazyLock::new(|| Arc::new(Mutex::new(Board::new())));

/// Subscribes the board to every metric line of this process.
pub fn install() {
    let board = BOARD.clone();
    metrics::set_sink(move |line| {
        if let Ok(mut board) = board.lock() {
            board.record(line);
        }
    });
}

/// `/local/operator` and its JSON.
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/local/operator", get(page))
        .route("/local/operator/metrics.json", get(numbers))
}

async fn numbers() -> impl IntoResponse {
    let board = BOARD.lock().map(|b| b.clone()).unwrap_or_default();
    ([(header::CACHE_CONTROL, "no-store")], Json(board))
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE))
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ticketrush operator</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.05rem; margin-top: 1.5rem; }
table { border-collapse: collapse; margin-top: .4rem; }
td, th { border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.muted { color: #777; }
</style>
</head>
<body>
<h1>ticketrush operator <span class="muted" id="lines"></span></h1>
<p class="muted">The metric lines the functions emit (the same EMF CloudWatch reads), refreshed every second.</p>
<h2>Waiting rooms</h2><div id="concerts"></div>
<h2>Counts</h2><div id="totals"></div>
<h2>Timings (ms)</h2><div id="timings"></div>
<h2>Store errors</h2><div id="stores"></div>
<script>
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
function table(head, rows) {
  if (!rows.length) return '<p class="muted">none yet</p>';
  return '<table><tr>' + head.map(h => '<th>' + esc(h) + '</th>').join('') + '</tr>' +
    rows.map(r => '<tr>' + r.map(c => '<td>' + esc(c) + '</td>').join('') + '</tr>').join('') + '</table>';
}
async function refresh() {
  try {
    const b = await (await fetch('/local/operator/metrics.json')).json();
    document.getElementById('lines').textContent = '(' + b.lines + ' metric lines)';
    document.getElementById('concerts').innerHTML = table(
      ['concert', 'waiting', 'active buyers', 'last in line wait (s)', 'admits', 'last tick admits'],
      Object.entries(b.concerts).map(([id, c]) =>
        [id, c.waitingRoomDepth, c.activeBuyers, c.lastInLineWaitSeconds, c.admits, c.lastAdmits]));
    document.getElementById('totals').innerHTML = table(['metric', 'total'], Object.entries(b.totals));
    const timings = [];
    for (const [m, fns] of Object.entries(b.timings))
      for (const [f, t] of Object.entries(fns)) timings.push([m, f, t.count, t.last.toFixed(1), t.max.toFixed(1)]);
    document.getElementById('timings').innerHTML = table(['metric', 'function', 'samples', 'last', 'max'], timings);
    document.getElementById('stores').innerHTML = table(['store', 'errors'], Object.entries(b.storeErrors));
  } catch (e) { document.getElementById('lines').textContent = '(runtime not answering)'; }
}
refresh(); setInterval(refresh, 1000);
</script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_adds_counts_keeps_gauges_and_ignores_other_lines() {
        let mut board = Board::new();
        let line = |function, key, values| {
            metrics::emf_line(
                &metrics::Record {
                    function,
                    key,
                    values,
                },
                0,
            )
        };
        board.record(&line(
            "seat-select",
            None,
            vec![(Metric::SeatSelects, vec![1.0])],
        ));
        board.record(&line(
            "seat-select",
            None,
            vec![(Metric::SeatSelects, vec![1.0])],
        ));
        for (depth, admits) in [(3.0, 2.0), (1.0, 2.0)] {
            board.record(&line(
                "queue-activate",
                Some("7"),
                vec![
                    (Metric::WaitingRoomDepth, vec![depth]),
                    (Metric::Admits, vec![admits]),
                ],
            ));
        }
        board.record(&line(
            "search",
            Some("redis"),
            vec![(Metric::StoreErrors, vec![1.0])],
        ));
        board.record("not a metric line");
        assert_eq!(board.totals["SeatSelects"], 2.0);
        assert_eq!(board.totals["HoldsMade"], 0.0);
        assert_eq!(board.by_function["seat-select"]["SeatSelects"], 2.0);
        let concert = &board.concerts["7"];
        assert_eq!((concert.waiting_room_depth, concert.admits), (1.0, 4.0));
        assert_eq!(board.store_errors["redis"], 1.0);
        assert_eq!(board.lines, 5);
    }
}
