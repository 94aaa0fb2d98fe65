//! Identifiers and lookup keys: parsed and normalised once, at the edge, so that the rest of
//! the crate only ever sees valid ones.

use std::{fmt, str::FromStr};

/// Why a key could not be parsed. The message is safe to show to a caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Nothing was given.
    #[error("must not be empty")]
    Empty,
    /// An id that is not a positive integer.
    #[error("must be a positive integer, e.g. \"1042\"")]
    NotAnId,
    /// A SKU with characters other than letters, digits and dashes, or too long.
    #[error("must be 1 to 32 letters, digits or dashes, e.g. \"ELE-00042\"")]
    BadSku,
    /// Not an email address.
    #[error("must be an email address, e.g. \"ada@example.com\"")]
    BadEmail,
    /// A phone number without an international prefix.
    #[error("must start with a country code, as \"+44 …\" or \"0044 …\"")]
    PhoneNeedsCountryCode,
    /// Not a phone number.
    #[error("must be a phone number of 8 to 15 digits, e.g. \"+44 20 7946 0018\"")]
    BadPhone,
}

/// Parses the decimal text of a positive 63-bit integer, the shape of every backend id.
fn parse_id(raw: &str) -> Result<i64, KeyError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(KeyError::Empty);
    }
    if !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(KeyError::NotAnId);
    }
    match raw.parse::<i64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(KeyError::NotAnId),
    }
}

macro_rules! backend_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        pub struct $name(i64);

        impl $name {
            /// The id, if `raw` is positive.
            pub fn new(raw: i64) -> Option<Self> {
                (raw > 0).then_some(Self(raw))
            }

            /// The id as the backends store it.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl FromStr for $name {
            type Err = KeyError;

            fn from_str(raw: &str) -> Result<Self, KeyError> {
                parse_id(raw).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

backend_id!(
    /// A customer's id, as CRM assigns it.
    CustomerId
);
backend_id!(
    /// An order's id, as the orders system assigns it.
    OrderId
);

/// A stock-keeping unit, upper case.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Sku(String);

impl Sku {
    /// The SKU as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Sku {
    type Err = KeyError;

    fn from_str(raw: &str) -> Result<Self, KeyError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(KeyError::Empty);
        }
        let valid = raw.len() <= 32 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid {
            return Err(KeyError::BadSku);
        }
        Ok(Self(raw.to_ascii_uppercase()))
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, trimmed and lower case, as CRM stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Email(String);

impl Email {
    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = KeyError;

    fn from_str(raw: &str) -> Result<Self, KeyError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(KeyError::Empty);
        }
        let (local, domain) = raw.split_once('@').ok_or(KeyError::BadEmail)?;
        let valid = raw.len() <= 254
            && !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
            && !domain.contains('@');
        if !valid {
            return Err(KeyError::BadEmail);
        }
        Ok(Self(raw.to_lowercase()))
    }
}

/// A phone number in E.164 (`+` and 8 to 15 digits), as CRM stores it.
///
/// Callers write numbers in many ways; all of these are `+442079460018`:
/// `+44 20 7946 0018`, `0044 20 7946 0018`, `+44 (0)20 7946-0018`, `00442079460018`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Phone(String);

impl Phone {
    /// The number in E.164.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Phone {
    type Err = KeyError;

    fn from_str(raw: &str) -> Result<Self, KeyError> {
        // "(0)" is the trunk prefix some countries write inside international numbers:
        // it is never dialled from abroad.
        let raw = raw.trim().replace("(0)", "");
        if raw.is_empty() {
            return Err(KeyError::Empty);
        }
        let mut digits = String::with_capacity(16);
        let mut plus = false;
        for c in raw.chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if digits.is_empty() && !plus => plus = true,
                ' ' | '-' | '.' | '(' | ')' | '/' => {}
                _ => return Err(KeyError::BadPhone),
            }
        }
        let international = match (plus, digits.strip_prefix("00")) {
            (true, _) => digits.as_str(),
            (false, Some(rest)) => rest,
            (false, None) if digits.is_empty() => return Err(KeyError::BadPhone),
            (false, None) => return Err(KeyError::PhoneNeedsCountryCode),
        };
        let valid = (8..=15).contains(&international.len()) && !international.starts_with('0');
        if !valid {
            return Err(KeyError::BadPhone);
        }
        Ok(Self(format!("+{international}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!("1042".parse::<CustomerId>().map(CustomerId::get), Ok(1042));
        assert_eq!(" 7 ".parse::<OrderId>().map(OrderId::get), Ok(7));
        assert_eq!("".parse::<CustomerId>(), Err(KeyError::Empty));
        for bad in ["0", "-3", "+3", "abc", "12a", "1.5", "99999999999999999999"] {
            assert_eq!(bad.parse::<CustomerId>(), Err(KeyError::NotAnId), "{bad}");
        }
        assert_eq!(CustomerId::new(0), None);
    }

    #[test]
    fn the_same_phone_number_in_every_notation_normalises_to_one_e164() {
        let expected = "+442079460018";
        for raw in [
            "+44 20 7946 0018",
            "00442079460018",
            "+442079460018",
            "0044 20 7946 0018",
            "+44 (0)20 7946-0018",
            " +44.20.7946.0018 ",
        ] {
            let phone: Phone = raw.parse().unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(phone.as_str(), expected, "{raw}");
        }
    }

    #[test]
    fn phone_numbers_without_a_country_code_or_with_junk_are_refused() {
        assert_eq!(
            "020 7946 0018".parse::<Phone>(),
            Err(KeyError::PhoneNeedsCountryCode)
        );
        assert_eq!("+44 20 ext 5".parse::<Phone>(), Err(KeyError::BadPhone));
        assert_eq!("+1234".parse::<Phone>(), Err(KeyError::BadPhone));
        assert_eq!(
            "+4420794600181234567".parse::<Phone>(),
            Err(KeyError::BadPhone)
        );
        assert_eq!("++44207946001".parse::<Phone>(), Err(KeyError::BadPhone));
        assert_eq!("  ".parse::<Phone>(), Err(KeyError::Empty));
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        let email: Email = "  Ada.Lovelace@Example.COM ".parse().unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
        for bad in [
            "ada",
            "@example.com",
            "ada@example",
            "ada@.com",
            "a b@example.com",
            "a@b@c.com",
        ] {
            assert_eq!(bad.parse::<Email>(), Err(KeyError::BadEmail), "{bad}");
        }
    }

    #[test]
    fn skus_are_upper_cased_and_checked() {
        assert_eq!("ele-00042".parse::<Sku>().unwrap().as_str(), "ELE-00042");
        assert_eq!("ELE 42".parse::<Sku>(), Err(KeyError::BadSku));
        assert_eq!("X".repeat(33).parse::<Sku>(), Err(KeyError::BadSku));
    }
}
