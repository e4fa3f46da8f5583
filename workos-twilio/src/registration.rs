//! Which org may map a number: [`TwilioAccounts::register_phone`] (an org's admin) and
//! [`TwilioAccounts::assign_phone`] (the operator).
//!
//! Inbound SMS and calls are routed to the org that maps their `To` number, and an org sends
//! from the numbers it maps. So a number is only the org's when Twilio says so: an org's admin
//! may register a number that **the org's own Twilio account** owns (Twilio's IncomingPhoneNumbers
//! resource lists it), and only the operator may give an org a number of the platform's account.
//! A refused registration names `number` with the same answer whatever the reason (the platform
//! owns it, another account owns it, nobody does, another org maps it), and the storage is not
//! asked before Twilio agreed, so the answer is no oracle of other orgs' numbers. The number's
//! capabilities (SMS, MMS, voice) are Twilio's, never the caller's.

use workos_core::domain::{Phone, PhoneCapabilities, RegisterPhone};
use workos_core::ids::OrgId;
use workos_core::repo::{
    CallSettingsRepo, CommsRepo, IntegrationRepo, OptOutRepo, PersonRepo, PhoneRepo,
};
use workos_core::tenant::{Access, TenantContext};
use workos_core::{Error, Result};

use crate::accounts::TwilioAccounts;
use crate::client::{IncomingPhoneNumberResource, NumberCapabilities, TwilioClient};

/// The one answer to an org that may not register a number.
const NOT_YOURS: &str = "must be a number of the org's own Twilio account (connect it under \
     /integrations/twilio first); numbers of the platform's account are assigned by the operator";

impl<S> TwilioAccounts<S>
where
    S: IntegrationRepo
        + PhoneRepo
        + PersonRepo
        + CommsRepo
        + OptOutRepo
        + CallSettingsRepo
        + 'static,
{
    /// Maps `request.number` to the context's org (admin) when the org's own Twilio account
    /// owns it, with the capabilities Twilio reports. Emits `phone.created`.
    ///
    /// # Errors
    /// [`Error::Forbidden`] for non-admins; [`Error::Validation`] on `provider` or `label`,
    /// and on `number` when the org has no Twilio account of its own or its account does not
    /// own the number (one message for every reason); [`Error::Conflict`] on `number` when
    /// the org's account owns it but an org already maps it; [`Error::Unavailable`] when
    /// Twilio cannot be asked (nothing is stored).
    pub async fn register_phone(
        &self,
        ctx: &TenantContext,
        request: RegisterPhone,
    ) -> Result<Phone> {
        ctx.authorize(Access::Manage)?;
        request
            .clone()
            .into_new_phone(PhoneCapabilities::default())
            .validate()?;
        let Some(account) = self.of(ctx.org_id()).await? else {
            return Err(Error::invalid("number", NOT_YOURS));
        };
        let Some(client) = account.client.as_ref() else {
            return Err(Error::invalid("number", NOT_YOURS));
        };
        let Some(found) = owned_number(client, &request).await? else {
            return Err(Error::invalid("number", NOT_YOURS));
        };
        tracing::info!(org_id = %ctx.org_id(), phone_sid = %found.sid, "an org registered a number of its own Twilio account");
        let new = request.into_new_phone(capabilities(found.capabilities));
        self.store().create_phone(ctx, new).await
    }

    /// Maps `request.number` to `org` as the operator (`workos-server admin assign-phone`):
    /// for a number of the platform's account (or of the org's own), with the capabilities
    /// Twilio reports for it. Emits `phone.created`.
    ///
    /// # Errors
    /// [`Error::Validation`] on `number` when neither account owns it, or when no Twilio
    /// account is configured to ask; the caller checks that the org exists; [`Error::Conflict`] on `number` when an org already maps it;
    /// [`Error::Unavailable`] when Twilio cannot be asked.
    pub async fn assign_phone(&self, org: OrgId, request: RegisterPhone) -> Result<Phone> {
        let ctx = TenantContext::system(org, "admin.assign-phone");
        request
            .clone()
            .into_new_phone(PhoneCapabilities::default())
            .validate()?;
        // The platform's account first: asking it opens no org secret.
        let mut asked = false;
        let mut found = None;
        if let Some(platform) = self.platform_client() {
            asked = true;
            found = owned_number(platform, &request).await?;
        }
        if found.is_none()
            && let Some(own) = self.of(org).await?
            && let Some(client) = own.client.as_ref()
        {
            asked = true;
            found = owned_number(client, &request).await?;
        }
        if !asked {
            return Err(Error::invalid(
                "number",
                "no Twilio account to check it with: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
            ));
        }
        let Some(found) = found else {
            return Err(Error::invalid(
                "number",
                "neither the platform's Twilio account nor the org's own owns this number",
            ));
        };
        tracing::info!(org_id = %org, phone_sid = %found.sid, "the operator assigned a number");
        let new = request.into_new_phone(capabilities(found.capabilities));
        self.store().create_phone(&ctx, new).await
    }
}

/// Asks `client`'s account for the number; a transport failure or an unexpected answer is
/// `Unavailable` (nothing is decided on a guess).
async fn owned_number(
    client: &TwilioClient,
    request: &RegisterPhone,
) -> Result<Option<IncomingPhoneNumberResource>> {
    client
        .find_incoming_phone_number(request.number.as_ref())
        .await
        .map_err(|e| match e {
            Error::Validation(_) => e,
            other => {
                tracing::warn!(error = %other, "cannot ask Twilio who owns a number");
                Error::unavailable("cannot reach Twilio to check the number; try again", other)
            }
        })
}

fn capabilities(c: NumberCapabilities) -> PhoneCapabilities {
    PhoneCapabilities {
        sms: c.sms,
        mms: c.mms,
        voice: c.voice,
    }
}
