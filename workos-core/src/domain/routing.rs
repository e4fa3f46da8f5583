//! Lead routing: the per-org (and per-vertical) routing settings, which partners may take a
//! lead (vertical, region, caps counted in the partner's own time zone, opening hours in
//! [`schedule`](super::Schedule)), how one or several are chosen among them (priority,
//! weighted, round robin), and partner callbacks on deliveries. The reporting summary is in
//! `lead_summary.rs`, the public lead forms in `lead_form.rs`.
//!
//! Everything here is pure: the store runs it inside the routing transaction, after locking the
//! candidate partners' rows.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use rand::{Rng, RngExt as _};
use serde::{Deserialize, Serialize};

use super::{
    DedupePolicy, Lead, LeadDelivery, LeadDeliveryStatus, LeadStatus, Partner, ReturnReason,
    check_text,
};
use crate::error::{ValidationError, Validator};
use crate::ids::PartnerId;

/// The most partners one shared lead goes to.
pub const MAX_SHARED_PARTNERS: u32 = 20;
/// The longest return window, in days.
pub const MAX_RETURN_WINDOW_DAYS: u32 = 365;
/// The return window when none is configured, in days.
pub const DEFAULT_RETURN_WINDOW_DAYS: u32 = 7;

string_enum! {
    #[derive(Default)]
    /// How routing chooses among the partners able to take a lead.
    RoutingStrategy, "strategy" {
        /// Highest `priority` first, falling through to the next when it is capped or closed;
        /// partners of equal priority share by `weight` (the default).
        #[default]
        Priority = "priority",
        /// At random, in proportion to `weight`, whatever the priority.
        Weighted = "weighted",
        /// In turn, in partner-id order, continuing after the partner chosen last.
        RoundRobin = "round_robin",
    }
}

string_enum! {
    #[derive(Default)]
    /// What happens to a lead when partners buy it but every one of them is capped or paused.
    WhenFull, "when_full" {
        /// It waits (status `queued`) and is routed when a partner has room again (the default).
        #[default]
        Queue = "queue",
        /// It is given up on (status `unrouted`).
        Unrouted = "unrouted",
    }
}

string_enum! {
    #[derive(Default)]
    /// Whether a lead is sold once or to several partners.
    Distribution, "distribution" {
        /// To one partner, exclusive or not (the default).
        #[default]
        Exclusive = "exclusive",
        /// To up to `max_partners` non-exclusive partners.
        Shared = "shared",
    }
}

/// The routing settings in force for an org (or for one of its verticals).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutingSettings {
    /// The vertical these settings are for; `null` for the org-wide settings (which apply to
    /// every vertical without settings of its own).
    pub vertical: Option<String>,
    /// How partners are chosen.
    pub strategy: RoutingStrategy,
    /// What happens when every partner that buys the lead is capped or paused.
    pub when_full: WhenFull,
    /// One partner, or several non-exclusive ones.
    pub distribution: Distribution,
    /// With `shared` distribution, the most partners one lead goes to (1–20).
    pub max_partners: u32,
    /// How capture finds duplicates (which are never routed).
    pub dedupe: DedupePolicy,
    /// For how many days after routing a partner may return a lead (0 turns returns off).
    pub return_window_days: u32,
    /// When they were last changed; `null` when these are the built-in defaults.
    pub updated_at: Option<DateTime<Utc>>,
}

impl RoutingSettings {
    /// The built-in defaults: priority, queue when full, exclusive, default dedupe, 7-day
    /// returns.
    #[must_use]
    pub fn defaults() -> Self {
        RoutingSettingsInput::default().into_settings(None, None)
    }
}

