//! On Citus every hot path runs on the one shard of its org: the CRM records' get, list,
//! create and update, the inbound SMS write, lead capture + routing, the webhook fan-out and a
//! webhook claim. Citus only.
//!
//! The hot paths run through a store whose sessions make Citus refuse any statement that needs
//! more than one shard (`citus.multi_task_query_log_level = error`) and report every command
//! they send to the workers (`citus.log_remote_commands`), which the test reads back from
//! sqlx's notice log: a hot path may not commit across nodes (`PREPARE TRANSACTION`) nor ship
//! intermediate results between them (`read_intermediate_result`), the signs of a statement
//! Citus planned in steps.

use std::sync::{Arc, Mutex};

use tracing_subscriber::layer::SubscriberExt as _;
use workos_core::domain::{
    CompanyPatch, Direction, HttpUrl, NewCompany, NewDeal, NewLead, NewPartner, NewPerson,
    NewPhone, NewSms, NewTask, NewWebhook, PartnerDelivery, Patch, PersonFilter, PersonPatch,
    PhoneCapabilities, UnknownSender, now,
};
use workos_core::repo::{
    CommsRepo, CompanyRepo, DealRepo, DeliveryQueue, PartnerRepo, PersonRepo, PhoneRepo,
    RoutingRepo, SealedSecrets, TaskRepo, WebhookRepo,
};
use workos_core::tenant::TenantContext;
use workos_store::SqlStore;

use crate::common::*;

/// The commands Citus reported sending to the workers, in order.
#[derive(Clone, Default)]
struct RemoteCommands(Arc<Mutex<Vec<String>>>);

impl RemoteCommands {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for RemoteCommands {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Message(Option<String>);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = Some(format!("{value:?}"));
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "message" {
                    self.0 = Some(value.to_owned());
                }
            }
        }
        if event.metadata().target() != "sqlx::postgres::notice" {
            return;
        }
        let mut message = Message(None);
        event.record(&mut message);
        if let Some(m) = message.0 {
            self.0.lock().unwrap().push(m);
        }
    }
}

/// Fails unless the commands `what` sent to the workers stayed on one node in one step.
#[track_caller]
fn assert_routed(what: &str, commands: &[String]) {
    assert!(
        commands.iter().any(|c| c.starts_with("issuing")),
        "{what}: no command reached a worker, so nothing was checked: {commands:#?}"
    );
    for c in commands {
        assert!(
            !c.contains("PREPARE TRANSACTION") && !c.contains("read_intermediate_result"),
            "{what} ran across nodes or in steps: {c}\nall: {commands:#?}"
        );
    }
}

/// `url` with `-c` settings for every session.
fn with_settings(url: &str, settings: &[&str]) -> String {
    let options: String = settings
        .iter()
        .map(|s| format!("-c {s}"))
        .collect::<Vec<_>>()
        .join(" ");
    let sep = if url.contains('?') { '&' } else { '?' };
    let encoded: String = form_urlencoded::byte_serialize(options.as_bytes()).collect();
    format!("{url}{sep}options={encoded}")
}

