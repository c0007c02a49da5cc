//! Sale status: a pure function of (policy, seat counts, now, viewer tier).

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{error::ValidationError, tier::Tier};

/// Seconds before the opening instant at which a card says "opens within the hour".
pub const OPEN_SOON_1H_SECS: i64 = 3600;
/// Seconds before the opening instant at which a card says "opens in minutes".
pub const OPEN_SOON_5M_SECS: i64 = 300;

/// The lifecycle of a sale as a card shows it. Declared in time order: for fixed seat
/// counts the status of one viewer only ever moves down this list.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum SaleStatus {
    #[serde(rename = "UNSCHEDULED")]
    Unscheduled,
    #[serde(rename = "PREOPEN")]
    Preopen,
    #[serde(rename = "OPEN_SOON_1H")]
    OpenSoon1h,
    #[serde(rename = "OPEN_SOON_5M")]
    OpenSoon5m,
    #[serde(rename = "OPEN")]
    Open,
    #[serde(rename = "SOLD_OUT")]
    SoldOut,
    #[serde(rename = "CLOSED")]
    Closed,
}

impl SaleStatus {
    pub const ALL: [SaleStatus; 7] = [
        SaleStatus::Unscheduled,
        SaleStatus::Preopen,
        SaleStatus::OpenSoon1h,
        SaleStatus::OpenSoon5m,
        SaleStatus::Open,
        SaleStatus::SoldOut,
        SaleStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SaleStatus::Unscheduled => "UNSCHEDULED",
            SaleStatus::Preopen => "PREOPEN",
            SaleStatus::OpenSoon1h => "OPEN_SOON_1H",
            SaleStatus::OpenSoon5m => "OPEN_SOON_5M",
            SaleStatus::Open => "OPEN",
            SaleStatus::SoldOut => "SOLD_OUT",
            SaleStatus::Closed => "CLOSED",
        }
    }
}

impl fmt::Display for SaleStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SaleStatus {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SaleStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                ValidationError::new(
                    "status",
                    format!(
                        "must be one of UNSCHEDULED, PREOPEN, OPEN_SOON_1H, OPEN_SOON_5M, OPEN, SOLD_OUT, CLOSED, got {s:?}"
                    ),
                )
            })
    }
}

/// An early window for members at or above a tier. It runs until the general sale
/// opens: a gap between the two would show a presale buyer an open sale, then a
/// countdown again, which is the status going backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Presale {
    #[serde(with = "crate::time")]
    pub starts_at: DateTime<Utc>,
    pub min_tier: Tier,
}

/// A concert's sales policy, checked on construction. On the wire it is a [`PolicyRequest`]:
/// what a read answers, a write accepts back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "PolicyRequest")]
pub struct SalesPolicy {
    presale: Option<Presale>,
    general_sale_starts_at: DateTime<Utc>,
    sale_ends_at: Option<DateTime<Utc>>,
    max_seats_per_user: u16,
    queue_gated: bool,
}

/// Upper bound on seats one buyer may take in one sale.
pub const MAX_SEATS_PER_USER_LIMIT: u16 = 20;

impl SalesPolicy {
    pub fn new(
        presale: Option<Presale>,
        general_sale_starts_at: DateTime<Utc>,
        sale_ends_at: Option<DateTime<Utc>>,
        max_seats_per_user: u16,
        queue_gated: bool,
    ) -> Result<Self, ValidationError> {
        if let Some(p) = presale
            && p.starts_at >= general_sale_starts_at
        {
            return Err(ValidationError::new(
                "presaleStartsAt",
                "the presale must start before the general sale",
            ));
        }
        if let Some(end) = sale_ends_at
            && end <= general_sale_starts_at
        {
            return Err(ValidationError::new(
                "saleEndsAt",
                "the sale must end after the general sale starts",
            ));
        }
        if !(1..=MAX_SEATS_PER_USER_LIMIT).contains(&max_seats_per_user) {
            return Err(ValidationError::new(
                "maxSeatsPerUser",
                format!("must be between 1 and {MAX_SEATS_PER_USER_LIMIT}"),
            ));
        }
        Ok(Self {
            presale,
            general_sale_starts_at,
            sale_ends_at,
            max_seats_per_user,
            queue_gated,
        })
    }

    pub fn presale(&self) -> Option<Presale> {
        self.presale
    }
    pub fn general_sale_starts_at(&self) -> DateTime<Utc> {
        self.general_sale_starts_at
    }
    pub fn sale_ends_at(&self) -> Option<DateTime<Utc>> {
        self.sale_ends_at
    }
    pub fn max_seats_per_user(&self) -> u16 {
        self.max_seats_per_user
    }
    pub fn queue_gated(&self) -> bool {
        self.queue_gated
    }

