//! The API's routes (`docs/API.md`): one handler per endpoint, all behind the same user check.
//! A job of another user is answered exactly like a job that does not exist (404).

use super::access::{job_json, own_job, user, AppState};
use super::error::{ApiError, ApiResult};
use super::intake::{admit, new_id, no_model, record};
use super::model::{JobKind, JobStatus, JobView};
use super::state::Shared;
use super::upload::{self, Sniffed, UploadLimits};
use super::{events, health, info, page, whatis};
use crate::chain::OpChain;
use crate::ops::{GlobalNeed, OpKind, ParamKind, ParamValue};
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub fn router(shared: AppState) -> Router {
    let info_limit = shared.limits.file_bytes as usize;
    Router::new()
        .route("/", get(page::index))
        .route("/api/ops", get(ops))
        .route("/api/me", get(me))
        .route("/api/jobs", post(submit).get(list).layer(DefaultBodyLimit::disable()))
        .route("/api/jobs/{id}", get(job).delete(delete))
        .route("/api/jobs/{id}/cancel", post(cancel))
        .route("/api/jobs/{id}/events", get(events::stream))
        .route("/api/jobs/{id}/results/{name}", get(super::archive::result))
        .route("/api/jobs/{id}/inputs/{name}", get(super::archive::input))
        .route("/api/jobs/{id}/archive", get(super::archive::archive))
        .route("/api/classify", post(whatis::classify).layer(DefaultBodyLimit::disable()))
        .route("/whatis", post(whatis::whatis).layer(DefaultBodyLimit::disable()))
        .route("/api/info", post(info::info).layer(DefaultBodyLimit::max(info_limit)))
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(health::metrics))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .with_state(shared)
}

/// Who the request's token names, whether the server asks for tokens, and the ranks.
async fn me(State(shared): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let user = user(&shared, &headers)?;
    Ok(Json(json!({"user": user, "tokens": shared.users.needs_token(), "ranks": shared.ranks.len(),
                   "keep_secs": shared.keep.as_secs()})))
}

/// The registry, as the page builds its chain editor from it (the list `imgproc ops` prints).
async fn ops() -> Json<Value> {
    let value = |v: ParamValue| match v {
        ParamValue::Int(i) => json!(i),
        ParamValue::Float(f) => json!(f),
        ParamValue::Bool(b) => json!(b),
    };
    let ops: Vec<Value> = OpKind::ALL
        .iter()
        .map(|kind| {
            let spec = kind.spec();
            let params: Vec<Value> = spec
                .params
                .iter()
                .map(|p| {
                    let kind = match p.kind {
                        ParamKind::Int { min, max, odd } => json!({"type": "int", "min": min, "max": max, "odd": odd}),
                        ParamKind::Float { min, max, min_exclusive } => {
                            json!({"type": "float", "min": min, "max": max, "min_exclusive": min_exclusive})
                        }
                        ParamKind::Choice(c) => json!({"type": "choice", "choices": c}),
                        ParamKind::Bool => json!({"type": "bool"}),
                    };
                    json!({"name": p.name, "help": p.help, "unit": p.unit, "default": value(p.default),
                           "range": p.range_with_unit(), "kind": kind})
                })
                .collect();
            let global = match spec.global {
                GlobalNeed::None => Value::Null,
                GlobalNeed::Histogram => json!("histogram"),
                GlobalNeed::Hysteresis => json!("hysteresis"),
                GlobalNeed::Resample => json!("whole image"),
            };
            json!({"name": spec.name, "description": spec.description, "global": global, "params": params})
        })
        .collect();
    Json(json!({ "ops": ops }))
}

async fn submit(State(shared): State<AppState>, headers: HeaderMap, multipart: Multipart) -> ApiResult<Response> {
    let user = user(&shared, &headers)?;
    let (limits, max_bytes) = admit(&shared, &user)?;
    let id = new_id();
    let accepted = accept(&shared, &user, &id, multipart, limits).await;
    match accepted {
        Ok(job) => {
            shared.kick();
            shared.job_changed(&id);
            let body = job_json(&shared, &job, None);
            let location = HeaderValue::from_str(&format!("/api/jobs/{id}")).expect("hex id");
            Ok((StatusCode::ACCEPTED, [(header::LOCATION, location)], Json(body)).into_response())
        }
        Err(mut e) => {
            super::janitor::remove_files(&shared.layout, &id);
            if e.status == StatusCode::PAYLOAD_TOO_LARGE && limits.job_bytes < shared.limits.job_bytes {
                e = ApiError::busy(format!("{user}'s waiting uploads are near the limit of {max_bytes} bytes"), 5);
            }
            Err(e)
        }
    }
}

