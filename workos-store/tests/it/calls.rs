//! Calls after they are recorded (status reports of each leg, recordings, transcriptions), the
//! org's call and SMS settings, members' phones, numbers' ringing and SMS opt-outs: the
//! contract every backend keeps, tenant by tenant.

use workos_core::domain::{
    Call, CallLeg, CallProgress, CallRecording, CallSettings, CallTranscription, Direction,
    NewCall, NewPhone, OptOutChange, OptOutSource, PhoneCapabilities, RingSettings, RingStrategy,
    SmsSettings, UnknownSender,
};
use workos_core::events::types;
use workos_core::ids::{MemberId, PhoneId};
use workos_core::repo::{CallSettingsRepo, CommsRepo, MemberRepo, OptOutRepo, PhoneRepo};
use workos_core::tenant::{Role, TenantContext};
use workos_store::SqlStore;

use crate::common::*;

async fn line(store: &SqlStore, ctx: &TenantContext, n: u32) -> PhoneId {
    let new = NewPhone {
        number: phone(n),
        provider: "twilio".into(),
        label: None,
        capabilities: PhoneCapabilities {
            sms: true,
            mms: false,
            voice: true,
        },
    };
    store.create_phone(ctx, new).await.expect("create phone").id
}

async fn outbound_call(store: &SqlStore, ctx: &TenantContext, sid: &str) -> Call {
    store
        .record_call(
            ctx,
            NewCall {
                phone_id: None,
                call_sid: Some(sid.to_owned()),
                direction: Direction::Outbound,
                from: phone(1).as_ref().to_owned(),
                to: phone(2).as_ref().to_owned(),
                status: "queued".into(),
                person_id: None,
                unknown_sender: UnknownSender::StoreUnmatched,
            },
        )
        .await
        .expect("record call")
        .record
}

fn report(sid: &str, leg: CallLeg, status: &str, secs: Option<u32>) -> CallProgress {
    CallProgress {
        call_sid: sid.to_owned(),
        leg,
        status: status.to_owned(),
        duration_seconds: secs,
    }
}

fn dialed(sid: &str) -> CallLeg {
    CallLeg::Dialed {
        call_sid: Some(sid.to_owned()),
        member_id: None,
    }
}

/// The `answered` report of leg `sid`, which rang `member`.
fn answered_by(sid: &str, member: MemberId) -> CallLeg {
    CallLeg::Dialed {
        call_sid: Some(sid.to_owned()),
        member_id: Some(member),
    }
}

async fn status(store: &SqlStore, ctx: &TenantContext, p: CallProgress) -> Call {
    store
        .update_call_status(ctx, p)
        .await
        .expect("update")
        .expect("the call")
}