#[tokio::test]
async fn hot_paths_run_on_one_shard() {
    let Some(db) = TestDb::citus().await else {
        return;
    };
    let a = Tenant::new(&db.store, "A").await;
    let b = Tenant::new(&db.store, "B").await;
    // What the hot paths below need, set up through the ordinary store.
    let number = phone(7);
    let new_phone = NewPhone {
        number: number.clone(),
        provider: "twilio".into(),
        label: None,
        capabilities: PhoneCapabilities {
            sms: true,
            mms: false,
            voice: true,
        },
    };
    let org_phone = db.store.create_phone(&a.ctx, new_phone).await.unwrap();
    let partner = NewPartner {
        daily_cap: Some(100),
        ..NewPartner::new(
            "Buyer",
            PartnerDelivery::Email {
                address: email("buyer@example.com"),
            },
        )
    };
    db.store.create_partner(&a.ctx, partner).await.unwrap();
    let endpoint = NewWebhook {
        url: HttpUrl::parse("https://receiver.example.com/hooks").unwrap(),
        description: None,
        event_types: Vec::new(),
        enabled: true,
        headers: Default::default(),
        rate_limit_per_second: None,
    };
    db.store
        .create_webhook(
            &a.ctx,
            endpoint,
            SealedSecrets(vec![1, 2, 3]),
            SealedSecrets(vec![4]),
        )
        .await
        .unwrap();
    db.store
        .create_company(
            &b.ctx,
            NewCompany {
                name: "Theirs".into(),
                domain: None,
            },
        )
        .await
        .unwrap();

    let url = with_settings(
        db.url(),
        &[
            "citus.multi_task_query_log_level=error",
            "citus.log_remote_commands=on",
            "client_min_messages=notice",
        ],
    );
    let strict = SqlStore::connect(&url).await.unwrap();
    let commands = RemoteCommands::default();
    // A current-thread test: every notice of these sessions is read on this thread.
    let _capture =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(commands.clone()));
    let ctx = &a.ctx;

    // CRM records.
    let person = strict
        .create_person(
            ctx,
            NewPerson {
                first_name: Some("Ada".into()),
                email: Some(email("ada@example.com")),
                ..NewPerson::default()
            },
        )
        .await
        .unwrap();
    assert_routed("create person", &commands.take());
    strict.get_person(ctx, person.id).await.unwrap();
    assert_routed("get person", &commands.take());
    let page = strict
        .list_people(ctx, PersonFilter::default(), page(50))
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    assert_routed("list people", &commands.take());
    let patch = PersonPatch {
        title: Patch::Set("CTO".into()),
        ..PersonPatch::default()
    };
    strict.update_person(ctx, person.id, patch).await.unwrap();
    assert_routed("update person", &commands.take());
    let company = strict
        .create_company(
            ctx,
            NewCompany {
                name: "Acme".into(),
                domain: None,
            },
        )
        .await
        .unwrap();
    assert_routed("create company", &commands.take());
    let rename = CompanyPatch {
        name: Some("Acme Inc".into()),
        ..CompanyPatch::default()
    };
    strict
        .update_company(ctx, company.id, rename)
        .await
        .unwrap();
    assert_routed("update company", &commands.take());
    let deal = NewDeal {
        company_id: Some(company.id),
        person_id: Some(person.id),
        ..NewDeal::named("Big one")
    };
    strict.create_deal(ctx, deal).await.unwrap();
    assert_routed("create deal", &commands.take());
    let task = NewTask {
        person_id: Some(person.id),
        ..NewTask::titled("Call back")
    };
    strict.create_task(ctx, task).await.unwrap();
    assert_routed("create task", &commands.take());

    // The inbound SMS write, as the Twilio webhook makes it (a new sender included).
    let twilio = TenantContext::system(a.org.id, "twilio");
    let sms = NewSms {
        phone_id: Some(org_phone.id),
        message_sid: Some("SM0001".into()),
        direction: Direction::Inbound,
        from: phone(8).as_ref().to_owned(),
        to: number.as_ref().to_owned(),
        body: "Hello".into(),
        media: Vec::new(),
        status: "received".into(),
        person_id: None,
        unknown_sender: UnknownSender::CreatePerson,
    };
    strict.record_sms(&twilio, sms).await.unwrap();
    assert_routed("inbound SMS", &commands.take());

    // Lead capture + routing to a capped partner.
    let lead = NewLead {
        email: Some(email("lead@example.com")),
        ..NewLead::default()
    };
    let routed = strict
        .capture_and_route_lead(ctx, lead, now())
        .await
        .unwrap();
    assert_eq!(routed.deliveries.len(), 1, "{routed:?}");
    assert_routed("lead capture and routing", &commands.take());

    // The webhook fan-out of the org's events, then a claim of its deliveries.
    let dispatched = strict
        .dispatch_events("webhooks", a.org.id, 1000)
        .await
        .unwrap()
        .expect("nobody else dispatches");
    assert!(dispatched.1 > 0, "{dispatched:?}");
    assert_routed("webhook fan-out", &commands.take());
    let claimed = strict
        .claim_org_deliveries(a.org.id, 10, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!claimed.is_empty());
    assert!(claimed.iter().all(|d| d.delivery.org_id == a.org.id));
    assert_routed("webhook claim", &commands.take());
}
