//! imgproc: exact distributed image filtering over MPI.
//!
//! The pure core (`image`, `ops`, `chain`, `split`, `exec`, `global`, `codec`) knows nothing of MPI;
//! `master`, `worker` and `protocol` move its values between ranks; `cli` and `gui` are front ends.

pub mod chain;
pub mod codec;
pub mod exec;
pub mod global;
pub mod image;
pub mod ops;
pub mod split;
pub mod protocol;
pub mod batch;
pub mod journal;
pub mod master;
pub mod worker;
pub mod cli;
pub mod commands;
pub mod gui;
pub mod report;
pub mod synth;
