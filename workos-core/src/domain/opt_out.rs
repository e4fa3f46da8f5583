//! SMS opt-outs: who replied STOP to an org (or whom Twilio refused as unsubscribed), so the
//! engine stops its own sends first, and the keywords an inbound message can be.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::E164;
use crate::ids::{OrgId, SmsId};

/// What an inbound message of one word asks for. Matching is as carriers and Twilio match:
/// the whole message, one word, any case, surrounding whitespace and punctuation ignored
/// ("Stop." opts out; "please stop" does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SmsKeyword {
    /// STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT: no more messages from the org.
    OptOut,
    /// START, UNSTOP, YES: messages may resume.
    OptIn,
    /// HELP, INFO: answered with the org's help text.
    Help,
}

impl SmsKeyword {
    /// The opt-out keywords.
    pub const OPT_OUT: &'static [&'static str] =
        &["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
    /// The opt-in keywords.
    pub const OPT_IN: &'static [&'static str] = &["START", "UNSTOP", "YES"];
    /// The help keywords.
    pub const HELP: &'static [&'static str] = &["HELP", "INFO"];

    /// The keyword `body` is, if it is one (and which word it was, upper-cased).
    #[must_use]
    pub fn of(body: &str) -> Option<(Self, String)> {
        let word = body
            .trim()
            .trim_matches(|c: char| c.is_ascii_punctuation() || c.is_whitespace())
            .to_ascii_uppercase();
        let kind = if Self::OPT_OUT.contains(&word.as_str()) {
            Self::OptOut
        } else if Self::OPT_IN.contains(&word.as_str()) {
            Self::OptIn
        } else if Self::HELP.contains(&word.as_str()) {
            Self::Help
        } else {
            return None;
        };
        Some((kind, word))
    }
}

/// How an opt-out (or opt-in) became known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OptOutSource {
    /// The person texted a keyword to one of the org's numbers.
    InboundKeyword,
    /// Twilio refused a send with error 21610 (the person had replied STOP to Twilio).
    #[serde(rename = "twilio_error_21610")]
    TwilioError21610,
}

impl OptOutSource {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InboundKeyword => "inbound_keyword",
            Self::TwilioError21610 => "twilio_error_21610",
        }
    }

    /// Parses a stored name.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `source`.
    pub fn parse(s: &str) -> crate::Result<Self> {
        match s {
            "inbound_keyword" => Ok(Self::InboundKeyword),
            "twilio_error_21610" => Ok(Self::TwilioError21610),
            _ => Err(crate::Error::invalid("source", "unknown opt-out source")),
        }
    }
}

/// An org's SMS consent state for one phone number: the latest opt-out or opt-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SmsOptOut {
    /// Its id (stable for the org and number).
    pub id: Uuid,
    /// The org.
    pub org_id: OrgId,
    /// The phone number (E.164).
    pub number: E164,
    /// Whether the number is opted out now (false after START).
    pub opted_out: bool,
    /// The keyword that changed it, upper-cased (`STOP`, `START`, …); none for Twilio's 21610.
    pub keyword: Option<String>,
    /// How the latest change became known.
    pub source: OptOutSource,
    /// The inbound message that carried the keyword.
    pub sms_id: Option<SmsId>,
    /// When it last changed.
    pub changed_at: DateTime<Utc>,
    /// When the number was first recorded.
    pub created_at: DateTime<Utc>,
}

/// A change of a number's consent to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptOutChange {
    /// The phone number.
    pub number: E164,
    /// Opted out (true) or back in (false).
    pub opted_out: bool,
    /// The keyword, upper-cased.
    pub keyword: Option<String>,
    /// How it became known.
    pub source: OptOutSource,
    /// The inbound message that carried the keyword.
    pub sms_id: Option<SmsId>,
}

/// One phone of a person as the API shows it: the number and whether SMS to it is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PersonPhone {
    /// The number.
    pub number: E164,
    /// Whether it is the person's primary phone.
    pub primary: bool,
    /// Whether the number opted out of the org's SMS (replied STOP, or Twilio said 21610).
    pub sms_opted_out: bool,
}

