//! What a job shows on the terminal: the `--json` summary on stdout, a short human summary on
//! stderr, and the progress bar (shown when the user's terminal will show it, see [`progress_bar`]).

use crate::jobs::Summary;
use crate::model::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Prints `summary`: as JSON on stdout with `json`, its failures and a line of what was done on
/// stderr.
pub fn print_summary(summary: &Summary, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(summary).expect("summaries serialise"));
    }
    for f in &summary.failed {
        // Reasons normally name the file already.
        let path = f.input.display().to_string();
        if f.reason.contains(&path) {
            eprintln!("imgproc: failed: {}", f.reason);
        } else {
            eprintln!("imgproc: failed: {path}: {}", f.reason);
        }
    }
    let where_ = summary.output.display();
    match summary.mode {
        "batch" => eprintln!(
            "imgproc: {} done, {} already done earlier, {} failed{} in {:.2} s on {} rank(s); outputs in {where_}",
            summary.done,
            summary.already_done,
            summary.failed.len(),
            if summary.cancelled { ", cancelled" } else { "" },
            summary.wall_secs,
            summary.ranks
        ),
        "classify" => eprintln!(
            "imgproc: {} classified, {} already earlier, {} failed{} in {:.2} s on {} rank(s) ({:.1} images/s); results in {where_}",
            summary.done,
            summary.already_done,
            summary.failed.len(),
            if summary.cancelled { ", cancelled" } else { "" },
            summary.wall_secs,
            summary.ranks,
            summary.images_per_sec.unwrap_or(0.0)
        ),
        _ => eprintln!("imgproc: wrote {where_} in {:.2} s on {} rank(s)", summary.wall_secs, summary.ranks),
    }
}

/// A progress bar on stderr with the rate and the time left. Shown when stderr is a terminal, or
/// when this is rank 0 under `mpirun` and mpirun's stderr is a terminal: rank 0's stderr is then
/// a pipe that mpirun copies to that terminal, escape codes and all.
pub fn progress_bar(total: usize, what: &str) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else if crate::process::launched_by_mpirun() && launcher_has_terminal() {
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
