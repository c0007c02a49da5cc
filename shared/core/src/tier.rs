use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// Membership tier. The order matters: a presale open to GOLD is open to VIP too.
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
#[serde(rename_all = "UPPERCASE")]
pub enum Tier {
    Basic,
    Silver,
    Gold,
    Vip,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Basic, Tier::Silver, Tier::Gold, Tier::Vip];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Basic => "BASIC",
            Tier::Silver => "SILVER",
            Tier::Gold => "GOLD",
            Tier::Vip => "VIP",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = ValidationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                ValidationError::new(
                    "tier",
                    format!("must be one of BASIC, SILVER, GOLD, VIP, got {s:?}"),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_are_ordered() {
        assert!(Tier::Basic < Tier::Silver && Tier::Silver < Tier::Gold && Tier::Gold < Tier::Vip);
        assert_eq!("gold".parse::<Tier>().unwrap(), Tier::Gold);
        assert!("PLATINUM".parse::<Tier>().is_err());
    }
}