    /// Whether this viewer may buy in the presale. Anonymous viewers see the general sale.
    pub fn in_presale_audience(&self, viewer: Option<Tier>) -> bool {
        matches!((self.presale, viewer), (Some(p), Some(t)) if t >= p.min_tier)
    }

    /// The instant the sale opens for this viewer.
    pub fn opens_at_for(&self, viewer: Option<Tier>) -> DateTime<Utc> {
        match self.presale {
            Some(p) if self.in_presale_audience(viewer) => p.starts_at,
            _ => self.general_sale_starts_at,
        }
    }
}

/// A sales policy as an operator writes it and reads it back. `presaleEndsAt`, if given,
/// must be the general sale's start: a presale runs until the general sale opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SalesPolicy)]
pub struct PolicyRequest {
    #[serde(default, with = "crate::time::option")]
    pub presale_starts_at: Option<DateTime<Utc>>,
    /// Omitted, null, or equal to `generalSaleStartsAt`.
    #[serde(default, with = "crate::time::option")]
    pub presale_ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub presale_min_tier: Option<Tier>,
    #[serde(with = "crate::time")]
    pub general_sale_starts_at: DateTime<Utc>,
    #[serde(default, with = "crate::time::option")]
    pub sale_ends_at: Option<DateTime<Utc>>,
    #[schema(minimum = 1, maximum = 20)]
    pub max_seats_per_user: u16,
    #[serde(default = "gated_by_default")]
    #[schema(default = true)]
    pub queue_gated: bool,
}

fn gated_by_default() -> bool {
    true
}

impl From<SalesPolicy> for PolicyRequest {
    fn from(p: SalesPolicy) -> Self {
        Self {
            presale_starts_at: p.presale.map(|ps| ps.starts_at),
            presale_ends_at: p.presale.map(|_| p.general_sale_starts_at),
            presale_min_tier: p.presale.map(|ps| ps.min_tier),
            general_sale_starts_at: p.general_sale_starts_at,
            sale_ends_at: p.sale_ends_at,
            max_seats_per_user: p.max_seats_per_user,
            queue_gated: p.queue_gated,
        }
    }
}

impl PolicyRequest {
    pub fn into_policy(self) -> Result<SalesPolicy, ValidationError> {
        let presale = match (self.presale_starts_at, self.presale_min_tier) {
            (None, None) => None,
            (Some(starts_at), Some(min_tier)) => Some(Presale {
                starts_at,
                min_tier,
            }),
            _ => {
                return Err(ValidationError::new(
                    "presaleMinTier",
                    "a presale needs both presaleStartsAt and presaleMinTier",
                ));
            }
        };
        if let Some(end) = self.presale_ends_at
            && (presale.is_none() || end != self.general_sale_starts_at)
        {
            return Err(ValidationError::new(
                "presaleEndsAt",
                "a presale runs until the general sale starts; omit presaleEndsAt or set it to generalSaleStartsAt",
            ));
        }
        SalesPolicy::new(
            presale,
            self.general_sale_starts_at,
            self.sale_ends_at,
            self.max_seats_per_user,
            self.queue_gated,
        )
    }
}

/// Seats of all of a concert's performances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SeatCounts {
    pub available: u32,
    pub total: u32,
}

impl SeatCounts {
    /// Share of seats still available, 0 to 1, rounded to four places.
    pub fn remaining_rate(self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        (f64::from(self.available) / f64::from(self.total) * 10_000.0).round() / 10_000.0
    }

    fn sold_out(self) -> bool {
        self.total > 0 && self.available == 0
    }
}

/// What the reservation button shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReservationButton {
    pub visible: bool,
    pub enabled: bool,
    pub label: String,
}

/// A sale as one viewer sees it at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleView {
    pub status: SaleStatus,
    pub opens_at: Option<DateTime<Utc>>,
    /// Whole seconds until opening, rounded up; 0 once open; None without a policy.
    pub opens_in_seconds: Option<i64>,
    pub button: ReservationButton,
}

