//! Money as the API takes it: an amount in minor units and a currency, in two flat fields.

use crate::domain::{Currency, Money};
use crate::error::{ValidationError, Validator};

pub(super) fn check_amount(v: &mut Validator, amount: Option<&Money>) {
    if let Some(m) = amount {
        v.require(m.amount_minor >= 0, "amount_minor", "must not be negative");
    }
}

/// Builds a [`Money`] from the two flat fields the API uses (`amount_minor`, `currency`).
///
/// # Errors
/// A [`ValidationError`] when only one of the two is given or the currency is unknown.
pub fn money_from_parts(
    amount_minor: Option<i64>,
    currency: Option<&str>,
) -> Result<Option<Money>, ValidationError> {
    match (amount_minor, currency) {
        (None, None) => Ok(None),
        (Some(amount_minor), Some(c)) => {
            let currency =
                Currency::parse(c).map_err(|e| ValidationError::new("currency", e.to_string()))?;
            Ok(Some(Money {
                amount_minor,
                currency,
            }))
        }
        (Some(_), None) => Err(ValidationError::new(
            "currency",
            "is required with amount_minor",
        )),
        (None, Some(_)) => Err(ValidationError::new(
            "amount_minor",
            "is required with currency",
        )),
    }
}
