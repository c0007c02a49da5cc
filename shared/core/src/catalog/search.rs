//! Search and a concert's detail: the store narrows, the sale rules (against the clock and
//! the viewer) decide each card's status, and filtering by it, ordering and paging happen
//! here.

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use serde::Serialize;
use thiserror::Error;

use crate::{
    error::{StoreError, ValidationError},
    ids::ConcertId,
    sale::SaleStatus,
    tier::Tier,
    time,
};

use super::{CatalogFilter, CatalogRepository, ConcertCard, ConcertDetail};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    SaleOpensAt,
    StartsAt,
    Title,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub direction: SortDirection,
}

impl Sort {
    /// Accepts `key`, `key,asc` or `key,desc`, with key saleOpensAt, startsAt or title.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let invalid = || {
            ValidationError::new(
                "sort",
                format!(
                    "must be saleOpensAt, startsAt or title, optionally followed by ,asc or ,desc; got {raw:?}"
                ),
            )
        };
        let (key, direction) = raw.split_once(',').unwrap_or((raw, "asc"));
        let key = match key.trim() {
            "saleOpensAt" => SortKey::SaleOpensAt,
            "startsAt" => SortKey::StartsAt,
            "title" => SortKey::Title,
            _ => return Err(invalid()),
        };
        let direction = match direction.trim().to_ascii_lowercase().as_str() {
            "asc" => SortDirection::Asc,
            "desc" => SortDirection::Desc,
            _ => return Err(invalid()),
        };
        Ok(Self { key, direction })
    }
}

/// Raw search parameters as they arrive, before any checking.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchParams<'a> {
    pub q: Option<&'a str>,
    pub venue: Option<&'a str>,
    pub status: Option<&'a str>,
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub sort: Option<&'a str>,
    pub page: Option<&'a str>,
    pub size: Option<&'a str>,
}

/// A checked search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    pub filter: CatalogFilter,
    pub status: Option<SaleStatus>,
    pub sort: Sort,
    pub page: u32,
    pub size: u32,
}

impl SearchQuery {
    pub const MAX_SIZE: u32 = 100;
    pub const DEFAULT_SIZE: u32 = 20;
    pub const MAX_TEXT: usize = 100;
    pub const MAX_PAGE: u32 = 100_000;

    pub fn parse(p: SearchParams<'_>) -> Result<Self, ValidationError> {
        let text =
            |field: &'static str, raw: Option<&str>| -> Result<Option<String>, ValidationError> {
                let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
                    return Ok(None);
                };
                if raw.chars().count() > Self::MAX_TEXT {
                    return Err(ValidationError::new(
                        field,
                        format!("must be at most {} characters", Self::MAX_TEXT),
                    ));
                }
                Ok(Some(raw.to_owned()))
            };
        let instant = |field: &'static str,
                       raw: Option<&str>|
         -> Result<Option<DateTime<Utc>>, ValidationError> {
            raw.map(|r| {
                time::parse_instant(r).ok_or_else(|| {
                    ValidationError::new(
                        field,
                        format!("must be an RFC 3339 instant or a YYYY-MM-DD date, got {r:?}"),
                    )
                })
            })
            .transpose()
        };
        let number = crate::error::bounded_integer;

        let filter = CatalogFilter {
            text: text("q", p.q)?,
            venue: text("venue", p.venue)?,
            performs_from: instant("from", p.from)?,
            performs_to: instant("to", p.to)?,
        };
        if let (Some(from), Some(to)) = (filter.performs_from, filter.performs_to)
            && from > to
        {
            return Err(ValidationError::new("to", "must not be before from"));
        }
        Ok(Self {
            filter,
            status: p.status.map(str::parse).transpose()?,
            sort: p.sort.map(Sort::parse).transpose()?.unwrap_or(Sort {
                key: SortKey::SaleOpensAt,
                direction: SortDirection::Asc,
            }),
            page: number("page", p.page, 0, 0, Self::MAX_PAGE)?,
            size: number("size", p.size, Self::DEFAULT_SIZE, 1, Self::MAX_SIZE)?,
        })
    }
}

/// One page of cards.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardPage {
    pub items: Vec<ConcertCard>,
    pub page: u32,
    pub size: u32,
    pub total_elements: u64,
    pub total_pages: u64,
    pub has_next: bool,
}