impl PersonPhone {
    /// The phones of `person`, primary first, each marked opted out when `opted_out` has it.
    #[must_use]
    pub fn of(person: &super::Person, opted_out: &[E164]) -> Vec<Self> {
        person
            .phones()
            .enumerate()
            .map(|(i, n)| Self {
                number: n.clone(),
                primary: i == 0 && person.phone.is_some(),
                sms_opted_out: opted_out.contains(n),
            })
            .collect()
    }
}

/// The org's SMS settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// What a HELP or INFO message is answered with, 1–320 characters, not blank, no NUL; a
    /// default naming the org when unset.
    #[cfg_attr(
        feature = "openapi",
        schema(
            min_length = 1,
            max_length = 320,
            pattern = r"^[^\u0000]*[^\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\u0000][^\u0000]*$"
        )
    )]
    pub help_text: Option<String>,
}

/// The longest help text (one SMS segment pair; carriers expect it short).
pub const MAX_HELP_TEXT_CHARS: usize = 320;

impl SmsSettings {
    /// Checks the help text's length.
    ///
    /// # Errors
    /// [`crate::Error::Validation`] on `help_text`.
    pub fn validate(&self) -> crate::Result<()> {
        if let Some(text) = &self.help_text {
            let n = text.trim().chars().count();
            if n == 0 || n > MAX_HELP_TEXT_CHARS {
                return Err(crate::Error::invalid(
                    "help_text",
                    format!("must be 1 to {MAX_HELP_TEXT_CHARS} characters"),
                ));
            }
            if text.contains('\0') {
                return Err(crate::Error::invalid(
                    "help_text",
                    "must not contain NUL characters",
                ));
            }
        }
        Ok(())
    }

    /// The help text to answer with for the org named `org_name`.
    #[must_use]
    pub fn help_reply(&self, org_name: &str) -> String {
        self.help_text.clone().unwrap_or_else(|| {
            format!("{org_name}: reply STOP to stop messages, START to resume. Msg&data rates may apply.")
        })
    }
}

/// The org's call settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CallSettings {
    /// Record connected calls (both legs, one channel each) placed with click-to-call.
    pub record_calls: bool,
    /// Have Twilio transcribe voicemail (inbound calls nobody answered); the text lands on the
    /// call (`transcription_text`). Default `false`.
    #[serde(default)]
    pub transcribe_voicemail: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_whole_single_words_in_any_case() {
        assert_eq!(
            SmsKeyword::of("stop").map(|k| k.0),
            Some(SmsKeyword::OptOut)
        );
        assert_eq!(
            SmsKeyword::of("  Unsubscribe. ").map(|k| k.1),
            Some("UNSUBSCRIBE".to_owned())
        );
        assert_eq!(
            SmsKeyword::of("Quit!").map(|k| k.0),
            Some(SmsKeyword::OptOut)
        );
        assert_eq!(
            SmsKeyword::of("unstop").map(|k| k.0),
            Some(SmsKeyword::OptIn)
        );
        assert_eq!(SmsKeyword::of("yes").map(|k| k.0), Some(SmsKeyword::OptIn));
        assert_eq!(SmsKeyword::of("INFO").map(|k| k.0), Some(SmsKeyword::Help));
        for not in [
            "please stop",
            "stop it",
            "stopped",
            "",
            "help me",
            "yes please",
        ] {
            assert_eq!(SmsKeyword::of(not), None, "{not:?}");
        }
    }

    #[test]
    fn help_text_is_bounded_and_defaults_to_the_org() {
        assert!(
            SmsSettings {
                help_text: Some(" ".into())
            }
            .validate()
            .is_err()
        );
        assert!(
            SmsSettings {
                help_text: Some("x".repeat(321))
            }
            .validate()
            .is_err()
        );
        assert!(SmsSettings { help_text: None }.validate().is_ok());
        assert!(
            SmsSettings { help_text: None }
                .help_reply("Acme")
                .starts_with("Acme: reply STOP")
        );
    }
}
