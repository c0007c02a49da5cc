use std::fmt;

use serde::Serialize;

use crate::error::ValidationError;

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Accepts a positive integer; `field` names the input in the error.
            pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
                match raw.trim().parse::<i64>() {
                    Ok(v) if v > 0 => Ok(Self(v)),
                    _ => Err(ValidationError::new(field, format!("must be a positive integer, got {raw:?}"))),
                }
            }

            /// For values read back from the store, which only ever holds valid ids.
            pub const fn from_stored(v: i64) -> Self {
                Self(v)
            }

            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

positive_id!(
    /// A concert (a show with one or more performances).
    ConcertId
);
positive_id!(
    /// A performance of a concert: one date. The API calls it an "option" (`optionId`, the
    /// name buyers and the original system know); the database calls it a performance
    /// (`performances.id`, `performance_id`). Both name this id.
    OptionId
);
positive_id!(
    /// One seat of one performance.
    SeatId
);

/// A performance together with its concert: what the seat store is keyed by, because the
/// seat limit counts a buyer's seats across every performance of a concert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PerformanceKey {
    pub concert: ConcertId,
    pub option: OptionId,
}

/// The authenticated buyer: the JWT subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.chars().all(|c| c.is_ascii_graphic());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "sub",
                format!(
                    "a user id is 1 to {} printable ASCII characters",
                    Self::MAX_LEN
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A short-lived proof that the waiting room admitted this buyer to this concert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct ActiveToken(String);

impl ActiveToken {
    pub const MAX_LEN: usize = 64;

    /// Checks a token presented by a client (the `X-Queue-Token` header).
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "X-Queue-Token",
                "is not a queue token",
            ))
        }
    }

    /// For tokens a `QueueTokens` adapter minted.
    pub fn minted(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct ReservationId(String);

impl ReservationId {
    /// Accepts a UUID in its canonical text form.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let ok = raw.len() == 36
            && raw.char_indices().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => c == '-',
                _ => c.is_ascii_hexdigit(),
            });
        if ok {
            Ok(Self(raw.to_ascii_lowercase()))
        } else {
            Err(ValidationError::new(
                field,
                format!("must be a reservation id (a UUID), got {raw:?}"),
            ))
        }
    }

    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reservation's place in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    Hold,
    Paying,
    Confirmed,
    Cancelled,
    Refunded,
    Expired,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hold => "HOLD",
            Self::Paying => "PAYING",
            Self::Confirmed => "CONFIRMED",
            Self::Cancelled => "CANCELLED",
            Self::Refunded => "REFUNDED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn from_stored(raw: &str) -> Option<Self> {
        [
            Self::Hold,
            Self::Paying,
            Self::Confirmed,
            Self::Cancelled,
            Self::Refunded,
            Self::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_positive_integers() {
        assert_eq!(ConcertId::parse("id", "42").unwrap().get(), 42);
        assert!(ConcertId::parse("id", "0").is_err());
        assert!(ConcertId::parse("id", "-3").is_err());
        let err = OptionId::parse("optionId", "abc").unwrap_err();
        assert_eq!(err.field, "optionId");
    }

    #[test]
    fn user_ids_are_bounded() {
        assert!(UserId::parse("user-1").is_ok());
        assert!(UserId::parse("").is_err());
        assert!(UserId::parse(&"x".repeat(129)).is_err());
        assert!(UserId::parse("has space").is_err());
    }
}
