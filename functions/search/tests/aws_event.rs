//! The search handler driven by AWS's example HTTP API event with a Lambda authorizer (the
//! public route's `http-authorize`), patched only where it must be ours.

use chrono::Duration;
use search::{SearchFunction, handle};
use ticketrush_core::Tier;
use ticketrush_testkit::{
    db::TestDb,
    events::{self, AwsEvent, body},
    fixtures::{ConcertSpec, create},
    wiring::Wiring,
};

const LAMBDA_EVENT: &str = "example-apigw-v2-request-lambda-authorizer.json";

fn search(e: AwsEvent) -> AwsEvent {
    e.route("GET /api/concerts/search", &[]).query(&[
        ("q", "dawn"),
        ("sort", "saleOpensAt,asc"),
        ("page", "0"),
        ("size", "20"),
    ])
}

#[tokio::test]
async fn aws_event_returns_cards_shaped_by_the_authorizers_caller() {
    let db = TestDb::new().await;
    for (slug, title) in [("dawn", "Dawn Chorus"), ("other", "Something Else")] {
        create(
            &db.pool,
            &ConcertSpec {
                slug,
                title,
                opens_in: Some(Duration::days(2)),
                presale: Some((Duration::minutes(-5), Tier::Gold)),
                ..Default::default()
            },
        )
        .await;
    }
    let wiring = Wiring::new(
        &db.url,
        &[
            ("REALTIME_MODE", "hybrid"),
            ("HYBRID_POLL_INTERVAL_MILLIS", "15000"),
        ],
    )
    .await;
    let f = SearchFunction::from_env(&wiring.env, &wiring.clients)
        .await
        .expect("search starts");

    let gold = events::aws_http(LAMBDA_EVENT, |e| {
        search(e).context(&[
            ("userId", "buyer-gold"),
            ("tier", "GOLD"),
            ("admin", "false"),
        ])
    });
    let resp = handle(&f, gold).await;
    assert_eq!(resp.status(), 200);
    let json = body(&resp);
    assert_eq!(json["totalElements"], 1, "{json}");
    assert_eq!(json["realtimeMode"], "hybrid");
    assert_eq!(json["hybridPollIntervalMillis"], 15_000);
    assert!(json["serverNow"].is_string());
    let card = &json["items"][0];
    assert_eq!(card["title"], "Dawn Chorus");
    assert_eq!(card["saleStatus"], "OPEN");
    assert_eq!(card["reservationButtonLabel"], "Presale: book now");
    assert_eq!(card["availableSeatCount"], 20);

    // AWS's own context names no user: the general sale's view.
    let resp = handle(&f, events::aws_http(LAMBDA_EVENT, search)).await;
    assert_eq!(resp.status(), 200);
    let card = &body(&resp)["items"][0];
    assert_eq!(card["title"], "Dawn Chorus");
    assert_ne!(card["saleStatus"], "OPEN", "{card}");
}
