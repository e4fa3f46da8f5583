//! Sample mail for tests: a simple message, and a mailbox's worth of realistic ones.

use super::*;

/// A plain `text/plain` UTF-8 message from `from` to `to`.
#[must_use]
pub fn simple_message(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: <{}@mail.example.com>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        Utc::now().format("%a, %d %b %Y %H:%M:%S +0000"),
        uuid::Uuid::new_v4().simple(),
    )
    .into_bytes()
}

/// The index in [`sample_messages`] of the message the account sent (Gmail labels it `SENT`).
pub const SENT_SAMPLE: usize = 5;

/// Realistic messages for the mailbox of `account`, in this order (add them as Gmail holds
/// them with [`FakeGoogle::add_sample_messages`](super::FakeGoogle::add_sample_messages)):
///
/// 0. `multipart/alternative` (text + HTML) from Ada Lovelace `<ada@analytical.example>`,
///    `Message-ID: <ada-1@analytical.example>`, with a UTF-8 `Q`-encoded subject
///    ("Réunion de lundi — ordre du jour");
/// 1. an ISO-8859-1 8-bit body with an ISO-8859-1 `Q`-encoded subject ("Café crème") from
///    René `<rene@cafe.example>`;
/// 2. `multipart/mixed` with a PDF attachment (`devis.pdf`) and a `B`-encoded UTF-8 subject
///    ("Devis n°42 ✓") from Grace Hopper `<grace@navy.example>`;
/// 3. a malformed message: a header line without a colon, no `From`, a multipart type whose
///    boundary never appears, and bytes that are not UTF-8;
/// 4. a newsletter from `news@deals.example` with `List-Unsubscribe`, `List-Id` and
///    `Precedence: bulk`;
/// 5. mail the account sent (`From: account`) to Charles Babbage
///    `<charles@engine.example>`;
/// 6. a reply from Ada (`In-Reply-To: <ada-1@analytical.example>`, same thread as 0).
#[must_use]
pub fn sample_messages(account: &str) -> Vec<Vec<u8>> {
    let date = Utc::now().format("%a, %d %b %Y %H:%M:%S +0000").to_string();
    let mut out = Vec::new();
    out.push(
        format!(
            "Return-Path: <ada@analytical.example>\r\n\
Received: from mail.analytical.example (mail.analytical.example [192.0.2.10])\r\n\
\tby mx.google.com with ESMTPS id x1\r\n\
From: Ada Lovelace <ada@analytical.example>\r\n\
To: {account}\r\n\
Subject: =?UTF-8?Q?R=C3=A9union_de_lundi_=E2=80=94_ordre_du_jour?=\r\n\
Date: {date}\r\n\
Message-ID: <ada-1@analytical.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/alternative; boundary=\"000000000000alt\"\r\n\
\r\n\
--000000000000alt\r\n\
Content-Type: text/plain; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Bonjour,\r\n\
\r\n\
Voici l'ordre du jour de la r=C3=A9union de lundi.\r\n\
\r\n\
Ada\r\n\
--000000000000alt\r\n\
Content-Type: text/html; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
<div dir=3D\"ltr\">Bonjour,<br><br>Voici l&#39;ordre du jour de la r=C3=A9union de lu=\r\n\
ndi.<br><br>Ada</div>\r\n\
--000000000000alt--\r\n"
        )
        .into_bytes(),
    );
    let mut latin1 = format!(
        "From: =?ISO-8859-1?Q?Ren=E9?= <rene@cafe.example>\r\n\
To: {account}\r\n\
Subject: =?ISO-8859-1?Q?Caf=E9_cr=E8me?=\r\n\
Date: {date}\r\n\
Message-ID: <rene-7@cafe.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=ISO-8859-1\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n"
    )
    .into_bytes();
    latin1.extend_from_slice(b"Un caf\xe9 cr\xe8me, s'il vous pla\xeet. \xc0 bient\xf4t !\r\n");
    out.push(latin1);
    out.push(
        format!(
            "From: Grace Hopper <grace@navy.example>\r\n\
To: {account}\r\n\
Cc: \"Team, Navy\" <team@navy.example>\r\n\
Subject: =?UTF-8?B?RGV2aXMgbsKwNDIg4pyT?=\r\n\
Date: {date}\r\n\
Message-ID: <grace-42@navy.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"mixed-b\"\r\n\
\r\n\
This is a multi-part message in MIME format.\r\n\
--mixed-b\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Please find the quote attached.\r\n\
--mixed-b\r\n\
Content-Type: application/pdf; name=\"devis.pdf\"\r\n\
Content-Disposition: attachment; filename=\"devis.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoKdHJhaWxlcgo8\r\n\
PC9Sb290IDEgMCBSPj4KJSVFT0YK\r\n\
--mixed-b--\r\n"
        )
        .into_bytes(),
    );
    let mut malformed = b"This line has no colon at all\r\n\
To: \r\n\
Subject: broken \xff\xfe message\r\n\
Content-Type: multipart/mixed; boundary=\"never-used\"\r\n\
\r\n\
body without any boundary \xc3\x28 and invalid UTF-8\r\n"
        .to_vec();
    malformed.extend_from_slice(b"\x00\x01\x02 trailing binary\r\n");
    out.push(malformed);
    out.push(
        format!(
            "From: Deals Weekly <news@deals.example>\r\n\
To: {account}\r\n\
Subject: This week's deals\r\n\
Date: {date}\r\n\
Message-ID: <news-2024-01@deals.example>\r\n\
List-Unsubscribe: <mailto:unsubscribe@deals.example?subject=unsubscribe>, <https://deals.example/u/123>\r\n\
List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\
List-Id: Deals Weekly <weekly.deals.example>\r\n\
Precedence: bulk\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<html><body><h1>Deals</h1><p>50% off everything.</p></body></html>\r\n"
        )
        .into_bytes(),
    );
    out.push(
        format!(
            "From: {account}\r\n\
To: Charles Babbage <charles@engine.example>\r\n\
Subject: Difference engine\r\n\
Date: {date}\r\n\
Message-ID: <me-1@{domain}>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Charles, how is the engine coming along?\r\n",
            domain = account.rsplit_once('@').map_or("example.com", |(_, d)| d)
        )
        .into_bytes(),
    );
    out.push(
        format!(
            "From: Ada Lovelace <ada@analytical.example>\r\n\
To: {account}\r\n\
Subject: Re: =?UTF-8?Q?R=C3=A9union_de_lundi?=\r\n\
Date: {date}\r\n\
Message-ID: <ada-2@analytical.example>\r\n\
In-Reply-To: <ada-1@analytical.example>\r\n\
References: <ada-1@analytical.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
One more point for Monday.\r\n"
        )
        .into_bytes(),
    );
    out
}
