//! A new job's way in, for every route that makes one: whether its user may queue another, the
//! limits of its upload, its id, and its record in the store.

use super::error::{ApiError, ApiResult};
use super::model::{JobKind, JobView};
use super::state::Shared;
use super::store::NewJob;
use super::upload::{self, UploadLimits};

/// Whether `user` may queue one more job, and the limits of its upload (with the user's byte
/// limit, for the message when the upload passes it).
pub fn admit(shared: &Shared, user: &str) -> ApiResult<(UploadLimits, u64)> {
    let (max_jobs, max_bytes) = shared.users.limits(user);
    let (max_jobs, max_bytes) =
        (max_jobs.unwrap_or(shared.limits.user_jobs), max_bytes.unwrap_or(shared.limits.user_bytes));
    let (queued, queued_bytes) = shared.store.queued_by(user)?;
    if queued >= max_jobs {
        return Err(ApiError::busy(format!("{user} has {queued} jobs waiting, the limit is {max_jobs}"), 5));
    }
    let limits = UploadLimits {
        file_bytes: shared.limits.file_bytes,
        job_bytes: shared.limits.job_bytes.min(max_bytes.saturating_sub(queued_bytes).max(1)),
        max_files: shared.limits.max_files,
        max_pixels: shared.limits.max_pixels,
        idle: shared.limits.idle,
    };
    Ok((limits, max_bytes))
}

/// Records the job of a received form in the store.
pub fn record(
    shared: &Shared,
    user: &str,
    id: &str,
    form: &upload::Form,
    kind: JobKind,
    chain: String,
    format: Option<String>,
) -> ApiResult<JobView> {
    let job = NewJob {
        id: id.to_string(),
        user: user.to_string(),
        kind,
        chain,
        format,
        inputs: form.files.iter().map(|f| f.name.clone()).collect(),
        bytes_in: form.files.iter().map(|f| f.bytes).sum(),
    };
    shared.store.insert(&job, crate::model::unix_now())?;
    shared.metrics.bytes_in.fetch_add(job.bytes_in, std::sync::atomic::Ordering::Relaxed);
    Ok(shared.store.job(id, None)?.expect("just inserted"))
}

/// The answer when a classify request reaches a server started without `--model`.
pub fn no_model() -> ApiError {
    ApiError::not_found("this server has no model to classify with (it was started without --model)")
}

/// 16 random bytes in hex: ids cannot be guessed or enumerated.
pub fn new_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    if std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).is_err() {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        b = (t ^ u128::from(std::process::id())).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}
