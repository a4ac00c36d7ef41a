//! What a finished job tells the user: the `--json` summary on stdout, a short human summary on
//! stderr, and the progress bar (shown when the user's terminal will show it, see [`progress_bar`]).

use crate::model::{Progress, RankStats};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;

/// The `--json` summary.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// "image", "batch" or "reference".
    pub mode: &'static str,
    pub ok: bool,
    pub op: String,
    pub ranks: usize,
    pub hosts: Vec<String>,
    pub wall_secs: f64,
    pub output: PathBuf,
    /// Image size (one-image jobs).
    pub width: Option<usize>,
    pub height: Option<usize>,
    pub channels: Option<usize>,
    /// Batch counts.
    pub done: usize,
    pub already_done: usize,
    pub failed: Vec<Failure>,
    pub cancelled: bool,
    /// Why a batch stopped before its end (a full output disk), if it did.
    pub stopped: Option<String>,
    /// Batch: images done per second of `wall_secs` (MPI start-up excluded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images_per_sec: Option<f64>,
    pub per_rank: Vec<RankStats>,
    /// Rank 0's resident memory: before reading the input, and at its peak.
    pub rank0_start_rss_bytes: u64,
    pub rank0_peak_rss_bytes: u64,
    /// How an image was split, when it says more than rows over ranks: a resize runs on the
    /// whole image on rank 0 (see `chain::Stage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// One image: how its rows were read and written ("streamed pieces: input ranged, 2
    /// worker(s) read their own rows" or "whole").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub io: Option<String>,
    /// Seconds from this process's start until every rank was ready (MPI start-up), not part of
    /// `wall_secs`.
    pub startup_secs: f64,
}

#[derive(Debug, Serialize)]
pub struct Failure {
    pub input: PathBuf,
    pub reason: String,
}

impl Summary {
    pub fn print(&self, json: bool) {
        if json {
            println!("{}", serde_json::to_string_pretty(self).expect("summaries serialise"));
        }
        for f in &self.failed {
            // Reasons normally name the file already.
            let path = f.input.display().to_string();
            if f.reason.contains(&path) {
                eprintln!("imgproc: failed: {}", f.reason);
            } else {
                eprintln!("imgproc: failed: {path}: {}", f.reason);
            }
        }
        let where_ = self.output.display();
        match self.mode {
            "batch" => eprintln!(
                "imgproc: {} done, {} already done earlier, {} failed{} in {:.2} s on {} rank(s); outputs in {where_}",
                self.done,
                self.already_done,
                self.failed.len(),
                if self.cancelled { ", cancelled" } else { "" },
                self.wall_secs,
                self.ranks
            ),
            _ => eprintln!("imgproc: wrote {where_} in {:.2} s on {} rank(s)", self.wall_secs, self.ranks),
        }
    }
}

/// Peak and current resident set size of this process, from /proc (0 where unavailable).
pub fn rss_bytes() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// A progress bar on stderr with the rate and the time left. Shown when stderr is a terminal, or
/// when this is rank 0 under `mpirun` and mpirun's stderr is a terminal: rank 0's stderr is then
/// a pipe that mpirun copies to that terminal, escape codes and all.
pub fn progress_bar(total: usize, what: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else if crate::master::launched_by_mpirun() && launcher_has_terminal() {
        ProgressDrawTarget::term_like(Box::new(console::Term::stderr()))
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total as u64), target);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{bar:40}} {{pos}}/{{len}} {what} {{elapsed}}, {{per_sec}}, {{eta}} left {{msg}}"
        ))
        .expect("valid template"),
    );
    bar
}

/// Whether the process that started this one (mpirun, for a rank it launched on its own host)
/// writes its stderr to a terminal.
fn launcher_has_terminal() -> bool {
    let parent = std::os::unix::process::parent_id();
    std::fs::File::open(format!("/proc/{parent}/fd/2")).is_ok_and(|f| f.is_terminal())
}

/// Moves the bar as work finishes and prints failures above it. For one image the bar counts
/// rows: each rank's owned rows times the share of its strip done; for a batch, images.
pub fn on_progress(bar: &ProgressBar) -> impl FnMut(Progress) + '_ {
    // Per rank: owned rows and the share of them done.
    let mut strips: Vec<(usize, f64)> = Vec::new();
    move |p| {
        let mut set = |rank: usize, rows: Option<usize>, fraction: f64| {
            if strips.len() <= rank {
                strips.resize(rank + 1, (0, 0.0));
            }
            if let Some(rows) = rows {
                strips[rank].0 = rows;
            }
            strips[rank].1 = fraction;
            // A streamed image's size is known only once its header is read: grow to the rows assigned.
            let assigned: u64 = strips.iter().map(|&(rows, _)| rows as u64).sum();
            if bar.length().is_some_and(|len| len < assigned) {
                bar.set_length(assigned);
            }
            bar.set_position(strips.iter().map(|&(rows, f)| (rows as f64 * f) as u64).sum());
        };
        match p {
            Progress::RowsAssigned { rank, start, end } => set(rank, Some(end - start), 0.0),
            Progress::StripProgress { rank, fraction } => set(rank, None, fraction),
            Progress::RowsDone { rank, error, .. } => {
                set(rank, None, 1.0);
                if let Some(e) = error {
                    bar.set_message(format!("rank {rank}: {e}"));
                }
            }
            Progress::ItemDone { error, rank, .. } => {
                bar.inc(1);
                if let Some(e) = error {
                    bar.set_message(format!("rank {rank}: {e}"));
                }
            }
            Progress::ItemAssigned { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_bar_counts_rows_done_across_ranks() {
        let bar = ProgressBar::hidden();
        bar.set_length(100);
        let mut on = on_progress(&bar);
        on(Progress::RowsAssigned { rank: 0, start: 0, end: 60 });
        on(Progress::RowsAssigned { rank: 1, start: 60, end: 100 });
        on(Progress::StripProgress { rank: 0, fraction: 0.5 });
        assert_eq!(bar.position(), 30);
        on(Progress::RowsDone { rank: 1, secs: 1.0, error: None });
        assert_eq!(bar.position(), 70);
        on(Progress::StripProgress { rank: 0, fraction: 1.0 });
        assert_eq!(bar.position(), 100);
    }
}
