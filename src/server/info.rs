//! `POST /api/info`: the facts of an image sent as the request body (`image_info`), decoded off
//! the async threads.

use super::access::{user, AppState};
use super::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;

pub async fn info(
    State(shared): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<crate::image_info::ImageFacts>> {
    user(&shared, &headers)?;
    if body.is_empty() {
        return Err(ApiError::bad_request("send the image as the request body"));
    }
    let Some(_) = crate::image_info::format_of(&body) else {
        return Err(ApiError::unsupported("the body is not an image format imgproc reads"));
    };
    let max_pixels = shared.limits.max_pixels;
    let facts = tokio::task::spawn_blocking(move || crate::image_info::facts(&body, "the image", max_pixels))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    facts.map(Json).map_err(|e| ApiError::unprocessable(format!("{e:#}")))
}
