//! What a partner is sent: the [lead document](lead_document) (the webhook body) and the
//! [email](lead_email) built from it, and the [`message_id`] every attempt is signed under.

use serde_json::{Value, json};
use workos_core::domain::{Lead, LeadDelivery, Partner};
use workos_core::ids::LeadDeliveryId;

/// The `type` of the lead document.
pub const DOCUMENT_TYPE: &str = "lead.delivery";
/// The provider of the integrations email partners are sent from.
pub const EMAIL_PROVIDER: &str = "gmail";

/// The `webhook-id` of a lead delivery: `msg_` + its id as 32 hex digits, the same on every
/// attempt.
#[must_use]
pub fn message_id(id: LeadDeliveryId) -> String {
    format!("msg_{}", id.as_uuid().simple())
}

/// The JSON document a partner receives (the webhook body; its fields also fill the email):
///
/// ```json
/// {"type": "lead.delivery", "delivery_id": "…", "attempt": 1, "routed_at": "…",
///  "rule": "priority", "price_minor": 2500, "currency": "USD",
///  "partner": {"id": "…", "name": "…"},
///  "lead": {"id": "…", "created_at": "…", "first_name": …, "last_name": …, "email": …,
///           "phone": …, "postal_code": …, "region": …, "country": …, "vertical": …,
///           "answers": {…}, "consent": {"text", "given_at", "ip"} | null,
///           "utm_source": …, "utm_medium": …, "utm_campaign": …, "utm_term": …,
///           "utm_content": …, "gclid": …, "fbclid": …, "landing_page": …, "referrer": …,
///           "first_touch": {…} | null}}
/// ```
///
/// `attempt` counts from 1; everything else is the same on every attempt.
#[must_use]
pub fn lead_document(delivery: &LeadDelivery, lead: &Lead, partner: &Partner) -> Value {
    json!({
        "type": DOCUMENT_TYPE,
        "delivery_id": delivery.id,
        "attempt": delivery.attempts.saturating_add(1),
        "routed_at": delivery.created_at,
        "rule": delivery.rule,
        "price_minor": delivery.price_minor,
        "currency": delivery.currency,
        "partner": { "id": partner.id, "name": partner.name },
        "lead": {
            "id": lead.id,
            "created_at": lead.created_at,
            "first_name": lead.first_name,
            "last_name": lead.last_name,
            "email": lead.email,
            "phone": lead.phone,
            "postal_code": lead.postal_code,
            "region": lead.region,
            "country": lead.country,
            "vertical": lead.vertical,
            "answers": lead.answers,
            "consent": lead.consent,
            "utm_source": lead.utm_source,
            "utm_medium": lead.utm_medium,
            "utm_campaign": lead.utm_campaign,
            "utm_term": lead.utm_term,
            "utm_content": lead.utm_content,
            "gclid": lead.gclid,
            "fbclid": lead.fbclid,
            "landing_page": lead.landing_page,
            "referrer": lead.referrer,
            "first_touch": lead.first_touch,
        },
    })
}

/// The lines of the email body: label and value of each field the lead has.
fn email_lines(doc: &Value) -> Vec<(String, String)> {
    let lead = &doc["lead"];
    let text = |v: &Value| match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let mut lines: Vec<(String, String)> = Vec::new();
    for (label, field) in [
        ("First name", "first_name"),
        ("Last name", "last_name"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Postal code", "postal_code"),
        ("Region", "region"),
        ("Country", "country"),
        ("Vertical", "vertical"),
    ] {
        if let Some(v) = text(&lead[field]) {
            lines.push((label.to_owned(), v));
        }
    }
    if let Some(answers) = lead["answers"].as_object() {
        for (k, v) in answers {
            if let Some(v) = text(v) {
                lines.push((format!("Answer: {k}"), v));
            }
        }
    }
    if let Some(consent) = lead["consent"].as_object() {
        for (label, field) in [
            ("Consent", "text"),
            ("Consent given at", "given_at"),
            ("Consent IP", "ip"),
        ] {
            if let Some(v) = consent.get(field).and_then(text) {
                lines.push((label.to_owned(), v));
            }
        }
    }
    for field in [
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "gclid",
        "fbclid",
        "landing_page",
        "referrer",
    ] {
        if let Some(v) = text(&lead[field]) {
            lines.push((field.to_owned(), v));
        }
    }
    let price = format!(
        "{} {}",
        doc["price_minor"],
        doc["currency"].as_str().unwrap_or_default()
    );
    lines.push(("Price (minor units)".to_owned(), price));
    lines.push(("Lead id".to_owned(), text(&lead["id"]).unwrap_or_default()));
    lines.push((
        "Delivery id".to_owned(),
        text(&doc["delivery_id"]).unwrap_or_default(),
    ));
    lines
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The subject, text and HTML of the email an email partner receives for `doc`.
#[must_use]
pub fn lead_email(doc: &Value) -> (String, String, String) {
    let lead = &doc["lead"];
    let name = [&lead["first_name"], &lead["last_name"]]
        .iter()
        .filter_map(|v| v.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut subject = String::from("New lead");
    if let Some(vertical) = lead["vertical"].as_str() {
        subject.push_str(&format!(" ({vertical})"));
    }
    if !name.is_empty() {
        subject.push_str(&format!(": {name}"));
    }
    let lines = email_lines(doc);
    let mut text = String::from("A new lead for you:\n\n");
    let mut html = String::from("<p>A new lead for you:</p>\n<table>\n");
    for (label, value) in &lines {
        text.push_str(&format!("{label}: {value}\n"));
        html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>\n",
            escape_html(label),
            escape_html(value)
        ));
    }
    html.push_str("</table>\n");
    (subject, text, html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_escapes_and_lists_fields() {
        let doc = json!({
            "delivery_id": "d1", "price_minor": 2500, "currency": "USD",
            "lead": {"id": "l1", "first_name": "Ann", "last_name": "<Lee>", "email": "a@example.com",
                     "vertical": "solar", "answers": {"roof": "tile"}, "consent": null,
                     "utm_source": "google"}
        });
        let (subject, text, html) = lead_email(&doc);
        assert_eq!(subject, "New lead (solar): Ann <Lee>");
        assert!(text.contains("Email: a@example.com\n"));
        assert!(text.contains("Answer: roof: tile\n"));
        assert!(text.contains("utm_source: google\n"));
        assert!(text.contains("Price (minor units): 2500 USD\n"));
        assert!(html.contains("&lt;Lee&gt;"));
        assert!(!html.contains("<Lee>"));
    }

    #[test]
    fn message_ids_are_stable() {
        let id = LeadDeliveryId::new();
        assert_eq!(message_id(id), message_id(id));
        assert_eq!(message_id(id).len(), 4 + 32);
    }
}
