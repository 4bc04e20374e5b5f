//! The commerce part: offers, order lines and the subscription state machine.

use crate::ValidationErrors;
use serde::{Deserialize, Serialize};

/// Order lines per order.
pub const MAX_ORDER_ITEMS: usize = 50;
/// Seats per subscription.
pub const MAX_QUANTITY: i64 = 100_000;
pub const MAX_UNIT_PRICE_CENTS: i64 = 100_000_000;

/// An ISO 4217 currency code: three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Currency(String);

impl Currency {
    pub fn parse(field: &str, s: &str) -> Result<Self, ValidationErrors> {
        let s = s.trim();
        if s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValidationErrors::one(field, "must be three upper-case letters (ISO 4217), such as EUR"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub fn unit_price(field: &str, cents: i64) -> Result<i64, ValidationErrors> {
    if (0..=MAX_UNIT_PRICE_CENTS).contains(&cents) {
        Ok(cents)
    } else {
        Err(ValidationErrors::one(field, format!("must be 0 to {MAX_UNIT_PRICE_CENTS}")))
    }
}

pub fn quantity(field: &str, n: i64) -> Result<i64, ValidationErrors> {
    if (1..=MAX_QUANTITY).contains(&n) { Ok(n) } else { Err(ValidationErrors::one(field, format!("must be 1 to {MAX_QUANTITY}"))) }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Suspended,
    Cancelled,
}

impl SubscriptionStatus {
    pub const ALL: [SubscriptionStatus; 3] = [Self::Active, Self::Suspended, Self::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Cancelled => "cancelled",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
    /// `active <-> suspended`, either to `cancelled`; cancelled is final. Staying put is allowed.
    pub fn can_become(self, next: Self) -> bool {
        self == next || (self != Self::Cancelled)
    }
    /// Holds the partner's relationship: an active or suspended subscription blocks its removal.
    pub fn is_open(self) -> bool {
        self != Self::Cancelled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubscriptionStatus::*;

    #[test]
    fn cancelled_is_final_and_everything_else_moves_freely() {
        for from in SubscriptionStatus::ALL {
            for to in SubscriptionStatus::ALL {
                assert_eq!(from.can_become(to), from != Cancelled || to == Cancelled, "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn currencies_prices_and_quantities_are_bounded() {
        assert!(Currency::parse("c", "EUR").is_ok());
        for bad in ["eur", "EURO", "E1R", ""] {
            assert!(Currency::parse("c", bad).is_err(), "{bad}");
        }
        assert!(unit_price("p", -1).is_err() && unit_price("p", 0).is_ok());
        assert!(quantity("q", 0).is_err() && quantity("q", MAX_QUANTITY + 1).is_err() && quantity("q", 1).is_ok());
    }
}