contract_test!(call_statuses_only_move_forward);
async fn call_statuses_only_move_forward(store: &SqlStore) {
    let t = Tenant::new(store, "Calls").await;
    let ctx = t.system();
    let call = outbound_call(store, &ctx, "CA1").await;

    let c = status(store, &ctx, report("CA1", CallLeg::Own, "ringing", None)).await;
    assert_eq!(c.status, "ringing");
    // Late and replayed reports change nothing and emit nothing.
    let c = status(store, &ctx, report("CA1", CallLeg::Own, "initiated", None)).await;
    assert_eq!(c.status, "ringing");
    status(store, &ctx, report("CA1", CallLeg::Own, "ringing", None)).await;
    assert_eq!(
        events_about(store, &ctx, types::CALL_STATUS_CHANGED, call.id)
            .await
            .len(),
        1
    );

    // The rep answered and the customer is dialled: the rep's end no longer decides.
    let c = status(
        store,
        &ctx,
        report("CA1", CallLeg::Bridging, "in-progress", None),
    )
    .await;
    assert_eq!(c.status, "in-progress");
    let c = status(
        store,
        &ctx,
        report("CA1", CallLeg::Own, "completed", Some(60)),
    )
    .await;
    assert_eq!(
        (c.status.as_str(), c.duration_seconds),
        ("in-progress", None)
    );
    let c = status(store, &ctx, report("CA1", dialed("CA2"), "ringing", None)).await;
    assert_eq!(c.status, "in-progress");
    assert_eq!(c.dial_call_sid.as_deref(), Some("CA2"));
    // Another leg's report is not this call's.
    let c = status(store, &ctx, report("CA1", dialed("CA9"), "busy", None)).await;
    assert_eq!(c.status, "in-progress");
    let c = status(store, &ctx, report("CA1", dialed("CA2"), "no-answer", None)).await;
    assert_eq!(c.status, "no-answer");
    // Final stays final.
    for (leg, s) in [
        (dialed("CA2"), "completed"),
        (CallLeg::Own, "completed"),
        (CallLeg::Own, "ringing"),
        (
            CallLeg::Dialed {
                call_sid: None,
                member_id: None,
            },
            "busy",
        ),
    ] {
        assert_eq!(
            status(store, &ctx, report("CA1", leg, s, Some(9)))
                .await
                .status,
            "no-answer"
        );
    }
    let stored = store.get_call(&ctx, call.id).await.unwrap();
    assert_eq!(stored.status, "no-answer");
    assert_eq!(stored.duration_seconds, None);
    assert_eq!(count_events(store, &ctx, types::CALL_COMPLETED).await, 0);

    // Completed with its length; the length fills in when it comes later.
    outbound_call(store, &ctx, "CA3").await;
    let c = status(store, &ctx, report("CA3", CallLeg::Own, "completed", None)).await;
    assert_eq!((c.status.as_str(), c.duration_seconds), ("completed", None));
    let c = status(
        store,
        &ctx,
        report("CA3", CallLeg::Own, "completed", Some(42)),
    )
    .await;
    assert_eq!(c.duration_seconds, Some(42));
    assert_eq!(count_events(store, &ctx, types::CALL_COMPLETED).await, 1);

    // Unknown calls, and another org's: None.
    assert!(
        store
            .update_call_status(&ctx, report("CA404", CallLeg::Own, "ringing", None))
            .await
            .unwrap()
            .is_none()
    );
    let other = Tenant::new(store, "Other").await;
    assert!(
        store
            .update_call_status(&other.system(), report("CA3", CallLeg::Own, "busy", None))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        store.get_call(&ctx, c.id).await.unwrap().status,
        "completed"
    );
}

contract_test!(the_member_whose_leg_answered_took_the_call);
async fn the_member_whose_leg_answered_took_the_call(store: &SqlStore) {
    let t = Tenant::new(store, "Who answered").await;
    let ctx = t.system();
    let (ada, bob) = (MemberId::new(), MemberId::new());

    // Ada's leg answers: the call is hers (`call.answered`), and in progress.
    let call = outbound_call(store, &ctx, "CA1").await;
    status(store, &ctx, report("CA1", CallLeg::Own, "ringing", None)).await;
    let c = status(
        store,
        &ctx,
        report("CA1", answered_by("CA2", ada), "in-progress", None),
    )
    .await;
    assert_eq!(c.answered_by_member_id, Some(ada));
    assert_eq!(c.status, "in-progress");
    assert_eq!(c.dial_call_sid.as_deref(), Some("CA2"));
    let event = one_event(store, &ctx, types::CALL_ANSWERED, call.id).await;
    assert_eq!(event.data["answered_by_member_id"], ada.to_string());
    // Another leg (Bob's) answering later, or Ada's callback replayed: still Ada's, no event.
    status(
        store,
        &ctx,
        report("CA1", answered_by("CA3", bob), "in-progress", None),
    )
    .await;
    status(
        store,
        &ctx,
        report("CA1", answered_by("CA2", bob), "in-progress", None),
    )
    .await;
    let c = status(
        store,
        &ctx,
        report("CA1", dialed("CA2"), "completed", Some(30)),
    )
    .await;
    assert_eq!(c.answered_by_member_id, Some(ada));
    assert_eq!(c.status, "completed");
    one_event(store, &ctx, types::CALL_ANSWERED, call.id).await;
    let completed = one_event(store, &ctx, types::CALL_COMPLETED, call.id).await;
    assert_eq!(completed.data["answered_by_member_id"], ada.to_string());

    // The dial's outcome came first: who answered still lands on the finished call.
    let late = outbound_call(store, &ctx, "CA4").await;
    status(
        store,
        &ctx,
        report("CA4", dialed("CA5"), "completed", Some(9)),
    )
    .await;
    let c = status(
        store,
        &ctx,
        report("CA4", answered_by("CA5", bob), "in-progress", None),
    )
    .await;
    assert_eq!(
        (c.status.as_str(), c.answered_by_member_id),
        ("completed", Some(bob))
    );
    one_event(store, &ctx, types::CALL_ANSWERED, late.id).await;
    assert_eq!(
        store
            .get_call(&ctx, late.id)
            .await
            .unwrap()
            .answered_by_member_id,
        Some(bob)
    );

    // Another org's report does not reach the call.
    let other = Tenant::new(store, "Other").await;
    assert!(
        store
            .update_call_status(
                &other.system(),
                report("CA1", answered_by("CA2", bob), "in-progress", None)
            )
            .await
            .unwrap()
            .is_none()
    );
}