/// The settings as written (`PUT`): absent fields take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct RoutingSettingsInput {
    /// How partners are chosen (default `priority`).
    pub strategy: RoutingStrategy,
    /// When every partner is capped or paused (default `queue`).
    pub when_full: WhenFull,
    /// One partner or several (default `exclusive`).
    pub distribution: Distribution,
    /// With `shared`, at most this many partners per lead, 1–20 (default 3).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 20))]
    pub max_partners: u32,
    /// Dedupe policy (default: email and phone over 30 days, same vertical).
    pub dedupe: DedupePolicy,
    /// Return window in days, 0–365 (default 7).
    #[cfg_attr(feature = "openapi", schema(maximum = 365))]
    pub return_window_days: u32,
}

impl Default for RoutingSettingsInput {
    fn default() -> Self {
        Self {
            strategy: RoutingStrategy::default(),
            when_full: WhenFull::default(),
            distribution: Distribution::default(),
            max_partners: 3,
            dedupe: DedupePolicy::default(),
            return_window_days: DEFAULT_RETURN_WINDOW_DAYS,
        }
    }
}

impl RoutingSettingsInput {
    /// Checks the ranges.
    ///
    /// # Errors
    /// A [`ValidationError`] on `max_partners`, `return_window_days` or `dedupe.*`.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        v.require(
            (1..=MAX_SHARED_PARTNERS).contains(&self.max_partners),
            "max_partners",
            "must be between 1 and 20",
        );
        v.require(
            self.return_window_days <= MAX_RETURN_WINDOW_DAYS,
            "return_window_days",
            "must be at most 365",
        );
        let own = v.finish();
        let dedupe = self.dedupe.validate().map_err(|e| e.at("dedupe."));
        match (own, dedupe) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(mut a), Err(b)) => {
                a.errors.extend(b.errors);
                Err(a)
            }
            (Err(e), Ok(())) | (Ok(()), Err(e)) => Err(e),
        }
    }

    /// The settings these make for `vertical`, changed at `updated_at`.
    #[must_use]
    pub fn into_settings(
        self,
        vertical: Option<String>,
        updated_at: Option<DateTime<Utc>>,
    ) -> RoutingSettings {
        RoutingSettings {
            vertical,
            strategy: self.strategy,
            when_full: self.when_full,
            distribution: self.distribution,
            max_partners: self.max_partners,
            dedupe: self.dedupe,
            return_window_days: self.return_window_days,
            updated_at,
        }
    }
}

/// Normalises a settings vertical the way leads' verticals are: trimmed, lower-cased, blank to
/// `None`.
///
/// # Errors
/// A [`ValidationError`] on `vertical` over 100 characters.
pub fn normalize_vertical(vertical: Option<&str>) -> Result<Option<String>, ValidationError> {
    let vertical = vertical
        .map(|v| v.trim().to_lowercase())
        .filter(|v| !v.is_empty());
    let mut v = Validator::new();
    check_text(
        &mut v,
        "vertical",
        vertical.as_deref().unwrap_or(""),
        false,
        100,
    );
    v.finish().map(|()| vertical)
}

// ---------------------------------------------------------------------------------------------
// Eligibility

/// Whether `partner` buys leads like `lead`, going by vertical and region alone (not by
/// `active`, caps or exclusivity).
///
/// - **Vertical**: a partner without verticals buys every vertical; otherwise the lead's
///   vertical must be one of them (a lead without a vertical matches none).
/// - **Region**: a partner without regions buys everywhere; otherwise one of its entries must
///   be the lead's region (`CA`), its region with the country (`US-CA` for region `CA` in `US`,
///   or `CA` for region `US-CA`), or a prefix of its postal code (`941` for `94107`; spaces are
///   ignored).
#[must_use]
pub fn partner_buys(partner: &Partner, lead: &Lead) -> bool {
    buys(&partner.verticals, &partner.regions, lead)
}

/// [`partner_buys`] for a partner's `verticals` and `regions`.
#[must_use]
pub fn buys(verticals: &[String], regions: &[String], lead: &Lead) -> bool {
    let vertical_ok = verticals.is_empty()
        || lead
            .vertical
            .as_ref()
            .is_some_and(|v| verticals.iter().any(|pv| pv == v));
    vertical_ok && (regions.is_empty() || regions.iter().any(|r| region_matches(r, lead)))
}

