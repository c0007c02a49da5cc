//! Every function, built once over shared clients, and called by name.

use concert_detail::ConcertDetailFunction;
use lambda_http::{Body, Request, Response};
use search::SearchFunction;
use seat_map::SeatMapFunction;
use ticketrush_adapters::{SystemClock, postgres::PostgresCatalog};
use ticketrush_lambda::Problem;

use crate::settings::LocalSettings;

pub struct Functions {
    search: SearchFunction<PostgresCatalog, SystemClock>,
    concert_detail: ConcertDetailFunction<PostgresCatalog, SystemClock>,
    seat_map: SeatMapFunction<PostgresCatalog>,
}

impl Functions {
    pub fn new(settings: &LocalSettings, pool: sqlx::PgPool) -> Self {
        let catalog = PostgresCatalog::new(pool);
        Self {
            search: SearchFunction {
                catalog: catalog.clone(),
                clock: SystemClock,
                realtime: settings.realtime,
            },
            concert_detail: ConcertDetailFunction {
                catalog: catalog.clone(),
                clock: SystemClock,
            },
            seat_map: SeatMapFunction { catalog },
        }
    }

    /// Calls the named function's handler, as Lambda would.
    pub async fn invoke(&self, function: &str, req: Request) -> Response<Body> {
        match function {
            "search" => search::handle(&self.search, req).await,
            "concert-detail" => concert_detail::handle(&self.concert_detail, req).await,
            "seat-map" => seat_map::handle(&self.seat_map, req).await,
            other => {
                Problem::internal(&format!("no local binding for function {other}")).into_response()
            }
        }
    }
}
