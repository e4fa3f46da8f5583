//! Lead generation over REST, one file per resource: [`leads`] (`/api/v1/leads`),
//! [`partners`] (`/api/v1/partners`), [`lead_deliveries`] (`/api/v1/lead-deliveries/{id}`, the
//! partners' callbacks), [`routing_settings`] (`/api/v1/routing-settings`), [`lead_forms`]
//! (`/api/v1/lead-forms`) and the public intake [`form_submissions`]
//! (`POST /api/v1/forms/{public_form_id}/leads`). The engine behind them is `workos-leads` and
//! the store's lead traits.

mod form_submissions;
mod lead_deliveries;
mod lead_forms;
// The `/leads` resource of the leads feature.
#[allow(clippy::module_inception)]
mod leads;
mod partners;
mod routing_settings;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

pub(crate) use form_submissions::FORM_SUBMISSIONS_PER_MINUTE;

use crate::state::AppState;

/// The authenticated routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    leads::router()
        .merge(partners::router())
        .merge(lead_deliveries::router())
        .merge(routing_settings::router())
        .merge(lead_forms::router())
}

/// The public intake (outside authentication).
pub(crate) fn public_router() -> OpenApiRouter<AppState> {
    form_submissions::router()
}

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Paging {
    /// Page size, 1–200 (default 50).
    pub(super) limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub(super) cursor: Option<String>,
}