fn region_matches(entry: &str, lead: &Lead) -> bool {
    if let Some(region) = lead.region.as_deref() {
        if region == entry {
            return true;
        }
        // `US-CA` on the lead matches `CA` on the partner.
        if region.split_once('-').is_some_and(|(_, r)| r == entry) {
            return true;
        }
        // `CA` in `US` on the lead matches `US-CA` on the partner.
        if let Some(country) = lead.country.as_deref()
            && entry
                .strip_prefix(country)
                .and_then(|r| r.strip_prefix('-'))
                == Some(region)
        {
            return true;
        }
    }
    if let Some(postal) = lead.postal_code.as_deref() {
        let compact = |s: &str| s.chars().filter(|c| *c != ' ').collect::<String>();
        let (postal, prefix) = (compact(postal), compact(entry));
        if !prefix.is_empty() && postal.starts_with(&prefix) {
            return true;
        }
    }
    false
}

/// The partner's time zone, when its name is in the tz database.
#[must_use]
pub fn partner_timezone(name: &str) -> Option<chrono_tz::Tz> {
    name.parse::<chrono_tz::Tz>().ok()
}

/// The first instant of the local calendar day `date` in `tz`: local midnight, or the first
/// local time after it that exists (where a DST change skips midnight).
fn local_day_start(tz: chrono_tz::Tz, date: NaiveDate) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    // Midnight can be skipped (a gap) by at most a few hours; try forward in 15-minute steps.
    for step in 0..=(4 * 4) {
        let local = midnight + chrono::Duration::minutes(15 * step);
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
    }
    // Unreachable for real zones; fall back to the UTC reading of local midnight.
    Utc.from_utc_datetime(&midnight)
}

/// When the partner's current local day began (its local midnight) at `now`, in `tz`.
#[must_use]
pub fn day_start(tz: chrono_tz::Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    local_day_start(tz, now.with_timezone(&tz).date_naive())
}

/// When the partner's current local month began (midnight of the 1st) at `now`, in `tz`.
#[must_use]
pub fn month_start(tz: chrono_tz::Tz, now: DateTime<Utc>) -> DateTime<Utc> {
    let local = now.with_timezone(&tz).date_naive();
    let first = local.with_day(1).unwrap_or(local);
    local_day_start(tz, first)
}

/// Whether a partner with `daily` deliveries counted today and `monthly` this month (both in
/// its time zone, returns excluded) has room for one more.
#[must_use]
pub fn has_room(partner: &Partner, daily: u32, monthly: u32) -> bool {
    partner.daily_cap.is_none_or(|cap| daily < cap)
        && partner.monthly_cap.is_none_or(|cap| monthly < cap)
}

// ---------------------------------------------------------------------------------------------
// Selection

/// A partner routing may choose: eligible, active, with room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The partner.
    pub id: PartnerId,
    /// Its priority (higher first).
    pub priority: i32,
    /// Its weight (share among equals), at least 1.
    pub weight: u32,
}

impl From<&Partner> for Candidate {
    fn from(p: &Partner) -> Self {
        Self {
            id: p.id,
            priority: p.priority,
            weight: p.weight,
        }
    }
}

/// Chooses up to `n` distinct partners among `candidates` by `strategy`, in the order chosen.
/// `last` is the partner round robin chose last (it continues after it, in id order).
#[must_use]
pub fn select_partners(
    strategy: RoutingStrategy,
    candidates: &[Candidate],
    last: Option<PartnerId>,
    n: usize,
) -> Vec<PartnerId> {
    select_partners_with(&mut rand::rng(), strategy, candidates, last, n)
}

