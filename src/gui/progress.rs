//! What the window knows of a running job: overall progress, what each rank (and host) is doing,
//! how far into its strip (or chunk of frames) it is and how long its last piece took, and the
//! state of each batch item. Pure: fed with the master's [`Progress`] and [`VideoEvent`]s, drawn
//! by the app.

use crate::jobs::video::FramesDone;
use crate::model::{Progress, RankInfo};
use crate::video::VideoEvent;
use std::time::{Duration, Instant};

/// One rank's line in the live view.
#[derive(Clone, Debug)]
pub struct RankActivity {
    pub rank: usize,
    pub host: String,
    /// What it works on now, or did last ("rows 0..540", "image 12").
    pub work: String,
    pub busy_since: Option<Instant>,
    /// Seconds its last piece took.
    pub last_secs: Option<f64>,
    /// Pieces (strips or images) it finished in this job.
    pub finished: usize,
    /// How much of its current strip is done (0 to 1), once the master has reported it
    /// ([`Progress::StripProgress`]); `None` before the first report and between pieces.
    pub strip_fraction: Option<f32>,
    /// Rows of its current strip (0 in a batch), or frames of its current chunk.
    strip_rows: usize,
}

/// The state of one batch image.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemState {
    Waiting,
    /// Finished by an earlier run (journal).
    AlreadyDone,
    Running {
        rank: usize,
    },
    Done {
        rank: usize,
        secs: f64,
    },
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct JobProgress {
    /// Pieces to do in this run (strips with rows, or images not already done).
    pub total: usize,
    pub finished: usize,
    /// Pieces (strips or images) that failed.
    pub failed: usize,
    /// One image: rows handed out, and rows delivered; the overall fraction counts rows, so a
    /// rank half-way through its strip moves the bar.
    rows_total: usize,
    rows_finished: usize,
    pub ranks: Vec<RankActivity>,
    /// Batch items, by index; empty for one image.
    pub items: Vec<ItemState>,
    /// A video job: the frames this run filters, and how many are done (`None` otherwise).
    video: Option<(usize, FramesDone)>,
    frames_done: usize,
    pub started: Instant,
    /// Set when the job ended.
    pub elapsed: Option<Duration>,
    /// The user asked to cancel: pieces that end with an error from now on were stopped, not
    /// failed, and the job's end is a neutral "cancelled".
    cancel_asked: bool,
    /// Pieces stopped by the cancel.
    pub stopped: usize,
    /// The job ended because it was cancelled.
    pub cancelled: bool,
    /// A video's pace as its summary gives it (frames per second of compute), so the bar and the
    /// message say the same number once it ended.
    final_rate: Option<f64>,
}

/// The highest share the bar shows while a job runs: whatever the ranks report, it reads 100 %
/// only once the job has ended (the last rows may still be on their way, or a stage to come).
pub const RUNNING_CAP: f32 = 0.99;

impl JobProgress {
    /// A job on these ranks; `total` is refined by the first events.
    pub fn new(ranks: &[RankInfo]) -> JobProgress {
        JobProgress {
            total: 0,
            finished: 0,
            failed: 0,
            ranks: ranks
                .iter()
                .map(|r| RankActivity {
                    rank: r.rank,
                    host: r.host.clone(),
                    work: "idle".into(),
                    busy_since: None,
                    last_secs: None,
                    finished: 0,
                    strip_fraction: None,
                    strip_rows: 0,
                })
                .collect(),
            rows_total: 0,
            rows_finished: 0,
            items: Vec::new(),
            video: None,
            frames_done: 0,
            started: Instant::now(),
            elapsed: None,
            cancel_asked: false,
            stopped: 0,
            cancelled: false,
            final_rate: None,
        }
    }

    /// The user asked to cancel: what ends with an error from now on was stopped by it.
    pub fn cancel_asked(&mut self) {
        self.cancel_asked = true;
    }

