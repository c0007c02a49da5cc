//! PostgresCatalog and PostgresCatalogAdmin against real PostgreSQL, one schema per test.

use chrono::{Duration, Utc};
use ticketrush_adapters::{
    config::{PostgresConfig, Secret},
    postgres::{PostgresCatalog, PostgresCatalogAdmin, connect_lazy},
};
use ticketrush_core::{
    StoreError,
    catalog::{CatalogAdmin, CatalogFilter, CatalogRepository, SeatPage, SeatStatus},
};
use ticketrush_testkit::{
    db::TestDb,
    fixtures::{ConcertSpec, create, draft, first_option, take_seats},
};

#[tokio::test]
async fn listings_carry_counts_for_every_concert_in_one_query() {
    let db = TestDb::new().await;
    let a = create(
        &db.pool,
        &ConcertSpec {
            slug: "a",
            title: "Alpha",
            performances_in_days: &[5, 6],
            ..Default::default()
        },
    )
    .await;
    let b = create(
        &db.pool,
        &ConcertSpec {
            slug: "b",
            title: "Bravo",
            opens_in: None,
            performances_in_days: &[],
            ..Default::default()
        },
    )
    .await;
    take_seats(&db.pool, first_option(&db.pool, a).await, 7, "HOLD").await;

    let repo = PostgresCatalog::new(db.pool.clone());
    let listings = repo.listings(&CatalogFilter::default()).await.unwrap();
    let alpha = listings.iter().find(|l| l.id == a).unwrap();
    assert_eq!((alpha.counts.available, alpha.counts.total), (33, 40));
    assert!(alpha.policy.is_some());
    assert!(alpha.first_starts_at.unwrap() < alpha.last_starts_at.unwrap());
    let bravo = listings.iter().find(|l| l.id == b).unwrap();
    assert_eq!((bravo.counts.available, bravo.counts.total), (0, 0));
    assert!(bravo.policy.is_none() && bravo.first_starts_at.is_none());
}

#[tokio::test]
async fn filters_match_text_venue_and_dates_with_literal_wildcards() {
    let db = TestDb::new().await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "p",
            title: "100% Pure",
            venue: "Blue Hall",
            performances_in_days: &[3],
            ..Default::default()
        },
    )
    .await;
    create(
        &db.pool,
        &ConcertSpec {
            slug: "q",
            title: "1000 Pures",
            artist: "Pure Band",
            venue: "Red Hall",
            performances_in_days: &[40],
            ..Default::default()
        },
    )
    .await;
    let repo = PostgresCatalog::new(db.pool.clone());
    let titles = |filter: CatalogFilter| {
        let repo = repo.clone();
        async move {
            let mut t: Vec<String> = repo
                .listings(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|l| l.title)
                .collect();
            t.sort();
            t
        }
    };
    assert_eq!(
        titles(CatalogFilter {
            text: Some("100%".into()),
            ..Default::default()
        })
        .await,
        vec!["100% Pure"]
    );
    assert_eq!(
        titles(CatalogFilter {
            text: Some("pure band".into()),
            ..Default::default()
        })
        .await,
        vec!["1000 Pures"]
    );
    assert_eq!(
        titles(CatalogFilter {
            venue: Some("RED".into()),
            ..Default::default()
        })
        .await,
        vec!["1000 Pures"]
    );
    let now = Utc::now();
    let soon = CatalogFilter {
        performs_from: Some(now),
        performs_to: Some(now + Duration::days(10)),
        ..Default::default()
    };
    assert_eq!(titles(soon).await, vec!["100% Pure"]);
    assert!(
        titles(CatalogFilter {
            text: Some("_".into()),
            ..Default::default()
        })
        .await
        .is_empty()
    );
}

#[tokio::test]
async fn upserting_again_changes_times_but_never_duplicates_seats() {
    let db = TestDb::new().await;
    let admin = PostgresCatalogAdmin::new(db.pool.clone());
    let spec = ConcertSpec {
        slug: "again",
        performances_in_days: &[2, 3],
        ..Default::default()
    };
    let first = admin
        .upsert_concert(&draft(&spec, Utc::now()))
        .await
        .unwrap();
    let later = Utc::now() + Duration::hours(5);
    let second = admin.upsert_concert(&draft(&spec, later)).await.unwrap();
    assert_eq!(first, second);
    let seats: i64 = sqlx::query_scalar("SELECT count(*) FROM seats")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(seats, 40);
    let totals: Vec<i32> = sqlx::query_scalar("SELECT total_seats FROM performances ORDER BY id")
        .fetch_all(&db.pool)
        .await
        .unwrap();
    assert_eq!(totals, vec![20, 20]);
    let record = PostgresCatalog::new(db.pool.clone())
        .concert(first)
        .await
        .unwrap()
        .unwrap();
    let stored = record.listing.policy.unwrap().general_sale_starts_at();
    assert_eq!(
        stored.timestamp_micros(),
        (later - Duration::hours(1)).timestamp_micros()
    );
}

#[tokio::test]
async fn seat_map_pages_through_seats_in_layout_order() {
    let db = TestDb::new().await;
    let c = create(
        &db.pool,
        &ConcertSpec {
            rows: 3,
            seats_per_row: 4,
            ..Default::default()
        },
    )
    .await;
    let option = first_option(&db.pool, c).await;
    take_seats(&db.pool, option, 1, "CONFIRMED").await;
    let repo = PostgresCatalog::new(db.pool.clone());
    let page0 = repo
        .seat_map(option, SeatPage::parse(Some("0"), Some("5")).unwrap())
        .await
        .unwrap()
        .unwrap();
    let page2 = repo
        .seat_map(option, SeatPage::parse(Some("2"), Some("5")).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page0.seats.len(), 5);
    assert_eq!(page0.seats[0].status, SeatStatus::Confirmed);
    assert_eq!(
        (page0.seats[4].row.as_str(), page0.seats[4].number),
        ("2", 1)
    );
    assert!(page0.has_next);
    assert_eq!(page2.seats.len(), 2);
    assert!(!page2.has_next);
    assert_eq!(page2.total_elements, 12);
    let missing = ticketrush_core::OptionId::from_stored(option.get() + 1000);
    assert!(
        repo.seat_map(missing, SeatPage::parse(None, None).unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_not_internal() {
    let pool = connect_lazy(&PostgresConfig {
        url: Secret::from("postgres://postgres@127.0.0.1:1/none"),
        max_connections: 1,
        acquire_timeout: std::time::Duration::from_millis(300),
    })
    .unwrap();
    let err = PostgresCatalog::new(pool)
        .listings(&CatalogFilter::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}
