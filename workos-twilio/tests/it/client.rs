//! `TwilioClient` against the fake Twilio API of `workos-tests`: wire format, error
//! mapping and the retry policy (creates never retried, GETs retried).

use std::time::{Duration, Instant};

use workos_core::Error;
use workos_core::channel::{CallChannel, OutboundCall, OutboundSms, SmsChannel, SmsSender};
use workos_core::domain::{E164, HttpUrl};
use workos_core::ids::OrgId;
use workos_core::tenant::TenantContext;
use workos_tests::fake_twilio::{FakeTwilio, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};
use workos_twilio::client::{TransportErrorKind, transport_error};
use workos_twilio::{
    CallStatus, CreateCall, MessageSender, MessageStatus, SendMessage, TwilioClient,
    TwilioErrorKind, is_outcome_unknown,
};

const TO: &str = "+14155550100";
const FROM: &str = "+14155550199";

async fn fake() -> FakeTwilio {
    FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await
}

fn client(twilio: &FakeTwilio) -> TwilioClient {
    twilio
        .client_builder()
        .timeout(Duration::from_secs(5))
        .retry_backoff(Duration::from_millis(5))
        .build()
        .unwrap()
}

fn text(body: &str) -> SendMessage {
    SendMessage::new(TO, MessageSender::From(FROM.into()), body)
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    crate::pairs(v)
}

