//! `imgproc serve`: rank 0 as a web server. A face like the GUI: the HTTP side (axum on tokio,
//! its own threads) turns requests into jobs in the store; one dispatcher thread runs them on
//! the ranks through the coordinator's request channel, so every MPI call stays on the MPI
//! thread. Workers rest between jobs as they do under the GUI.
//!
//! ```text
//! HTTP (routes) ──▶ store (SQLite, files under --data) ◀── dispatcher ──▶ coordinator ⇄ ranks
//!        ▲                                                    │
//!        └──────────── changes (watch) ◀──────────────────────┘   (event streams wake up)
//! ```
//!
//! The API is `docs/API.md`; the page (`page.rs`) is a thin client of it.

mod access;
mod archive;
mod auth;
mod changes;
mod dispatcher;
mod error;
mod events;
mod fair;
mod group;
mod health;
mod http;
mod info;
mod intake;
mod janitor;
mod metrics;
mod model;
mod page;
mod routes;
mod served_model;
mod state;
mod store;
mod upload;
mod whatis;

pub use auth::add_user;

use crate::cli::ServeArgs;
use crate::coordinator::{Coordinator, Request};
use anyhow::{Context, Result};
use metrics::Metrics;
use state::{Health, Limits, Shared};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use store::{Layout, Store};

/// Runs the server until SIGINT or SIGTERM; on the other ranks serves as a worker.
pub fn main(args: &ServeArgs) -> Result<()> {
    // mpirun passes SIGINT and SIGTERM to every rank: the workers must not die of it while rank 0
    // lets the running batch yield and then shuts them down (rank 0's HTTP side hears it too).
    let heard = Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&heard)).context("installing the signal handlers")?;
    }
    let Some(mut coordinator) = Coordinator::start()? else { return Ok(()) };
    let result = serve(args, &coordinator);
    coordinator.shut_down();
    result
}

fn serve(args: &ServeArgs, coordinator: &Coordinator) -> Result<()> {
    let layout = Layout { root: std::path::absolute(&args.data)? };
    std::fs::create_dir_all(layout.root.join("jobs"))
        .with_context(|| format!("{}: cannot create", layout.root.display()))?;
    let users = match &args.users {
        Some(path) => auth::Users::load(path)?,
        None => auth::Users::open_to_all(),
    };
    let limits = Limits {
        max_pixels: args.max_pixels,
        file_bytes: args.max_file_bytes,
        job_bytes: args.max_job_bytes,
        max_files: args.max_files,
        user_jobs: args.max_user_jobs,
        user_bytes: args.max_user_bytes,
        idle: Duration::from_secs(args.idle_timeout),
    };
    let model = served_model::ServedModel::load(args).context("--model")?;
    let http_store = Store::open(&layout.database(), true)?;
    let dispatcher_store = Store::open(&layout.database(), false)?;
    janitor::remove_orphans(&layout, &http_store)?;
    let (kicks_tx, kicks) = std::sync::mpsc::channel();
    let shared = Arc::new(Shared {
        layout,
        limits,
        users,
        ranks: coordinator.ranks.clone(),
        keep: Duration::from_secs(args.keep),
        store: http_store,
        running: Mutex::new(None),
        health: Health { last: Mutex::new(Instant::now()) },
        metrics: Metrics::new(coordinator.ranks.len()),
        changes: Default::default(),
        kicks: Mutex::new(kicks_tx),
        stopping: std::sync::atomic::AtomicBool::new(false),
        model,
        classify_wait: Duration::from_secs(args.classify_wait),
    });
    let requests = coordinator.requests().context("the MPI thread has stopped")?;
    // The first job should not wait for the ranks to load OpenCV's codecs.
    let _ = requests.send(Request::Warm);
    let for_dispatcher = Arc::clone(&shared);
    let dispatcher = std::thread::Builder::new()
        .name("job-dispatcher".into())
        .spawn(move || dispatcher::run(for_dispatcher, dispatcher_store, requests, kicks))
        .context("starting the dispatcher")?;
    let result = http::serve(Arc::clone(&shared), &args.listen);
    // Stopping: the running batch yields (its finished images are journaled; the next start
    // goes on from there), then the dispatcher ends once its channel closes.
    shared.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    if let Some(r) = shared.running().as_ref() {
        r.pause.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    *shared.kicks.lock().unwrap_or_else(|e| e.into_inner()) = std::sync::mpsc::channel().0;
    let _ = dispatcher.join();
    result
}
