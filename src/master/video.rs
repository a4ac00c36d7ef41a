//! Rank 0's side of a video job: the MPI [`Transport`] the pure scheduler drives over chunks, its
//! own lane (a thread that does chunks like a worker), and the journal around them. Which rank
//! gets which chunk is decided in `scheduler`; what a chunk is, in `video`.

use super::Master;
use crate::cancel::{failure_of, CancelFlag};
use crate::model::{Failure, RankStats};
use crate::protocol::*;
use crate::reach::ProbeFile;
use crate::scheduler::{self, Halt, RankEvent, Report, Scheduler, Transport};
use crate::video::{
    lossless_piece, process_chunk, Chunk, ChunkInput, OutputKind, Source, VideoEvent, VideoJournal, VideoOptions,
    VideoOutcome, VideoSpec,
};
use anyhow::{Context, Result};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// What a finished chunk hands back to rank 0.
pub enum Payload {
    /// Its files are in the work folder.
    Written,
    /// Its files as `(name, bytes)`, for rank 0 to write.
    Files(Vec<(String, Vec<u8>)>),
}

/// A video job's chunk work as the front end starts it (the join comes after, see `commands`).
pub struct VideoRun<'a> {
    pub spec: &'a VideoSpec,
    pub chunks: &'a [Chunk],
    pub options: VideoOptions,
}

impl Master {
    /// Filters the chunks the journal does not have yet: each rank (rank 0 too, on its own lane,
    /// unless coordinator-only) decodes, filters and encodes one chunk at a time and gets the next
    /// when it is done. A finished chunk is journaled once its segment is in the work folder.
    /// Once `cancel` is set no chunk starts and running ones stop at their next frame.
    pub fn run_video(
        &self,
        run: &VideoRun,
        journal: &mut VideoJournal,
        on: &mut dyn FnMut(VideoEvent),
        cancel: &AtomicBool,
    ) -> Result<VideoOutcome> {
        let (spec, chunks) = (run.spec, run.chunks);
        let n = self.size();
        let mut outcome = VideoOutcome::default();
        let local = n == 1 || !run.options.coordinator_only;
        // No second copies of slow chunks: a worker writes its segment straight into the work
        // folder, so two copies would both write it.
        let slots = (0..n).map(|r| usize::from(r > 0 || local)).collect();
        let mut sched = Scheduler::new(slots).with_stragglers(None);
        for chunk in chunks {
            if journal.is_done(chunk) {
                outcome.already_done += 1;
            } else {
                sched.push(chunk.index);
            }
        }
        sched.close();
        let pending = sched.queued();
        journal.record_start(n, self.ranks.iter().map(|r| r.host.clone()).collect(), pending, outcome.already_done)?;

        // The work folder's probe: a worker that reads this token back writes segments there itself.
        let probe = ProbeFile::create(&spec.work_dir)?;
        let input_size = match &spec.source {
            Source::Video { path, .. } => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
            Source::Frames(_) => 0,
        };
        let job = VideoJob {
            id: self.new_job_id(),
            spec: spec.clone(),
            input_size,
            probe: probe.probe().clone(),
            send_input: run.options.send_input,
        };
        for rank in 1..n {
            send_command(self.world(), rank, &Command::Video(Box::new(job.clone())));
        }
        let mut reach = vec![(true, true); n];
        for _ in 1..n {
            let (up, from) = receive_json::<VideoUp>(self.world(), None, TAG_VIDEO_UP, &mut || {})?;
            if let VideoUp::Ready { reads_input, writes_work } = up {
                reach[from as usize] = (reads_input, writes_work);
            }
        }
        drop(probe);

        let on = RefCell::new(on);
        let mut transport = MpiVideo {
            master: self,
            spec,
            chunks,
            job: job.id,
            reach,
            lane: local.then(|| VideoLane::spawn(spec.clone(), self.threads[0])),
            mine: self.stats(0),
            events: VecDeque::new(),
            frames: Rc::default(),
        };
        let progress = transport.frames.clone();
        let mut record = |r: Report| -> Result<()> {
            let mut on = on.borrow_mut();
            match r {
                Report::Assigned { rank, item } => on(VideoEvent::ChunkAssigned { rank, chunk: chunks[item] }),
                Report::Done { rank, item, secs } => {
                    let chunk = &chunks[item];
                    journal.record_done(chunk, spec.proof(chunk), rank, self.ranks[rank].host.clone(), secs)?;
                    outcome.done += 1;
                    on(VideoEvent::ChunkDone { rank, chunk: *chunk, secs, error: None });
                }
                Report::Failed { rank, item, secs, reason } => {
                    journal.record_failed(&chunks[item], reason.clone())?;
                    outcome.failed.push((chunks[item], reason.clone()));
                    on(VideoEvent::ChunkDone { rank, chunk: chunks[item], secs, error: Some(reason) });
                }
                Report::Cancelled { .. } => {}
            }
            Ok(())
        };
        // Between events the driver asks whether to cancel: frames done go to the front end then.
        let mut cancelled = |_: &mut Scheduler| {
            for (rank, index, frames) in progress.borrow_mut().drain(..) {
                (on.borrow_mut())(VideoEvent::Frames { rank, index, frames });
            }
            if cancel.load(Ordering::Relaxed) {
                Halt::Cancel
            } else {
                Halt::Go
            }
        };
        let end = scheduler::run(&mut sched, &mut transport, &mut cancelled, &mut record)?;
        let mut stats = end.stats;
        stats.retain(|s| s.rank != 0);
        stats.insert(0, transport.mine.clone());
        outcome.cancelled = cancel.load(Ordering::Relaxed) && outcome.done + outcome.failed.len() < pending;
        journal.record_finish(outcome.done, outcome.failed.len(), outcome.cancelled)?;
        outcome.stats = stats;
        Ok(outcome)
    }
}

