//! Money as the API takes it: an amount in minor units and a currency, in two flat fields.

use crate::domain::{Currency, Money, Patch};
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

/// The patch of a [`Money`] from the patches of its two flat fields: both kept keeps it, one
/// cleared (the other kept or cleared) clears it, both set set it.
///
/// # Errors
/// A [`ValidationError`] naming the missing field when only one of the two is set, or
/// `currency` when it is unknown.
pub fn money_patch_from_parts(
    amount_minor: Patch<i64>,
    currency: Patch<String>,
) -> Result<Patch<Money>, ValidationError> {
    match (amount_minor, currency) {
        (Patch::Keep, Patch::Keep) => Ok(Patch::Keep),
        (Patch::Clear, Patch::Clear | Patch::Keep) | (Patch::Keep, Patch::Clear) => {
            Ok(Patch::Clear)
        }
        (Patch::Set(a), Patch::Set(c)) => {
            Ok(money_from_parts(Some(a), Some(&c))?.map_or(Patch::Clear, Patch::Set))
        }
        (Patch::Set(_), _) => Err(ValidationError::new(
            "currency",
            "is required with amount_minor",
        )),
        (_, Patch::Set(_)) => Err(ValidationError::new(
            "amount_minor",
            "is required with currency",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_money_patch_needs_both_fields_to_set_and_either_to_clear() {
        let field =
            |r: Result<Patch<Money>, ValidationError>| r.unwrap_err().errors[0].field.clone();
        assert_eq!(
            money_patch_from_parts(Patch::Keep, Patch::Keep).unwrap(),
            Patch::Keep
        );
        assert_eq!(
            money_patch_from_parts(Patch::Clear, Patch::Keep).unwrap(),
            Patch::Clear
        );
        assert_eq!(
            money_patch_from_parts(Patch::Keep, Patch::Clear).unwrap(),
            Patch::Clear
        );
        let set = money_patch_from_parts(Patch::Set(500), Patch::Set("EUR".into())).unwrap();
        assert!(matches!(set, Patch::Set(m) if m.amount_minor == 500));
        assert_eq!(
            field(money_patch_from_parts(Patch::Set(5), Patch::Clear)),
            "currency"
        );
        assert_eq!(
            field(money_patch_from_parts(
                Patch::Keep,
                Patch::Set("EUR".into())
            )),
            "amount_minor"
        );
        assert_eq!(
            field(money_patch_from_parts(
                Patch::Set(5),
                Patch::Set("XXQ".into())
            )),
            "currency"
        );
    }
}