#[track_caller]
fn provider_error(err: &Error) -> (Option<u16>, Option<&str>, &str) {
    match err {
        Error::Provider {
            provider,
            status,
            code,
            message,
        } => {
            assert_eq!(*provider, "twilio");
            (*status, code.as_deref(), message.as_str())
        }
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[tokio::test]
async fn send_message_posts_the_exact_form_with_basic_auth() {
    let twilio = fake().await;
    let params = text("Hi & welcome, 1+1=2")
        .media_url("https://cdn.example.com/a.jpg")
        .media_url("https://cdn.example.com/b.png")
        .status_callback("https://app.example.com/twilio/status?org=1");
    let message = client(&twilio).send_message(&params).await.unwrap();

    let sent = twilio.sent_messages();
    assert_eq!(sent.len(), 1);
    let request = &sent[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages.json")
    );
    assert_eq!(
        request.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        request.basic_auth,
        Some((TEST_ACCOUNT_SID.to_owned(), TEST_AUTH_TOKEN.to_owned()))
    );
    assert_eq!(
        request.params,
        pairs(&[
            ("To", TO),
            ("From", FROM),
            ("Body", "Hi & welcome, 1+1=2"),
            ("MediaUrl", "https://cdn.example.com/a.jpg"),
            ("MediaUrl", "https://cdn.example.com/b.png"),
            (
                "StatusCallback",
                "https://app.example.com/twilio/status?org=1"
            ),
        ])
    );

    assert_eq!(Some(&message.sid), request.sid.as_ref());
    assert!(message.sid.starts_with("MM") && message.sid.len() == 34);
    assert_eq!(message.status, MessageStatus::Queued);
    assert_eq!(message.account_sid, TEST_ACCOUNT_SID);
    assert_eq!(
        (message.to.as_str(), message.from.as_deref()),
        (TO, Some(FROM))
    );
    assert_eq!(message.body, "Hi & welcome, 1+1=2");
    assert_eq!(message.num_media, Some(2));
    assert!(message.date_created.is_some());
    assert_eq!(
        message.uri.as_deref(),
        Some(
            format!(
                "/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages/{}.json",
                message.sid
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn messaging_service_sender_is_sent_as_messaging_service_sid() {
    let twilio = fake().await;
    let params = SendMessage::new(
        TO,
        MessageSender::MessagingService("MG0123456789abcdef0123456789abcdef".into()),
        "Hello",
    );
    let message = client(&twilio).send_message(&params).await.unwrap();
    assert!(message.sid.starts_with("SM"));
    assert_eq!(message.status, MessageStatus::Accepted);
    assert_eq!(message.from, None);
    assert_eq!(
        twilio.sent_messages()[0].params,
        pairs(&[
            ("To", TO),
            ("MessagingServiceSid", "MG0123456789abcdef0123456789abcdef"),
            ("Body", "Hello"),
        ])
    );
}

/// `fetch_account` reads the account the credentials are for, and a wrong token is an
/// authentication failure, as Twilio answers it.
#[tokio::test]
async fn fetch_account_checks_the_credentials() {
    let twilio = fake().await;
    let account = client(&twilio).fetch_account().await.unwrap();
    assert_eq!(account.sid, TEST_ACCOUNT_SID);
    assert_eq!(account.status, "active");
    assert_eq!(account.account_type.as_deref(), Some("Full"));
    let request = &twilio.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{TEST_ACCOUNT_SID}.json")
    );

    let wrong = TwilioClient::builder()
        .account_sid(TEST_ACCOUNT_SID)
        .auth_token("not-the-token")
        .base_url(twilio.base_url())
        .build()
        .unwrap();
    let err = wrong.fetch_account().await.unwrap_err();
    assert_eq!(provider_error(&err).0, Some(401));
    assert_eq!(
        TwilioClient::error_kind(&err),
        Some(TwilioErrorKind::AuthenticationFailed)
    );
}

#[tokio::test]
async fn wrong_token_is_a_401_provider_error_with_code_20003() {
    let twilio = fake().await;
    let client = TwilioClient::builder()
        .account_sid(TEST_ACCOUNT_SID)
        .auth_token("not-the-token")
        .base_url(twilio.base_url())
        .build()
        .unwrap();
    let err = client.send_message(&text("hi")).await.unwrap_err();
    assert_eq!(
        provider_error(&err),
        (Some(401), Some("20003"), "Authenticate")
    );
    assert_eq!(
        TwilioClient::error_kind(&err),
        Some(TwilioErrorKind::AuthenticationFailed)
    );
    assert!(twilio.sent_messages().is_empty());
    assert_eq!(
        twilio.requests()[0].basic_auth,
        Some((TEST_ACCOUNT_SID.to_owned(), "not-the-token".to_owned()))
    );
}

#[tokio::test]
async fn twilio_error_codes_are_kept_with_their_message() {
    let twilio = fake().await;
    let client = client(&twilio);
    let invalid = "The 'To' number +1555 is not a valid phone number.";
    twilio.fail_next(400, 21211, invalid);
    let err = client.send_message(&text("hi")).await.unwrap_err();
    assert_eq!(provider_error(&err), (Some(400), Some("21211"), invalid));
    assert_eq!(
        TwilioErrorKind::of(&err),
        Some(TwilioErrorKind::InvalidToNumber)
    );

    let stop = "Attempt to send to unsubscribed recipient";
    twilio.fail_next(400, 21610, stop);
    let err = client.send_message(&text("hi")).await.unwrap_err();
    assert_eq!(provider_error(&err), (Some(400), Some("21610"), stop));
    let kind = TwilioErrorKind::of(&err).unwrap();
    assert_eq!(kind, TwilioErrorKind::Unsubscribed);
    assert!(kind.is_recipient_permanent());
    assert!(twilio.sent_messages().is_empty());
}

#[tokio::test]
async fn rate_limit_maps_retry_after_and_is_not_retried() {
    let twilio = fake().await;
    let client = client(&twilio);
    twilio.rate_limit_next(Duration::from_secs(7));
    let err = client.send_message(&text("hi")).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after } if retry_after == Duration::from_secs(7)),
        "{err:?}"
    );
    // Without a Retry-After header, the default is one second.
    twilio.fail_next(429, 20429, "Too Many Requests");
    let err = client.send_message(&text("hi")).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after } if retry_after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(twilio.requests().len(), 2, "one request per send");
}

#[tokio::test]
async fn server_error_on_a_send_is_a_provider_error_and_not_retried() {
    let twilio = fake().await;
    twilio.fail_next(500, 20500, "Internal Server Error");
    let err = client(&twilio).send_message(&text("hi")).await.unwrap_err();
    assert_eq!(
        provider_error(&err),
        (Some(500), Some("20500"), "Internal Server Error")
    );
    assert!(!is_outcome_unknown(&err));
    assert_eq!(twilio.requests().len(), 1);
}

#[tokio::test]
async fn timeout_on_a_send_is_outcome_unknown_and_never_retried() {
    let twilio = fake().await;
    let client = twilio
        .client_builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    twilio.hang_next(Duration::from_millis(1500));
    let started = Instant::now();
    let err = client.send_message(&text("hi")).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1400),
        "timed out early"
    );
    let Error::Unavailable { message, .. } = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(message.contains("outcome unknown"), "{message}");
    assert!(message.contains("MAY have been sent"), "{message}");
    assert!(is_outcome_unknown(&err));
    assert_eq!(
        transport_error(&err).map(|t| t.kind()),
        Some(TransportErrorKind::Timeout)
    );
    // Give a (wrong) retry every chance to show up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        twilio.requests().len(),
        1,
        "exactly one request: no blind retry"
    );
    assert_eq!(
        twilio.sent_messages().len(),
        1,
        "Twilio did create the message whose answer was lost"
    );

    // Calls follow the same rule.
    twilio.hang_next(Duration::from_millis(1500));
    let err = client
        .create_call(&CreateCall::new(TO, FROM, "https://app.example.com/twiml"))
        .await
        .unwrap_err();
    assert!(is_outcome_unknown(&err), "{err:?}");
    assert_eq!(twilio.requests().len(), 2);
}