/// Chunks as they travel: workers over MPI, rank 0's share on its lane.
struct MpiVideo<'a> {
    master: &'a Master,
    spec: &'a VideoSpec,
    chunks: &'a [Chunk],
    job: u64,
    /// Per rank: reads the input itself, writes the work folder itself.
    reach: Vec<(bool, bool)>,
    lane: Option<VideoLane>,
    mine: RankStats,
    events: VecDeque<RankEvent<Payload>>,
    /// Frames-done reports waiting for the front end: `(rank, chunk index, frames)`.
    frames: Rc<RefCell<Vec<(usize, usize, usize)>>>,
}

impl MpiVideo<'_> {
    fn report_frames(&self, rank: usize, index: usize, frames: usize) {
        self.frames.borrow_mut().push((rank, index, frames));
    }

    fn poll(&mut self) -> Result<Option<RankEvent<Payload>>> {
        if let Some(e) = self.events.pop_front() {
            return Ok(Some(e));
        }
        if let Some(lane) = self.lane.as_mut() {
            if let Some((index, frames)) = lane.frames() {
                self.frames.borrow_mut().push((0, index, frames));
            }
            if let Some((index, secs, result)) = lane.try_recv() {
                self.mine.compute_secs += secs;
                self.mine.images += result.as_ref().map_or(0, |_| self.chunks[index].frames);
                return Ok(Some(RankEvent::Done {
                    rank: 0,
                    item: index,
                    secs,
                    outcome: result.map(|_| Payload::Written),
                }));
            }
        }
        if self.master.size() == 1 {
            return Ok(None);
        }
        let Some((up, from)) = try_receive_json::<VideoUp>(self.master.world(), None, TAG_VIDEO_UP)? else {
            return Ok(None);
        };
        let rank = from as usize;
        Ok(match up {
            VideoUp::Ready { .. } => None,
            VideoUp::Frames { index, frames } => {
                self.report_frames(rank, index, frames);
                None
            }
            VideoUp::Done { index, outcome, secs } => {
                let started = Instant::now();
                let outcome = outcome.map(|files| match files {
                    None => Payload::Written,
                    Some(list) => Payload::Files(
                        list.into_iter()
                            .map(|(name, len)| {
                                let mut buf = vec![0u8; len];
                                receive_bytes(&self.master.process(rank), TAG_VIDEO_UP_BYTES, &mut buf);
                                self.mine.bytes_received += len as u64;
                                (name, buf)
                            })
                            .collect(),
                    ),
                });
                self.mine.collect_secs += started.elapsed().as_secs_f64();
                Some(RankEvent::Done { rank, item: index, secs, outcome })
            }
            VideoUp::Stats(stats) => Some(RankEvent::Finished { rank, stats }),
        })
    }

    /// The chunk's input for a rank that cannot open it: its packets, or its frame files.
    fn input_bytes(&self, chunk: &Chunk) -> Result<Vec<Vec<u8>>, String> {
        match &self.spec.source {
            Source::Video { .. } => lossless_piece(self.spec, chunk).map(|b| vec![b]),
            Source::Frames(list) => list.paths[chunk.start..chunk.start + chunk.frames]
                .iter()
                .enumerate()
                .map(|(i, p)| crate::codec::read_file(p).with_context(|| format!("frame {}", chunk.start + i + 1)))
                .collect(),
        }
        .map_err(|e| format!("{e:#}"))
    }
}

