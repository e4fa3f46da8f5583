//! The reporting summary of leads and deliveries over a time range ([`LeadSummary`]), per
//! partner and per traffic source.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{LeadDeliveryStatus, TimeRange};
use crate::error::{ValidationError, Validator};
use crate::ids::PartnerId;

/// Counts over a time range, per partner and per traffic source.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LeadSummary {
    /// The range's start (inclusive), if bounded.
    pub from: Option<DateTime<Utc>>,
    /// The range's end (exclusive), if bounded.
    pub to: Option<DateTime<Utc>>,
    /// Leads captured in the range, duplicates included.
    pub leads: u64,
    /// Of those, duplicates.
    pub duplicates: u64,
    /// Leads per status.
    pub leads_by_status: std::collections::BTreeMap<String, u64>,
    /// Deliveries recorded in the range.
    pub deliveries: u64,
    /// Per partner (deleted partners included), by partner id.
    pub partners: Vec<PartnerSummary>,
    /// Per last-touch `utm_source` and `utm_campaign` (`null` when absent).
    pub sources: Vec<SourceSummary>,
}

/// Delivery outcomes: counts by status and the rates derived from them.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeliveryCounts {
    /// Deliveries recorded.
    pub deliveries: u64,
    /// Now `accepted`.
    pub accepted: u64,
    /// Now `rejected`.
    pub rejected: u64,
    /// Now `returned`.
    pub returned: u64,
    /// `accepted / deliveries` (0 without deliveries).
    pub acceptance_rate: f64,
    /// `returned / deliveries` (0 without deliveries).
    pub return_rate: f64,
}

impl DeliveryCounts {
    /// Adds `n` deliveries in `status`.
    pub fn add(&mut self, status: LeadDeliveryStatus, n: u64) {
        self.deliveries += n;
        match status {
            LeadDeliveryStatus::Accepted => self.accepted += n,
            LeadDeliveryStatus::Rejected => self.rejected += n,
            LeadDeliveryStatus::Returned => self.returned += n,
            _ => {}
        }
        #[allow(clippy::cast_precision_loss)]
        let rate = |k: u64| {
            if self.deliveries == 0 {
                0.0
            } else {
                k as f64 / self.deliveries as f64
            }
        };
        self.acceptance_rate = rate(self.accepted);
        self.return_rate = rate(self.returned);
    }
}

/// One partner's deliveries in the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartnerSummary {
    /// The partner.
    pub partner_id: PartnerId,
    /// Its name.
    pub name: String,
    /// Its deliveries.
    #[serde(flatten)]
    pub counts: DeliveryCounts,
}

/// One traffic source's leads in the range and the deliveries made of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceSummary {
    /// Last-touch `utm_source`.
    pub utm_source: Option<String>,
    /// Last-touch `utm_campaign`.
    pub utm_campaign: Option<String>,
    /// Leads captured.
    pub leads: u64,
    /// Deliveries of those leads (recorded in the range).
    #[serde(flatten)]
    pub counts: DeliveryCounts,
}

/// Checks a summary range: when both ends are given, `from` comes before `to`.
///
/// # Errors
/// A [`ValidationError`] on `to` when it is not after `from`.
pub fn validate_range(range: &TimeRange) -> Result<(), ValidationError> {
    let mut v = Validator::new();
    if let (Some(from), Some(to)) = (range.after, range.before) {
        v.require(from < to, "to", "must be after from");
    }
    v.finish()
}
