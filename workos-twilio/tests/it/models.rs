//! Webhook payload parsing, status enums, REST error bodies and TwiML.

use workos_twilio::{
    CallStatus, CallStatusCallback, InboundCall, InboundMessage, MessageStatus,
    MessageStatusCallback, ParseError, RecordingCallback, TwilioErrorBody, Twiml, empty_twiml,
    parse_form, xml_escape,
};

use crate::pairs;

/// An inbound MMS as Twilio posts it (field set and order from a real webhook).
const INBOUND_MMS: &[u8] = b"ToCountry=US&MediaContentType0=image%2Fjpeg&ToState=CA\
&SmsMessageSid=MM0123456789abcdef0123456789abcdef&NumMedia=2&ToCity=SAN+FRANCISCO\
&FromZip=94105&SmsSid=MM0123456789abcdef0123456789abcdef&FromState=CA&SmsStatus=received\
&FromCity=SAN+FRANCISCO&Body=Here+are+the+photos+%26+a+video+%F0%9F%93%B7&FromCountry=US\
&To=%2B14155550199&MessagingServiceSid=MG0123456789abcdef0123456789abcdef&ToZip=94105\
&NumSegments=1&MessageSid=MM0123456789abcdef0123456789abcdef\
&AccountSid=AC0123456789abcdef0123456789abcdef&From=%2B14155550100\
&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC0123456789abcdef0123456789abcdef%2FMessages%2FMM0123456789abcdef0123456789abcdef%2FMedia%2FME00000000000000000000000000000000\
&MediaContentType1=video%2Fmp4\
&MediaUrl1=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC0123456789abcdef0123456789abcdef%2FMessages%2FMM0123456789abcdef0123456789abcdef%2FMedia%2FME11111111111111111111111111111111\
&ApiVersion=2010-04-01";

fn without(params: &[(String, String)], name: &str) -> Vec<(String, String)> {
    params.iter().filter(|(k, _)| k != name).cloned().collect()
}

#[test]
fn parses_inbound_mms_with_two_media() {
    let msg = InboundMessage::from_params(&parse_form(INBOUND_MMS)).unwrap();
    assert_eq!(msg.message_sid, "MM0123456789abcdef0123456789abcdef");
    assert_eq!(msg.account_sid, "AC0123456789abcdef0123456789abcdef");
    assert_eq!(
        msg.messaging_service_sid.as_deref(),
        Some("MG0123456789abcdef0123456789abcdef")
    );
    assert_eq!(msg.from, "+14155550100");
    assert_eq!(msg.to, "+14155550199");
    assert_eq!(msg.body, "Here are the photos & a video \u{1f4f7}");
    // (url, content type) pairs: `Media` is non-exhaustive, so no struct literal out here.
    let media: Vec<(&str, &str)> = msg
        .media
        .iter()
        .map(|m| (m.url.as_str(), m.content_type.as_str()))
        .collect();
    assert_eq!(
        media,
        [
            (
                "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM0123456789abcdef0123456789abcdef/Media/ME00000000000000000000000000000000",
                "image/jpeg",
            ),
            (
                "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages/MM0123456789abcdef0123456789abcdef/Media/ME11111111111111111111111111111111",
                "video/mp4",
            ),
        ]
    );
}

#[test]
fn plain_sms_has_no_media_and_optional_fields_default() {
    let params = pairs(&[
        ("MessageSid", "SM1"),
        ("AccountSid", "AC1"),
        ("From", "+14155550100"),
        ("To", "+14155550199"),
        ("NumMedia", "0"),
        ("MessagingServiceSid", ""),
    ]);
    let msg = InboundMessage::from_params(&params).unwrap();
    assert!(msg.media.is_empty());
    assert_eq!(msg.body, "");
    assert_eq!(msg.messaging_service_sid, None);
}

#[test]
fn missing_from_is_named() {
    let params = without(&parse_form(INBOUND_MMS), "From");
    let err = InboundMessage::from_params(&params).unwrap_err();
    assert_eq!(err, ParseError::Missing("From".to_owned()));
    assert_eq!(err.field(), "From");
    assert!(err.to_string().contains("`From`"), "{err}");
}

#[test]
fn missing_announced_media_is_named() {
    let params = without(&parse_form(INBOUND_MMS), "MediaUrl1");
    let err = InboundMessage::from_params(&params).unwrap_err();
    assert_eq!(err.field(), "MediaUrl1");
}

#[test]
fn bad_num_media_is_named() {
    for bad in ["two", "-1", "1000000"] {
        let mut params = without(&parse_form(INBOUND_MMS), "NumMedia");
        params.push(("NumMedia".to_owned(), bad.to_owned()));
        let err = InboundMessage::from_params(&params).unwrap_err();
        assert!(matches!(err, ParseError::Invalid { .. }), "{bad}: {err:?}");
        assert_eq!(err.field(), "NumMedia");
    }
}

