//! `imgproc classify`: the CLI face of a classify job (see `jobs::classify`).

use super::report::{on_progress, print_summary, progress_bar};
use crate::classify::spec::SpecFlags;
use crate::cli::ClassifyArgs;
use crate::jobs::classify::{self, ClassifyRequest};
use crate::jobs::JobError;
use crate::master::Master;
use anyhow::{ensure, Result};
use std::sync::atomic::AtomicBool;

pub fn run_classify(master: &Master, args: &ClassifyArgs, cancel: &AtomicBool) -> Result<()> {
    let req = ClassifyRequest {
        inputs: args.inputs.clone(),
        results: args.output.clone(),
        model: args.model.clone(),
        flags: SpecFlags { sidecar: args.sidecar.clone(), labels: args.labels.clone(), top_k: args.top_k },
        batch_size: args.batch_size,
        max_pixels: args.max_pixels,
        shared_dir: args.shared_dir.clone(),
        send_files: args.send_files,
        coordinator_only: args.coordinator_only,
    };
    let prepared = classify::prepare(&req)?;
    let bar = progress_bar(prepared.pending(), "images");
    let run = classify::run(master, prepared, &mut on_progress(&bar), cancel, &AtomicBool::new(false))?;
    bar.finish_and_clear();
    print_summary(&run.summary, args.json);
    if let Some(ev) = &run.summary.evaluation {
        eprintln!(
            "imgproc: accuracy over {} image(s) of class folders: top-1 {:.2}%, top-5 {:.2}%",
            ev.images,
            ev.top1 * 100.0,
            ev.top5 * 100.0
        );
        for c in &ev.confusions {
            eprintln!("imgproc:   {} taken for {}: {} time(s)", c.truth, c.predicted, c.count);
        }
        if !ev.unknown_folders.is_empty() {
            eprintln!("imgproc:   folders that match no label (left out): {}", ev.unknown_folders.join(", "));
        }
    }
    let outcome = run.outcome;
    if outcome.cancelled {
        let rest = "run the same command again to classify the rest";
        return Err(JobError::Cancelled(format!("{} image(s) done, {rest}", outcome.done)).into());
    }
    ensure!(outcome.failed.is_empty(), JobError::ImagesFailed(outcome.failed.len()));
    Ok(())
}
