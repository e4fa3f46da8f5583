//! The engine's error type: variants a caller acts on, not strings to parse.

use std::time::Duration;

/// A boxed error kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result type of the engine's APIs.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the engine can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The record does not exist *for this tenant*. A record of another org reads as not found,
    /// never as forbidden, so ids leak no existence.
    #[error("{kind} not found")]
    NotFound {
        /// The entity kind, e.g. `person`.
        kind: &'static str,
    },
    /// The write conflicts with an existing record (a unique value already taken).
    #[error("conflict on {field}: {message}")]
    Conflict {
        /// The field whose value is taken, e.g. `email`.
        field: String,
        /// What conflicts.
        message: String,
    },
    /// Input failed validation.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The actor's role does not allow the operation.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The caller must wait before trying again.
    #[error("rate limited, retry after {retry_after:?}")]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// A dependency (database, provider) is unavailable; the operation may succeed later.
    #[error("unavailable: {message}")]
    Unavailable {
        /// What is unavailable.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
    /// A provider (Gmail, Twilio, a webhook receiver) answered with an error.
    #[error("{provider} error{}: {message}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
    Provider {
        /// Which provider, e.g. `twilio`.
        provider: &'static str,
        /// The HTTP status, when there was one.
        status: Option<u16>,
        /// The provider's own error code, when it gave one.
        code: Option<String>,
        /// The provider's message.
        message: String,
    },
    /// A bug or an unexpected state in the engine or its storage.
    #[error("internal error: {message}")]
    Internal {
        /// What went wrong.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// A [`Error::NotFound`] for the entity kind `kind`.
    #[must_use]
    pub fn not_found(kind: &'static str) -> Self {
        Self::NotFound { kind }
    }

    /// A [`Error::Conflict`] on `field`.
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }

    /// A [`Error::Validation`] with a single field error.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(ValidationError::new(field, message))
    }

    /// A [`Error::Internal`] wrapping `source`.
    pub fn internal(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Internal {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// A [`Error::Unavailable`] wrapping `source`.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable {
            message: message.into(),
            source: Some(source.into()),
        }
    }
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// The field's name as the caller spelt it, e.g. `email` or `additional_emails[1]`.
    pub field: String,
    /// Why it is invalid.
    pub message: String,
}

/// Input that failed validation: every invalid field, named.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", .errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ValidationError {
    /// The invalid fields, at least one.
    pub errors: Vec<FieldError>,
}

impl ValidationError {
    /// A validation error on one field.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    /// The same errors, each field name prefixed with `prefix.` (for nested input).
    #[must_use]
    pub fn at(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            e.field = format!("{prefix}{}", e.field);
        }
        self
    }
}

/// Collects field errors so that one answer names every invalid field, not just the first.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    /// An empty collector.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs a parse, keeping its value or recording its error under `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: std::result::Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(FieldError {
                    field: field.to_owned(),
                    message: e.to_string(),
                });
                None
            }
        }
    }

    /// Records an error under `field` when `ok` is false.
    pub fn require(&mut self, ok: bool, field: &str, message: &str) {
        if !ok {
            self.errors.push(FieldError {
                field: field.to_owned(),
                message: message.to_owned(),
            });
        }
    }

    /// `Ok(())` when no error was recorded.
    ///
    /// # Errors
    /// A [`ValidationError`] naming every recorded field.
    pub fn finish(self) -> std::result::Result<(), ValidationError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                errors: self.errors,
            })
        }
    }
}
