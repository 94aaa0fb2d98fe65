//! Amounts of money, in minor units of an ISO 4217 currency.

use std::{fmt, str::FromStr};

use super::InvalidValue;

/// An ISO 4217 currency code, stored inline so that `Money` is `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Currency([u8; 3]);

impl Currency {
    /// Euro, the default of the reference data.
    pub const EUR: Self = Self(*b"EUR");

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII letters get in (see `FromStr`), so this cannot fail.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl FromStr for Currency {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, InvalidValue> {
        match raw.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphabetic) => {
                Ok(Self([a, b, c].map(|x| x.to_ascii_uppercase())))
            }
            _ => Err(InvalidValue::new("currency", raw)),
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount in minor units of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Money {
    /// The currency.
    pub currency: Currency,
    /// Minor units (cents).
    pub minor: i64,
}

impl Money {
    /// `minor` cents of `currency`.
    pub fn new(currency: Currency, minor: i64) -> Self {
        Self { currency, minor }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.minor < 0 { "-" } else { "" };
        let abs = self.minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_prints_with_two_decimals_and_its_currency() {
        assert_eq!(Money::new(Currency::EUR, 1999).to_string(), "19.99 EUR");
        assert_eq!(Money::new(Currency::EUR, -5).to_string(), "-0.05 EUR");
    }

    #[test]
    fn currencies_are_three_letters() {
        assert_eq!(
            "gbp".parse::<Currency>().map(|c| c.to_string()),
            Ok("GBP".into())
        );
        assert!("EURO".parse::<Currency>().is_err());
        assert!("E1R".parse::<Currency>().is_err());
    }
}
