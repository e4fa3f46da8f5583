//! [`workos_twilio::TwilioAccounts`]: an org's own Twilio account, checked with Twilio before
//! it is stored, its token sealed; it signs the org's webhooks and sends the org's messages.

use workos_core::Error;
use workos_core::events::EventFilter;
use workos_core::page::PageRequest;
use workos_core::repo::EventRepo;
use workos_core::tenant::{Role, TenantContext};
use workos_tests::fake_twilio::TEST_AUTH_TOKEN;

use crate::harness::{Harness, Signed, invalid_fields, new_number};

/// The org's own account (not the platform's).
const ORG_SID: &str = "ACfedcba9876543210fedcba9876543210";
/// Its auth token.
const ORG_TOKEN: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";

async fn own_account_signs_and_sends(h: Harness) {
    let org = h.org("Own").await;
    let other = h.org("Platform").await;
    h.twilio.add_account(ORG_SID, ORG_TOKEN);
    assert!(h.accounts.get(&org.owner).await.unwrap().is_none());

    // Only admins set it; the input is checked, then Twilio is asked.
    let member = TenantContext::user(org.id, workos_core::ids::UserId::new(), Role::Member);
    let e = h
        .accounts
        .set(&member, ORG_SID, ORG_TOKEN)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Forbidden(_)), "{e:?}");
    assert_eq!(
        invalid_fields(h.accounts.set(&org.owner, "AC12", "short").await),
        ["account_sid", "auth_token"]
    );
    let wrong = "0000000000000000aaaaaaaaaaaaaaaa";
    assert_eq!(
        invalid_fields(h.accounts.set(&org.owner, ORG_SID, wrong).await),
        ["auth_token"]
    );
    let integration = h
        .accounts
        .set(&org.owner, &format!(" {ORG_SID} "), ORG_TOKEN)
        .await
        .unwrap();
    assert_eq!(integration.account, ORG_SID);
    assert_eq!(
        h.accounts.get(&org.owner).await.unwrap().unwrap().id,
        integration.id
    );
    // The token is in no event.
    let events = h
        .store
        .list_events(
            &org.owner,
            EventFilter::default(),
            PageRequest::first(200).unwrap(),
        )
        .await
        .unwrap();
    let text = serde_json::to_string(&events.data).unwrap();
    assert!(text.contains("integration.connected") && !text.contains(ORG_TOKEN));

    // Its token signs the org's webhooks; the platform's no longer does (other orgs keep it).
    let params = h
        .twilio
        .inbound_sms_params(&new_number(), &org.number, "own");
    let platform = Signed::new(TEST_AUTH_TOKEN, "sms", &params);
    assert!(matches!(
        h.inbound.message(&platform.request()).await,
        Err(Error::Forbidden(_))
    ));
    let own = Signed::new(ORG_TOKEN, "sms", &params);
    h.inbound.message(&own.request()).await.unwrap();
    assert_eq!(h.sms(&org).await.len(), 1);
    let params = h
        .twilio
        .inbound_sms_params(&new_number(), &other.number, "platform");
    let platform = Signed::new(TEST_AUTH_TOKEN, "sms", &params);
    h.inbound.message(&platform.request()).await.unwrap();

    // Its messages go out through its account; removed, the platform's applies again.
    let (_, sent) = h.send_sms(&org).await;
    assert!(sent.path.contains(ORG_SID), "{}", sent.path);
    assert!(h.accounts.remove(&org.owner).await.unwrap());
    assert!(!h.accounts.remove(&org.owner).await.unwrap());
    assert!(h.accounts.get(&org.owner).await.unwrap().is_none());
    let (_, sent) = h.send_sms(&org).await;
    assert!(!sent.path.contains(ORG_SID), "{}", sent.path);
}
store_test!(own_account_signs_and_sends);