    /// Nothing planned yet: no strip, image or frame handed out.
    fn planned_nothing(&self) -> bool {
        self.total == 0 && self.video.is_none() && self.items.is_empty()
    }

    /// A batch was planned: `already_done[i]` tells which items an earlier run finished.
    pub fn planned(&mut self, already_done: &[bool]) {
        self.items =
            already_done.iter().map(|&d| if d { ItemState::AlreadyDone } else { ItemState::Waiting }).collect();
        self.total = already_done.iter().filter(|d| !**d).count();
    }

    /// A video job was planned: `frames` frames to filter.
    pub fn video_planned(&mut self, frames: usize) {
        self.video = Some((frames, FramesDone::default()));
    }

    /// A chunk of frames was given to a rank, moved on, or ended: the frames done, and the rank's
    /// line ("frames 49–96: 12 done").
    pub fn apply_video(&mut self, event: &VideoEvent) {
        let Some((_, done)) = &mut self.video else { return };
        self.frames_done = done.apply(event);
        match event {
            VideoEvent::ChunkAssigned { rank, chunk } => {
                let work = format!("frames {}–{}", chunk.start + 1, chunk.start + chunk.frames);
                self.unit_started(*rank, work, chunk.frames);
            }
            VideoEvent::Frames { rank, frames, .. } => {
                if let Some(r) = self.ranks.get_mut(*rank).filter(|r| r.busy_since.is_some() && r.strip_rows > 0) {
                    r.strip_fraction = Some((*frames as f32 / r.strip_rows as f32).min(1.0));
                }
            }
            VideoEvent::ChunkDone { rank, secs, error, .. } => {
                // Frames done come from `FramesDone`, not from the chunk's size.
                self.unit_done(*rank, *secs, error.as_deref());
            }
        }
    }

    pub fn apply(&mut self, event: &Progress) {
        let now = Instant::now();
        match event {
            Progress::RowsAssigned { rank, start, end } => {
                self.rows_total += end - start;
                self.unit_started(*rank, format!("rows {start}..{end}"), end - start);
            }
            Progress::StripProgress { rank, fraction } => {
                if let Some(r) = self.ranks.get_mut(*rank).filter(|r| r.busy_since.is_some()) {
                    r.strip_fraction = Some(fraction.clamp(0.0, 1.0) as f32);
                }
            }
            Progress::RowsDone { rank, secs, error } => {
                self.rows_finished += self.unit_done(*rank, *secs, error.as_deref());
            }
            Progress::ItemAssigned { rank, index } => {
                if let Some(item) = self.items.get_mut(*index) {
                    *item = ItemState::Running { rank: *rank };
                }
                if let Some(r) = self.ranks.get_mut(*rank) {
                    r.work = format!("image {}", index + 1);
                    r.busy_since = Some(now);
                }
            }
            Progress::ItemDone { rank, index, secs, error } => {
                let stopped = error.is_some() && self.cancel_asked;
                if stopped {
                    self.stopped += 1;
                } else {
                    self.finished += 1;
                    self.failed += usize::from(error.is_some());
                }
                if let Some(item) = self.items.get_mut(*index) {
                    *item = match error {
                        Some(_) if stopped => ItemState::Waiting,
                        Some(e) => ItemState::Failed(e.clone()),
                        None => ItemState::Done { rank: *rank, secs: *secs },
                    };
                }
                if let Some(r) = self.ranks.get_mut(*rank) {
                    r.busy_since = None;
                    r.last_secs = Some(*secs);
                    r.finished += 1;
                }
            }
        }
    }

    /// A rank was given a strip of `rows` rows or a chunk of as many frames, described by `work`.
    fn unit_started(&mut self, rank: usize, work: String, rows: usize) {
        self.total += 1;
        if let Some(r) = self.ranks.get_mut(rank) {
            r.work = work;
            r.busy_since = Some(Instant::now());
            r.strip_rows = rows;
            r.strip_fraction = None;
        }
    }

