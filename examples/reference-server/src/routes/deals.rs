//! `/api/v1/deals`.

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
