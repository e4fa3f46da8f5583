//! SMS opt-out compliance: inbound STOP/START/HELP keywords, refusing sends to opted-out
//! numbers before Twilio is asked, and keeping Twilio's own 21610 refusals.
//!
//! An opt-out holds for the whole org (every number it sends from), not only the number the
//! keyword reached: a contact who said STOP to one of a team's numbers means the team.

use workos_core::domain::{E164, OptOutChange, OptOutSource, SmsKeyword};
use workos_core::ids::SmsId;
use workos_core::repo::{OptOutRepo, OrgRepo};
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

/// What the sender of an inbound message is answered, when anything.
pub(crate) async fn on_inbound<S: OptOutRepo + OrgRepo>(
    store: &S,
    ctx: &TenantContext,
    from: &str,
    body: &str,
    sms_id: SmsId,
) -> Result<Option<String>> {
    let Some((keyword, word)) = SmsKeyword::of(body) else {
        return Ok(None);
    };
    // Short codes and alphanumeric senders cannot be texted back: nothing to record.
    let Ok(number) = E164::parse(from) else {
        return Ok(None);
    };
    let opted_out = match keyword {
        SmsKeyword::OptOut => true,
        SmsKeyword::OptIn => false,
        SmsKeyword::Help => {
            // Twilio answers nothing to an opted-out number, and refuses our reply too.
            if store
                .opt_out(ctx, &number)
                .await?
                .is_some_and(|o| o.opted_out)
            {
                return Ok(None);
            }
            let settings = store.sms_settings(ctx).await?;
            let org = store.get_org(ctx).await?;
            return Ok(Some(settings.help_reply(&org.name)));
        }
    };
    let change = OptOutChange {
        number,
        opted_out,
        keyword: Some(word),
        source: OptOutSource::InboundKeyword,
        sms_id: Some(sms_id),
    };
    if let Some(state) = store.record_opt_out(ctx, change).await? {
        tracing::info!(
            opted_out = state.opted_out,
            "SMS consent changed by keyword"
        );
    }
    Ok(None)
}

/// Refuses a send to a number that opted out of the org's SMS, before Twilio is asked.
pub(crate) async fn refuse_opted_out<S: OptOutRepo>(
    store: &S,
    ctx: &TenantContext,
    to: &E164,
) -> Result<()> {
    match store.opt_out(ctx, to).await? {
        Some(o) if o.opted_out => Err(Error::invalid(
            "to",
            "the recipient opted out of this org's SMS (replied STOP); they can reply START to resume",
        )),
        _ => Ok(()),
    }
}

/// Keeps Twilio's 21610 answer (the recipient replied STOP to Twilio) as the org's opt-out.
/// A failure to record it is logged: the send is refused either way.
pub(crate) async fn record_refusal<S: OptOutRepo>(store: &S, ctx: &TenantContext, to: &E164) {
    let change = OptOutChange {
        number: to.clone(),
        opted_out: true,
        keyword: None,
        source: OptOutSource::TwilioError21610,
        sms_id: None,
    };
    if let Err(e) = store.record_opt_out(ctx, change).await {
        tracing::error!(error = %e, "Twilio refused an SMS as unsubscribed (21610) but the opt-out could not be recorded");
    }
}
