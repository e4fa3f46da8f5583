//! Reading a JSON object into a typed value, naming what is wrong: unreadable text, a value
//! that is not an object, or the field (`additional_emails[1]`, `consent.text`) whose shape or
//! value does not fit. What a server turns into 400 and 422 answers.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Why JSON did not read as the type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonObjectError {
    /// Not JSON at all (the parser's message).
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// JSON, but not an object.
    #[error("must be a JSON object")]
    NotAnObject,
    /// An object whose `field` has the wrong shape or value (`body` when no field is to blame).
    #[error("{field}: {message}")]
    Invalid {
        /// The path of the field, e.g. `answers` or `consent.text`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
}

/// Reads `bytes` as a JSON object of type `T`. A number written with a zero fraction (`15.0`)
/// reads as the integer it is, as JSON Schema defines an integer (a client that writes every
/// number as a float, as JavaScript's and some generators' do, is not refused).
///
/// # Errors
/// [`JsonObjectError::Malformed`] for unreadable text, the errors of [`from_object`] otherwise.
pub fn from_object_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonObjectError> {
    // Read the JSON first, so only unreadable text is "malformed"; then check its shape, so a
    // value of the wrong type (an enum given a number, an array for an object) names the field
    // rather than being a "syntax" error.
    let mut value: Value =
        serde_json::from_slice(bytes).map_err(|e| JsonObjectError::Malformed(e.to_string()))?;
    whole_floats_as_integers(&mut value);
    from_object(value)
}

/// Replaces every float with no fractional part that fits an `i64` or a `u64` (`15.0`, `-2.0`)
/// by that integer, in place. Other floats stay as they are.
fn whole_floats_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            let Some(f) = n.as_f64() else { return };
            if f.fract() != 0.0 || !f.is_finite() {
                return;
            }
            // The casts are exact: `f` is whole and checked to lie in the target's range.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let whole = if (0.0..18_446_744_073_709_551_616.0).contains(&f) {
                Some(serde_json::Number::from(f as u64))
            } else if (-9_223_372_036_854_775_808.0..0.0).contains(&f) {
                Some(serde_json::Number::from(f as i64))
            } else {
                None
            };
            if let Some(whole) = whole {
                *n = whole;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_floats_as_integers),
        Value::Object(map) => map.values_mut().for_each(whole_floats_as_integers),
        _ => {}
    }
}

/// Reads `value`, which must be an object, as a `T`.
///
/// # Errors
/// [`JsonObjectError::NotAnObject`]; [`JsonObjectError::Invalid`] naming the field (a missing
/// field is named itself, not its parent).
pub fn from_object<T: DeserializeOwned>(value: Value) -> Result<T, JsonObjectError> {
    if !value.is_object() {
        return Err(JsonObjectError::NotAnObject);
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let mut field = if path == "." { String::new() } else { path };
        if let Some(missing) = quoted_after(&message, "missing field `") {
            field = if field.is_empty() {
                missing.to_owned()
            } else {
                format!("{field}.{missing}")
            };
        }
        if field.is_empty() {
            field = "body".to_owned();
        }
        JsonObjectError::Invalid { field, message }
    })
}

/// The name between backticks after `prefix`, in serde's messages (`unknown field `x``).
#[must_use]
pub fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    message
        .strip_prefix(prefix)
        .and_then(|m| m.split('`').next())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
        tags: Vec<u32>,
    }

    #[test]
    fn errors_name_the_field() {
        assert!(matches!(
            from_object_slice::<Input>(b"{"),
            Err(JsonObjectError::Malformed(_))
        ));
        assert_eq!(
            from_object_slice::<Input>(b"[1]").unwrap_err(),
            JsonObjectError::NotAnObject
        );
        let JsonObjectError::Invalid { field, .. } =
            from_object_slice::<Input>(br#"{"name": "a", "tags": [1, "x"]}"#).unwrap_err()
        else {
            panic!("a field error");
        };
        assert_eq!(field, "tags[1]");
        let JsonObjectError::Invalid { field, .. } =
            from_object_slice::<Input>(br#"{"tags": []}"#).unwrap_err()
        else {
            panic!("a field error");
        };
        assert_eq!(field, "name");
        assert!(from_object_slice::<Input>(br#"{"name": "a", "tags": [1]}"#).is_ok());
    }

    #[test]
    fn whole_floats_read_as_integers() {
        let input = from_object_slice::<Input>(br#"{"name": "a", "tags": [15.0, 0.0, 7]}"#)
            .expect("whole floats are integers");
        assert_eq!(input.tags, [15, 0, 7]);
        let JsonObjectError::Invalid { field, .. } =
            from_object_slice::<Input>(br#"{"name": "a", "tags": [1.5]}"#).unwrap_err()
        else {
            panic!("a field error");
        };
        assert_eq!(field, "tags[0]");
        let JsonObjectError::Invalid { field, .. } =
            from_object_slice::<Input>(br#"{"name": "a", "tags": [-3.0]}"#).unwrap_err()
        else {
            panic!("a field error");
        };
        assert_eq!(
            field, "tags[0]",
            "a negative whole float is still not a u32"
        );
        let mut value = serde_json::json!({ "f": 2.5, "big": 1e300, "neg": -4.0 });
        whole_floats_as_integers(&mut value);
        assert_eq!(
            value,
            serde_json::json!({ "f": 2.5, "big": 1e300, "neg": -4 })
        );
    }

    #[test]
    fn large_whole_floats_are_read_exactly() {
        // Without serde_json's exact float parsing this read as 2182172830931127.25, a float
        // with a fraction, and a schema-valid integer was refused.
        #[derive(Debug, serde::Deserialize)]
        struct Amount {
            amount_minor: i64,
        }
        let read = from_object_slice::<Amount>(br#"{"amount_minor": 2182172830931127.0}"#)
            .expect("a whole float is an integer");
        assert_eq!(read.amount_minor, 2_182_172_830_931_127);
    }
}
