//! A job's uploads, streamed to its `in/` folder as they arrive: never held in memory, capped
//! per file and per job, named safely, and checked before the job is accepted — the type from
//! the bytes (not the name), an image's pixel count from its header (before any decode).
//!
//! A file name from a client is only a label: it is reduced to one plain component of at most
//! [`MAX_NAME`] bytes, so no name can leave the job's folder, and clashes get a `-2`, `-3`…

use super::error::{ApiError, ApiResult};
use axum::extract::multipart::{Field, Multipart};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Longest stored name, in bytes.
pub const MAX_NAME: usize = 120;

/// What a file is, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// An image format OpenCV reads, with its usual extension.
    Image(&'static str),
    /// A video container.
    Video(&'static str),
}

/// The type of a file from its first bytes (at least 12), or `None` when unknown. Images are
/// told by `image_info::format_of`, the one table of image magic bytes.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    if let Some(format) = crate::image_info::format_of(head) {
        return Some(Sniffed::Image(match format {
            "jpeg" => "jpg",
            "tiff" => "tif",
            other => other,
        }));
    }
    let starts = |magic: &[u8]| head.starts_with(magic);
    Some(if head.len() >= 12 && &head[4..8] == b"ftyp" {
        Sniffed::Video("mp4")
    } else if starts(b"\x1a\x45\xdf\xa3") {
        Sniffed::Video("mkv")
    } else if head.len() >= 12 && starts(b"RIFF") && &head[8..12] == b"AVI " {
        Sniffed::Video("avi")
    } else {
        return None;
    })
}

/// A client's file name as one safe component: the last part after any `/` or `\`, control
/// characters and NUL dropped, never empty, `.` or `..`, at most [`MAX_NAME`] bytes (the
/// extension kept), and not hidden (no leading dot).
pub fn safe_name(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim().trim_start_matches('.').to_string();
    let clean = if clean.is_empty() { "file".to_string() } else { clean };
    if clean.len() <= MAX_NAME {
        return clean;
    }
    let (stem, ext) = match clean.rsplit_once('.') {
        Some((s, e)) if e.len() <= 10 => (s, format!(".{e}")),
        _ => (clean.as_str(), String::new()),
    };
    let mut end = MAX_NAME - ext.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &stem[..end])
}

/// `name`, or `stem-2.ext`, `stem-3.ext`… whichever is not in `taken`.
pub fn unique_name(name: &str, taken: &HashSet<String>) -> String {
    if !taken.contains(name) {
        return name.to_string();
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s, format!(".{e}")),
        None => (name, String::new()),
    };
    (2..).map(|n| format!("{stem}-{n}{ext}")).find(|n| !taken.contains(n)).expect("some suffix is free")
}

/// The name a file is kept under: its own when its extension fits its content, else with the
/// content's extension added (`photo.dat` holding a PNG becomes `photo.dat.png`), so the batch
/// picks the output format the content calls for.
pub fn named_for(name: &str, kind: Sniffed) -> Option<String> {
    let ext = Path::new(name).extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let fits = match kind {
        Sniffed::Image(_) => crate::formats::by_extension(&ext).is_some(),
        Sniffed::Video(_) => ["mp4", "m4v", "mov", "mkv", "webm", "avi"].contains(&ext.as_str()),
    };
    let (Sniffed::Image(want) | Sniffed::Video(want)) = kind;
    (!fits).then(|| format!("{name}.{want}"))
}

/// Limits on one upload.
#[derive(Clone, Copy, Debug)]
pub struct UploadLimits {
    pub file_bytes: u64,
    pub job_bytes: u64,
    pub max_files: usize,
    pub max_pixels: u64,
    /// Longest wait for the next piece of the body.
    pub idle: Duration,
}

/// One stored upload.
#[derive(Clone, Debug)]
pub struct Stored {
    pub name: String,
    pub kind: Sniffed,
    pub bytes: u64,
}

