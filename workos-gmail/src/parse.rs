//! Reading inbound RFC 5322 messages with `mail-parser`: headers, addresses, text and HTML
//! bodies, attachment metadata, and whether the message is bulk mail.
//!
//! Parsing never fails: charsets (ISO-8859-x, Windows-125x, …) and RFC 2047 encoded words are
//! decoded, undecodable bytes become U+FFFD, and a message too broken to parse yields an empty
//! [`ParsedEmail`] that the sync still records from Gmail's own metadata.

use std::fmt;

use chrono::{DateTime, Utc};
use mail_parser::{Address, HeaderValue, Message, MessageParser, MimeHeaders as _, PartType};
use serde::Serialize;

/// A mailbox: an address with an optional display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Mailbox {
    /// The display name.
    pub name: Option<String>,
    /// The address as written.
    pub address: String,
}

impl fmt::Display for Mailbox {
    /// `ada@example.com`, `Ada <ada@example.com>` or `"Lovelace, Ada" <ada@example.com>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            None => f.write_str(&self.address),
            Some(name) if name.contains([',', ';', '<', '>', '"', '@', '(', ')', ':', '\\']) => {
                write!(
                    f,
                    "\"{}\" <{}>",
                    name.replace('\\', "\\\\").replace('"', "\\\""),
                    self.address
                )
            }
            Some(name) => write!(f, "{name} <{}>", self.address),
        }
    }
}

/// An attachment's metadata (its bytes are not kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AttachmentInfo {
    /// Its MIME part id as Gmail numbers parts (`payload.parts[].partId`: `"1"`, `"0.2"`, …;
    /// `""` for a message that is a single part). It stays the same for the message's life,
    /// unlike Gmail's `attachmentId`, so the engine uses it as the attachment's id.
    pub part_id: String,
    /// The file name, when given.
    pub filename: Option<String>,
    /// The MIME type, e.g. `application/pdf`.
    pub content_type: String,
    /// The decoded size in bytes.
    pub size: usize,
}

/// What was read of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParsedEmail {
    /// `From` (the first mailbox).
    pub from: Option<Mailbox>,
    /// `To`.
    pub to: Vec<Mailbox>,
    /// `Cc`.
    pub cc: Vec<Mailbox>,
    /// `Subject`, decoded.
    pub subject: Option<String>,
    /// `Message-ID`, with angle brackets.
    pub message_id: Option<String>,
    /// `In-Reply-To`, with angle brackets.
    pub in_reply_to: Option<String>,
    /// `References`, with angle brackets.
    pub references: Vec<String>,
    /// `Date`.
    pub date: Option<DateTime<Utc>>,
    /// The first text body.
    pub text: Option<String>,
    /// The first HTML body.
    pub html: Option<String>,
    /// Attachments.
    pub attachments: Vec<AttachmentInfo>,
    /// Bulk mail: `List-Unsubscribe`, `List-Id`, `Precedence: bulk|list|junk`, or
    /// `Auto-Submitted` other than `no`.
    pub bulk: bool,
    /// Selected headers as written (unfolded), for the record: `List-Id`,
    /// `List-Unsubscribe`, `Precedence`, `Auto-Submitted`, `Reply-To`.
    pub extra_headers: Vec<(String, String)>,
}

impl ParsedEmail {
    /// A plain-text excerpt of the body of at most `max_chars` characters: the text body, or
    /// the HTML body without its tags, whitespace collapsed.
    #[must_use]
    pub fn excerpt(&self, max_chars: usize) -> Option<String> {
        let source = match (&self.text, &self.html) {
            (Some(t), _) if !t.trim().is_empty() => t.clone(),
            (_, Some(h)) => strip_html(h),
            _ => return None,
        };
        let collapsed = source.split_whitespace().collect::<Vec<_>>().join(" ");
        (!collapsed.is_empty()).then(|| truncate(&collapsed, max_chars))
    }
}

/// `s` cut to `max` characters.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// Text of an HTML document: tags, comments, `<style>` and `<script>` dropped, common entities
/// decoded. Crude, for excerpts only.
#[must_use]
pub fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    while i < html.len() {
        let rest = &lower[i..];
        if rest.starts_with("<!--") {
            i += rest.find("-->").map_or(rest.len(), |e| e + 3);
        } else if rest.starts_with("<style") || rest.starts_with("<script") {
            let close = if rest.starts_with("<style") {
                "</style"
            } else {
                "</script"
            };
            i += rest.find(close).map_or(rest.len(), |e| e + close.len());
            i += lower[i..].find('>').map_or(lower.len() - i, |e| e + 1);
        } else if rest.starts_with('<') {
            i += rest.find('>').map_or(rest.len(), |e| e + 1);
            out.push(' ');
        } else {
            let next = rest.find('<').unwrap_or(rest.len());
            out.push_str(&html[i..i + next]);
            i += next;
        }
    }
    decode_entities(&out)
}

