//! The desktop GUI on rank 0: `imgproc` with no subcommand (or `imgproc gui`) under `mpirun`.
//!
//! Threads: the window (winit's event loop) runs on the main thread; MPI is initialised on the
//! coordinator thread and every MPI call stays there (`coordinator`). Ranks ≥ 1 never open a
//! window: they serve as workers until rank 0 closes, then exit, so `mpirun` exits 0.

pub mod actions;
pub mod app;
pub mod batch_view;
pub mod chain_editor;
pub mod classify;
pub mod classify_results;
pub mod controls;
pub mod display_lost;
pub mod document;
pub mod history;
pub mod job;
pub mod layout;
pub mod messages;
pub mod opening;
pub mod places;
pub mod processing;
pub mod progress;
pub mod scrubber;
pub mod settings;
pub mod video_actions;
pub mod video_doc;
pub mod video_view;
pub mod viewer;

use crate::chain::OpChain;
use crate::cli::{GuiArgs, UsageError};
use crate::coordinator::Coordinator;
use crate::jobs::JobError;
use anyhow::{anyhow, Result};
use app::GuiApp;
use settings::Settings;

/// What rank 0 says when there is no display to open the window on.
pub const NO_DISPLAY: &str = "no display to open the GUI on (DISPLAY is not set).
  Over RDP: start imgproc from a terminal inside the remote desktop session.
  Over ssh: use `ssh -X`, or run headless with the CLI:
    mpirun -hostfile hostfile imgproc run --op OP INPUT -o OUTPUT
    mpirun -hostfile hostfile imgproc batch --op OP INPUTS... -o OUT_DIR
  (`imgproc --help` lists everything)";

/// Runs the GUI on rank 0 and a worker on every other rank; returns when the window is closed
/// and every rank has shut down.
pub fn launch(args: GuiArgs) -> Result<()> {
    // Every rank checks the arguments, so a usage error stops them all before MPI starts.
    let preset = match &args.op {
        Some(spec) => Some(OpChain::parse(spec, &[]).map_err(UsageError)?),
        None => None,
    };
    let Some(mut coordinator) = Coordinator::start()? else {
        return Ok(()); // a worker whose job is over
    };
    if std::env::var_os("DISPLAY").is_none_or(|d| d.is_empty()) {
        coordinator.shut_down();
        return Err(JobError::CannotStart(anyhow!(NO_DISPLAY)).into());
    }
    let work_dir =
        eframe::storage_dir("imgproc").unwrap_or_else(|| std::env::temp_dir().join("imgproc")).join("batches");
    let jobs = coordinator.requests().ok_or_else(|| anyhow!("the MPI thread has stopped"))?;
    let ranks = coordinator.ranks.clone();
    let stopper = coordinator.stopper().ok_or_else(|| anyhow!("the MPI thread has stopped"))?;
    display_lost::on_lost(move || stopper.stop(std::time::Duration::from_secs(30)));
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title(format!("imgproc — {} rank(s)", ranks.len()))
            .with_app_id("imgproc")
            // Fits a 1280×800 screen (a small remote desktop); maximised where a window manager is.
            .with_inner_size([1280.0, 800.0])
            .with_min_inner_size([800.0, 500.0])
            .with_maximized(true)
            .with_drag_and_drop(true),
        ..Default::default()
    };
    // winit panics when the window is destroyed under it or the X connection is lost (an RDP
    // session that ends): caught here, so the job still ends cleanly and `mpirun` exits 0. The
    // window's `Drop` has cancelled a running job; its `interrupted` setting stays on disk, so the
    // next start resumes it.
    let window = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eframe::run_native(
            "imgproc",
            options,
            Box::new(move |cc| {
                // winit has opened the display (and loaded libX11) by now.
                display_lost::install();
                let mut settings = Settings::load(cc.storage);
                // The chain given with --op replaces the saved one; Ctrl+Z brings that back.
                let saved_chain = match preset {
                    Some(chain) if chain.0 != settings.chain => Some(std::mem::replace(&mut settings.chain, chain.0)),
                    _ => None,
                };
                if args.coordinator_only {
                    settings.coordinator_only = true;
                }
                if let Some(model) = &args.model {
                    settings.classify_model = Some(std::path::absolute(model).unwrap_or_else(|_| model.clone()));
                }
                if !args.inputs.is_empty() {
                    // Files named on the command line replace an interrupted job.
                    settings.interrupted = false;
                }
                let mut app = GuiApp::new(cc.egui_ctx.clone(), settings, ranks, jobs, work_dir);
                if let Some(saved) = saved_chain {
                    app.history.record(saved, false);
                }
                app.open_paths(args.inputs);
                Ok(Box::new(app))
            }),
        )
    }));
    // Lets a running job end, shuts every worker down, finalises MPI.
    coordinator.shut_down();
    match window {
        Ok(result) => result.map_err(|e| JobError::CannotStart(anyhow!("cannot open the window: {e}")).into()),
        Err(_) => {
            eprintln!(
                "imgproc gui: the window was lost (destroyed, or its display went away); every rank was shut down"
            );
            Ok(())
        }
    }
}
