//! Who is asking and what they may see: the user a request's token names, a job only if it is
//! theirs (another user's job is answered like one that does not exist), and the JSON a job is
//! shown as. Every route goes through here.

use super::error::{ApiError, ApiResult};
use super::model::{ItemView, JobView};
use super::state::Shared;
use axum::http::{header, HeaderMap};
use serde_json::{json, Value};
use std::sync::Arc;

pub type AppState = Arc<Shared>;

/// The request's user: its bearer token (or the page's cookie) looked up in `--users`.
pub fn user(shared: &Shared, headers: &HeaderMap) -> ApiResult<String> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let cookie = || {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("imgproc_token="))
    };
    let token = bearer.or_else(cookie);
    match shared.users.user_of(token) {
        Some(u) => Ok(u),
        None if token.is_none() => Err(ApiError::unauthorized("a token is needed: Authorization: Bearer TOKEN")),
        None => Err(ApiError::unauthorized("unknown token")),
    }
}

/// The job if it is this user's.
pub fn own_job(shared: &Shared, headers: &HeaderMap, id: &str) -> ApiResult<JobView> {
    let user = user(shared, headers)?;
    shared.store.job(id, Some(&user))?.ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

/// A job as the API shows it, with its items and how long it is kept.
pub fn job_json(shared: &Shared, job: &JobView, items: Option<&[ItemView]>) -> Value {
    let mut v = serde_json::to_value(job).unwrap_or_default();
    let keep = shared.keep.as_secs_f64();
    v["keep_until"] = json!(job.finished.map(|f| f + keep));
    v["location"] = json!(format!("/api/jobs/{}", job.id));
    if let Some(items) = items {
        v["items"] = json!(items);
        let mut results: Vec<&str> = items.iter().filter_map(|i| i.output.as_deref()).collect();
        results.sort_unstable();
        results.dedup(); // a classify job's images share one results file
        v["results"] = json!(results);
    }
    v
}