#[tokio::test]
async fn refused_connection_is_unavailable_and_not_sent() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = TwilioClient::builder()
        .account_sid(TEST_ACCOUNT_SID)
        .auth_token(TEST_AUTH_TOKEN)
        .base_url(format!("http://{addr}"))
        .build()
        .unwrap();
    let err = client.send_message(&text("hi")).await.unwrap_err();
    let Error::Unavailable { message, .. } = &err else {
        panic!("expected Unavailable, got {err:?}");
    };
    assert!(message.contains("not sent"), "{message}");
    assert!(!is_outcome_unknown(&err));
    assert_eq!(
        transport_error(&err).map(|t| t.kind()),
        Some(TransportErrorKind::Connect)
    );
}

#[tokio::test]
async fn validation_happens_before_any_request() {
    let twilio = fake().await;
    let err = client(&twilio)
        .send_message(&text(&"x".repeat(1601)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    let err = client(&twilio)
        .fetch_message("SM../../x")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Validation(_)), "{err:?}");
    assert!(twilio.requests().is_empty());
}

#[tokio::test]
async fn fetch_message_retries_server_errors_then_succeeds() {
    let twilio = fake().await;
    let client = client(&twilio);
    let sent = client.send_message(&text("hi")).await.unwrap();
    assert!(twilio.set_message_status(&sent.sid, "delivered"));
    twilio.fail_next(500, 20500, "Internal Server Error");
    twilio.fail_next(503, 20503, "Service Unavailable");
    let fetched = client.fetch_message(&sent.sid).await.unwrap();
    assert_eq!(fetched.sid, sent.sid);
    assert_eq!(fetched.status, MessageStatus::Delivered);
    let requests = twilio.requests();
    assert_eq!(
        requests.len(),
        4,
        "1 send + 2 failed GETs + 1 successful GET"
    );
    let path = format!(
        "/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Messages/{}.json",
        sent.sid
    );
    for r in &requests[1..] {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", path.as_str()));
        assert_eq!(
            r.basic_auth,
            Some((TEST_ACCOUNT_SID.to_owned(), TEST_AUTH_TOKEN.to_owned()))
        );
    }
}

