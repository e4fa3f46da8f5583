//! Validated values. Each is parsed once at the edge; inside the engine a value of one of these
//! types is valid by construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! string_value {
    ($name:ident, $err:ident) => {
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = $err;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// An email address, checked against RFC 5322's addr-spec. Compared case-insensitively.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct EmailAddress(String);

/// Why a string is not an [`EmailAddress`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct InvalidEmail;

impl EmailAddress {
    /// Parses and normalises an address: trimmed, domain and local part lower-cased (mail
    /// systems treat local parts case-insensitively in practice, and people are matched so).
    ///
    /// # Errors
    /// [`InvalidEmail`] when `s` is not a single addr-spec with a domain.
    pub fn parse(s: &str) -> Result<Self, InvalidEmail> {
        let s = s.trim();
        if s.len() > 254 || !s.contains('@') {
            return Err(InvalidEmail);
        }
        let parsed = email_address::EmailAddress::from_str(s).map_err(|_| InvalidEmail)?;
        // Display names ("Ann <a@b.c>") are not addresses.
        if parsed.email() != s || !parsed.domain().contains('.') {
            return Err(InvalidEmail);
        }
        Ok(Self(s.to_lowercase()))
    }

    /// The domain part, e.g. `example.com`.
    #[must_use]
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }
}
string_value!(EmailAddress, InvalidEmail);

/// A phone number in E.164 form (`+14155550100`), validated against libphonenumber's metadata.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct E164(String);

/// Why a string is not an [`E164`] number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid phone number in E.164 form (e.g. +14155550100)")]
pub struct InvalidPhone;

impl E164 {
    /// Parses a number written with its country code (`+44 20 7946 0958`, `+14155550100`)
    /// and normalises it to E.164.
    ///
    /// # Errors
    /// [`InvalidPhone`] when the number has no leading `+` country code or is not a valid
    /// number for its region.
    pub fn parse(s: &str) -> Result<Self, InvalidPhone> {
        let s = s.trim();
        if !s.starts_with('+') || s.len() > 32 {
            return Err(InvalidPhone);
        }
        let number = phonenumber::parse(None, s).map_err(|_| InvalidPhone)?;
        if !phonenumber::is_valid(&number) {
            return Err(InvalidPhone);
        }
        Ok(Self(
            number.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }
}
string_value!(E164, InvalidPhone);

/// An ISO 4217 currency code.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Currency(iso_currency::Currency);

/// Why a string is not a [`Currency`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ISO 4217 currency code (e.g. USD)")]
pub struct InvalidCurrency;

impl Currency {
    /// Parses an upper-case ISO 4217 code such as `USD` or `EUR`.
    ///
    /// # Errors
    /// [`InvalidCurrency`] for anything else.
    pub fn parse(s: &str) -> Result<Self, InvalidCurrency> {
        iso_currency::Currency::from_code(s)
            .map(Self)
            .ok_or(InvalidCurrency)
    }

    /// The three-letter code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Every code [`Currency::parse`] accepts, in alphabetical order (what the API documents).
    #[must_use]
    pub fn codes() -> Vec<&'static str> {
        let letters = b'A'..=b'Z';
        letters
            .clone()
            .flat_map(|a| letters.clone().map(move |b| (a, b)))
            .flat_map(|(a, b)| letters.clone().map(move |c| [a, b, c]))
            .filter_map(|code| {
                let code = std::str::from_utf8(&code).ok()?;
                iso_currency::Currency::from_code(code).map(|c| c.code())
            })
            .collect()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = InvalidCurrency;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// An amount of money in integer minor units (cents for USD), never floating point.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Money {
    /// The amount in the currency's minor unit.
    pub amount_minor: i64,
    /// The currency.
    pub currency: Currency,
}

/// An absolute `http` or `https` URL with a host.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct HttpUrl(String);

/// Why a string is not an [`HttpUrl`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an absolute http(s) URL")]
pub struct InvalidUrl;

impl HttpUrl {
    /// Parses an absolute `http`/`https` URL with a host and no credentials.
    ///
    /// # Errors
    /// [`InvalidUrl`] for other schemes, relative URLs, or URLs with a user or password.
    pub fn parse(s: &str) -> Result<Self, InvalidUrl> {
        let url = url::Url::parse(s.trim()).map_err(|_| InvalidUrl)?;
        let ok = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none();
        if ok {
            Ok(Self(url.into()))
        } else {
            Err(InvalidUrl)
        }
    }

    /// The parsed URL.
    ///
    /// # Panics
    /// Never: the string was a valid URL when constructed.
    #[must_use]
    pub fn to_url(&self) -> url::Url {
        url::Url::parse(&self.0).expect("validated on construction")
    }

    /// The URL as shown to those who may not use it: scheme, host and port kept, the path and
    /// query replaced by `/[redacted]`. Capability URLs (Slack, Zapier, …) carry their secret
    /// in the path or query, so only admins see them whole.
    #[must_use]
    pub fn redacted(&self) -> Self {
        let url = self.to_url();
        let host = url.host_str().unwrap_or_default();
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        Self(format!("{}://{host}{port}/[redacted]", url.scheme()))
    }
}
string_value!(HttpUrl, InvalidUrl);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_validated_and_normalised() {
        let e = EmailAddress::parse("  Ann.Lee@Example.COM ").unwrap();
        assert_eq!(e.as_ref(), "ann.lee@example.com");
        assert_eq!(e.domain(), "example.com");
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "Ann <ann@example.com>",
            "a b@c.com",
            "a@localhost",
        ] {
            assert!(
                EmailAddress::parse(bad).is_err(),
                "{bad:?} must be rejected"
            );
        }
    }