#[test]
fn inbound_message_serde_is_pascal_case() {
    let msg = InboundMessage::from_params(&parse_form(INBOUND_MMS)).unwrap();
    let json = serde_json::to_value(&msg).unwrap();
    assert_eq!(json["MessageSid"], "MM0123456789abcdef0123456789abcdef");
    assert_eq!(json["Media"][1]["content_type"], "video/mp4");
    let back: InboundMessage = serde_json::from_value(json).unwrap();
    assert_eq!(back, msg);
}

#[test]
fn parses_inbound_call() {
    let params = parse_form(
        b"AccountSid=AC1&ApiVersion=2010-04-01&CallSid=CA1&CallStatus=ringing&Called=%2B14155550199\
&Caller=%2B14155550100&Direction=inbound&From=%2B14155550100&To=%2B14155550199",
    );
    let call = InboundCall::from_params(&params).unwrap();
    assert_eq!(call.call_sid, "CA1");
    assert_eq!(call.account_sid, "AC1");
    assert_eq!(call.call_status, CallStatus::Ringing);
    assert_eq!(call.direction, "inbound");
    assert_eq!(call.from, "+14155550100");
    assert_eq!(
        InboundCall::from_params(&without(&params, "CallSid"))
            .unwrap_err()
            .field(),
        "CallSid"
    );
}

#[test]
fn parses_message_status_callback() {
    let params = parse_form(
        b"MessageSid=SM1&MessageStatus=undelivered&SmsStatus=undelivered&AccountSid=AC1\
&ErrorCode=30003&ErrorMessage=Unreachable+destination+handset",
    );
    let cb = MessageStatusCallback::from_params(&params).unwrap();
    assert_eq!(cb.message_status, MessageStatus::Undelivered);
    assert!(cb.message_status.is_final());
    assert_eq!(cb.error_code, Some(30003));
    assert_eq!(
        cb.error_message.as_deref(),
        Some("Unreachable destination handset")
    );

    let legacy = parse_form(b"MessageSid=SM1&SmsStatus=sent&ErrorCode=");
    let cb = MessageStatusCallback::from_params(&legacy).unwrap();
    assert_eq!(cb.message_status, MessageStatus::Sent);
    assert_eq!(cb.error_code, None);

    let err = MessageStatusCallback::from_params(&parse_form(b"MessageSid=SM1")).unwrap_err();
    assert_eq!(err.field(), "MessageStatus");
    let err = MessageStatusCallback::from_params(&parse_form(
        b"MessageSid=SM1&MessageStatus=failed&ErrorCode=x",
    ))
    .unwrap_err();
    assert_eq!(err.field(), "ErrorCode");
}

#[test]
fn unknown_message_status_is_kept() {
    let params = parse_form(b"MessageSid=SM1&MessageStatus=teleported");
    let cb = MessageStatusCallback::from_params(&params).unwrap();
    assert_eq!(
        cb.message_status,
        MessageStatus::Other("teleported".to_owned())
    );
    assert_eq!(cb.message_status.as_str(), "teleported");
    assert!(!cb.message_status.is_final());
}

#[test]
fn parses_call_status_callback() {
    let params = parse_form(
        b"CallSid=CA1&AccountSid=AC1&From=%2B14155550100&To=%2B14155550199&CallStatus=completed\
&Direction=outbound-api&CallDuration=42&Duration=1&SequenceNumber=3\
&Timestamp=Tue%2C+01+Apr+2025+12%3A00%3A00+%2B0000&SipResponseCode=200",
    );
    let cb = CallStatusCallback::from_params(&params).unwrap();
    assert_eq!(cb.call_status, CallStatus::Completed);
    assert!(cb.call_status.is_final());
    assert_eq!(cb.call_duration, Some(42));
    assert_eq!(cb.duration, Some(1));
    assert_eq!(cb.sequence_number, Some(3));
    assert_eq!(cb.sip_response_code, Some(200));
    assert_eq!(
        cb.timestamp.as_deref(),
        Some("Tue, 01 Apr 2025 12:00:00 +0000")
    );
    assert_eq!(cb.direction.as_deref(), Some("outbound-api"));

    let early = CallStatusCallback::from_params(&parse_form(b"CallSid=CA1&CallStatus=in-progress"))
        .unwrap();
    assert_eq!(early.call_status, CallStatus::InProgress);
    assert!(!early.call_status.is_final());
    assert_eq!(early.call_duration, None);

    let unknown =
        CallStatusCallback::from_params(&parse_form(b"CallSid=CA1&CallStatus=on-hold")).unwrap();
    assert_eq!(unknown.call_status, CallStatus::Other("on-hold".to_owned()));

    let err = CallStatusCallback::from_params(&parse_form(
        b"CallSid=CA1&CallStatus=completed&CallDuration=abc",
    ))
    .unwrap_err();
    assert_eq!(err.field(), "CallDuration");
}