contract_test!(unfinished_calls_are_listed_across_orgs_and_settled_from_the_provider);
async fn unfinished_calls_are_listed_across_orgs_and_settled_from_the_provider(store: &SqlStore) {
    let a = Tenant::new(store, "Stuck A").await;
    let b = Tenant::new(store, "Stuck B").await;
    let (actx, bctx) = (a.system(), b.system());
    let start = chrono::Utc::now() - chrono::Duration::minutes(1);
    // Bridged and never heard of again; ringing; and finished (not listed).
    let stuck = outbound_call(store, &actx, "CA10").await;
    status(
        store,
        &actx,
        report("CA10", CallLeg::Bridging, "in-progress", None),
    )
    .await;
    let ringing = outbound_call(store, &bctx, "CA20").await;
    status(store, &bctx, report("CA20", CallLeg::Own, "ringing", None)).await;
    outbound_call(store, &actx, "CA30").await;
    status(store, &actx, report("CA30", CallLeg::Own, "busy", None)).await;

    let later = chrono::Utc::now() + chrono::Duration::minutes(1);
    let ours = |calls: Vec<workos_core::domain::UnfinishedCall>| -> Vec<_> {
        calls
            .into_iter()
            .filter(|c| c.org_id == a.org.id || c.org_id == b.org.id)
            .collect()
    };
    let listed = ours(
        store
            .unfinished_calls(start, later, None, 100)
            .await
            .unwrap(),
    );
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![stuck.id, ringing.id],
        "in id order, across orgs, the finished one left out"
    );
    assert!(listed[0].bridged && listed[0].status == "in-progress");
    assert_eq!(listed[1].org_id, b.org.id);
    assert_eq!(listed[1].call_sid, "CA20");
    let next = ours(
        store
            .unfinished_calls(start, later, Some(stuck.id), 100)
            .await
            .unwrap(),
    );
    assert_eq!(
        next.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ringing.id]
    );
    // Outside the window: none.
    assert!(
        ours(
            store
                .unfinished_calls(later, later, None, 100)
                .await
                .unwrap()
        )
        .is_empty()
    );
    assert!(
        ours(
            store
                .unfinished_calls(start - chrono::Duration::hours(1), start, None, 100)
                .await
                .unwrap()
        )
        .is_empty()
    );

    // The provider's record: not final changes nothing; final applies though bridged.
    let c = status(
        store,
        &actx,
        report("CA10", CallLeg::Provider, "ringing", None),
    )
    .await;
    assert_eq!(c.status, "in-progress");
    let c = status(
        store,
        &actx,
        report("CA10", CallLeg::Provider, "completed", Some(75)),
    )
    .await;
    assert_eq!(
        (c.status.as_str(), c.duration_seconds),
        ("completed", Some(75))
    );
    one_event(store, &actx, types::CALL_COMPLETED, stuck.id).await;
    let listed = ours(
        store
            .unfinished_calls(start, later, None, 100)
            .await
            .unwrap(),
    );
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![ringing.id]
    );
}

async fn sms_status(
    store: &SqlStore,
    ctx: &TenantContext,
    sid: &str,
    status: &str,
    code: Option<&str>,
) -> workos_core::domain::Sms {
    store
        .update_sms_status(ctx, sid, status, code.map(str::to_owned))
        .await
        .expect("update")
        .expect("the message")
}