#[tokio::test]
async fn fetch_message_gives_up_after_three_retries() {
    let twilio = fake().await;
    for _ in 0..5 {
        twilio.fail_next(500, 20500, "Internal Server Error");
    }
    let err = client(&twilio)
        .fetch_message("SM0123456789abcdef0123456789abcdef")
        .await
        .unwrap_err();
    assert_eq!(provider_error(&err).0, Some(500));
    assert_eq!(twilio.requests().len(), 4, "1 attempt + 3 retries");
}

#[tokio::test]
async fn fetch_message_honours_retry_after_and_retries_timeouts() {
    let twilio = fake().await;
    let client = twilio
        .client_builder()
        .timeout(Duration::from_millis(300))
        .retry_backoff(Duration::from_millis(5))
        .build()
        .unwrap();
    let sent = client.send_message(&text("hi")).await.unwrap();

    twilio.rate_limit_next(Duration::from_secs(1));
    let started = Instant::now();
    client.fetch_message(&sent.sid).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited Retry-After"
    );

    // A GET is idempotent: a timed-out one is simply tried again.
    twilio.hang_next(Duration::from_millis(1000));
    client.fetch_message(&sent.sid).await.unwrap();
    assert_eq!(twilio.requests().len(), 5);

    // A Retry-After longer than max_retry_wait is handed back at once.
    let impatient = twilio
        .client_builder()
        .max_retry_wait(Duration::from_millis(500))
        .build()
        .unwrap();
    twilio.rate_limit_next(Duration::from_secs(30));
    let err = impatient.fetch_message(&sent.sid).await.unwrap_err();
    assert!(
        matches!(err, Error::RateLimited { retry_after } if retry_after == Duration::from_secs(30)),
        "{err:?}"
    );
}

#[tokio::test]
async fn fetch_unknown_message_is_a_404_without_retry() {
    let twilio = fake().await;
    let err = client(&twilio)
        .fetch_message("SM0123456789abcdef0123456789abcdef")
        .await
        .unwrap_err();
    let (status, code, _) = provider_error(&err);
    assert_eq!((status, code), (Some(404), Some("20404")));
    assert_eq!(TwilioErrorKind::of(&err), Some(TwilioErrorKind::NotFound));
    assert_eq!(twilio.requests().len(), 1);
}

#[tokio::test]
async fn create_call_posts_url_and_every_status_event() {
    let twilio = fake().await;
    let client = client(&twilio);
    let params = CreateCall::new(TO, FROM, "https://app.example.com/twiml/call?id=7")
        .status_callback("https://app.example.com/twilio/call-status");
    let call = client.create_call(&params).await.unwrap();
    assert!(call.sid.starts_with("CA") && call.sid.len() == 34);
    assert_eq!(call.status, CallStatus::Queued);
    let created = twilio.created_calls();
    assert_eq!(created.len(), 1);
    assert_eq!(
        created[0].path,
        format!("/2010-04-01/Accounts/{TEST_ACCOUNT_SID}/Calls.json")
    );
    assert_eq!(
        created[0].params,
        pairs(&[
            ("To", TO),
            ("From", FROM),
            ("Url", "https://app.example.com/twiml/call?id=7"),
            (
                "StatusCallback",
                "https://app.example.com/twilio/call-status"
            ),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ])
    );
    let fetched = client.fetch_call(&call.sid).await.unwrap();
    assert_eq!(fetched.sid, call.sid);
    assert_eq!((fetched.to.as_str(), fetched.from.as_str()), (TO, FROM));
}

