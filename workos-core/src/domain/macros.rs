//! `string_enum!`, the declaration of the engine's closed string enums (deal stages, task
//! statuses, lead statuses, routing strategies, …), shared by every domain module.

/// Declares a closed string enum with serde, `Display`, `FromStr` and `as_str`.
///
/// Attributes before the name go on the enum, so `#[derive(Default)]` with a `#[default]`
/// value gives it a default.
///
/// Each value is a `tt`, not a `literal`: a `literal` fragment reaches utoipa's derive
/// wrapped in an invisible group, which it does not read as `#[serde(rename = …)]`, and the
/// OpenAPI schema then listed the Rust variant names instead of the values sent.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident = $s:tt),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
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

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::error::Error;

            fn from_str(s: &str) -> ::std::result::Result<Self, $crate::error::Error> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    _ => Err($crate::error::Error::invalid($field, concat!("must be one of: ", $($s, " "),+).trim_end())),
                }
            }
        }
    };
}