contract_test!(sms_statuses_only_move_forward);
async fn sms_statuses_only_move_forward(store: &SqlStore) {
    let t = Tenant::new(store, "Texts").await;
    let ctx = t.system();
    let sms = store
        .record_sms(
            &ctx,
            workos_core::domain::NewSms {
                phone_id: None,
                message_sid: Some("SM1".into()),
                direction: Direction::Outbound,
                from: phone(1).as_ref().to_owned(),
                to: phone(2).as_ref().to_owned(),
                body: "Hi".into(),
                media: Vec::new(),
                status: "queued".into(),
                person_id: None,
                unknown_sender: UnknownSender::StoreUnmatched,
            },
        )
        .await
        .unwrap()
        .record;
    let update = |s, code| sms_status(store, &ctx, "SM1", s, code);
    assert_eq!(update("sent", None).await.status, "sent");
    // Replayed and late: nothing.
    assert_eq!(update("queued", None).await.status, "sent");
    assert_eq!(update("sent", None).await.status, "sent");
    assert_eq!(update("delivered", None).await.status, "delivered");
    assert_eq!(update("read", None).await.status, "read");
    // Final is final.
    let s = update("undelivered", Some("30003")).await;
    assert_eq!((s.status.as_str(), s.error_code), ("read", None));
    assert_eq!(
        events_about(store, &ctx, types::SMS_STATUS_CHANGED, sms.id)
            .await
            .len(),
        3
    );

    // The same status again may bring its error code; a failure stays failed.
    store
        .record_sms(
            &ctx,
            workos_core::domain::NewSms {
                message_sid: Some("SM2".into()),
                status: "queued".into(),
                phone_id: None,
                direction: Direction::Outbound,
                from: phone(1).as_ref().to_owned(),
                to: phone(2).as_ref().to_owned(),
                body: "Hi again".into(),
                media: Vec::new(),
                person_id: None,
                unknown_sender: UnknownSender::StoreUnmatched,
            },
        )
        .await
        .unwrap();
    let second = |s, code| sms_status(store, &ctx, "SM2", s, code);
    second("failed", None).await;
    let s = second("failed", Some("30008")).await;
    assert_eq!(s.error_code.as_deref(), Some("30008"));
    let s = second("sent", None).await;
    assert_eq!(
        (s.status.as_str(), s.error_code.as_deref()),
        ("failed", Some("30008"))
    );
}

contract_test!(recordings_and_transcriptions_land_on_the_call);
async fn recordings_and_transcriptions_land_on_the_call(store: &SqlStore) {
    let t = Tenant::new(store, "Voicemail").await;
    let ctx = t.system();
    let call = outbound_call(store, &ctx, "CA1").await;
    let rec = CallRecording {
        call_sid: "CA1".into(),
        recording_sid: "RE1".into(),
        recording_url: "https://api.twilio.test/Recordings/RE1".into(),
        recording_seconds: Some(14),
        voicemail: true,
    };
    let c = store
        .record_recording(&ctx, rec.clone())
        .await
        .unwrap()
        .unwrap();
    assert!(c.voicemail);
    assert_eq!(c.recording_seconds, Some(14));
    store.record_recording(&ctx, rec.clone()).await.unwrap();
    one_event(store, &ctx, types::CALL_RECORDING_AVAILABLE, call.id).await;

    let tr = CallTranscription {
        call_sid: "CA1".into(),
        status: "completed".into(),
        text: Some("Call me back".into()),
    };
    let c = store
        .record_transcription(&ctx, tr.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.transcription_text.as_deref(), Some("Call me back"));
    store.record_transcription(&ctx, tr.clone()).await.unwrap();
    let event = one_event(store, &ctx, types::CALL_TRANSCRIPTION_AVAILABLE, call.id).await;
    assert_eq!(event.data["transcription_text"], "Call me back");
    let stored = store.get_call(&ctx, call.id).await.unwrap();
    assert_eq!(stored.transcription_status.as_deref(), Some("completed"));
    assert!(stored.voicemail);

    let long = CallTranscription {
        text: Some("x".repeat(20_001)),
        ..tr.clone()
    };
    expect_validation(
        store.record_transcription(&ctx, long).await,
        "TranscriptionText",
    );
    // Another org cannot reach the call.
    let other = Tenant::new(store, "Other").await;
    assert!(
        store
            .record_transcription(&other.system(), tr)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .record_recording(&other.system(), rec)
            .await
            .unwrap()
            .is_none()
    );
}