/// [`select_partners`] with a given source of randomness.
pub fn select_partners_with<R: Rng + ?Sized>(
    rng: &mut R,
    strategy: RoutingStrategy,
    candidates: &[Candidate],
    last: Option<PartnerId>,
    n: usize,
) -> Vec<PartnerId> {
    let n = n.min(candidates.len());
    if n == 0 {
        return Vec::new();
    }
    match strategy {
        RoutingStrategy::Weighted => weighted_order(rng, candidates.to_vec(), n),
        RoutingStrategy::Priority => {
            let mut by_priority = candidates.to_vec();
            by_priority.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.id.cmp(&b.id)));
            let mut out = Vec::with_capacity(n);
            for group in by_priority.chunk_by(|a, b| a.priority == b.priority) {
                let want = n - out.len();
                out.extend(weighted_order(rng, group.to_vec(), want.min(group.len())));
                if out.len() == n {
                    break;
                }
            }
            out
        }
        RoutingStrategy::RoundRobin => {
            let mut ring = candidates.to_vec();
            ring.sort_by_key(|c| c.id);
            let start = last
                .and_then(|l| ring.iter().position(|c| c.id > l))
                .unwrap_or(0);
            ring.iter()
                .cycle()
                .skip(start)
                .take(n)
                .map(|c| c.id)
                .collect()
        }
    }
}

/// `n` picks without replacement, each in proportion to weight among those left.
fn weighted_order<R: Rng + ?Sized>(
    rng: &mut R,
    mut pool: Vec<Candidate>,
    n: usize,
) -> Vec<PartnerId> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n && !pool.is_empty() {
        let total: u64 = pool.iter().map(|c| u64::from(c.weight.max(1))).sum();
        let mut ticket = rng.random_range(0..total);
        let mut chosen = pool.len() - 1;
        for (i, c) in pool.iter().enumerate() {
            let w = u64::from(c.weight.max(1));
            if ticket < w {
                chosen = i;
                break;
            }
            ticket -= w;
        }
        out.push(pool.swap_remove(chosen).id);
    }
    out
}

/// The lead's status after routing found `chosen` partners, given whether any partner buys it
/// at all (`any_buyer`, paused or capped ones included) and the settings' `when_full`.
#[must_use]
pub const fn routed_status(chosen: usize, any_buyer: bool, when_full: WhenFull) -> LeadStatus {
    if chosen > 0 {
        LeadStatus::Routed
    } else if any_buyer && matches!(when_full, WhenFull::Queue) {
        LeadStatus::Queued
    } else {
        LeadStatus::Unrouted
    }
}

/// What routing did with a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoutedLead {
    /// The lead, with its new status (`routed`, `queued`, `unrouted`; `duplicate` unchanged).
    pub lead: Lead,
    /// The deliveries recorded (status `pending`), in the order the partners were chosen.
    pub deliveries: Vec<LeadDelivery>,
}

// ---------------------------------------------------------------------------------------------
// Partner callbacks

/// A partner's answer about a delivered lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeliveryCallback {
    /// The partner bought it.
    Accept {
        /// A note, up to 2,000 characters.
        note: Option<String>,
    },
    /// The partner refused it.
    Reject {
        /// A note, up to 2,000 characters.
        note: Option<String>,
    },
    /// The partner returned it (within the return window); it stops counting toward caps.
    Return {
        /// Why.
        reason: ReturnReason,
        /// A note, up to 2,000 characters.
        note: Option<String>,
    },
}

impl DeliveryCallback {
    /// The delivery status the callback moves to.
    #[must_use]
    pub const fn status(&self) -> LeadDeliveryStatus {
        match self {
            Self::Accept { .. } => LeadDeliveryStatus::Accepted,
            Self::Reject { .. } => LeadDeliveryStatus::Rejected,
            Self::Return { .. } => LeadDeliveryStatus::Returned,
        }
    }

