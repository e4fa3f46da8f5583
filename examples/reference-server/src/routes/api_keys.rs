//! `/api/v1/api-keys`.

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
