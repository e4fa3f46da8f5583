//! What a fetched Gmail message becomes in the store: its [`NewEmail`] (direction, counterpart,
//! person policy, labels), cleaned of what storage refuses. The direction is Gmail's: outbound
//! when the message carries the `SENT` label, inbound otherwise, whatever its `From` says.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::{Map, Value, json};
use workos_core::domain::{Direction, Integration, NewEmail, mailbox_address};

use super::{PersonPolicy, SNIPPET_CHARS};
use crate::api::RawMessage;
use crate::parse::{self, ParsedEmail, decode_entities, truncate};

/// The system label Gmail gives every message the account sent (and only those).
const SENT_LABEL: &str = "SENT";

/// The account's own addresses, lower-cased: the account and the settings' `aliases`.
pub(super) fn own_addresses(integration: &Integration) -> HashSet<String> {
    let mut own = HashSet::from([integration.account.to_lowercase()]);
    if let Some(aliases) = integration
        .settings
        .get("aliases")
        .and_then(Value::as_array)
    {
        own.extend(
            aliases
                .iter()
                .filter_map(Value::as_str)
                .filter_map(mailbox_address)
                .map(|a| a.as_ref().to_owned()),
        );
    }
    own
}

pub(super) fn is_own(own: &HashSet<String>, mailbox: &str) -> bool {
    mailbox_address(mailbox).is_some_and(|a| own.contains(a.as_ref()))
}

/// `s` without NUL and other control characters (tabs and line breaks kept): Postgres text
/// and JSON refuse NUL, and a message carrying one must not block the sync.
pub(super) fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .collect()
}

pub(super) fn clean_json(value: &mut Value) {
    match value {
        Value::String(s) => *s = clean(s),
        Value::Array(items) => items.iter_mut().for_each(clean_json),
        Value::Object(map) => {
            let cleaned: Map<String, Value> = std::mem::take(map)
                .into_iter()
                .map(|(k, mut v)| {
                    clean_json(&mut v);
                    (clean(&k), v)
                })
                .collect();
            *map = cleaned;
        }
        _ => {}
    }
}

/// The labels Gmail gave, as many as the store keeps and of a length it accepts.
pub(crate) fn clean_labels(labels: &[String]) -> Vec<String> {
    labels
        .iter()
        .filter(|l| !l.trim().is_empty() && l.chars().count() <= 255)
        .take(workos_core::domain::MAX_EMAIL_LABELS)
        .cloned()
        .collect()
}

/// Removes what storage refuses from every text of `new` (see [`clean`]).
pub(crate) fn sanitize(new: &mut NewEmail) {
    for s in [&mut new.provider_id, &mut new.from]
        .into_iter()
        .chain(new.to.iter_mut())
        .chain(new.cc.iter_mut())
    {
        *s = clean(s);
    }
    for s in [
        &mut new.thread_id,
        &mut new.message_id,
        &mut new.subject,
        &mut new.snippet,
    ]
    .into_iter()
    .flatten()
    {
        *s = clean(s);
    }
    clean_json(&mut new.headers);
}

/// The email to record for a fetched message.
pub(super) fn to_new_email(
    integration: &Integration,
    own: &HashSet<String>,
    message: &RawMessage,
    parsed: &ParsedEmail,
    policy: PersonPolicy,
) -> NewEmail {
    let from = parsed
        .from
        .as_ref()
        .map(|m| truncate(&m.to_string(), 1_000))
        .unwrap_or_else(|| "(unknown sender)".to_owned());
    // Gmail's own record of the message decides, never its `From` header: anyone can send
    // mail "from" the mailbox's address, but only what the account sent carries `SENT`.
    let direction = if message.label_ids.iter().any(|l| l == SENT_LABEL) {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let mut budget = 1_000usize;
    let mut take = |list: &[parse::Mailbox]| {
        let n = list.len().min(budget);
        budget -= n;
        list[..n]
            .iter()
            .map(|m| truncate(&m.to_string(), 1_000))
            .collect::<Vec<_>>()
    };
    let to = take(&parsed.to);
    let cc = take(&parsed.cc);
    let counterpart = match direction {
        Direction::Inbound => Some(from.as_str()),
        Direction::Outbound => to.first().map(String::as_str),
    };
    let create_person = policy.creates_for(direction)
        && !parsed.bulk
        && counterpart.is_some_and(|c| !is_own(own, c));
    let snippet = message
        .snippet
        .as_deref()
        .map(|s| decode_entities(s).trim().to_owned())
        .filter(|s| !s.is_empty())
        .or_else(|| parsed.excerpt(SNIPPET_CHARS))
        .map(|s| truncate(&s, 10_000));
    let mut headers = Map::new();
    if let Some(v) = &parsed.in_reply_to {
        headers.insert("In-Reply-To".into(), json!(truncate(v, 1_000)));
    }
    if !parsed.references.is_empty() {
        let refs: Vec<String> = parsed
            .references
            .iter()
            .take(50)
            .map(|r| truncate(r, 1_000))
            .collect();
        headers.insert("References".into(), json!(refs.join(" ")));
    }
    for (name, value) in &parsed.extra_headers {
        headers.insert(name.clone(), json!(value));
    }
    if !parsed.attachments.is_empty() {
        headers.insert(
            "attachments".into(),
            parse::attachments_json(&parsed.attachments),
        );
    }
    NewEmail {
        integration_id: integration.id,
        provider_id: message.id.clone(),
        thread_id: message
            .thread_id
            .clone()
            .filter(|t| !t.trim().is_empty() && t.chars().count() <= 255),
        message_id: parsed
            .message_id
            .clone()
            .filter(|m| m.chars().count() <= 1_000),
        direction,
        from,
        to,
        cc,
        subject: parsed.subject.as_deref().map(|s| truncate(s, 10_000)),
        snippet,
        headers: Value::Object(headers),
        labels: clean_labels(&message.label_ids),
        occurred_at: message
            .internal_date()
            .or(parsed.date)
            .unwrap_or_else(Utc::now),
        person_id: None,
        create_person,
    }
}