/// The parts of a job's form: its files (already on disk under `dir`) and its text fields.
#[derive(Debug, Default)]
pub struct Form {
    pub files: Vec<Stored>,
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Reads a multipart form, writing every file part into `dir` (created here) and syncing it.
/// On an error the caller removes `dir`: nothing half-written stays.
pub async fn receive(mut multipart: Multipart, dir: &Path, limits: UploadLimits) -> ApiResult<Form> {
    tokio::fs::create_dir_all(dir).await.map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let mut form = Form::default();
    let mut taken = HashSet::new();
    let mut total = 0u64;
    loop {
        let next = tokio::time::timeout(limits.idle, multipart.next_field())
            .await
            .map_err(|_| ApiError::timeout("the upload stalled"))?
            .map_err(|e| ApiError::bad_request(format!("reading the form: {e}")))?;
        let Some(field) = next else { break };
        let Some(raw_name) = field.file_name().map(str::to_string) else {
            let key = field.name().unwrap_or_default().to_string();
            let value = tokio::time::timeout(limits.idle, field.text())
                .await
                .map_err(|_| ApiError::timeout("the upload stalled"))?
                .map_err(|e| ApiError::bad_request(format!("form field {key}: {e}")))?;
            if value.len() > 64 * 1024 {
                return Err(ApiError::too_large(format!("form field {key}: longer than 64 KiB")));
            }
            form.fields.push((key, value));
            continue;
        };
        if form.files.len() >= limits.max_files {
            return Err(ApiError::too_large(format!("more than {} files in one job", limits.max_files)));
        }
        let name = unique_name(&safe_name(&raw_name), &taken);
        taken.insert(name.clone());
        let path = dir.join(&name);
        let bytes = write_field(field, &path, &name, total, limits).await?;
        total += bytes;
        let kind = check_file(&path, &name, limits.max_pixels)?;
        let name = match named_for(&name, kind) {
            Some(better) => {
                let better = unique_name(&better, &taken);
                tokio::fs::rename(&path, dir.join(&better))
                    .await
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                taken.insert(better.clone());
                better
            }
            _ => name,
        };
        form.files.push(Stored { name, kind, bytes });
    }
    Ok(form)
}

/// How much of an upload is held in memory before it is written (per upload in flight).
const WRITE_BUFFER: usize = 1 << 20;

/// Streams one file part to `path`, enforcing the per-file and per-job caps, and syncs it.
/// The form's chunks (a few KiB each) are gathered, without copying, into writes of up to
/// [`WRITE_BUFFER`] on the blocking pool: a tokio file makes a trip there for every chunk and
/// copies each into a buffer of its own.
async fn write_field(
    mut field: Field<'_>,
    path: &PathBuf,
    name: &str,
    before: u64,
    limits: UploadLimits,
) -> ApiResult<u64> {
    let file = std::fs::File::create(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let file = std::sync::Arc::new(file);
    let mut pending: Vec<axum::body::Bytes> = Vec::new();
    let mut pending_len = 0;
    let mut bytes = 0u64;
    loop {
        let chunk = tokio::time::timeout(limits.idle, field.chunk())
            .await
            .map_err(|_| ApiError::timeout(format!("{name}: the upload stalled")))?
            .map_err(|e| ApiError::bad_request(format!("{name}: {e}")))?;
        let Some(chunk) = chunk else { break };
        bytes += chunk.len() as u64;
        if bytes > limits.file_bytes {
            return Err(ApiError::too_large(format!(
                "{name}: larger than the limit of {} bytes per file",
                limits.file_bytes
            )));
        }
        if before + bytes > limits.job_bytes {
            return Err(ApiError::too_large(format!(
                "the job's files exceed the limit of {} bytes per job",
                limits.job_bytes
            )));
        }
        pending_len += chunk.len();
        pending.push(chunk);
        if pending_len >= WRITE_BUFFER {
            write_out(&file, std::mem::take(&mut pending), false, path).await?;
            pending_len = 0;
        }
    }
    if bytes == 0 {
        return Err(ApiError::unprocessable(format!("{name}: empty file (0 bytes)")));
    }
    write_out(&file, pending, true, path).await?;
    Ok(bytes)
}

/// Writes `chunks` at the file's end on the blocking pool, then syncs it when `sync`.
async fn write_out(
    file: &std::sync::Arc<std::fs::File>,
    chunks: Vec<axum::body::Bytes>,
    sync: bool,
    path: &Path,
) -> ApiResult<()> {
    use std::io::Write;
    let file = std::sync::Arc::clone(file);
    let written = tokio::task::spawn_blocking(move || {
        let mut out = &*file;
        chunks.iter().try_for_each(|c| out.write_all(c))?;
        if sync {
            file.sync_all()?;
        }
        Ok::<_, std::io::Error>(())
    })
    .await
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    written.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()).into())
}

/// The type of a stored file from its bytes, and an image's pixel count from its header.
pub fn check_file(path: &Path, name: &str, max_pixels: u64) -> ApiResult<Sniffed> {
    let mut head = [0u8; 16];
    let n = {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        f.read(&mut head).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
    };
    let kind = sniff(&head[..n]).ok_or_else(|| {
        ApiError::unsupported(format!("{name}: not an image or video imgproc reads (unknown content)"))
    })?;
    if let Sniffed::Image(_) = kind {
        check_pixels(path, name, max_pixels)?;
    }
    Ok(kind)
}

/// Refuses an image whose header declares more than `max_pixels`, or has no readable header.
pub fn check_pixels(path: &Path, name: &str, max_pixels: u64) -> ApiResult<(u64, u64)> {
    let size = imagesize::size(path).map_err(|e| ApiError::unprocessable(format!("{name}: unreadable header: {e}")))?;
    let (w, h) = (size.width as u64, size.height as u64);
    if w * h > max_pixels {
        return Err(ApiError::unprocessable(format!(
            "{name}: {w}x{h} = {} pixels, more than the limit of {max_pixels} pixels",
            w * h
        )));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_stay_one_plain_component() {
        for (raw, want) in [
            ("../../etc/passwd", "passwd"),
            ("/abs/path/a.png", "a.png"),
            ("..\\..\\win.png", "win.png"),
            ("a\0b.png", "ab.png"),
            ("..", "file"),
            ("", "file"),
            (".hidden.png", "hidden.png"),
            ("dir/", "file"),
        ] {
            assert_eq!(safe_name(raw), want, "{raw:?}");
        }
        let long = format!("{}.png", "é".repeat(300));
        let name = safe_name(&long);
        assert!(name.len() <= MAX_NAME && name.ends_with(".png"), "{name}");
    }

    #[test]
    fn clashing_names_get_a_number() {
        let taken: HashSet<String> = ["a.png".to_string(), "a-2.png".to_string()].into();
        assert_eq!(unique_name("a.png", &taken), "a-3.png");
        assert_eq!(unique_name("b.png", &taken), "b.png");
    }

    #[test]
    fn the_type_comes_from_the_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), Some(Sniffed::Image("png")));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0abcdefgh"), Some(Sniffed::Image("jpg")));
        assert_eq!(sniff(b"\0\0\0\x18ftypisom...."), Some(Sniffed::Video("mp4")));
        assert_eq!(sniff(b"<html><body>"), None);
        assert_eq!(sniff(b""), None);
    }
}
