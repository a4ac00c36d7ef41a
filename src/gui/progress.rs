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
}

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
        }
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
                self.finished += 1;
                self.failed += usize::from(error.is_some());
                if let Some(item) = self.items.get_mut(*index) {
                    *item = match error {
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
    fn unit_done(&mut self, rank: usize, secs: f64, error: Option<&str>) -> usize {
        self.finished += 1;
        self.failed += usize::from(error.is_some());
        let Some(r) = self.ranks.get_mut(rank) else { return 0 };
        r.strip_fraction = None;
        r.busy_since = None;
        r.last_secs = Some(secs);
        r.finished += 1;
        if let Some(e) = error {
            r.work = format!("failed: {e}");
        }
        std::mem::take(&mut r.strip_rows)
    }

    /// The job ended: every rank is idle.
    pub fn end(&mut self) {
        self.elapsed = Some(self.started.elapsed());
        for r in &mut self.ranks {
            r.busy_since = None;
        }
    }

    /// 0 to 1. One image: rows delivered plus each busy rank's reported share of its strip, over
    /// all rows (without reports it moves strip by strip). A batch: images finished.
    pub fn fraction(&self) -> f32 {
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

    /// Time left, from the pace so far: known once the job has run half a second and done 2 %.
    pub fn eta(&self) -> Option<Duration> {
        let (f, elapsed) = (self.fraction() as f64, self.started.elapsed());
        (self.elapsed.is_none() && elapsed >= Duration::from_millis(500) && (0.02..1.0).contains(&f))
            .then(|| elapsed.mul_f64((1.0 - f) / f))
    }

    /// The bar's text: "47 % · 1/3 strips · 2.1 s · about 3 s left" while it runs, "7/7 images,
    /// 1 failed, in 0.39 s" once it ended.
    pub fn summary(&self, batch: bool) -> String {
        if let Some((frames, _)) = self.video {
            return self.video_summary(frames);
        }
        let what = if batch { "images" } else { "strips" };
        let failed = if self.failed > 0 { format!(", {} failed", self.failed) } else { String::new() };
        match self.elapsed {
            Some(d) => format!("{}/{} {what}{failed}, in {:.2} s", self.finished, self.total, d.as_secs_f32()),
            None => {
                let mut text = format!(
                    "{:.0} % · {}/{} {what}{failed} · {:.1} s",
                    self.fraction() * 100.0,
                    self.finished,
                    self.total,
                    self.started.elapsed().as_secs_f32()
                );
                if let Some(left) = self.eta() {
                    text.push_str(&format!(" · about {} left", words_for(left)));
                }
                text
            }
        }
    }
}

impl JobProgress {
    /// "8/20 frames · 5.3 frames/s · 2 s left" while it runs (short: it fits the bar; the bar
    /// shows the share done); "20/20 frames, 1 chunk(s) failed, 5.1 frames/s, in 3.90 s" once it
    /// ended.
    fn video_summary(&self, frames: usize) -> String {
        let secs = self.elapsed.unwrap_or_else(|| self.started.elapsed()).as_secs_f64();
        let rate = if secs > 0.0 { self.frames_done as f64 / secs } else { 0.0 };
        let failed = match self.failed {
            0 => String::new(),
            n => format!(", {n} chunk(s) failed"),
        };
        if self.elapsed.is_some() {
            return format!("{}/{frames} frames{failed}, {rate:.1} frames/s, in {secs:.2} s", self.frames_done);
        }
        let mut text = format!("{}/{frames} frames{failed} · {rate:.1} frames/s", self.frames_done);
        if let Some(left) = self.eta() {
            text.push_str(&format!(" · {} left", words_for(left)));
        }
        text
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
mod tests {
    use super::*;

    #[test]
    fn time_left_follows_the_pace_so_far_and_shows_once_it_means_something() {
        let mut p = JobProgress::new(&ranks(1));
        p.apply(&Progress::RowsAssigned { rank: 0, start: 0, end: 100 });
        p.apply(&Progress::StripProgress { rank: 0, fraction: 0.25 });
        assert_eq!(p.eta(), None, "too early to tell");
        p.started -= Duration::from_secs(3);
        let left = p.eta().unwrap().as_secs_f64();
        assert!((8.9..9.2).contains(&left), "3 s for 25 %: about 9 s left, not {left}");
        assert!(p.summary(false).starts_with("25 % · 0/1 strips · 3.0 s · about 9 s left"), "{}", p.summary(false));
        assert_eq!(p.ranks[0].describe(), "rows 0..100: 25 done · 0.0 s");
        p.end();
        assert_eq!(p.eta(), None);
    }

    fn ranks(n: usize) -> Vec<RankInfo> {
        (0..n).map(|rank| RankInfo { rank, host: format!("h{rank}"), cores: 2 }).collect()
    }

    #[test]
    fn image_progress_counts_assigned_strips_and_tracks_each_rank() {
        let mut p = JobProgress::new(&ranks(2));
        p.apply(&Progress::RowsAssigned { rank: 0, start: 0, end: 50 });
        p.apply(&Progress::RowsAssigned { rank: 1, start: 50, end: 100 });
        assert_eq!((p.total, p.fraction()), (2, 0.0));
        assert_eq!(p.ranks[1].work, "rows 50..100");
        assert!(p.ranks[1].busy_since.is_some());
        p.apply(&Progress::RowsDone { rank: 1, secs: 0.25, error: None });
        assert_eq!(p.fraction(), 0.5);
        assert_eq!((p.ranks[1].last_secs, p.ranks[1].busy_since), (Some(0.25), None));
    }

    #[test]
    fn strip_progress_moves_the_bar_inside_one_image_and_is_forgotten_when_the_strip_ends() {
        let mut p = JobProgress::new(&ranks(2));
        p.apply(&Progress::RowsAssigned { rank: 0, start: 0, end: 100 });
        p.apply(&Progress::RowsAssigned { rank: 1, start: 100, end: 300 });
        p.apply(&Progress::StripProgress { rank: 1, fraction: 0.5 });
        assert_eq!(p.ranks[1].strip_fraction, Some(0.5));
        assert_eq!(p.ranks[0].strip_fraction, None, "no report yet: unknown, not 0 %");
        assert_eq!(p.fraction(), 100.0 / 300.0);
        p.apply(&Progress::RowsDone { rank: 0, secs: 0.1, error: None });
        assert_eq!(p.fraction(), 200.0 / 300.0);
        p.apply(&Progress::RowsDone { rank: 1, secs: 0.2, error: None });
        assert_eq!((p.fraction(), p.ranks[1].strip_fraction), (1.0, None));
        // A late report after the strip was delivered changes nothing.
        p.apply(&Progress::StripProgress { rank: 1, fraction: 0.9 });
        assert_eq!((p.fraction(), p.ranks[1].strip_fraction), (1.0, None));
    }

    #[test]
    fn video_progress_counts_frames_of_running_and_finished_chunks_with_rate_and_time_left() {
        use crate::video::Chunk;
        let mut p = JobProgress::new(&ranks(2));
        p.video_planned(20);
        let (a, b) = (Chunk { index: 0, start: 0, frames: 10 }, Chunk { index: 1, start: 10, frames: 10 });
        p.apply_video(&VideoEvent::ChunkAssigned { rank: 0, chunk: a });
        p.apply_video(&VideoEvent::ChunkAssigned { rank: 1, chunk: b });
        p.apply_video(&VideoEvent::Frames { rank: 1, index: 1, frames: 4 });
        assert_eq!(p.fraction(), 0.2);
        assert_eq!(p.ranks[1].describe(), "frames 11–20: 4 done · 0.0 s");
        p.started -= Duration::from_secs(2);
        assert!(p.summary(false) == "4/20 frames · 2.0 frames/s · 8 s left", "{}", p.summary(false));
        p.apply_video(&VideoEvent::ChunkDone { rank: 0, chunk: a, secs: 2.0, error: None });
        p.apply_video(&VideoEvent::ChunkDone {
            rank: 1,
            chunk: b,
            secs: 2.0,
            error: Some("v.mp4 (frame 13): corrupt".into()),
        });
        assert_eq!((p.fraction(), p.failed), (0.5, 1), "a failed chunk's frames are not done");
        assert_eq!(p.ranks[1].work, "failed: v.mp4 (frame 13): corrupt");
        p.end();
        assert!(
            p.summary(false).starts_with("10/20 frames, 1 chunk(s) failed, 5.0 frames/s, in 2.00 s"),
            "{}",
            p.summary(false)
        );
    }

    #[test]
    fn batch_progress_skips_already_done_items_and_lists_failures() {
        let mut p = JobProgress::new(&ranks(2));
        p.planned(&[true, false, false]);
        assert_eq!(p.total, 2);
        p.apply(&Progress::ItemAssigned { rank: 1, index: 1 });
        assert_eq!(p.items[1], ItemState::Running { rank: 1 });
        p.apply(&Progress::ItemDone { rank: 1, index: 1, secs: 1.0, error: None });
        p.apply(&Progress::ItemDone { rank: 0, index: 2, secs: 0.1, error: Some("b.png: corrupt".into()) });
        assert_eq!(p.items[0], ItemState::AlreadyDone);
        assert_eq!((p.fraction(), p.failed), (1.0, 1));
        p.end();
        assert_eq!(p.summary(true), format!("2/2 images, 1 failed, in {:.2} s", p.elapsed.unwrap().as_secs_f32()));
        assert_eq!(p.ranks[1].finished, 1);
    }
}
