use std::fmt;

use serde::Serialize;

use crate::error::ValidationError;

macro_rules! positive_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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
    /// A performance of a concert: one date. Buyers pick an "option".
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
