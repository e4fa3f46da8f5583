//! Step 3 of the guide: the real Twilio client (`workos_twilio::TwilioClient`, what the service
//! runs with in production) pointed at the testkit's fake Twilio, which records every request
//! and fails on demand. The tasks live in a store on a scratch SQLite database.

use followup::{FollowUpError, Outcome, TwilioFollowUp};
use workos_core::repo::PersonRepo;
use workos_store::SqlStore;
use workos_tests::db::TestDatabase;
use workos_tests::fake_twilio::{FakeTwilio, TEST_ACCOUNT_SID, TEST_AUTH_TOKEN};

use crate::{ada_phone, new_ada, our_number, secret};

#[tokio::test]
async fn the_text_reaches_twilio_from_the_orgs_number() {
    let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
    let client = twilio.client_builder().build().unwrap();
    let db = TestDatabase::sqlite("followup-twilio");
    let store = SqlStore::connect(db.url()).await.unwrap();
    store.migrate().await.unwrap();
    let ctx = crate::acme(&store).await;
    let ada = store.create_person(&ctx, new_ada()).await.unwrap();
    let service = TwilioFollowUp::new(store.clone(), client, secret(), our_number());

    let Outcome::FollowedUp {
        sms: Some(receipt), ..
    } = service.follow_up(&ada).await.unwrap()
    else {
        panic!("Ada has a phone: she gets a text");
    };

    // What Twilio received, as Twilio would have: one message, authenticated as the account.
    let sent = twilio.sent_messages();
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0].param("To"), Some(ada_phone().as_ref()));
    assert_eq!(sent[0].param("From"), Some(our_number().as_ref()));
    assert_eq!(
        sent[0].param("Body"),
        Some("Hi Ada, thanks for getting in touch! We will call you within a day.")
    );
    assert_eq!(
        sent[0].basic_auth,
        Some((TEST_ACCOUNT_SID.to_owned(), TEST_AUTH_TOKEN.to_owned()))
    );
    assert_eq!(sent[0].sid.as_deref(), Some(receipt.sid.as_str()));
    assert_eq!(receipt.status, "queued");
    store.close().await;
}

#[tokio::test]
async fn a_twilio_failure_fails_the_delivery_and_the_retry_reuses_the_task() {
    let twilio = FakeTwilio::start(TEST_AUTH_TOKEN, TEST_ACCOUNT_SID).await;
    let client = twilio.client_builder().build().unwrap();
    let db = TestDatabase::sqlite("followup-twilio");
    let store = SqlStore::connect(db.url()).await.unwrap();
    store.migrate().await.unwrap();
    let ctx = crate::acme(&store).await;
    let ada = store.create_person(&ctx, new_ada()).await.unwrap();
    let service = TwilioFollowUp::new(store.clone(), client, secret(), our_number());

    // The switch: Twilio's next answer is an error (nothing is created).
    twilio.fail_next(503, 20503, "Service Unavailable");
    let err = service.follow_up(&ada).await.unwrap_err();
    assert!(matches!(err, FollowUpError::Engine(_)), "{err:?}");
    assert!(twilio.sent_messages().is_empty());
    assert_eq!(
        twilio.requests().len(),
        1,
        "the client does not resend by itself"
    );

    // The engine redelivers: the text goes out, and the task made the first time is reused.
    let outcome = service.follow_up(&ada).await.unwrap();
    assert!(matches!(outcome, Outcome::FollowedUp { sms: Some(_), .. }));
    assert_eq!(twilio.sent_messages().len(), 1);
    let tasks = crate::tasks_of(&store, &ctx, ada.id).await;
    assert_eq!(tasks.len(), 1);
    store.close().await;
}