    /// A rank's strip or chunk ended (failed with `error`): the rank is idle again. Returns the
    /// rows (or frames) it had been given.
    /// A piece stopped by a cancel counts as neither done nor failed; the rank says "cancelled".
    fn unit_done(&mut self, rank: usize, secs: f64, error: Option<&str>) -> usize {
        let stopped = error.is_some() && self.cancel_asked;
        if stopped {
            self.stopped += 1;
        } else {
            self.finished += 1;
            self.failed += usize::from(error.is_some());
        }
        let Some(r) = self.ranks.get_mut(rank) else { return 0 };
        r.strip_fraction = None;
        r.busy_since = None;
        r.last_secs = Some(secs);
        match error {
            Some(_) if stopped => r.work = format!("{}: cancelled", r.work),
            Some(e) => {
                r.finished += 1;
                r.work = format!("failed: {e}");
            }
            None => r.finished += 1,
        }
        let rows = std::mem::take(&mut r.strip_rows);
        if stopped {
            0
        } else {
            rows
        }
    }

    /// The job ended (`cancelled`: because the user cancelled it): every rank is idle; a rank
    /// still busy says it was stopped.
    pub fn end(&mut self, cancelled: bool) {
        self.elapsed = Some(self.started.elapsed());
        self.cancelled = cancelled;
        for r in &mut self.ranks {
            if r.busy_since.take().is_some() && cancelled {
                r.work = format!("{}: cancelled", r.work);
            }
            r.strip_fraction = None;
        }
    }

    /// A video job ended: its summary's pace and time are the bar's, so both say one number.
    pub fn end_video(&mut self, cancelled: bool, frames_per_sec: f64, wall_secs: f64) {
        self.end(cancelled);
        self.final_rate = Some(frames_per_sec);
        self.elapsed = Some(Duration::from_secs_f64(wall_secs.max(0.0)));
    }

    /// 0 to 1, as the bar shows it: [`JobProgress::share_done`], at most [`RUNNING_CAP`] until the
    /// job ended, and 1 once it ended complete.
    pub fn fraction(&self) -> f32 {
        match self.elapsed {
            None => self.share_done().min(RUNNING_CAP),
            Some(_) if !self.cancelled && self.failed == 0 && !self.planned_nothing() => 1.0,
            Some(_) => self.share_done(),
        }
    }

    /// 0 to 1. One image: rows delivered plus each busy rank's reported share of its strip, over
    /// all rows (without reports it moves strip by strip). A batch: images finished.
    fn share_done(&self) -> f32 {
        if let Some((frames, _)) = self.video {
            if frames == 0 {
                0.0
            } else {
                (self.frames_done as f32 / frames as f32).min(1.0)
            }
        } else if self.rows_total > 0 {
            let partial: f32 = self
                .ranks
                .iter()
                .filter(|r| r.busy_since.is_some())
                .map(|r| r.strip_rows as f32 * r.strip_fraction.unwrap_or(0.0))
                .sum();
            ((self.rows_finished as f32 + partial) / self.rows_total as f32).min(1.0)
        } else if self.total == 0 {
            0.0
        } else {
            self.finished as f32 / self.total as f32
        }
    }

    /// Time left, from the pace so far: known once the job has run half a second and done 2 %,
    /// and until the bar reaches its cap (then it is "finishing").
    pub fn eta(&self) -> Option<Duration> {
        let (f, elapsed) = (self.fraction() as f64, self.started.elapsed());
        (self.elapsed.is_none() && elapsed >= Duration::from_millis(500) && (0.02..RUNNING_CAP as f64).contains(&f))
            .then(|| elapsed.mul_f64((1.0 - f) / f))
    }

