//! `/api/v1/search`: the org's people, companies and deals by name, email, phone or domain,
//! best first, for a type-ahead box.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use workos_core::domain::{SearchKind, SearchQuery, SearchResults};
use workos_core::repo::SearchRepo;

use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, Ctx};
use crate::state::AppState;

/// The routes.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(search))
}

/// A search.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// What to look for: words of names, emails or domains (each may be the start of a word,
    /// or have one typo when three letters or longer), or a phone number in any formatting. At
    /// most 200 characters; surrounding spaces are ignored, and a letter or digit is needed.
    #[param(required = true, min_length = 1, max_length = 200)]
    q: Option<String>,
    /// The kinds of record to search, separated by commas: `person`, `company`, `deal`
    /// (default: all).
    #[param(pattern = r"^(person|company|deal)(,(person|company|deal))*$")]
    types: Option<String>,
    /// Results, 1–50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    limit: Option<u32>,
}

/// Search the org's live people, companies and deals, best first: every word of `q` must match
/// a word of the record exactly, as its start, or with one typo (in that order of rank); a
/// phone number matches whatever its formatting. Any role may search.
#[utoipa::path(get, path = "/search", tag = "search", params(SearchParams),
    responses((status = 200, body = SearchResults), (status = 422, body = Problem)))]
async fn search(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> ApiResult<Json<SearchResults>> {
    let q = params
        .q
        .ok_or_else(|| ApiError::invalid_field("q", "is required"))?;
    let mut query = SearchQuery::new(&q)?;
    if let Some(types) = params.types {
        let kinds = types
            .split(',')
            .map(|t| {
                t.parse::<SearchKind>()
                    .map_err(|e| ApiError::invalid_field("types", e.to_string()))
            })
            .collect::<ApiResult<Vec<_>>>()?;
        query = query.kinds(kinds);
    }
    if let Some(limit) = params.limit {
        query = query.limit(limit)?;
    }
    Ok(Json(state.store.search(&ctx, query).await?))
}