#[derive(Debug, Error)]
pub enum SearchError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Error)]
pub enum ConcertDetailError {
    #[error("concert {0} not found")]
    NotFound(ConcertId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Search: the store narrows by text, venue and dates; the sale rules decide status,
/// which depends on the viewer and the instant, so filtering by it, ordering and
/// paging happen here.
pub async fn search_concerts<R: CatalogRepository>(
    repo: &R,
    query: &SearchQuery,
    now: DateTime<Utc>,
    viewer: Option<Tier>,
) -> Result<CardPage, SearchError> {
    let listings = repo.listings(&query.filter).await?;
    let mut rows: Vec<(ConcertCard, Option<DateTime<Utc>>)> = listings
        .iter()
        .map(|l| (l.card(now, viewer), l.first_starts_at))
        .filter(|(card, _)| query.status.is_none_or(|s| card.sale_status == s))
        .collect();
    rows.sort_by(|a, b| compare(query.sort, a, b));

    let total = rows.len() as u64;
    let size = u64::from(query.size);
    let start = u64::from(query.page) * size;
    let items: Vec<ConcertCard> = rows
        .into_iter()
        .skip(start as usize)
        .take(query.size as usize)
        .map(|(card, _)| card)
        .collect();
    Ok(CardPage {
        items,
        page: query.page,
        size: query.size,
        total_elements: total,
        total_pages: total.div_ceil(size),
        has_next: start + size < total,
    })
}

/// Orders by the sort key, missing values last in either direction, then by id so pages are stable.
fn compare(
    sort: Sort,
    a: &(ConcertCard, Option<DateTime<Utc>>),
    b: &(ConcertCard, Option<DateTime<Utc>>),
) -> Ordering {
    fn nulls_last<T: Ord>(a: Option<T>, b: Option<T>, dir: SortDirection) -> Ordering {
        match (a, b) {
            (Some(x), Some(y)) => match dir {
                SortDirection::Asc => x.cmp(&y),
                SortDirection::Desc => y.cmp(&x),
            },
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
    }
    let by_key = match sort.key {
        SortKey::SaleOpensAt => nulls_last(a.0.sale_opens_at, b.0.sale_opens_at, sort.direction),
        SortKey::StartsAt => nulls_last(a.1, b.1, sort.direction),
        SortKey::Title => nulls_last(
            Some(a.0.title.to_lowercase()),
            Some(b.0.title.to_lowercase()),
            sort.direction,
        ),
    };
    by_key.then(a.0.concert_id.cmp(&b.0.concert_id))
}

pub async fn concert_detail<R: CatalogRepository>(
    repo: &R,
    id: ConcertId,
    now: DateTime<Utc>,
    viewer: Option<Tier>,
) -> Result<ConcertDetail, ConcertDetailError> {
    let record = repo
        .concert(id)
        .await?
        .ok_or(ConcertDetailError::NotFound(id))?;
    Ok(ConcertDetail {
        card: record.listing.card(now, viewer),
        promoter: record.promoter,
        sales_policy: record.listing.policy,
        performances: record.performances,
    })
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::{
        catalog::ConcertListing,
        fakes::{self, FakeCatalog},
        sale::{Presale, SalesPolicy},
    };

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap()
    }

    fn listing(id: i64, title: &str, opens_in: Option<i64>, available: u32) -> ConcertListing {
        ConcertListing {
            policy: opens_in.map(|s| {
                SalesPolicy::new(None, now() + Duration::seconds(s), None, 4, true).unwrap()
            }),
            first_starts_at: Some(now() + Duration::days(id)),
            last_starts_at: Some(now() + Duration::days(30)),
            ..fakes::listing(id, title, available)
        }
    }

    fn catalog() -> FakeCatalog {
        FakeCatalog::with(vec![
            listing(1, "Beta", Some(200), 10),
            listing(2, "alpha", Some(-10), 5),
            listing(3, "Gamma", Some(-10), 0),
            listing(4, "Delta", None, 10),
            listing(5, "Epsilon", Some(7200), 10),
        ])
    }

    fn query(params: SearchParams<'_>) -> SearchQuery {
        SearchQuery::parse(params).unwrap()
    }

    #[tokio::test]
    async fn pages_statuses_and_sorting() {
        let repo = catalog();
        let page = search_concerts(
            &repo,
            &query(SearchParams {
                size: Some("2"),
                ..Default::default()
            }),
            now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(page.total_elements, 5);
        assert_eq!(page.total_pages, 3);
        assert!(page.has_next);
        // saleOpensAt ascending: the two already open (2, 3 by id), then 1, 5; unscheduled last.
        let ids: Vec<i64> = page.items.iter().map(|c| c.concert_id.get()).collect();
        assert_eq!(ids, vec![2, 3]);

        let last = search_concerts(
            &repo,
            &query(SearchParams {
                size: Some("2"),
                page: Some("2"),
                ..Default::default()
            }),
            now(),
            None,
        )
        .await
        .unwrap();
        assert_eq!(last.items.len(), 1);
        assert_eq!(last.items[0].sale_status, SaleStatus::Unscheduled);
        assert!(!last.has_next);

        let by_title = search_concerts(
            &repo,
            &query(SearchParams {
                sort: Some("title,desc"),
                ..Default::default()
            }),
            now(),
            None,
        )
        .await
        .unwrap();
        let titles: Vec<&str> = by_title.items.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(titles, vec!["Gamma", "Epsilon", "Delta", "Beta", "alpha"]);
    }

    #[tokio::test]
    async fn status_filter_counts_only_matches() {
        let repo = catalog();
        for (status, expected) in [
            ("OPEN", vec![2]),
            ("SOLD_OUT", vec![3]),
            ("OPEN_SOON_5M", vec![1]),
            ("PREOPEN", vec![5]),
            ("OPEN_SOON_1H", vec![]),
            ("UNSCHEDULED", vec![4]),
        ] {
            let page = search_concerts(
                &repo,
                &query(SearchParams {
                    status: Some(status),
                    ..Default::default()
                }),
                now(),
                None,
            )
            .await
            .unwrap();
            let ids: Vec<i64> = page.items.iter().map(|c| c.concert_id.get()).collect();
            assert_eq!(ids, expected, "{status}");
            assert_eq!(page.total_elements, expected.len() as u64);
        }
    }

    #[tokio::test]
    async fn presale_viewers_see_their_own_opening() {
        let repo = catalog();
        repo.listings_mut()[0].policy = Some(
            SalesPolicy::new(
                Some(Presale {
                    starts_at: now() - Duration::hours(1),
                    min_tier: Tier::Silver,
                }),
                now() + Duration::hours(5),
                None,
                4,
                true,
            )
            .unwrap(),
        );
        let q = query(SearchParams {
            q: Some("beta"),
            ..Default::default()
        });
        let anon = search_concerts(&repo, &q, now(), None).await.unwrap();
        assert_eq!(anon.items[0].sale_status, SaleStatus::Preopen);
        let silver = search_concerts(&repo, &q, now(), Some(Tier::Silver))
            .await
            .unwrap();
        assert_eq!(silver.items[0].sale_status, SaleStatus::Open);
        assert_eq!(silver.items[0].sale_opens_in_seconds, Some(0));
    }

    #[test]
    fn search_parameters_are_checked() {
        let err = |p: SearchParams<'_>| SearchQuery::parse(p).unwrap_err().field;
        assert_eq!(
            err(SearchParams {
                size: Some("1000"),
                ..Default::default()
            }),
            "size"
        );
        assert_eq!(
            err(SearchParams {
                size: Some("0"),
                ..Default::default()
            }),
            "size"
        );
        assert_eq!(
            err(SearchParams {
                page: Some("-1"),
                ..Default::default()
            }),
            "page"
        );
        assert_eq!(
            err(SearchParams {
                sort: Some("bogus"),
                ..Default::default()
            }),
            "sort"
        );
        assert_eq!(
            err(SearchParams {
                sort: Some("title,sideways"),
                ..Default::default()
            }),
            "sort"
        );
        assert_eq!(
            err(SearchParams {
                status: Some("MAYBE"),
                ..Default::default()
            }),
            "status"
        );
        assert_eq!(
            err(SearchParams {
                from: Some("yesterday"),
                ..Default::default()
            }),
            "from"
        );
        assert_eq!(
            err(SearchParams {
                from: Some("2026-12-02"),
                to: Some("2026-12-01"),
                ..Default::default()
            }),
            "to"
        );
        let long = "x".repeat(101);
        assert_eq!(
            err(SearchParams {
                q: Some(&long),
                ..Default::default()
            }),
            "q"
        );
        let ok = SearchQuery::parse(SearchParams {
            q: Some("  "),
            sort: Some("startsAt,DESC"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.filter.text, None);
        assert_eq!(
            ok.sort,
            Sort {
                key: SortKey::StartsAt,
                direction: SortDirection::Desc
            }
        );
    }

    #[tokio::test]
    async fn an_unknown_concert_is_not_found() {
        let repo = catalog();
        assert!(matches!(
            concert_detail(&repo, ConcertId::from_stored(99), now(), None).await,
            Err(ConcertDetailError::NotFound(_))
        ));
        let detail = concert_detail(&repo, ConcertId::from_stored(2), now(), None)
            .await
            .unwrap();
        assert_eq!(detail.card.sale_status, SaleStatus::Open);
    }
}
