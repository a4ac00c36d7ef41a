//! A worker's side of a video job: say what it can reach (the input, the work folder), then
//! take chunks until rank 0 says `Finish`. Each chunk is decoded, filtered and encoded by
//! `video::process_chunk` on a compute thread while this thread (the MPI one) reports frames
//! done and watches for a cancel, sleeping between polls.

use super::Worker;
use crate::cancel::{failure_of, CancelFlag};
use crate::model::Failure;
use crate::protocol::*;
use crate::reach::{can_create_in, Probe};
use crate::video::{process_chunk, ChunkInput, OutputKind, Source, VideoSpec};
use anyhow::Result;
use mpi::traits::*;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// How often a worker tells rank 0 how many frames of its chunk are done.
const REPORT_EVERY: Duration = Duration::from_millis(250);

impl Worker<'_> {
    pub(super) fn video_job(&mut self, job: &VideoJob) -> Result<()> {
        let root = self.world.process_at_rank(0);
        let reads_input = !job.send_input && reads_input(&job.spec, job.input_size);
        let writes_work = !job.send_input && writes_work(&job.spec, &job.probe);
        send_json(&root, TAG_VIDEO_UP, &VideoUp::Ready { reads_input, writes_work });
        // Files this rank cannot put in the work folder are made here, sent, and removed.
        let local = std::env::temp_dir().join(format!("imgproc-video-{}-{}", std::process::id(), job.id));
        let mut stats = self.stats();
        loop {
            let started = Instant::now();
            let down: VideoDown = self.next_from_root(TAG_VIDEO_DOWN)?;
            let VideoDown::Work { chunk, bytes } = down else {
                let _ = std::fs::remove_dir_all(&local);
                send_json(&root, TAG_VIDEO_UP, &VideoUp::Stats(stats));
                return Ok(());
            };
            let buffers: Vec<Vec<u8>> = bytes
                .iter()
                .map(|&len| {
                    let mut buf = vec![0u8; len];
                    receive_bytes(&root, TAG_VIDEO_DOWN_BYTES, &mut buf);
                    buf
                })
                .collect();
            stats.send_secs += started.elapsed().as_secs_f64();
            stats.bytes_received += bytes.iter().sum::<usize>() as u64;

            let started = Instant::now();
            let out_dir = match (&job.spec.output, writes_work) {
                (OutputKind::Video { .. }, true) => job.spec.work_dir.clone(),
                (OutputKind::Frames { .. }, true) => job.spec.frames_dir(),
                (_, false) => local.join(format!("chunk-{}", chunk.index)),
            };
            let result = self.chunk_in_background(job, chunk, buffers, &out_dir, &local);
            let secs = started.elapsed().as_secs_f64();
            stats.compute_secs += secs;
            stats.images += result.as_ref().map_or(0, |_| chunk.frames);

            let started = Instant::now();
            match result {
                Ok(files) if writes_work => {
                    let _ = files;
                    send_json(&root, TAG_VIDEO_UP, &VideoUp::Done { index: chunk.index, outcome: Ok(None), secs });
                }
                Ok(files) => {
                    let read: std::io::Result<Vec<(String, Vec<u8>)>> =
                        files.into_iter().map(|n| std::fs::read(out_dir.join(&n)).map(|b| (n, b))).collect();
                    match read {
                        Ok(files) => {
                            let list = files.iter().map(|(n, b)| (n.clone(), b.len())).collect();
                            let up = VideoUp::Done { index: chunk.index, outcome: Ok(Some(list)), secs };
                            send_json(&root, TAG_VIDEO_UP, &up);
                            for (_, b) in &files {
                                send_bytes(&root, TAG_VIDEO_UP_BYTES, b);
                                stats.bytes_sent += b.len() as u64;
                            }
                        }
                        Err(e) => {
                            let outcome = Err(Failure::Failed(format!("{}: cannot read back: {e}", out_dir.display())));
                            send_json(&root, TAG_VIDEO_UP, &VideoUp::Done { index: chunk.index, outcome, secs });
                        }
                    }
                    let _ = std::fs::remove_dir_all(&out_dir);
                }
                Err(failure) => {
                    send_json(&root, TAG_VIDEO_UP, &VideoUp::Done { index: chunk.index, outcome: Err(failure), secs })
                }
            }
            stats.collect_secs += started.elapsed().as_secs_f64();
        }
    }

    /// Runs one chunk on a compute thread; meanwhile reports frames done and passes on a cancel.
    fn chunk_in_background(
        &mut self,
        job: &VideoJob,
        chunk: crate::video::Chunk,
        buffers: Vec<Vec<u8>>,
        out_dir: &Path,
        local: &Path,
    ) -> std::result::Result<Vec<String>, Failure> {
        let input = match (&job.spec.source, buffers.is_empty()) {
            (_, true) => ChunkInput::Own,
            (Source::Video { .. }, false) => {
                let piece = local.join(format!("piece-{}.mkv", chunk.index));
                let written = std::fs::create_dir_all(local).and_then(|_| std::fs::write(&piece, &buffers[0]));
                written.map_err(|e| Failure::Failed(format!("{}: cannot write: {e}", piece.display())))?;
                ChunkInput::Piece(piece)
            }
            (Source::Frames(_), false) => ChunkInput::FrameBytes(buffers),
        };
        std::fs::create_dir_all(out_dir).map_err(|e| Failure::Failed(format!("{}: {e}", out_dir.display())))?;
        let cancel = CancelFlag::default();
        let done = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = mpsc::channel();
        {
            let (spec, cancel, done, out_dir) = (job.spec.clone(), cancel.clone(), done.clone(), out_dir.to_path_buf());
            let threads = self.threads;
            std::thread::Builder::new()
                .name("video-chunk".into())
                .spawn(move || {
                    let result = process_chunk(&spec, &chunk, input, &out_dir, threads, &cancel, &done);
                    let _ = tx.send(result.map(|o| o.files).map_err(|e| failure_of(&e)));
                })
                .map_err(|e| Failure::Failed(format!("starting a compute thread: {e}")))?;
        }
        let root = self.world.process_at_rank(0);
        let mut reported = (Instant::now(), 0);
        loop {
            match rx.recv_timeout(Duration::from_millis(5)) {
                Ok(result) => return result,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if self.is_cancelled(job.id, Some(chunk.index)) {
                        cancel.store(true, Ordering::Relaxed);
                        // The thread removes what it started once it sees the flag: wait for it.
                        let _ = rx.recv_timeout(Duration::from_secs(5));
                        return Err(Failure::Cancelled);
                    }
                    let frames = done.load(Ordering::Relaxed);
                    if frames != reported.1 && reported.0.elapsed() >= REPORT_EVERY {
                        send_json(&root, TAG_VIDEO_UP, &VideoUp::Frames { index: chunk.index, frames });
                        reported = (Instant::now(), frames);
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(Failure::Failed("the compute thread stopped without a result".into()))
                }
            }
        }
    }
}

/// Whether this rank sees the job's input itself: the same video (same size at the same path)
/// or every frame file.
fn reads_input(spec: &VideoSpec, size: u64) -> bool {
    match &spec.source {
        Source::Video { path, .. } => std::fs::metadata(path).is_ok_and(|m| m.len() == size),
        Source::Frames(list) => list.paths.iter().all(|p| p.is_file()),
    }
}

/// Whether this rank sees rank 0's work folder (the probe file with its token) and may write in it.
fn writes_work(spec: &VideoSpec, probe: &Probe) -> bool {
    let dir: PathBuf = match &spec.output {
        OutputKind::Video { .. } => spec.work_dir.clone(),
        OutputKind::Frames { .. } => spec.frames_dir(),
    };
    probe.seen() && can_create_in(&dir)
}
