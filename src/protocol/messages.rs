//! The messages ranks exchange: their tags, the [`Command`] rank 0 sends each worker, and the
//! typed messages of each kind of job. Pure data (serde); how they travel is `wire`.
//!
//! Shape of a job: rank 0 sends each worker a [`Command`]; the worker takes part until the job
//! ends and then waits for the next command. Pixels travel as raw contiguous bytes; small
//! structured messages travel as JSON.

use crate::chain::OpChain;
use crate::model::{Failure, Produced, RankStats};
use crate::split::Strip;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// An MPI message tag (MPI's `int`).
pub type Tag = i32;

/// A command from rank 0 ([`Command`]).
pub const TAG_COMMAND: Tag = 1;
/// Rank 0 asks a worker to stop the current job or item ([`Cancel`]).
pub const TAG_CANCEL: Tag = 2;
/// Input rows of one strip, rank 0 → worker.
pub const TAG_STRIP: Tag = 10;
/// A worker's result header ([`StripResult`]), worker → rank 0.
pub const TAG_RESULT: Tag = 11;
/// A worker's result rows, worker → rank 0.
pub const TAG_RESULT_ROWS: Tag = 12;
/// Hysteresis request (worker → rank 0) and reply (rank 0 → worker).
pub const TAG_HYSTERESIS: Tag = 13;
/// Histogram contribution (worker → rank 0) and the total (rank 0 → worker).
pub const TAG_HISTOGRAM: Tag = 14;
/// How far a worker's strip is ([`StripProgress`]), worker → rank 0, a few times a second.
pub const TAG_PROGRESS: Tag = 15;
/// Batch messages worker → rank 0 ([`BatchUp`]).
pub const TAG_BATCH_UP: Tag = 20;
/// Encoded result bytes of a batch image, worker → rank 0.
pub const TAG_BATCH_UP_BYTES: Tag = 21;
/// Batch messages rank 0 → worker ([`BatchDown`]).
pub const TAG_BATCH_DOWN: Tag = 22;
/// Encoded input bytes of a batch image, rank 0 → worker.
pub const TAG_BATCH_DOWN_BYTES: Tag = 23;
/// A worker introduces itself at start-up ([`crate::model::RankInfo`]).
pub const TAG_HELLO: Tag = 30;
/// A worker's goodbye after `Shutdown` or `Leave` (worker → rank 0): it is leaving its command loop.
pub const TAG_BYE: Tag = 31;

/// What rank 0 asks a worker to do next.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Command {
    /// Use this many OpenCV threads from now on.
    Threads(usize),
    /// Filter one image split by rows.
    Image(ImageJob),
    /// Filter many images, handed out one at a time.
    Batch(BatchJob),
    /// Filter a video or frame sequence, chunk by chunk ([`VideoJob`]).
    Video(Box<VideoJob>),
    /// Load the image codecs now ([`crate::cvio::imgcodecs::preload`]), before any job needs
    /// them: a server's ranks stay up for many jobs, and the first should not pay for it.
    Warm,
    /// Leave the worker loop; the process then exits 0.
    Shutdown,
    /// Say goodbye and exit with this code at once, without finalising MPI: mpirun is ending
    /// the job (Ctrl+C to mpirun) and would not answer MPI_Finalize.
    Leave(u8),
}

/// Rank 0 → worker: stop job `job` (a batch: only item `item`, when given).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Cancel {
    pub job: u64,
    pub item: Option<usize>,
}

/// Worker → rank 0: the share of its strip's work done in job `job`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct StripProgress {
    pub job: u64,
    pub fraction: f64,
}

/// One image split by rows: every rank gets the plan and finds its own strip in it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageJob {
    /// Numbers jobs, so a late [`Cancel`] for an earlier one is recognised and ignored.
    pub id: u64,
    pub chain: OpChain,
    pub width: usize,
    pub height: usize,
    pub channels: usize,
    /// Of the input's samples (8-bit, or 16-bit when the whole chain takes them).
    #[serde(default)]
    pub depth: crate::image::Depth,
    /// Indexed by rank.
    pub strips: Vec<Strip>,
    /// Where a worker's input rows come from.
    #[serde(default)]
    pub input: StripInput,
    /// What a worker sends back.
    #[serde(default)]
    pub output: StripOutput,
    /// Rank 0's clock at the job's start (seconds since the Unix epoch): every rank's timeline
    /// is measured from it.
    #[serde(default)]
    pub t0: f64,
}

/// Where a worker's input rows come from in an image job.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub enum StripInput {
    /// Rank 0 sends them in one buffer.
    #[default]
    Sent,
    /// Rank 0 sends them as it decodes them, `chunk_rows` rows a message.
    Streamed { chunk_rows: usize },
    /// The worker reads them itself from `path` when it sees the same file there (it answers
    /// [`TAG_SOURCE`] with whether it does); otherwise rank 0 streams them as above.
    File { path: PathBuf, fingerprint: crate::row_source::Fingerprint, max_pixels: u64, chunk_rows: usize },
}

/// What a worker sends back from an image job.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub enum StripOutput {
    /// Its result rows, as pixels.
    #[default]
    Rows,
    /// Its result rows encoded as its piece of the output file.
    Piece(crate::pieces::PieceFormat),
}

/// One part of a rank's encoded piece: `len` bytes follow with [`TAG_RESULT_ROWS`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PieceHead {
    pub meta: crate::pieces::PieceMeta,
    pub len: usize,
}