impl Transport for MpiVideo<'_> {
    type Payload = Payload;

    fn assign(&mut self, rank: usize, index: usize) -> Result<(), String> {
        let chunk = self.chunks[index];
        if rank == 0 {
            self.lane.as_mut().expect("rank 0 gets chunks only with a lane").send(chunk);
            return Ok(());
        }
        let started = Instant::now();
        let buffers = if self.reach[rank].0 { Vec::new() } else { self.input_bytes(&chunk)? };
        let to = self.master.process(rank);
        let down = VideoDown::Work { chunk, bytes: buffers.iter().map(Vec::len).collect() };
        send_json(&to, TAG_VIDEO_DOWN, &down);
        for b in &buffers {
            send_bytes(&to, TAG_VIDEO_DOWN_BYTES, b);
            self.mine.bytes_sent += b.len() as u64;
        }
        self.mine.send_secs += started.elapsed().as_secs_f64();
        Ok(())
    }

    fn finish(&mut self, rank: usize) {
        if rank == 0 {
            self.events.push_back(RankEvent::Finished { rank: 0, stats: RankStats::default() });
        } else {
            send_json(&self.master.process(rank), TAG_VIDEO_DOWN, &VideoDown::Finish);
        }
    }

    fn cancel(&mut self, rank: usize, item: usize) {
        if rank == 0 {
            if let Some(lane) = &self.lane {
                lane.cancel(item);
            }
        } else {
            self.master.cancel_item(rank, self.job, item);
        }
    }

    fn next_event(&mut self, timeout: Duration) -> Result<Option<RankEvent<Payload>>> {
        poll_for(timeout, || self.poll())
    }

    fn store(&mut self, _index: usize, payload: Payload) -> Result<(), Failure> {
        let Payload::Files(files) = payload else { return Ok(()) };
        let started = Instant::now();
        let dir = match &self.spec.output {
            OutputKind::Video { .. } => self.spec.work_dir.clone(),
            OutputKind::Frames { .. } => self.spec.frames_dir(),
        };
        let result = files.iter().try_for_each(|(name, bytes)| crate::codec::write_atomic(&dir.join(name), bytes));
        self.mine.write_secs += started.elapsed().as_secs_f64();
        result.map_err(|e| crate::cancel::failure_of(&e))
    }

    /// Never called: video chunks get no second copies (see `run_video`).
    fn discard(&mut self, _index: usize, _payload: Payload) {}
}

/// A finished chunk of rank 0's lane: its index, seconds, and its files or why it failed.
type LaneResult = (usize, f64, Result<Vec<String>, Failure>);

/// Rank 0's own share: a thread that does chunks like a worker, without MPI.
struct VideoLane {
    work: mpsc::Sender<(Chunk, CancelFlag)>,
    done: mpsc::Receiver<LaneResult>,
    flags: Vec<(usize, CancelFlag)>,
    /// The chunk running now and its frames done.
    current: Arc<(AtomicUsize, AtomicUsize)>,
    reported: usize,
}

impl VideoLane {
    fn spawn(spec: VideoSpec, threads: usize) -> VideoLane {
        let (work, work_rx) = mpsc::channel::<(Chunk, CancelFlag)>();
        let (done_tx, done) = mpsc::channel();
        let current = Arc::new((AtomicUsize::new(usize::MAX), AtomicUsize::new(0)));
        let now = current.clone();
        std::thread::Builder::new()
            .name("rank0-video".into())
            .spawn(move || {
                let dir: PathBuf = match &spec.output {
                    OutputKind::Video { .. } => spec.work_dir.clone(),
                    OutputKind::Frames { .. } => spec.frames_dir(),
                };
                for (chunk, cancel) in work_rx {
                    let started = Instant::now();
                    now.1.store(0, Ordering::Relaxed);
                    now.0.store(chunk.index, Ordering::Relaxed);
                    let result = run_own(&spec, &chunk, &dir, threads, &cancel, &now.1);
                    if done_tx.send((chunk.index, started.elapsed().as_secs_f64(), result)).is_err() {
                        break;
                    }
                }
            })
            .expect("starting rank 0's video lane");
        VideoLane { work, done, flags: Vec::new(), current, reported: 0 }
    }

    fn send(&mut self, chunk: Chunk) {
        let flag = CancelFlag::default();
        self.flags.push((chunk.index, flag.clone()));
        self.work.send((chunk, flag)).expect("the lane lives as long as the job");
    }

    fn cancel(&self, index: usize) {
        for (i, flag) in &self.flags {
            if *i == index {
                flag.store(true, Ordering::Relaxed);
            }
        }
    }

    /// The running chunk's frames done, when that changed.
    fn frames(&mut self) -> Option<(usize, usize)> {
        let (index, frames) = (self.current.0.load(Ordering::Relaxed), self.current.1.load(Ordering::Relaxed));
        (index != usize::MAX && frames != self.reported).then(|| {
            self.reported = frames;
            (index, frames)
        })
    }

    fn try_recv(&mut self) -> Option<LaneResult> {
        let result = self.done.try_recv().ok()?;
        self.flags.retain(|(i, _)| *i != result.0);
        self.reported = 0;
        Some(result)
    }
}

fn run_own(
    spec: &VideoSpec,
    chunk: &Chunk,
    dir: &Path,
    threads: usize,
    cancel: &CancelFlag,
    done: &AtomicUsize,
) -> Result<Vec<String>, Failure> {
    process_chunk(spec, chunk, ChunkInput::Own, dir, threads, cancel, done).map(|o| o.files).map_err(|e| failure_of(&e))
}
