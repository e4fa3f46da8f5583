//! CRM records: companies, people, deals, tasks and interactions, a module each (`money`
//! holds the flat amount and currency fields deals take), all re-exported here.

/// Declares a closed string enum with serde, `Display`, `FromStr` and `as_str`.
///
/// Each value is a `tt`, not a `literal`: a `literal` fragment reaches utoipa's derive
/// wrapped in an invisible group, which it does not read as `#[serde(rename = …)]`, and the
/// OpenAPI schema then listed the Rust variant names instead of the values sent.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident = $s:tt),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $s)] $variant),+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value's name as stored and shown.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    _ => Err(Error::invalid($field, concat!("must be one of: ", $($s, " "),+).trim_end())),
                }
            }
        }
    };
}

mod companies;
mod deals;
mod interactions;
mod money;
mod people;
mod tasks;

pub use companies::*;
pub use deals::*;
pub use interactions::*;
pub use money::*;
pub use people::*;
pub use tasks::*;
