//! `POST /api/classify` and `POST /whatis`: one image in, its labels out, in the same request.
//! The image becomes a classify job in the queue like any other (so one user's many requests
//! share the ranks fairly with everyone else's jobs); the handler waits for it, answers from its
//! results and removes it. `/whatis` takes the original client's request unchanged (multipart,
//! the image in field `file`) and answers `{"prediction", "info"}`: the first synonym of the best
//! label and its description from `--info` (nothing is looked up on an outside site).

use super::access::{user, AppState};
use super::error::{ApiError, ApiResult};
use super::intake::{admit, new_id, no_model, record};
use super::model::{JobKind, JobStatus};
use super::state::Shared;
use super::upload::{self, Sniffed};
use crate::classify::record::Record;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};

/// One image's top-k labels with scores.
pub async fn classify(
    State(shared): State<AppState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> ApiResult<Json<Value>> {
    let (name, record) = one_image(&shared, &headers, multipart).await?;
    let model = shared.model.as_ref().ok_or_else(no_model)?;
    Ok(Json(
        json!({"file": name, "model": model.file_name(), "top": record.top, "secs": record.secs, "rank": record.rank}),
    ))
}

/// The original client's endpoint: `{"prediction": NAME, "info": TEXT or null}`.
pub async fn whatis(
    State(shared): State<AppState>,
    headers: HeaderMap,
    multipart: Multipart,
) -> ApiResult<Json<Value>> {
    let (_, record) = one_image(&shared, &headers, multipart).await?;
    let model = shared.model.as_ref().ok_or_else(no_model)?;
    let best = record.top.first().ok_or_else(|| anyhow::anyhow!("the model gave no label"))?;
    let info = model.label(best.index).and_then(|l| model.info_of(l));
    Ok(Json(json!({"prediction": best.label, "info": info})))
}

/// Queues a classify job of the request's one image, waits for it and returns the image's name
/// and record. The job is removed once answered; a request that gives up leaves it to run and
/// expire like any job.
async fn one_image(shared: &Shared, headers: &HeaderMap, multipart: Multipart) -> ApiResult<(String, Record)> {
    let user = user(shared, headers)?;
    let model = shared.model.as_ref().ok_or_else(no_model)?;
    let (mut limits, _) = admit(shared, &user)?;
    limits.max_files = 1;
    let id = new_id();
    let queued = async {
        let form = upload::receive(multipart, &shared.layout.inputs(&id), limits).await?;
        match form.files.first() {
            None => return Err(ApiError::bad_request("the form has no image (send it in field 'file')")),
            Some(f) if matches!(f.kind, Sniffed::Video(_)) => {
                return Err(ApiError::unsupported(format!("{}: a video, not an image", f.name)))
            }
            Some(_) => {}
        }
        record(shared, &user, &id, &form, JobKind::Classify, model.job_chain(), None)
    };
    let job = match queued.await {
        Ok(job) => job,
        Err(e) => {
            super::janitor::remove_files(&shared.layout, &id);
            return Err(e);
        }
    };
    shared.kick();
    shared.job_changed(&id);
    let name = shared.store.items(&id)?.into_iter().next().map(|i| i.name).unwrap_or_default();
    let job = wait_final(shared, &job.id).await?;
    let answer = answer_of(shared, &id, &name, job.status, job.error.as_deref());
    super::janitor::remove_files(&shared.layout, &id);
    shared.store.delete(&id)?;
    shared.job_changed(&id);
    answer.map(|r| (name, r))
}

/// Waits until job `id` is final, at most `--classify-wait`.
async fn wait_final(shared: &Shared, id: &str) -> ApiResult<super::model::JobView> {
    let deadline = tokio::time::Instant::now() + shared.classify_wait;
    let mut changes = shared.changes.subscribe();
    loop {
        let job = shared.store.job(id, None)?.ok_or_else(|| ApiError::not_found(format!("job {id} was deleted")))?;
        if job.status.is_final() {
            return Ok(job);
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(anyhow::anyhow!("the server is stopping").into()),
            Err(_) => {
                let detail = format!(
                    "not classified within {} s; the job goes on at /api/jobs/{id}",
                    shared.classify_wait.as_secs()
                );
                return Err(ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", detail));
            }
        }
    }
}

/// The image's record from the finished job's results; its failure as a 422 naming the upload.
fn answer_of(shared: &Shared, id: &str, name: &str, status: JobStatus, error: Option<&str>) -> ApiResult<Record> {
    let model = shared.model.as_ref().ok_or_else(no_model)?;
    let records = model.records(&shared.layout.outputs(id))?;
    let input = shared.layout.inputs(id).join(name).display().to_string();
    match records.into_iter().next() {
        Some(r) if r.error.is_none() => Ok(r),
        Some(r) => Err(ApiError::unprocessable(r.error.unwrap_or_default().replace(&input, name))),
        None if status == JobStatus::Canceled => Err(ApiError::conflict(format!("job {id} was cancelled"))),
        None => {
            Err(anyhow::anyhow!("{name}: not classified: {}", error.unwrap_or("the job ended without a result")).into())
        }
    }
}

/// Adds each classified item's best labels (`top`) or its error to a classify job's items.
pub fn label_items(shared: &Shared, id: &str, items: &mut Value) {
    let Some(model) = shared.model.as_ref() else { return };
    let Ok(records) = model.records(&shared.layout.outputs(id)) else { return };
    let by_name: std::collections::HashMap<String, Record> =
        records.into_iter().filter_map(|r| Some((r.file.file_name()?.to_string_lossy().into_owned(), r))).collect();
    for item in items.as_array_mut().into_iter().flatten() {
        if let Some(r) = item["name"].as_str().and_then(|n| by_name.get(n)) {
            item["top"] = json!(r.top);
        }
    }
}