contract_test!(settings_are_admin_writes_with_events);
async fn settings_are_admin_writes_with_events(store: &SqlStore) {
    let t = Tenant::new(store, "Settings").await;
    let member = t.user(store, Role::Member).await;
    let admin = t.ctx.clone();

    assert_eq!(
        store.call_settings(&admin).await.unwrap(),
        CallSettings::default()
    );
    let wanted = CallSettings {
        record_calls: true,
        transcribe_voicemail: true,
    };
    expect_forbidden(store.set_call_settings(&member, wanted).await);
    store.set_call_settings(&admin, wanted).await.unwrap();
    assert_eq!(store.call_settings(&member).await.unwrap(), wanted);
    assert_eq!(
        count_events(store, &admin, types::CALL_SETTINGS_UPDATED).await,
        1
    );

    let help = SmsSettings {
        help_text: Some("Acme: reply STOP to stop".into()),
    };
    expect_forbidden(store.set_sms_settings(&member, help.clone()).await);
    store.set_sms_settings(&admin, help.clone()).await.unwrap();
    assert_eq!(store.sms_settings(&admin).await.unwrap(), help);
    // The two settings share a row; neither write touches the other's.
    assert_eq!(store.call_settings(&admin).await.unwrap(), wanted);
    let event = one_event(
        store,
        &admin,
        types::SMS_SETTINGS_UPDATED,
        t.org.id.as_uuid(),
    )
    .await;
    assert_eq!(event.data["help_text"], "Acme: reply STOP to stop");

    // Members' phones: set, unchanged, cleared; each change one event.
    let rep = store
        .create_member(
            &admin,
            workos_core::domain::NewMember {
                user_id: workos_core::ids::UserId::new(),
                role: Role::Member,
            },
        )
        .await
        .unwrap();
    expect_forbidden(
        store
            .set_member_phone(&member, rep.id, Some(phone(5)))
            .await,
    );
    store
        .set_member_phone(&admin, rep.id, Some(phone(5)))
        .await
        .unwrap();
    store
        .set_member_phone(&admin, rep.id, Some(phone(5)))
        .await
        .unwrap();
    assert_eq!(
        store.member_phone(&admin, rep.id).await.unwrap(),
        Some(phone(5))
    );
    assert_eq!(
        events_about(store, &admin, types::MEMBER_PHONE_UPDATED, rep.id)
            .await
            .len(),
        1
    );
    store.set_member_phone(&admin, rep.id, None).await.unwrap();
    assert_eq!(store.member_phone(&admin, rep.id).await.unwrap(), None);
    expect_not_found(
        store
            .set_member_phone(&admin, MemberId::new(), Some(phone(6)))
            .await,
    );

    // Another org sees none of it.
    let other = Tenant::new(store, "Other").await;
    assert_eq!(
        store.call_settings(&other.ctx).await.unwrap(),
        CallSettings::default()
    );
    assert_eq!(
        store.sms_settings(&other.ctx).await.unwrap().help_text,
        None
    );
    expect_not_found(
        store
            .set_member_phone(&other.ctx, rep.id, Some(phone(7)))
            .await,
    );
}

contract_test!(ringing_names_members_with_phones_in_order);
async fn ringing_names_members_with_phones_in_order(store: &SqlStore) {
    let t = Tenant::new(store, "Ringing").await;
    let admin = t.ctx.clone();
    let number = line(store, &admin, 1).await;
    let mut reps = Vec::new();
    for n in 0..3 {
        let m = store
            .create_member(
                &admin,
                workos_core::domain::NewMember {
                    user_id: workos_core::ids::UserId::new(),
                    role: Role::Member,
                },
            )
            .await
            .unwrap();
        if n != 1 {
            store
                .set_member_phone(&admin, m.id, Some(phone(10 + n)))
                .await
                .unwrap();
        }
        reps.push(m.id);
    }
    assert_eq!(
        store.ringing(&admin, number).await.unwrap(),
        RingSettings::default()
    );
    let settings = RingSettings {
        members: vec![reps[2], reps[1], reps[0]],
        strategy: RingStrategy::Simultaneous,
        timeout_seconds: 25,
    };
    let member = t.user(store, Role::Member).await;
    expect_forbidden(store.set_ringing(&member, number, settings.clone()).await);
    store
        .set_ringing(&admin, number, settings.clone())
        .await
        .unwrap();
    assert_eq!(store.ringing(&member, number).await.unwrap(), settings);
    one_event(store, &admin, types::PHONE_RINGING_UPDATED, number).await;

    let targets = store.ring_targets(&admin, number).await.unwrap().unwrap();
    assert_eq!(targets.settings, settings);
    assert_eq!(
        targets.phones,
        vec![(reps[2], phone(12)), (reps[0], phone(10))],
        "in order, the member without a phone left out"
    );

    expect_validation(
        store
            .set_ringing(
                &admin,
                number,
                RingSettings {
                    members: vec![MemberId::new()],
                    ..RingSettings::default()
                },
            )
            .await,
        "members",
    );
    expect_validation(
        store
            .set_ringing(
                &admin,
                number,
                RingSettings {
                    timeout_seconds: 601,
                    ..RingSettings::default()
                },
            )
            .await,
        "timeout_seconds",
    );
    expect_not_found(store.ringing(&admin, PhoneId::new()).await);
    assert!(
        store
            .ring_targets(&admin, PhoneId::new())
            .await
            .unwrap()
            .is_none()
    );

    // Another org: not its number, not its members.
    let other = Tenant::new(store, "Other").await;
    expect_not_found(store.ringing(&other.ctx, number).await);
    expect_not_found(
        store
            .set_ringing(&other.ctx, number, RingSettings::default())
            .await,
    );
    assert!(
        store
            .ring_targets(&other.ctx, number)
            .await
            .unwrap()
            .is_none()
    );
    let their_line = line(store, &other.ctx, 2).await;
    expect_validation(
        store
            .set_ringing(
                &other.ctx,
                their_line,
                RingSettings {
                    members: vec![reps[0]],
                    ..RingSettings::default()
                },
            )
            .await,
        "members",
    );
}

