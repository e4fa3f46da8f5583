//! The call reconciliation job: a call whose last status callbacks (and `<Dial>` action) never
//! came would stay `ringing` or `in-progress` forever. Every interval, the calls of every org
//! that are still not final [`ReconcileConfig::after`] their start (by default Twilio's longest
//! call, four hours, plus a margin) are read from Twilio's Calls resource with the org's
//! account, and a final status found there is applied through the same forward-only rules as
//! a callback ([`CommsRepo::update_call_status`]).
//!
//! Which leg is read: a click-to-call whose rep answered is the customer's, so its dialled leg
//! when known; else (and for every other call) the call itself. Calls older than
//! [`ReconcileConfig::max_age`] are left alone (a call Twilio no longer knows would be asked
//! about forever). Several processes may run the job at once: applying the same final status
//! twice changes nothing.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use workos_core::domain::{CallLeg, CallProgress, UnfinishedCall, call_status_is_final};
use workos_core::repo::{
    CallSettingsRepo, CommsRepo, IntegrationRepo, OptOutRepo, PersonRepo, PhoneRepo,
};
pub use workos_core::supervise::JobHandle;
use workos_core::supervise::spawn_periodic;
use workos_core::tenant::TenantContext;
use workos_core::{Error, Result};

use crate::accounts::TwilioAccounts;

/// `WORKOS_CALL_RECONCILE_AFTER_SECS`: how long after its start a call not final is read
/// from Twilio.
pub const ENV_AFTER_SECS: &str = "WORKOS_CALL_RECONCILE_AFTER_SECS";
/// `WORKOS_CALL_RECONCILE_INTERVAL_SECS`: how often the job runs (0 turns it off).
pub const ENV_INTERVAL_SECS: &str = "WORKOS_CALL_RECONCILE_INTERVAL_SECS";

/// The default of [`ReconcileConfig::after`]: Twilio ends every call after four hours; a
/// quarter of an hour more lets the last callbacks arrive.
pub const DEFAULT_AFTER: Duration = Duration::from_secs(4 * 3600 + 15 * 60);
/// The default of [`ReconcileConfig::interval`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(15 * 60);
/// The default of [`ReconcileConfig::max_age`].
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most calls read per lookup.
const CALLS_PER_PAGE: u32 = 200;

/// The job's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileConfig {
    /// How long after its start a call not final is read from Twilio.
    pub after: Duration,
    /// Calls started longer ago than this are left alone.
    pub max_age: Duration,
    /// How often the job runs; `None` turns it off.
    pub interval: Option<Duration>,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            after: DEFAULT_AFTER,
            max_age: DEFAULT_MAX_AGE,
            interval: Some(DEFAULT_INTERVAL),
        }
    }
}

impl ReconcileConfig {
    /// Reads [`ENV_AFTER_SECS`] (default [`DEFAULT_AFTER`]) and [`ENV_INTERVAL_SECS`] (default
    /// [`DEFAULT_INTERVAL`], 0 turns the job off) through `get`.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the variable that is not a whole number of seconds.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let secs = |name: &str| -> Result<Option<u64>> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| Error::invalid(name, "not a whole number of seconds"))
                })
                .transpose()
        };
        let mut config = Self::default();
        if let Some(after) = secs(ENV_AFTER_SECS)? {
            config.after = Duration::from_secs(after);
        }
        if let Some(interval) = secs(ENV_INTERVAL_SECS)? {
            config.interval = Some(Duration::from_secs(interval)).filter(|d| !d.is_zero());
        }
        Ok(config)
    }
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Calls read from Twilio.
    pub checked: usize,
    /// Calls whose final status was applied.
    pub settled: usize,
    /// Calls Twilio could not be asked about (logged; asked again next run).
    pub failed: usize,
}

/// Starts the job, supervised (restarted if it panics): a run every [`ReconcileConfig::interval`]
/// (the first at once); `None` when the interval turns it off.
///
/// # Panics
/// Outside a tokio runtime.
pub fn spawn<S>(accounts: Arc<TwilioAccounts<S>>, config: ReconcileConfig) -> Option<JobHandle>
where
    S: IntegrationRepo
        + PhoneRepo
        + PersonRepo
        + CommsRepo
        + OptOutRepo
        + CallSettingsRepo
        + 'static,
{
    let interval = config.interval?;
    Some(spawn_periodic("call-reconcile", interval, move || {
        let accounts = Arc::clone(&accounts);
        async move {
            match run_once(&accounts, &config, Utc::now()).await {
                Ok(r) if r.checked == 0 => {}
                Ok(r) => tracing::info!(
                    checked = r.checked,
                    settled = r.settled,
                    failed = r.failed,
                    "call reconciliation run done"
                ),
                Err(e) => tracing::warn!(error = %e, "call reconciliation run failed"),
            }
        }
    }))
}