/// Stores the form's files, checks the chain and records the job.
async fn accept(
    shared: &Shared,
    user: &str,
    id: &str,
    multipart: Multipart,
    limits: UploadLimits,
) -> ApiResult<JobView> {
    let form = upload::receive(multipart, &shared.layout.inputs(id), limits).await?;
    if form.files.is_empty() {
        return Err(ApiError::bad_request("the form has no files"));
    }
    let videos = form.files.iter().filter(|f| matches!(f.kind, Sniffed::Video(_))).count();
    if form.field("kind") == Some("classify") {
        let model = shared.model.as_ref().ok_or_else(no_model)?;
        if videos > 0 {
            return Err(ApiError::bad_request("a classify job is images only"));
        }
        return record(shared, user, id, &form, JobKind::Classify, model.job_chain(), None);
    }
    let spec = form.field("chain").ok_or_else(|| ApiError::bad_request("the form has no 'chain' field"))?;
    let chain = OpChain::parse(spec, &[]).map_err(|e| ApiError::bad_request(format!("chain {spec:?}: {e:#}")))?;
    let format =
        form.field("format").map(str::trim).filter(|f| !f.is_empty() && *f != "same").map(str::to_ascii_lowercase);
    let kind = match videos {
        0 => JobKind::Images,
        1 if form.files.len() == 1 => JobKind::Video,
        _ => return Err(ApiError::bad_request("a job is images, or one video")),
    };
    if let (JobKind::Images, Some(f)) = (kind, &format) {
        crate::codec::check_format(f).map_err(|e| ApiError::bad_request(format!("format {f:?}: {e:#}")))?;
    }
    record(shared, user, id, &form, kind, chain.to_string(), format)
}

async fn list(State(shared): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let user = user(&shared, &headers)?;
    let jobs: Vec<Value> = shared.store.jobs_of(&user)?.iter().map(|j| job_json(&shared, j, None)).collect();
    Ok(Json(json!({ "jobs": jobs })))
}

async fn job(State(shared): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let job = own_job(&shared, &headers, &id)?;
    let items = shared.store.items(&id)?;
    let mut body = job_json(&shared, &job, Some(&items));
    if job.kind == JobKind::Classify {
        whatis::label_items(&shared, &id, &mut body["items"]);
    }
    Ok(Json(body))
}

async fn cancel(State(shared): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let job = own_job(&shared, &headers, &id)?;
    if job.status.is_final() {
        return Err(ApiError::conflict(format!("job {id} is {} already", job.status.as_str())));
    }
    cancel_job(&shared, &id)?;
    let job = shared.store.job(&id, None)?.ok_or_else(|| ApiError::not_found(format!("no job {id}")))?;
    Ok((StatusCode::ACCEPTED, Json(job_json(&shared, &job, None))).into_response())
}

/// Stops the job on the ranks, or marks it cancelled when it is not on them.
fn cancel_job(shared: &Shared, id: &str) -> ApiResult<()> {
    {
        let running = shared.running();
        match running.as_ref() {
            Some(r) if r.id == id => r.cancel.store(true, std::sync::atomic::Ordering::SeqCst),
            _ => {
                shared.store.cancel_open_items(id)?;
                shared.store.set_status(id, JobStatus::Canceled, None, crate::model::unix_now())?;
            }
        }
    }
    shared.kick();
    shared.job_changed(id);
    Ok(())
}

async fn delete(State(shared): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let job = own_job(&shared, &headers, &id)?;
    if !job.status.is_final() {
        cancel_job(&shared, &id)?;
        // The dispatcher ends the job within an image; its files go once it is off the ranks.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while shared.running().as_ref().is_some_and(|r| r.id == id) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    super::janitor::remove_files(&shared.layout, &id);
    shared.store.delete(&id)?;
    shared.job_changed(&id);
    Ok(StatusCode::NO_CONTENT)
}