/// The sale status rule.
///
/// `closes_at` is when selling stops: the policy's end, or else the last performance.
pub fn sale_view(
    policy: Option<&SalesPolicy>,
    closes_at: Option<DateTime<Utc>>,
    counts: SeatCounts,
    now: DateTime<Utc>,
    viewer: Option<Tier>,
) -> SaleView {
    let Some(policy) = policy else {
        return SaleView {
            status: SaleStatus::Unscheduled,
            opens_at: None,
            opens_in_seconds: None,
            button: button(false, false, "Coming soon"),
        };
    };
    let opens_at = policy.opens_at_for(viewer);
    let remaining_ms = (opens_at - now).num_milliseconds().max(0);
    let opens_in_seconds = (remaining_ms + 999) / 1000;

    let status = if closes_at.is_some_and(|c| now >= c) {
        SaleStatus::Closed
    } else if counts.sold_out() {
        SaleStatus::SoldOut
    } else if remaining_ms == 0 {
        SaleStatus::Open
    } else if opens_in_seconds <= OPEN_SOON_5M_SECS {
        SaleStatus::OpenSoon5m
    } else if opens_in_seconds <= OPEN_SOON_1H_SECS {
        SaleStatus::OpenSoon1h
    } else {
        SaleStatus::Preopen
    };

    let presale_running_for_others = policy
        .presale()
        .is_some_and(|p| now >= p.starts_at && now < policy.general_sale_starts_at())
        && !policy.in_presale_audience(viewer);
    let button = match status {
        SaleStatus::Unscheduled => button(false, false, "Coming soon"),
        SaleStatus::Open
            if policy.in_presale_audience(viewer) && now < policy.general_sale_starts_at() =>
        {
            button(true, true, "Presale: book now")
        }
        SaleStatus::Open => button(true, true, "Book now"),
        SaleStatus::SoldOut => button(true, false, "Sold out"),
        SaleStatus::Closed => button(true, false, "Sale closed"),
        _ if presale_running_for_others => {
            let tier = policy.presale().map(|p| p.min_tier).unwrap_or(Tier::Vip);
            button(true, false, &format!("Presale for {tier} and above"))
        }
        SaleStatus::OpenSoon5m => button(true, false, "Opens in minutes"),
        SaleStatus::OpenSoon1h => button(true, false, "Opens within the hour"),
        SaleStatus::Preopen => button(true, false, "Sale not open yet"),
    };

    SaleView {
        status,
        opens_at: Some(opens_at),
        opens_in_seconds: Some(opens_in_seconds),
        button,
    }
}