contract_test!(opt_outs_are_kept_per_org_and_number);
async fn opt_outs_are_kept_per_org_and_number(store: &SqlStore) {
    let t = Tenant::new(store, "Consent").await;
    let ctx = t.system();
    let stop = |n: u32, out: bool| OptOutChange {
        number: phone(n),
        opted_out: out,
        keyword: Some(if out { "STOP" } else { "START" }.into()),
        source: OptOutSource::InboundKeyword,
        sms_id: None,
    };
    // Opting in without ever opting out writes nothing.
    assert!(
        store
            .record_opt_out(&ctx, stop(1, false))
            .await
            .unwrap()
            .is_none()
    );
    let out = store
        .record_opt_out(&ctx, stop(1, true))
        .await
        .unwrap()
        .unwrap();
    assert!(out.opted_out);
    assert!(
        store
            .record_opt_out(&ctx, stop(1, true))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(count_events(store, &ctx, types::SMS_OPTED_OUT).await, 1);
    let refusal = OptOutChange {
        source: OptOutSource::TwilioError21610,
        keyword: None,
        ..stop(2, true)
    };
    store.record_opt_out(&ctx, refusal).await.unwrap();
    assert_eq!(
        store
            .opted_out_among(&ctx, &[phone(1), phone(2), phone(3)])
            .await
            .unwrap(),
        vec![phone(1), phone(2)]
    );
    assert!(store.opted_out_among(&ctx, &[]).await.unwrap().is_empty());

    let back = store
        .record_opt_out(&ctx, stop(1, false))
        .await
        .unwrap()
        .unwrap();
    assert!(!back.opted_out);
    assert_eq!(back.id, out.id, "one row per number");
    assert_eq!(count_events(store, &ctx, types::SMS_OPTED_IN).await, 1);
    let current = store.opt_out(&ctx, &phone(1)).await.unwrap().unwrap();
    assert_eq!(current.keyword.as_deref(), Some("START"));
    assert_eq!(
        store
            .opt_out(&ctx, &phone(2))
            .await
            .unwrap()
            .unwrap()
            .source,
        OptOutSource::TwilioError21610
    );
    let all = store.list_opt_outs(&ctx, None, page(10)).await.unwrap();
    assert_eq!(all.data.len(), 2);
    let opted_out = store
        .list_opt_outs(&ctx, Some(true), page(10))
        .await
        .unwrap();
    assert_eq!(opted_out.data.len(), 1);
    assert_eq!(opted_out.data[0].number, phone(2));

    // A viewer reads, cannot write; another org's numbers are its own.
    let viewer = t.user(store, Role::Viewer).await;
    assert_eq!(
        store
            .list_opt_outs(&viewer, None, page(10))
            .await
            .unwrap()
            .data
            .len(),
        2
    );
    expect_forbidden(store.record_opt_out(&viewer, stop(3, true)).await);
    let other = Tenant::new(store, "Other").await;
    let octx = other.system();
    assert!(store.opt_out(&octx, &phone(2)).await.unwrap().is_none());
    assert!(
        store
            .opted_out_among(&octx, &[phone(2)])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_opt_outs(&octx, None, page(10))
            .await
            .unwrap()
            .data
            .is_empty()
    );
    store.record_opt_out(&octx, stop(2, true)).await.unwrap();
    assert_eq!(
        store
            .list_opt_outs(&ctx, Some(true), page(10))
            .await
            .unwrap()
            .data
            .len(),
        1
    );
}