/// Decodes the HTML entities Gmail's snippets and simple HTML use.
#[must_use]
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find('&') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| {
                    let address = addr.address()?.trim();
                    (!address.is_empty()).then(|| Mailbox {
                        name: addr
                            .name()
                            .map(|n| n.trim().to_owned())
                            .filter(|n| !n.is_empty()),
                        address: address.to_owned(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Gmail's `partId` of each of `message`'s parts (by index; `None` for a part outside the
/// tree): the root is `""`, a multipart's children are numbered from `0`, and nested ones are
/// the parent's id, a dot and their number (`"0.1"`).
fn gmail_part_ids(message: &Message<'_>) -> Vec<Option<String>> {
    let mut ids = vec![None; message.parts.len()];
    let mut stack = vec![(0usize, String::new())];
    while let Some((index, id)) = stack.pop() {
        let Some(part) = message.parts.get(index) else {
            continue;
        };
        if ids[index].is_some() {
            continue; // a malformed tree that names a part twice
        }
        if let PartType::Multipart(children) = &part.body {
            for (n, child) in children.iter().enumerate() {
                let child_id = if id.is_empty() {
                    n.to_string()
                } else {
                    format!("{id}.{n}")
                };
                stack.push((*child as usize, child_id));
            }
        }
        ids[index] = Some(id);
    }
    ids
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(t) => vec![format!("<{t}>")],
        HeaderValue::TextList(list) => list.iter().map(|t| format!("<{t}>")).collect(),
        _ => Vec::new(),
    }
}

/// Reads `raw` (see the [module](self)).
#[must_use]
pub fn parse(raw: &[u8]) -> ParsedEmail {
    let Some(message) = MessageParser::default().parse(raw) else {
        return ParsedEmail::default();
    };
    let raw_header = |name: &str| {
        message
            .header_raw(name)
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .filter(|v| !v.is_empty())
    };
    let precedence = raw_header("Precedence").map(|p| p.to_ascii_lowercase());
    let auto_submitted = raw_header("Auto-Submitted").map(|a| a.to_ascii_lowercase());
    let bulk = raw_header("List-Unsubscribe").is_some()
        || raw_header("List-Id").is_some()
        || precedence
            .as_deref()
            .is_some_and(|p| matches!(p, "bulk" | "list" | "junk"))
        || auto_submitted.as_deref().is_some_and(|a| a != "no");
    let extra_headers = [
        "List-Id",
        "List-Unsubscribe",
        "Precedence",
        "Auto-Submitted",
        "Reply-To",
    ]
    .iter()
    .filter_map(|name| raw_header(name).map(|v| ((*name).to_owned(), truncate(&v, 1_000))))
    .collect();
    let part_ids = gmail_part_ids(&message);
    let attachments = message
        .attachments
        .iter()
        .filter_map(|&i| {
            Some((
                part_ids.get(i as usize)?.clone()?,
                message.parts.get(i as usize)?,
            ))
        })
        .map(|(part_id, part)| AttachmentInfo {
            part_id,
            filename: part.attachment_name().map(str::to_owned),
            content_type: part.content_type().map_or_else(
                || "application/octet-stream".to_owned(),
                |ct| match ct.subtype() {
                    Some(sub) => format!("{}/{sub}", ct.ctype()).to_ascii_lowercase(),
                    None => ct.ctype().to_ascii_lowercase(),
                },
            ),
            size: part.len(),
        })
        .collect();
    ParsedEmail {
        from: mailboxes(message.from()).into_iter().next(),
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        subject: message
            .subject()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
        message_id: message.message_id().map(|id| format!("<{id}>")),
        in_reply_to: ids(message.in_reply_to()).into_iter().next(),
        references: ids(message.references()),
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        text: message.body_text(0).map(|t| t.into_owned()),
        html: message.body_html(0).map(|t| t.into_owned()),
        attachments,
        bulk,
        extra_headers,
    }
}

/// The attachments' metadata as an email keeps it (`headers.attachments`): each one's `id`
/// (Gmail's part id, `root` for a message that is the attachment, see
/// [`crate::attachments::attachment_id`]; what `GET /emails/{id}/attachments/{attachment_id}`
/// takes), `filename`,
/// `content_type` and `size`; at most 100.
pub(crate) fn attachments_json(attachments: &[AttachmentInfo]) -> serde_json::Value {
    serde_json::Value::Array(
        attachments
            .iter()
            .take(100)
            .map(|a| {
                serde_json::json!({
                    "id": crate::attachments::attachment_id(&a.part_id),
                    "filename": a.filename.as_deref().map(|f| truncate(f, 255)),
                    "content_type": truncate(&a.content_type, 255),
                    "size": a.size,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_with_encoded_subject_and_latin1() {
        let raw = b"From: =?UTF-8?Q?Ren=C3=A9e?= <renee@example.fr>\r\n\
To: Me <me@example.com>, \"Lovelace, Ada\" <ada@example.com>\r\n\
Cc: undisclosed-recipients:;\r\n\
Subject: =?ISO-8859-1?Q?R=E9union_demain?=\r\n\
Message-ID: <abc@example.fr>\r\n\
In-Reply-To: <parent@example.com>\r\n\
References: <root@example.com> <parent@example.com>\r\n\
Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Caf\xe9 cr\xe8me\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"plan.pdf\"\r\n\
Content-Disposition: attachment; filename=\"plan.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b1--\r\n";
        let p = parse(raw);
        assert_eq!(
            p.from.as_ref().unwrap().to_string(),
            "Renée <renee@example.fr>"
        );
        assert_eq!(p.subject.as_deref(), Some("Réunion demain"));
        assert_eq!(p.to.len(), 2);
        assert_eq!(p.to[1].to_string(), "\"Lovelace, Ada\" <ada@example.com>");
        assert!(p.cc.is_empty());
        assert_eq!(p.message_id.as_deref(), Some("<abc@example.fr>"));
        assert_eq!(p.in_reply_to.as_deref(), Some("<parent@example.com>"));
        assert_eq!(p.references, ["<root@example.com>", "<parent@example.com>"]);
        assert_eq!(p.date.unwrap().to_rfc3339(), "2024-01-02T09:00:00+00:00");
        assert_eq!(p.text.as_deref().map(str::trim), Some("Café crème"));
        assert_eq!(p.attachments.len(), 1);
        assert_eq!(p.attachments[0].filename.as_deref(), Some("plan.pdf"));
        assert_eq!(p.attachments[0].content_type, "application/pdf");
        assert_eq!(p.attachments[0].part_id, "1", "Gmail's partId");
        assert!(!p.bulk);
    }

    #[test]
    fn part_ids_follow_gmail_numbering() {
        let raw = b"From: a@b.example\r\n\
Content-Type: multipart/mixed; boundary=\"o\"\r\n\
\r\n\
--o\r\n\
Content-Type: multipart/alternative; boundary=\"i\"\r\n\
\r\n\
--i\r\n\
Content-Type: text/plain\r\n\
\r\n\
hi\r\n\
--i\r\n\
Content-Type: text/html\r\n\
\r\n\
<p>hi</p>\r\n\
--i--\r\n\
--o\r\n\
Content-Type: image/png; name=\"a.png\"\r\n\
Content-Disposition: attachment; filename=\"a.png\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
iVBORw0KGgo=\r\n\
--o\r\n\
Content-Type: text/csv; name=\"b.csv\"\r\n\
Content-Disposition: attachment; filename=\"b.csv\"\r\n\
\r\n\
a,b\r\n\
--o--\r\n";
        let p = parse(raw);
        let ids: Vec<_> = p
            .attachments
            .iter()
            .map(|a| (a.part_id.as_str(), a.filename.as_deref().unwrap_or("")))
            .collect();
        assert_eq!(ids, [("1", "a.png"), ("2", "b.csv")]);
        assert_eq!(p.attachments[0].size, 8);
    }

    #[test]
    fn bulk_markers() {
        for header in [
            "List-Unsubscribe: <mailto:u@news.example>",
            "List-Id: News <news.example.com>",
            "Precedence: bulk",
            "Precedence: junk",
            "Auto-Submitted: auto-generated",
        ] {
            let raw = format!("From: n@news.example\r\n{header}\r\nSubject: x\r\n\r\nbody");
            assert!(parse(raw.as_bytes()).bulk, "{header}");
        }
        let raw = "From: a@b.example\r\nAuto-Submitted: no\r\nPrecedence: first-class\r\n\r\nhi";
        assert!(!parse(raw.as_bytes()).bulk);
    }

    #[test]
    fn garbage_does_not_panic() {
        for raw in [
            &b""[..],
            b"\xff\xfe\x00\x01",
            b"no headers at all",
            b":\r\n:\r\n\r\n",
        ] {
            let _ = parse(raw);
        }
    }

    #[test]
    fn html_excerpt() {
        let p = ParsedEmail {
            html: Some(
                "<html><style>p{}</style><p>Hello&nbsp;<b>Ada</b> &amp; co</p><!-- x --></html>"
                    .into(),
            ),
            ..ParsedEmail::default()
        };
        assert_eq!(p.excerpt(100).as_deref(), Some("Hello Ada & co"));
        assert_eq!(p.excerpt(5).as_deref(), Some("Hello"));
        assert_eq!(
            decode_entities("it&#39;s &#x41; &bogus; &"),
            "it's A &bogus; &"
        );
    }
}