fn button(visible: bool, enabled: bool, label: &str) -> ReservationButton {
    ReservationButton {
        visible,
        enabled,
        label: label.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    use super::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 11, 0, 0).unwrap()
    }

    fn policy(presale: Option<Presale>) -> SalesPolicy {
        SalesPolicy::new(presale, t0(), Some(t0() + Duration::days(10)), 4, true).unwrap()
    }

    const SOME: SeatCounts = SeatCounts {
        available: 10,
        total: 100,
    };

    fn status_at(
        p: &SalesPolicy,
        counts: SeatCounts,
        offset_secs: i64,
        viewer: Option<Tier>,
    ) -> SaleStatus {
        sale_view(
            Some(p),
            p.sale_ends_at(),
            counts,
            t0() + Duration::seconds(offset_secs),
            viewer,
        )
        .status
    }

    #[test]
    fn no_policy_is_unscheduled_and_hides_the_button() {
        let v = sale_view(None, None, SOME, t0(), None);
        assert_eq!(v.status, SaleStatus::Unscheduled);
        assert!(!v.button.visible);
        assert_eq!(v.opens_in_seconds, None);
    }

    #[test]
    fn countdown_thresholds() {
        let p = policy(None);
        assert_eq!(status_at(&p, SOME, -3601, None), SaleStatus::Preopen);
        assert_eq!(status_at(&p, SOME, -3600, None), SaleStatus::OpenSoon1h);
        assert_eq!(status_at(&p, SOME, -301, None), SaleStatus::OpenSoon1h);
        assert_eq!(status_at(&p, SOME, -300, None), SaleStatus::OpenSoon5m);
        assert_eq!(status_at(&p, SOME, -1, None), SaleStatus::OpenSoon5m);
        assert_eq!(status_at(&p, SOME, 0, None), SaleStatus::Open);
        assert_eq!(status_at(&p, SOME, 10 * 86400, None), SaleStatus::Closed);
    }

    #[test]
    fn seconds_round_up_and_reach_zero_at_open() {
        let p = policy(None);
        let v = sale_view(
            Some(&p),
            None,
            SOME,
            t0() - Duration::milliseconds(1500),
            None,
        );
        assert_eq!(v.opens_in_seconds, Some(2));
        let v = sale_view(Some(&p), None, SOME, t0(), None);
        assert_eq!(v.opens_in_seconds, Some(0));
        assert!(v.button.enabled);
    }

    #[test]
    fn sold_out_needs_seats_and_none_left() {
        let p = policy(None);
        let gone = SeatCounts {
            available: 0,
            total: 5,
        };
        assert_eq!(status_at(&p, gone, 10, None), SaleStatus::SoldOut);
        let empty = SeatCounts::default();
        assert_eq!(status_at(&p, empty, 10, None), SaleStatus::Open);
        assert!(!sale_view(Some(&p), None, gone, t0(), None).button.enabled);
    }

    #[test]
    fn presale_is_open_only_at_or_above_its_tier() {
        let p = policy(Some(Presale {
            starts_at: t0() - Duration::hours(2),
            min_tier: Tier::Gold,
        }));
        assert_eq!(status_at(&p, SOME, -60, Some(Tier::Gold)), SaleStatus::Open);
        assert_eq!(status_at(&p, SOME, -60, Some(Tier::Vip)), SaleStatus::Open);
        assert_eq!(
            status_at(&p, SOME, -60, Some(Tier::Silver)),
            SaleStatus::OpenSoon5m
        );
        assert_eq!(status_at(&p, SOME, -60, None), SaleStatus::OpenSoon5m);
        let gold = sale_view(
            Some(&p),
            None,
            SOME,
            t0() - Duration::seconds(60),
            Some(Tier::Gold),
        );
        assert_eq!(gold.button.label, "Presale: book now");
        let anon = sale_view(Some(&p), None, SOME, t0() - Duration::seconds(60), None);
        assert_eq!(anon.button.label, "Presale for GOLD and above");
        assert!(!anon.button.enabled);
    }

    #[test]
    fn policy_rejects_inconsistent_windows() {
        let late_presale = Presale {
            starts_at: t0(),
            min_tier: Tier::Gold,
        };
        assert_eq!(
            SalesPolicy::new(Some(late_presale), t0(), None, 4, true)
                .unwrap_err()
                .field,
            "presaleStartsAt"
        );
        assert_eq!(
            SalesPolicy::new(None, t0(), Some(t0()), 4, true)
                .unwrap_err()
                .field,
            "saleEndsAt"
        );
        assert_eq!(
            SalesPolicy::new(None, t0(), None, 0, true)
                .unwrap_err()
                .field,
            "maxSeatsPerUser"
        );
    }

    fn arb_viewer() -> impl Strategy<Value = Option<Tier>> {
        prop_oneof![
            Just(None),
            proptest::sample::select(Tier::ALL.to_vec()).prop_map(Some)
        ]
    }

    fn arb_policy() -> impl Strategy<Value = Option<SalesPolicy>> {
        let presale =
            proptest::option::of((1i64..200_000, proptest::sample::select(Tier::ALL.to_vec())));
        let end = proptest::option::of(1i64..400_000);
        proptest::option::of((presale, end, 1u16..=MAX_SEATS_PER_USER_LIMIT, any::<bool>()))
            .prop_map(|opt| {
                opt.map(|(presale, end, max, gated)| {
                    SalesPolicy::new(
                        presale.map(|(lead, tier)| Presale {
                            starts_at: t0() - Duration::seconds(lead),
                            min_tier: tier,
                        }),
                        t0(),
                        end.map(|e| t0() + Duration::seconds(e)),
                        max,
                        gated,
                    )
                    .unwrap()
                })
            })
    }

    proptest! {
        #[test]
        fn status_never_goes_backwards_as_time_moves_forward(
            policy in arb_policy(),
            closes_after in proptest::option::of(-500_000i64..500_000),
            available in 0u32..50,
            extra in 0u32..50,
            viewer in arb_viewer(),
            mut instants in proptest::collection::vec(-500_000i64..500_000, 2..40),
        ) {
            instants.sort_unstable();
            let counts = SeatCounts { available, total: available + extra };
            let closes_at = closes_after.map(|s| t0() + Duration::seconds(s));
            let mut previous = SaleStatus::Unscheduled;
            let mut previous_secs = i64::MAX;
            for offset in instants {
                let v = sale_view(policy.as_ref(), closes_at, counts, t0() + Duration::milliseconds(offset * 7), viewer);
                prop_assert!(v.status >= previous, "{:?} after {:?}", v.status, previous);
                if let Some(secs) = v.opens_in_seconds {
                    prop_assert!(secs <= previous_secs && secs >= 0);
                    previous_secs = secs;
                }
                prop_assert_eq!(v.button.enabled, v.status == SaleStatus::Open);
                previous = v.status;
            }
        }

        #[test]
        fn a_higher_tier_never_sees_a_later_opening(policy in arb_policy()) {
            if let Some(p) = policy {
                prop_assert_eq!(p.opens_at_for(None), p.general_sale_starts_at());
                for pair in Tier::ALL.windows(2) {
                    prop_assert!(p.opens_at_for(Some(pair[1])) <= p.opens_at_for(Some(pair[0])));
                }
            }
        }
    }
}