    /// The return reason, for returns.
    #[must_use]
    pub const fn return_reason(&self) -> Option<ReturnReason> {
        match self {
            Self::Return { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The note, trimmed (blank becomes `None`).
    #[must_use]
    pub fn note(&self) -> Option<&str> {
        match self {
            Self::Accept { note } | Self::Reject { note } | Self::Return { note, .. } => {
                note.as_deref().map(str::trim).filter(|n| !n.is_empty())
            }
        }
    }

    /// Checks the note.
    ///
    /// # Errors
    /// A [`ValidationError`] on `note` over 2,000 characters.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut v = Validator::new();
        check_text(&mut v, "note", self.note().unwrap_or(""), false, 2000);
        v.finish()
    }

    /// The `response` kept with the delivery: what the partner said.
    #[must_use]
    pub fn response(&self, at: DateTime<Utc>) -> serde_json::Value {
        let mut r = serde_json::json!({
            "callback": self.status().as_str(),
            "at": at,
        });
        if let Some(note) = self.note() {
            r["note"] = note.into();
        }
        if let Some(reason) = self.return_reason() {
            r["reason"] = reason.as_str().into();
        }
        r
    }
}

/// Whether a return at `now` of a delivery recorded at `routed_at` is within a window of
/// `window_days` (0: returns are off).
#[must_use]
pub fn within_return_window(
    routed_at: DateTime<Utc>,
    now: DateTime<Utc>,
    window_days: u32,
) -> bool {
    window_days > 0 && now < routed_at + chrono::Duration::days(i64::from(window_days))
}

/// The lead's status once its deliveries stand at `statuses`: `accepted` when any is accepted;
/// when every one is final (rejected or returned), `returned` if any was returned, else
/// `rejected`; otherwise `None` (unchanged).
#[must_use]
pub fn lead_status_from_deliveries(statuses: &[LeadDeliveryStatus]) -> Option<LeadStatus> {
    use LeadDeliveryStatus as S;
    if statuses.is_empty() {
        return None;
    }
    if statuses.contains(&S::Accepted) {
        return Some(LeadStatus::Accepted);
    }
    if statuses
        .iter()
        .all(|s| matches!(s, S::Rejected | S::Returned))
    {
        return Some(if statuses.contains(&S::Returned) {
            LeadStatus::Returned
        } else {
            LeadStatus::Rejected
        });
    }
    None
}

#[cfg(test)]
mod tests {
    // The schedule, summary and form tests sit with the routing ones (they share fixtures).
    use super::*;
    use crate::domain::*;
    use crate::ids::OrgId;
    use rand::SeedableRng;

    fn partner(verticals: &[&str], regions: &[&str]) -> Partner {
        let n = NewPartner {
            verticals: verticals.iter().map(|s| (*s).to_owned()).collect(),
            regions: regions.iter().map(|s| (*s).to_owned()).collect(),
            ..NewPartner::new(
                "P",
                PartnerDelivery::Webhook {
                    url: HttpUrl::parse("https://p.example.com").unwrap(),
                },
            )
        };
        Partner {
            id: PartnerId::new(),
            org_id: OrgId::new(),
            name: n.name,
            delivery: n.delivery,
            verticals: n.verticals,
            regions: n.regions,
            priority: n.priority,
            weight: n.weight,
            price_minor: n.price_minor,
            currency: n.currency,
            daily_cap: Some(2),
            monthly_cap: Some(3),
            timezone: n.timezone,
            schedule: n.schedule,
            exclusive: n.exclusive,
            active: n.active,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn lead(
        vertical: Option<&str>,
        region: Option<&str>,
        country: Option<&str>,
        postal: Option<&str>,
    ) -> Lead {
        Lead {
            id: crate::ids::LeadId::new(),
            org_id: OrgId::new(),
            person_id: None,
            first_name: None,
            last_name: None,
            email: None,
            phone: None,
            postal_code: postal.map(str::to_owned),
            region: region.map(str::to_owned),
            country: country.map(str::to_owned),
            vertical: vertical.map(str::to_owned),
            answers: serde_json::json!({}),
            consent: None,
            utm_source: None,
            utm_medium: None,
            utm_campaign: None,
            utm_term: None,
            utm_content: None,
            gclid: None,
            fbclid: None,
            landing_page: None,
            referrer: None,
            first_touch: None,
            status: LeadStatus::New,
            duplicate_of: None,
            notes: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn eligibility_by_vertical_and_region() {
        let any = partner(&[], &[]);
        assert!(partner_buys(&any, &lead(None, None, None, None)));
        let solar_ca = partner(&["solar"], &["CA", "941", "US-NY"]);
        assert!(partner_buys(
            &solar_ca,
            &lead(Some("solar"), Some("CA"), None, None)
        ));
        assert!(partner_buys(
            &solar_ca,
            &lead(Some("solar"), Some("US-CA"), None, None)
        ));
        assert!(partner_buys(
            &solar_ca,
            &lead(Some("solar"), Some("NY"), Some("US"), None)
        ));
        assert!(partner_buys(
            &solar_ca,
            &lead(Some("solar"), None, None, Some("94107"))
        ));
        assert!(!partner_buys(
            &solar_ca,
            &lead(Some("solar"), Some("TX"), Some("US"), Some("75001"))
        ));
        assert!(!partner_buys(
            &solar_ca,
            &lead(Some("roofing"), Some("CA"), None, None)
        ));
        assert!(!partner_buys(
            &solar_ca,
            &lead(None, Some("CA"), None, None)
        ));
        let uk = partner(&[], &["SW1A"]);
        assert!(partner_buys(&uk, &lead(None, None, None, Some("SW1A 1AA"))));
    }

    #[test]
    fn caps() {
        let p = partner(&[], &[]);
        assert!(has_room(&p, 1, 2));
        assert!(!has_room(&p, 2, 2));
        assert!(!has_room(&p, 0, 3));
    }

    #[test]
    fn local_day_and_month_starts() {
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap();
        // 2026-03-10 03:30 UTC is 2026-03-09 23:30 in New York (EDT, UTC-4).
        let t = "2026-03-10T03:30:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            day_start(ny, t),
            "2026-03-09T04:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // Month start: March 1 was still EST (UTC-5).
        assert_eq!(
            month_start(ny, t),
            "2026-03-01T05:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        let after = "2026-03-10T04:05:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            day_start(ny, after),
            "2026-03-10T04:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        // Where DST skips midnight (America/Santiago, 2026-09-06 00:00 does not exist).
        let scl: chrono_tz::Tz = "America/Santiago".parse().unwrap();
        let t = "2026-09-06T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let start = day_start(scl, t);
        assert!(start <= t && t - start < chrono::Duration::hours(24));
        assert!(partner_timezone("Mars/Olympus").is_none());
        assert!(partner_timezone("UTC").is_some());
    }

    fn hours(pairs: &[(&str, &str)]) -> Vec<[String; 2]> {
        pairs
            .iter()
            .map(|(o, c)| [(*o).to_owned(), (*c).to_owned()])
            .collect()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn schedules_validate_naming_the_period() {
        let ok = Schedule {
            mon: hours(&[("09:00", "12:00"), ("13:00", "17:30")]),
            sun: hours(&[("22:00", "24:00")]),
            ..Schedule::default()
        };
        assert!(ok.validate().is_ok());
        let bad = Schedule {
            mon: hours(&[("09:00", "09:00"), ("9:00", "17:00")]),
            tue: hours(&[("24:00", "24:00")]),
            wed: hours(&[("10:00", "25:00"), ("08:60", "09:00"), ("00:00", "24:00")]),
            thu: hours(&[("00:00", "01:00"); 13]),
            fri: hours(&[("17:00", "09:00")]),
            ..Schedule::default()
        };
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "schedule.mon[0]",
                "schedule.mon[1]",
                "schedule.tue[0]",
                "schedule.wed[0]",
                "schedule.wed[1]",
                "schedule.thu",
                "schedule.fri[0]",
            ]
        );
        let unknown_day = serde_json::from_value::<Schedule>(serde_json::json!({"monday": []}));
        assert!(unknown_day.is_err());
        // A partner's schedule is checked with the rest of it.
        let mut p = NewPartner {
            schedule: Some(bad),
            ..NewPartner::new(
                "P",
                PartnerDelivery::Webhook {
                    url: HttpUrl::parse("https://p.example.com").unwrap(),
                },
            )
        };
        assert_eq!(p.validate().unwrap_err().errors[0].field, "schedule.mon[0]");
    }

    #[test]
    fn open_hours_are_read_in_the_partners_zone() {
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap();
        let s = Schedule {
            mon: hours(&[("09:00", "17:00")]),
            sun: hours(&[("22:00", "24:00")]),
            ..Schedule::default()
        };
        // Monday 2026-03-02, EST (UTC-5): 09:00 local is 14:00 UTC.
        assert!(!s.is_open_at(ny, at("2026-03-02T13:59:00Z")));
        assert!(s.is_open_at(ny, at("2026-03-02T14:00:00Z")));
        assert!(s.is_open_at(ny, at("2026-03-02T21:59:00Z")));
        assert!(!s.is_open_at(ny, at("2026-03-02T22:00:00Z")));
        // Monday 2026-03-09, after the change to EDT (UTC-4): 09:00 local is 13:00 UTC.
        assert!(s.is_open_at(ny, at("2026-03-09T13:30:00Z")));
        assert!(!s.is_open_at(ny, at("2026-03-02T13:30:00Z")));
        // Sunday 23:30 local is Monday 04:30 UTC (EDT): open till the end of local Sunday.
        assert!(s.is_open_at(ny, at("2026-03-16T03:30:00Z")));
        assert!(!s.is_open_at(ny, at("2026-03-16T04:00:00Z")));
        // Tuesday: no periods, closed all day.
        assert!(!s.is_open_at(ny, at("2026-03-10T15:00:00Z")));
        // The same UTC instant is Monday evening in Tokyo.
        let tokyo: chrono_tz::Tz = "Asia/Tokyo".parse().unwrap();
        let evening = Schedule {
            mon: hours(&[("18:00", "20:00")]),
            ..Schedule::default()
        };
        assert!(evening.is_open_at(tokyo, at("2026-03-09T09:30:00Z")));
        assert!(!evening.is_open_at(ny, at("2026-03-09T09:30:00Z")));
    }

    #[test]
    fn partners_without_a_schedule_are_always_open() {
        let mut p = partner(&[], &[]);
        let t = at("2026-03-10T15:00:00Z");
        assert!(partner_is_open(&p, t));
        p.schedule = Some(Schedule::default());
        assert!(!partner_is_open(&p, t));
        p.schedule = Some(Schedule {
            tue: hours(&[("00:00", "24:00")]),
            ..Schedule::default()
        });
        assert!(partner_is_open(&p, t));
        // A zone the tz database does not know counts in UTC: Tuesday 15:00.
        p.timezone = "America/Atlantis".into();
        assert!(partner_is_open(&p, t));
    }

    fn cand(priority: i32, weight: u32) -> Candidate {
        Candidate {
            id: PartnerId::new(),
            priority,
            weight,
        }
    }

    #[test]
    fn priority_falls_through_and_ties_share() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let (low, high) = (cand(1, 1), cand(5, 1));
        let picked =
            select_partners_with(&mut rng, RoutingStrategy::Priority, &[low, high], None, 1);
        assert_eq!(picked, [high.id]);
        let picked =
            select_partners_with(&mut rng, RoutingStrategy::Priority, &[low, high], None, 2);
        assert_eq!(picked, [high.id, low.id]);
        assert!(select_partners_with(&mut rng, RoutingStrategy::Priority, &[], None, 1).is_empty());
    }

    #[test]
    fn weighted_follows_weights() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(42);
        let (a, b) = (cand(0, 1), cand(9, 3));
        let n = 20_000;
        let a_count = (0..n)
            .filter(|_| {
                select_partners_with(&mut rng, RoutingStrategy::Weighted, &[a, b], None, 1)
                    == [a.id]
            })
            .count();
        let share = a_count as f64 / f64::from(n);
        assert!((share - 0.25).abs() < 0.02, "{share}");
    }

    #[test]
    fn round_robin_cycles() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let cs = [cand(0, 1), cand(0, 1), cand(0, 1)];
        let mut last = None;
        let mut seen = Vec::new();
        for _ in 0..6 {
            let p = select_partners_with(&mut rng, RoutingStrategy::RoundRobin, &cs, last, 1);
            last = p.first().copied();
            seen.extend(p);
        }
        let ids: Vec<_> = cs.iter().map(|c| c.id).collect();
        assert_eq!(seen, [ids.clone(), ids].concat());
        let two = select_partners_with(
            &mut rng,
            RoutingStrategy::RoundRobin,
            &cs,
            Some(cs[2].id),
            2,
        );
        assert_eq!(two, [cs[0].id, cs[1].id]);
    }

    #[test]
    fn statuses() {
        use LeadDeliveryStatus as S;
        assert_eq!(
            routed_status(1, true, WhenFull::Unrouted),
            LeadStatus::Routed
        );
        assert_eq!(routed_status(0, true, WhenFull::Queue), LeadStatus::Queued);
        assert_eq!(
            routed_status(0, false, WhenFull::Queue),
            LeadStatus::Unrouted
        );
        assert_eq!(
            lead_status_from_deliveries(&[S::Rejected, S::Accepted]),
            Some(LeadStatus::Accepted)
        );
        assert_eq!(
            lead_status_from_deliveries(&[S::Rejected, S::Returned]),
            Some(LeadStatus::Returned)
        );
        assert_eq!(
            lead_status_from_deliveries(&[S::Rejected]),
            Some(LeadStatus::Rejected)
        );
        assert_eq!(
            lead_status_from_deliveries(&[S::Rejected, S::Delivered]),
            None
        );
    }

    #[test]
    fn settings_and_forms_validate() {
        let s: RoutingSettingsInput = serde_json::from_str("{}").unwrap();
        assert_eq!(s, RoutingSettingsInput::default());
        let bad = RoutingSettingsInput {
            max_partners: 0,
            return_window_days: 400,
            dedupe: DedupePolicy {
                window_days: 9999,
                ..DedupePolicy::default()
            },
            ..s
        };
        let fields: Vec<String> = bad
            .validate()
            .unwrap_err()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["max_partners", "return_window_days", "dedupe.window_days"]
        );
        let mut f = NewLeadForm {
            required_fields: vec!["email".into(), "email".into(), "shoe_size".into()],
            ..NewLeadForm::new(" Quote ")
        };
        let errs = f.validate().unwrap_err();
        assert_eq!(errs.errors[0].field, "required_fields[2]");
        assert!(is_public_form_id(&new_public_form_id()));
        assert!(!is_public_form_id("lf_xyz"));
    }

    #[test]
    fn form_signatures() {
        let sig = form_signature(b"topsecretsecret!", b"{\"a\":1}");
        assert!(verify_form_signature(
            b"topsecretsecret!",
            b"{\"a\":1}",
            &sig
        ));
        assert!(!verify_form_signature(
            b"topsecretsecret!",
            b"{\"a\":2}",
            &sig
        ));
        assert!(!verify_form_signature(b"other", b"{\"a\":1}", &sig));
        assert!(!verify_form_signature(
            b"topsecretsecret!",
            b"{\"a\":1}",
            "sha256=zz"
        ));
        assert!(!verify_form_signature(
            b"topsecretsecret!",
            b"{\"a\":1}",
            "md5=00"
        ));
    }

    #[test]
    fn callbacks() {
        let c: DeliveryCallback = serde_json::from_value(
            serde_json::json!({"action": "return", "reason": "duplicate", "note": " dup "}),
        )
        .unwrap();
        assert_eq!(c.status(), LeadDeliveryStatus::Returned);
        assert_eq!(c.note(), Some("dup"));
        let t = Utc::now();
        assert!(within_return_window(t, t + chrono::Duration::days(6), 7));
        assert!(!within_return_window(t, t + chrono::Duration::days(7), 7));
        assert!(!within_return_window(t, t, 0));
    }
}