    /// The bar's text without its times, for the log the e2e test reads: "47 % · 1/3 strips",
    /// "starting", "cancelled · 1/3 strips done", "3/3 strips".
    pub fn headline(&self, batch: bool) -> String {
        let what = if batch { "images" } else { "strips" };
        let failed = if self.failed > 0 { format!(", {} failed", self.failed) } else { String::new() };
        let running = self.elapsed.is_none();
        if let Some((frames, _)) = self.video {
            let done = format!("{}/{frames} frames{}", self.frames_done, self.video_failed());
            // Short, to fit the bar, which shows the share.
            return match (running, self.cancelled) {
                (true, _) => done,
                (false, true) => format!("cancelled · {done} done"),
                (false, false) => done,
            };
        }
        match (running, self.cancelled) {
            (true, _) if self.planned_nothing() => "starting".into(),
            (true, _) => {
                format!("{:.0} % · {}/{} {what}{failed}", self.fraction() * 100.0, self.finished, self.total)
            }
            (false, true) => format!("cancelled · {}/{} {what} done{failed}", self.finished, self.total),
            (false, false) => format!("{}/{} {what}{failed}", self.finished, self.total),
        }
    }

    fn video_failed(&self) -> String {
        match self.failed {
            0 => String::new(),
            n => format!(", {n} chunk(s) failed"),
        }
    }

    /// The bar's text: "47 % · 1/3 strips · 2.1 s · about 3 s left" while it runs (or "starting ·
    /// 0.2 s" before the first piece is handed out, "… · finishing" once the ranks' reports reach
    /// the cap), "7/7 images, 1 failed, in 0.39 s" or "cancelled · 1/3 strips done, after 2.10 s"
    /// once it ended; a video's adds its pace.
    pub fn summary(&self, batch: bool) -> String {
        let head = self.headline(batch);
        let secs = self.elapsed.unwrap_or_else(|| self.started.elapsed()).as_secs_f64();
        let rate = self.final_rate.unwrap_or(if secs > 0.0 { self.frames_done as f64 / secs } else { 0.0 });
        let rate = if self.video.is_some() { format!(" · {rate:.1} frames/s") } else { String::new() };
        match self.elapsed {
            Some(_) if self.cancelled => format!("{head}{rate}, after {secs:.2} s"),
            Some(_) => format!("{head}{rate}, in {secs:.2} s"),
            // A video's: short, to fit the bar.
            None if self.video.is_some() => match self.eta() {
                Some(left) => format!("{head}{rate} · {} left", words_for(left)),
                None => format!("{head}{rate}"),
            },
            None => {
                let mut text = format!("{head}{rate} · {secs:.1} s");
                match self.eta() {
                    Some(left) => text.push_str(&format!(" · about {} left", words_for(left))),
                    None if self.share_done() >= RUNNING_CAP => text.push_str(" · finishing"),
                    None => {}
                }
                text
            }
        }
    }
}

impl RankActivity {
    /// The rank's line in the live view: "rows 0..540: 270 done · 1.2 s" (rows of its strip done,
    /// as it reports them), "image 3 (0.4 s)", "rows 0..540 · 1 done".
    pub fn describe(&self) -> String {
        match (self.busy_since, self.strip_fraction) {
            (Some(t), Some(f)) => {
                let done = (self.strip_rows as f32 * f).round() as usize;
                format!("{}: {done} done · {:.1} s", self.work, t.elapsed().as_secs_f32())
            }
            (Some(t), None) => format!("{} ({:.1} s)", self.work, t.elapsed().as_secs_f32()),
            (None, _) => format!("{} · {} done", self.work, self.finished),
        }
    }
}

/// "4 s", "2 min 5 s".
fn words_for(d: Duration) -> String {
    let s = d.as_secs_f64().round().max(1.0) as u64;
    if s < 60 {
        format!("{s} s")
    } else {
        format!("{} min {} s", s / 60, s % 60)
    }
}

#[cfg(test)]
#[path = "progress_tests.rs"]
mod tests;