/// One run as of `now`: reads from Twilio every call of every org not final
/// [`ReconcileConfig::after`] its start (and younger than [`ReconcileConfig::max_age`]) and
/// applies the final statuses found. A call Twilio cannot be asked about is logged and
/// counted as failed.
///
/// # Errors
/// When the calls cannot be listed.
pub async fn run_once<S>(
    accounts: &TwilioAccounts<S>,
    config: &ReconcileConfig,
    now: DateTime<Utc>,
) -> Result<ReconcileReport>
where
    S: IntegrationRepo
        + PhoneRepo
        + PersonRepo
        + CommsRepo
        + OptOutRepo
        + CallSettingsRepo
        + 'static,
{
    let age = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let (oldest, newest) = (now - age(config.max_age), now - age(config.after));
    let mut report = ReconcileReport::default();
    let mut after = None;
    loop {
        let calls = accounts
            .store()
            .unfinished_calls(oldest, newest, after, CALLS_PER_PAGE)
            .await?;
        for call in &calls {
            report.checked += 1;
            match settle(accounts, call).await {
                Ok(true) => report.settled += 1,
                Ok(false) => {}
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(org_id = %call.org_id, call_id = %call.id, error = %e, "cannot reconcile a call with Twilio");
                }
            }
        }
        match calls.last() {
            Some(last) if calls.len() == CALLS_PER_PAGE as usize => after = Some(last.id),
            _ => return Ok(report),
        }
    }
}

/// Reads `call`'s deciding leg from Twilio with its org's account and applies its status when
/// final; whether the call changed.
async fn settle<S>(accounts: &TwilioAccounts<S>, call: &UnfinishedCall) -> Result<bool>
where
    S: IntegrationRepo
        + PhoneRepo
        + PersonRepo
        + CommsRepo
        + OptOutRepo
        + CallSettingsRepo
        + 'static,
{
    let Some(client) = accounts.client_for(call.org_id).await? else {
        return Err(Error::Unavailable {
            message: "no Twilio account can read the org's calls".to_owned(),
            source: None,
        });
    };
    // A bridged click-to-call is the customer's: their leg decides when it is known. Else the
    // call's own record, which applies even to a bridged call (its dialled leg never reported).
    let (sid, leg) = match (&call.dial_call_sid, call.bridged) {
        (Some(dialed), true) => (
            dialed.as_str(),
            CallLeg::Dialed {
                call_sid: Some(dialed.clone()),
                member_id: None,
            },
        ),
        _ => (call.call_sid.as_str(), CallLeg::Provider),
    };
    let resource = client.fetch_call(sid).await?;
    let status = resource.status.as_str();
    if !call_status_is_final(status) {
        return Ok(false);
    }
    let ctx = TenantContext::system(call.org_id, "twilio.reconcile");
    let progress = CallProgress {
        call_sid: call.call_sid.clone(),
        leg,
        status: status.to_owned(),
        duration_seconds: resource.duration,
    };
    let updated = accounts.store().update_call_status(&ctx, progress).await?;
    Ok(updated.is_some_and(|c| c.status != call.status))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_are_twilio_s_longest_call_and_a_margin() {
        let config = ReconcileConfig::from_lookup(lookup(&[])).unwrap();
        assert_eq!(config, ReconcileConfig::default());
        assert_eq!(config.after, Duration::from_secs(15_300));
        assert_eq!(config.interval, Some(Duration::from_secs(900)));
    }

    #[test]
    fn variables_set_the_bounds_and_name_themselves_when_malformed() {
        let config = ReconcileConfig::from_lookup(lookup(&[
            (ENV_AFTER_SECS, " 60 "),
            (ENV_INTERVAL_SECS, "0"),
        ]))
        .unwrap();
        assert_eq!(config.after, Duration::from_secs(60));
        assert_eq!(config.interval, None);
        let err = ReconcileConfig::from_lookup(lookup(&[(ENV_AFTER_SECS, "4h")])).unwrap_err();
        assert!(err.to_string().contains(ENV_AFTER_SECS), "{err}");
    }
}
