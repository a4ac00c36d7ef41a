//! The messages ranks exchange: tags, the typed command rank 0 broadcasts, and helpers that move
//! JSON headers and raw pixel buffers. Only this module, `master` and `worker` touch MPI.
//!
//! Shape of a job: rank 0 broadcasts a [`Command`]; every worker takes part until the job ends and
//! then waits for the next command. Pixels travel as raw contiguous bytes, in chunks of at most
//! 1 GiB because MPI counts are 32-bit; small structured headers travel as JSON.

use crate::chain::OpChain;
use crate::split::Strip;
use mpi::topology::{Process, SimpleCommunicator};
use mpi::traits::*;
use mpi::Tag;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Input rows of one strip, rank 0 → worker.
pub const TAG_STRIP: Tag = 10;
/// A worker's result header ([`StripResult`]), worker → rank 0.
pub const TAG_RESULT: Tag = 11;
/// A worker's result rows, worker → rank 0.
pub const TAG_RESULT_ROWS: Tag = 12;
/// Hysteresis request (worker → rank 0) and reply (rank 0 → worker).
pub const TAG_HYSTERESIS: Tag = 13;
/// Batch messages worker → rank 0 ([`BatchUp`]).
pub const TAG_BATCH_UP: Tag = 20;
/// Encoded result bytes of a batch image, worker → rank 0.
pub const TAG_BATCH_UP_BYTES: Tag = 21;
/// Batch messages rank 0 → worker ([`BatchDown`]).
pub const TAG_BATCH_DOWN: Tag = 22;
/// Encoded input bytes of a batch image, rank 0 → worker.
pub const TAG_BATCH_DOWN_BYTES: Tag = 23;
/// A worker introduces itself at start-up ([`RankInfo`]).
pub const TAG_HELLO: Tag = 30;

/// Largest piece of a buffer sent in one MPI message.
const CHUNK: usize = 1 << 30;

/// What rank 0 asks every worker to do next.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Filter one image split by rows.
    Image(ImageJob),
    /// Filter many images, handed out one at a time.
    Batch(BatchJob),
    /// Leave the worker loop; the process then exits 0.
    Shutdown,
}

/// One image split by rows: every rank gets the plan and finds its own strip in it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageJob {
    pub chain: OpChain,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    /// Indexed by rank.
    pub strips: Vec<Strip>,
}

/// A batch: the chain and how images travel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchJob {
    pub chain: OpChain,
    pub max_pixels: u64,
    /// When set, every rank sees the files (shared storage): workers read inputs and write outputs
    /// themselves and only indices travel. Otherwise encoded bytes travel through rank 0.
    pub shared_files: bool,
}

/// Who a rank is, for the status bar and the report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RankInfo {
    pub rank: usize,
    pub host: String,
    pub cores: usize,
}

/// Timings and volumes of one rank in one job (seconds and bytes).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RankStats {
    pub rank: usize,
    pub host: String,
    /// Rows owned (one image) or images done (batch).
    pub rows: Option<(usize, usize)>,
    pub images: usize,
    pub read_secs: f64,
    /// Rank 0: sending strips or input files; workers: receiving them.
    pub send_secs: f64,
    pub compute_secs: f64,
    /// Time in global steps (histogram, hysteresis), waiting for the slowest rank included.
    pub global_secs: f64,
    /// Rank 0: receiving result rows or files (the transfers alone); workers: sending them.
    pub collect_secs: f64,
    /// Rank 0, one image: idle after its own strip, waiting for the slowest worker to finish.
    pub wait_secs: f64,
    pub write_secs: f64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// A worker's answer at the end of an image job; rows follow when `error` is `None`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StripResult {
    pub error: Option<String>,
    pub stats: RankStats,
}

/// Rank 0 → worker in a batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum BatchDown {
    /// Do item `index`. With shared files the worker reads `input` and writes `output`; otherwise
    /// `bytes` encoded bytes follow and the result is encoded as `format`.
    Work { index: usize, input: PathBuf, output: PathBuf, format: String, bytes: Option<usize> },
    /// No more work in this batch.
    Finish,
}

/// Worker → rank 0 in a batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum BatchUp {
    /// Item `index` is finished; with `Ok(Some(n))`, `n` encoded bytes follow.
    Done { index: usize, result: Result<Option<usize>, String>, secs: f64 },
    /// The worker's totals, after `Finish`.
    Stats(RankStats),
}

/// Serialises `value` as JSON and sends it.
pub fn send_json<T: Serialize>(to: &Process<'_>, tag: Tag, value: &T) {
    let bytes = serde_json::to_vec(value).expect("protocol messages always serialise");
    to.send_with_tag(&bytes[..], tag);
}

/// Receives one JSON message from `from` (any rank when `None`); returns it and the sender.
pub fn receive_json<T: DeserializeOwned>(
    world: &SimpleCommunicator,
    from: Option<i32>,
    tag: Tag,
) -> anyhow::Result<(T, i32)> {
    let (bytes, status) = match from {
        Some(r) => world.process_at_rank(r).receive_vec_with_tag::<u8>(tag),
        None => world.any_process().receive_vec_with_tag::<u8>(tag),
    };
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("malformed message with tag {tag} from rank {}: {e}", status.source_rank()))?;
    Ok((value, status.source_rank()))
}

/// Sends a buffer of any size as consecutive chunks; the receiver must know its length.
pub fn send_bytes(to: &Process<'_>, tag: Tag, bytes: &[u8]) {
    for chunk in bytes.chunks(CHUNK) {
        to.send_with_tag(chunk, tag);
    }
}

/// Receives a buffer sent by [`send_bytes`] into `buf`, whose length must match.
pub fn receive_bytes(from: &Process<'_>, tag: Tag, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(CHUNK) {
        from.receive_into_with_tag(chunk, tag);
    }
}

/// Rank 0 broadcasts a command; workers receive it.
pub fn broadcast_command(world: &SimpleCommunicator, command: Option<&Command>) -> anyhow::Result<Command> {
    let root = world.process_at_rank(0);
    let mut bytes = command.map(|c| serde_json::to_vec(c).expect("commands serialise")).unwrap_or_default();
    let mut len = bytes.len() as u64;
    root.broadcast_into(&mut len);
    bytes.resize(len as usize, 0);
    root.broadcast_into(&mut bytes[..]);
    Ok(serde_json::from_slice(&bytes)?)
}

/// Sums every rank's histogram. A rank passes `None` when it failed; then everyone gets `None`
/// (an extra counter travels with the bins), so all ranks abandon the job at the same step.
pub fn all_reduce_histogram(world: &SimpleCommunicator, local: Option<&[u64; 256]>) -> Option<[u64; 256]> {
    let mut mine = [0u64; 257];
    match local {
        Some(h) => mine[..256].copy_from_slice(h),
        None => mine[256] = 1,
    }
    let mut total = [0u64; 257];
    world.all_reduce_into(&mine[..], &mut total[..], mpi::collective::SystemOperation::sum());
    (total[256] == 0).then(|| total[..256].try_into().expect("256 bins"))
}

/// This process's host name as MPI reports it.
pub fn host_name() -> String {
    mpi::environment::processor_name().unwrap_or_else(|_| "unknown".into())
}
