//! Rank 0's last step: the segments joined in order without re-encoding (FFmpeg's concat
//! demuxer, stream copy), the input's audio carried over unchanged, written under a temporary
//! name and renamed, so the output appears only when complete.

use crate::codec::TMP_MARKER;
use anyhow::{ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Joins `segments` (in order) into `output` with `muxer`, adding the audio streams of `audio_from`
/// when given. The list file and the temporary output live in `work_dir` and beside `output`.
pub fn join_segments(
    segments: &[PathBuf],
    work_dir: &Path,
    output: &Path,
    muxer: &str,
    audio_from: Option<&Path>,
) -> Result<()> {
    ensure!(!segments.is_empty(), "no segments to join");
    let list = work_dir.join("concat.txt");
    let text: String =
        segments.iter().map(|s| format!("file '{}'\n", s.display().to_string().replace('\'', "'\\''"))).collect();
    std::fs::write(&list, text).with_context(|| format!("{}: cannot write", list.display()))?;
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = output.with_file_name(format!(".{name}{TMP_MARKER}{}", std::process::id()));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i"]).arg(&list);
    if let Some(input) = audio_from {
        cmd.arg("-i").arg(input).args(["-map", "0:v", "-map", "1:a?"]);
    }
    cmd.args(["-c", "copy", "-f", muxer]).arg(&temp);
    let out = cmd.output().context("running ffmpeg to join the segments (install ffmpeg)")?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&temp);
        let why = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!("{}: joining the segments failed: {}", output.display(), why.trim());
    }
    super::sync_and_rename(&temp, output)
}
