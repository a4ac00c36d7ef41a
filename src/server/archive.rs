//! Downloads: one result or input by its name (looked up among the job's items, never joined
//! from the URL), and the whole job as a zip written while it is sent (stored entries: the
//! results are compressed images already), so no archive is built on disk or in memory.

use super::access::{own_job, AppState};
use super::error::{ApiError, ApiResult};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// A file's content type from its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().map(str::to_ascii_lowercase).as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("tif" | "tiff") => "image/tiff",
        Some("bmp") => "image/bmp",
        Some("webp") => "image/webp",
        Some("mp4" | "m4v") => "video/mp4",
        Some("mkv") => "video/x-matroska",
        Some("avi") => "video/x-msvideo",
        _ => "application/octet-stream",
    }
}

async fn send_file(path: PathBuf, name: &str) -> ApiResult<Response> {
    let file = tokio::fs::File::open(&path).await.map_err(|_| ApiError::not_found(format!("{name}: not written")))?;
    let len = file.metadata().await.map_err(anyhow::Error::from)?.len();
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    let disposition = format!("inline; filename=\"{}\"", name.replace(['"', '\\'], "_"));
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Which file of a job's items a download names.
#[derive(Clone, Copy)]
enum Side {
    Result,
    Input,
}

/// Sends the result or input called `name` of one of the caller's jobs, found among its items.
async fn item_file(shared: &AppState, headers: &HeaderMap, id: &str, name: &str, side: Side) -> ApiResult<Response> {
    own_job(shared, headers, id)?;
    let items = shared.store.items(id)?;
    let (found, dir, what) = match side {
        Side::Result => {
            (items.iter().find_map(|i| i.output.clone().filter(|o| o == name)), shared.layout.outputs(id), "result")
        }
        Side::Input => {
            (items.iter().find(|i| i.name == name).map(|i| i.name.clone()), shared.layout.inputs(id), "input")
        }
    };
    let file = found.ok_or_else(|| ApiError::not_found(format!("job {id} has no {what} {name:?}")))?;
    send_file(dir.join(&file), &file).await
}

pub async fn result(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    item_file(&shared, &headers, &id, &name, Side::Result).await
}

pub async fn input(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    item_file(&shared, &headers, &id, &name, Side::Input).await
}

/// A `Write` that hands each buffer to the response body.
struct ChannelWriter(mpsc::Sender<std::io::Result<Vec<u8>>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(Ok(buf.to_vec())).map_err(|_| std::io::Error::other("the client went away"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn archive(
    State(shared): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let job = own_job(&shared, &headers, &id)?;
    let items = shared.store.items(&id)?;
    let dir = shared.layout.outputs(&id);
    let files: Vec<(String, PathBuf)> =
        items.iter().filter_map(|i| i.output.as_ref()).map(|o| (o.clone(), dir.join(o))).collect();
    if files.is_empty() {
        return Err(ApiError::not_found(format!("job {id} has no results yet")));
    }
    let (tx, rx) = mpsc::channel(8);
    tokio::task::spawn_blocking(move || {
        let errors = tx.clone();
        if let Err(e) = write_zip(ChannelWriter(tx), &files) {
            let _ = errors.blocking_send(Err(std::io::Error::other(format!("{e:#}"))));
        }
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let mut response = Body::from_stream(chunks).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"imgproc-{}.zip\"", job.id)) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Writes `files` as a zip of stored entries to a stream that cannot seek.
fn write_zip<W: Write>(out: W, files: &[(String, PathBuf)]) -> anyhow::Result<()> {
    let mut zip = zip::ZipWriter::new_stream(out);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored).large_file(true);
    for (name, path) in files {
        zip.start_file(name.as_str(), options)?;
        let mut f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        std::io::copy(&mut f, &mut zip)?;
    }
    zip.finish()?;
    Ok(())
}