    #[test]
    fn phone_is_normalised_to_e164() {
        assert_eq!(
            E164::parse("+1 (415) 555-2671").unwrap().as_ref(),
            "+14155552671"
        );
        assert_eq!(
            E164::parse("+44 20 7946 0958").unwrap().as_ref(),
            "+442079460958"
        );
        for bad in [
            "4155552671",
            "+1",
            "+1 555",
            "+999 123",
            "hello",
            "+1415555267199999",
        ] {
            assert!(E164::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn currency_codes_are_what_parse_accepts() {
        let codes = Currency::codes();
        assert!(codes.len() > 150, "ISO 4217 lists over 150 codes");
        assert!(codes.contains(&"USD") && codes.contains(&"EUR"));
        assert!(codes.windows(2).all(|w| w[0] < w[1]), "sorted, no repeats");
        assert!(codes.iter().all(|c| Currency::parse(c).is_ok()));
    }

    #[test]
    fn currency_is_iso_4217() {
        assert_eq!(Currency::parse("EUR").unwrap().code(), "EUR");
        assert!(Currency::parse("XYZ").is_err());
        assert!(Currency::parse("usd").is_err());
        let json = serde_json::to_string(&Money {
            amount_minor: 1999,
            currency: Currency::parse("USD").unwrap(),
        })
        .unwrap();
        assert_eq!(json, r#"{"amount_minor":1999,"currency":"USD"}"#);
    }

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(HttpUrl::parse("https://example.com/hook").is_ok());
        for bad in [
            "ftp://example.com",
            "/relative",
            "https://user:pw@example.com",
            "javascript:alert(1)",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn redacted_url_keeps_only_scheme_host_and_port() {
        let url =
            HttpUrl::parse("https://hooks.slack.com/services/T0/B0/s3cr3t?token=t0k").unwrap();
        assert_eq!(
            url.redacted().as_ref(),
            "https://hooks.slack.com/[redacted]"
        );
        let url = HttpUrl::parse("http://[::1]:8080/x#frag").unwrap();
        assert_eq!(url.redacted().as_ref(), "http://[::1]:8080/[redacted]");
        assert!(HttpUrl::parse(url.redacted().as_ref()).is_ok());
    }
}