/// Worker → rank 0 at the start of a [`StripInput::File`] job: whether it reads its rows itself.
pub const TAG_SOURCE: Tag = 16;
/// Worker → rank 0: a [`PieceHead`].
pub const TAG_PIECE: Tag = 17;

/// A batch: the chain, and what a worker checks to learn how its images travel.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchJob {
    pub id: u64,
    pub chain: OpChain,
    pub max_pixels: u64,
    /// What the worker checks before the first image ([`crate::reach::BatchReach::check`]) and
    /// reports in [`BatchUp::Ready`]: when it reaches the output folder and the inputs, it reads
    /// and writes its own files and only indices travel; otherwise encoded bytes travel through
    /// rank 0. `None`: the user said every node sees the files (`--shared-dir`), nothing to check.
    pub reach: Option<BatchReachCheck>,
    /// Classify each image with this model instead of filtering it with `chain`.
    #[serde(default)]
    pub classify: Option<ClassifyJob>,
}

/// A batch that classifies: the checked model, and how a worker tells it has the same file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClassifyJob {
    pub spec: crate::classify::spec::ModelSpec,
    /// Images per forward pass.
    pub batch: usize,
    /// Of the model file on rank 0: a worker that finds the same at the same path loads it
    /// from there; otherwise it asks for the bytes ([`BatchUp::NeedModel`]).
    pub model_file: crate::row_source::Fingerprint,
}

/// Rank 0's probe in the output folder and a sample of inputs with the sizes rank 0 sees.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchReachCheck {
    pub probe: crate::reach::Probe,
    pub out_dir: PathBuf,
    pub sample: Vec<crate::reach::SeenFile>,
}

/// A worker's answer at the end of an image job; rows follow when `outcome` is `Ok`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StripResult {
    pub outcome: Result<(), Failure>,
    pub stats: RankStats,
    /// With [`StripOutput::Piece`]: how many parts of its piece follow, each a [`PieceHead`]
    /// with [`TAG_PIECE`] and then its bytes (see `pieces::encode_in_parts`).
    #[serde(default)]
    pub parts: usize,
}

/// Rank 0 → worker in a batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum BatchDown {
    /// Do item `index`. Without `bytes` (the worker reaches the files) it reads `input` and
    /// writes beside `output`; otherwise `bytes` encoded bytes follow and the result is encoded
    /// as `format` and sent back.
    Work { index: usize, input: PathBuf, output: PathBuf, format: String, bytes: Option<usize> },
    /// No more work in this batch.
    Finish,
    /// The model file: `bytes` bytes follow (the answer to [`BatchUp::NeedModel`]).
    Model { bytes: usize },
}

/// Worker → rank 0 in a batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum BatchUp {
    /// Sent once at the start: what the worker reaches by itself (`None`: not checked, the job
    /// said every node sees the files).
    Ready(Option<crate::reach::BatchReach>),
    /// Item `index` is finished: how many encoded bytes follow, or the temporary file written.
    Done { index: usize, outcome: Result<Produced<usize>, Failure>, secs: f64 },
    /// The worker's totals, after `Finish`.
    Stats(RankStats),
    /// A classify job's model is not at its path on this worker: rank 0 sends it
    /// ([`BatchDown::Model`]) before the worker says `Ready`.
    NeedModel,
}

/// Video messages worker → rank 0 ([`VideoUp`]).
pub const TAG_VIDEO_UP: Tag = 24;
/// Files of a finished chunk (segment or frames), worker → rank 0, when the worker cannot write
/// the work folder itself.
pub const TAG_VIDEO_UP_BYTES: Tag = 25;
/// Video messages rank 0 → worker ([`VideoDown`]).
pub const TAG_VIDEO_DOWN: Tag = 26;
/// A chunk's input (its packets, or its frame files), rank 0 → a worker that cannot open the input.
pub const TAG_VIDEO_DOWN_BYTES: Tag = 27;

/// A video job: every rank gets the whole plan and is then handed chunks one at a time.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VideoJob {
    pub id: u64,
    pub spec: crate::video::VideoSpec,
    /// Size of the input video in bytes (0 for frames): a worker that sees a file of this size at
    /// the same path decodes its chunks itself.
    pub input_size: u64,
    /// A file rank 0 wrote in the work folder: a worker that reads its token back writes its
    /// segments there itself; otherwise it sends them.
    pub probe: crate::reach::Probe,
    /// Rank 0 sends every chunk's input, whatever the worker sees (no shared storage assumed).
    pub send_input: bool,
}

/// Rank 0 → worker in a video job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum VideoDown {
    /// Do `chunk`; when `bytes` is not empty, that many buffers follow (the chunk's packets as one
    /// small file, or one per frame file).
    Work { chunk: crate::video::Chunk, bytes: Vec<usize> },
    /// No more chunks in this job.
    Finish,
}

/// Worker → rank 0 in a video job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum VideoUp {
    /// Sent once at the start: what this rank can reach by itself.
    Ready { reads_input: bool, writes_work: bool },
    /// Frames of chunk `index` finished so far (a few times a second).
    Frames { index: usize, frames: usize },
    /// Chunk `index` is finished. `Ok(None)`: its files are in the work folder; `Ok(Some(files))`:
    /// each `(name, length)` follows as bytes.
    Done { index: usize, outcome: Result<Option<Vec<(String, usize)>>, Failure>, secs: f64 },
    /// The worker's totals, after `Finish`.
    Stats(RankStats),
}