#[tokio::test]
async fn implements_the_engine_channels() {
    let twilio = fake().await;
    let client = client(&twilio);
    let ctx = TenantContext::system(OrgId::new(), "test").with_request_id("req-1");

    let receipt = SmsChannel::send_sms(
        &client,
        &ctx,
        OutboundSms {
            from: SmsSender::Number(E164::parse(FROM).unwrap()),
            to: E164::parse(TO).unwrap(),
            body: "From the engine".into(),
            media_urls: vec![HttpUrl::parse("https://cdn.example.com/c.gif").unwrap()],
            status_callback: Some(HttpUrl::parse("https://app.example.com/s").unwrap()),
        },
    )
    .await
    .unwrap();
    assert_eq!(receipt.status, "queued");
    let sent = &twilio.sent_messages()[0];
    assert_eq!(sent.sid.as_ref(), Some(&receipt.sid));
    assert_eq!(
        sent.params,
        pairs(&[
            ("To", TO),
            ("From", FROM),
            ("Body", "From the engine"),
            ("MediaUrl", "https://cdn.example.com/c.gif"),
            ("StatusCallback", "https://app.example.com/s"),
        ])
    );

    let receipt = CallChannel::start_call(
        &client,
        &ctx,
        OutboundCall {
            from: E164::parse(FROM).unwrap(),
            to: E164::parse(TO).unwrap(),
            instructions_url: HttpUrl::parse("https://app.example.com/twiml").unwrap(),
            status_callback: None,
        },
    )
    .await
    .unwrap();
    assert!(receipt.sid.starts_with("CA"));
    assert_eq!(receipt.status, "queued");
    assert_eq!(
        twilio.created_calls()[0].params,
        pairs(&[
            ("To", TO),
            ("From", FROM),
            ("Url", "https://app.example.com/twiml"),
        ])
    );

    twilio.fail_next(400, 21610, "Attempt to send to unsubscribed recipient");
    let err = SmsChannel::send_sms(
        &client,
        &ctx,
        OutboundSms {
            from: SmsSender::MessagingService("MG1".into()),
            to: E164::parse(TO).unwrap(),
            body: "again".into(),
            media_urls: vec![],
            status_callback: None,
        },
    )
    .await
    .unwrap_err();
    assert_eq!(
        TwilioErrorKind::of(&err),
        Some(TwilioErrorKind::Unsubscribed)
    );
}

/// A client for another account (an org's own) shares the settings but sends as that account,
/// to that account's path; bad credentials are refused before any request.
#[tokio::test]
async fn for_account_sends_as_the_other_account() {
    const SID: &str = "ACfedcba9876543210fedcba9876543210";
    const TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    let twilio = fake().await;
    twilio.add_account(SID, TOKEN);
    let platform = client(&twilio);
    let own = platform.for_account(SID, TOKEN).unwrap();
    assert_eq!(own.account_sid(), SID);
    assert_eq!(own.base_url(), platform.base_url());
    let sent = own.send_message(&text("own account")).await.unwrap();
    assert_eq!(sent.account_sid, SID);
    let request = &twilio.sent_messages()[0];
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(request.basic_auth, Some((SID.to_owned(), TOKEN.to_owned())));
    // The platform client is unchanged.
    let sent = platform.send_message(&text("platform")).await.unwrap();
    assert_eq!(sent.account_sid, TEST_ACCOUNT_SID);
    // A wrong token for the account is Twilio's authentication failure.
    let wrong = platform.for_account(SID, TEST_AUTH_TOKEN).unwrap();
    let err = wrong.send_message(&text("wrong")).await.unwrap_err();
    assert_eq!(
        TwilioErrorKind::of(&err),
        Some(TwilioErrorKind::AuthenticationFailed),
        "{err:?}"
    );

    let before = twilio.requests().len();
    for (sid, token, field) in [("AC/../x", TOKEN, "account_sid"), (SID, "", "auth_token")] {
        let Err(Error::Validation(v)) = platform.for_account(sid, token) else {
            panic!("expected a validation error for {field}");
        };
        assert_eq!(v.errors[0].field, field);
        assert!(
            !format!("{v:?}").contains(TOKEN),
            "the token is not in the error"
        );
    }
    assert_eq!(twilio.requests().len(), before);
}
