//! imgproc: exact distributed image filtering over MPI.
//!
//! Layers, each using only the ones below it (docs/ARCHITECTURE.md has the map):
//! - faces: `commands` (the CLI) and `gui` (the desktop window) turn their input into a job
//!   request and render its events and summary; neither imports the other;
//! - jobs: `jobs` (image, batch, video): prepared, run and summarised one way for every face;
//!   `coordinator` runs them on the MPI thread for a face that lives on other threads;
//! - engine: `master` (rank 0) and `worker` (ranks ≥ 1) over `protocol`'s MPI wire;
//! - core, pure and built without MPI or GTK (`--no-default-features`): `ops`, `chain`,
//!   `split`, `exec`, `global`, `edges`, `substrips`, `stream_plan`, `scheduler`, `pieces`,
//!   `rows`, `row_source`, `codec`, `cvio` (OpenCV's codecs and video capture, loaded when
//!   first used), `batch`, `batch_work`, `journal`, `classify` (ONNX models through OpenCV
//!   DNN), `video`, `model`, the message types of `protocol`, and the small facts modules
//!   (`cancel`, `process`, `threads`, `reach`).

pub mod arriving;
pub mod batch;
pub mod batch_work;
pub mod cancel;
pub mod chain;
pub mod classify;
pub mod cli;
pub mod codec;
#[cfg(feature = "mpi")]
pub mod commands;
#[cfg(feature = "mpi")]
pub mod coordinator;
pub mod cvio;
pub mod edges;
pub mod exec;
pub mod file_layout;
pub mod formats;
pub mod global;
#[cfg(feature = "gui")]
pub mod gui;
pub mod image;
pub mod image_info;
#[cfg(feature = "mpi")]
pub mod jobs;
pub mod journal;
#[cfg(feature = "mpi")]
pub mod master;
pub mod model;
pub mod ops;
pub mod pieces;
pub mod process;
pub mod protocol;
pub mod reach;
pub mod row_source;
pub mod rows;
pub mod scheduler;
#[cfg(feature = "server")]
pub mod server;
mod shim;
pub mod split;
pub mod stream_plan;
pub mod substrips;
pub mod synth;
pub mod threads;
pub mod video;
#[cfg(feature = "mpi")]
pub mod worker;