#[test]
fn parses_recording_callback() {
    let params = parse_form(
        b"AccountSid=AC1&CallSid=CA1&RecordingSid=RE1\
&RecordingUrl=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1%2FRecordings%2FRE1\
&RecordingStatus=completed&RecordingDuration=17&RecordingChannels=1&RecordingSource=RecordVerb",
    );
    let cb = RecordingCallback::from_params(&params).unwrap();
    assert_eq!(cb.recording_sid, "RE1");
    assert_eq!(
        cb.recording_url,
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1"
    );
    assert_eq!(cb.recording_duration, Some(17));
    assert_eq!(cb.call_sid, "CA1");
    assert_eq!(cb.recording_status, "completed");
    assert_eq!(
        RecordingCallback::from_params(&without(&params, "RecordingUrl"))
            .unwrap_err()
            .field(),
        "RecordingUrl"
    );
}

#[test]
fn every_message_status_round_trips() {
    let wire = [
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "receiving",
        "received",
        "accepted",
        "scheduled",
        "read",
        "partially_delivered",
        "canceled",
    ];
    assert_eq!(MessageStatus::KNOWN.len(), wire.len());
    for s in wire {
        let status = MessageStatus::from(s);
        assert!(!matches!(status, MessageStatus::Other(_)), "{s} not known");
        assert_eq!(status.as_str(), s);
        assert_eq!(status.to_string(), s);
        assert_eq!(s.parse::<MessageStatus>().unwrap(), status);
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(json, format!("\"{s}\""));
        assert_eq!(
            serde_json::from_str::<MessageStatus>(&json).unwrap(),
            status
        );
    }
    let finals: Vec<&str> = MessageStatus::KNOWN
        .iter()
        .filter(|s| s.is_final())
        .map(MessageStatus::as_str)
        .collect();
    assert_eq!(
        finals,
        [
            "delivered",
            "undelivered",
            "failed",
            "received",
            "read",
            "partially_delivered",
            "canceled"
        ]
    );
}

#[test]
fn every_call_status_round_trips() {
    let wire = [
        "queued",
        "ringing",
        "in-progress",
        "completed",
        "busy",
        "failed",
        "no-answer",
        "canceled",
    ];
    assert_eq!(CallStatus::KNOWN.len(), wire.len());
    for s in wire {
        let status = CallStatus::from(s);
        assert!(!matches!(status, CallStatus::Other(_)), "{s} not known");
        assert_eq!(status.as_str(), s);
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(serde_json::from_str::<CallStatus>(&json).unwrap(), status);
    }
    let finals: Vec<&str> = CallStatus::KNOWN
        .iter()
        .filter(|s| s.is_final())
        .map(CallStatus::as_str)
        .collect();
    assert_eq!(
        finals,
        ["completed", "busy", "failed", "no-answer", "canceled"]
    );
}

#[test]
fn unknown_status_survives_serde() {
    let status: CallStatus = serde_json::from_str("\"answering-machine\"").unwrap();
    assert_eq!(status, CallStatus::Other("answering-machine".to_owned()));
    assert_eq!(
        serde_json::to_string(&status).unwrap(),
        "\"answering-machine\""
    );
    // Wire values are case-sensitive, as Twilio sends them.
    assert_eq!(
        MessageStatus::from("Delivered"),
        MessageStatus::Other("Delivered".to_owned())
    );
}

#[test]
fn parses_rest_error_body() {
    let body = r#"{"code": 20404, "message": "The requested resource /2010-04-01/Accounts/AC1/Messages/SM1.json was not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}"#;
    let err: TwilioErrorBody = serde_json::from_str(body).unwrap();
    assert_eq!(err.code, Some(20404));
    assert_eq!(err.status, Some(404));
    assert_eq!(
        err.more_info.as_deref(),
        Some("https://www.twilio.com/docs/errors/20404")
    );
    assert!(
        err.to_string()
            .starts_with("Twilio error 20404: The requested resource")
    );

    let minimal: TwilioErrorBody =
        serde_json::from_str(r#"{"message": "Authenticate", "code": null, "detail": "x"}"#)
            .unwrap();
    assert_eq!(minimal.code, None);
    assert_eq!(minimal.more_info, None);
    assert_eq!(minimal.status, None);
}

#[test]
fn empty_twiml_document() {
    assert_eq!(
        empty_twiml(),
        r#"<?xml version="1.0" encoding="UTF-8"?><Response/>"#
    );
    assert_eq!(Twiml::new().build(), empty_twiml());
}

#[test]
fn twiml_builder_escapes() {
    let twiml = Twiml::new()
        .say(r#"Tom & Jerry's <"quote">"#)
        .record("https://example.com/rec?a=1&b='2'")
        .build();
    assert_eq!(
        twiml,
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
            "<Say>Tom &amp; Jerry&apos;s &lt;&quot;quote&quot;&gt;</Say>",
            r#"<Record recordingStatusCallback="https://example.com/rec?a=1&amp;b=&apos;2&apos;"/>"#,
            "</Response>"
        )
    );
    assert_eq!(xml_escape("plain text"), "plain text");
    assert_eq!(xml_escape("&amp;"), "&amp;amp;");
}
