//! imgproc: exact distributed image filtering over MPI.
//!
//! The pure core (`image`, `ops`, `chain`, `split`, `exec`, `global`, `codec`, `scheduler`,
//! `model`, `threads`, `pieces`, `rows`, `feed`, `reach`) knows nothing of MPI; `master`, `worker`
//! and `protocol` move its values between ranks; `cli` and `gui` are front ends.

pub mod batch;
pub mod chain;
pub mod cli;
pub mod codec;
pub mod commands;
pub mod edges;
pub mod exec;
pub mod feed;
pub mod global;
pub mod gui;
pub mod image;
pub mod incoming;
pub mod journal;
pub mod master;
pub mod model;
pub mod ops;
pub mod pieces;
pub mod protocol;
pub mod reach;
pub mod report;
pub mod rows;
pub mod scheduler;
mod shim;
pub mod split;
pub mod substrips;
pub mod synth;
pub mod threads;
pub mod video;
pub mod worker;
