//! The messages ranks exchange and how a rank waits for them. Only this module, `master` and
//! `worker` touch MPI.
//!
//! Shape of a job: rank 0 sends each worker a [`Command`]; the worker takes part until the job
//! ends and then waits for the next command. Pixels travel as raw contiguous bytes, in chunks of
//! at most 1 GiB because MPI counts are 32-bit; small structured messages travel as JSON.
//!
//! **No rank spins while it waits.** Open MPI's blocking calls busy-poll, so a rank waiting for a
//! command, a strip or a global step would burn a core. Every wait here is a non-blocking probe
//! or test repeated with a growing sleep ([`Backoff`]); a payload is received with a blocking
//! call only once its header has arrived, when the receive is a copy, not a wait. There are no
//! collective calls: everything is point to point, so a cancel can interrupt any step.

use crate::chain::OpChain;
use crate::model::{Failure, RankStats};
use crate::split::Strip;
use mpi::point_to_point::MatchedReceiveVec;
use mpi::request::{Request, Scope};
use mpi::topology::{Process, SimpleCommunicator};
use mpi::traits::*;
use mpi::Tag;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

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

/// Largest piece of a buffer sent in one MPI message.
const CHUNK: usize = 1 << 30;

/// Longest sleep between polls while a job runs: a late answer costs at most this.
pub const BUSY_WAIT: Duration = Duration::from_millis(1);
/// Longest sleep between polls while a worker has no job: the start of the next job may wait
/// this long, and an idle rank wakes 50 times a second.
pub const IDLE_WAIT: Duration = Duration::from_millis(20);

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
    /// Leave the worker loop; the process then exits 0.
    Shutdown,
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
    File { path: PathBuf, fingerprint: crate::feed::Fingerprint, max_pixels: u64, chunk_rows: usize },
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
}

/// What a worker made of a batch item.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Produced {
    /// This many encoded bytes follow, for rank 0 to write.
    Bytes(usize),
    /// The output is written under this temporary name beside it (own files): rank 0 puts
    /// it in place, or removes it when another copy of the item came first.
    Temp(PathBuf),
}

/// Worker → rank 0 in a batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum BatchUp {
    /// Sent once at the start: what the worker reaches by itself (`None`: not checked, the job
    /// said every node sees the files).
    Ready(Option<crate::reach::BatchReach>),
    /// Item `index` is finished (see [`Produced`]).
    Done { index: usize, outcome: Result<Produced, Failure>, secs: f64 },
    /// The worker's totals, after `Finish`.
    Stats(RankStats),
}

/// Sleeps a little longer each time nothing happened: the first polls are quick (an answer
/// that is about to arrive costs nothing), later ones sleep up to `max`.
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(max: Duration) -> Backoff {
        Backoff { next: Duration::ZERO, max }
    }

    /// Waits before the next poll.
    pub fn pause(&mut self) {
        if self.next.is_zero() {
            std::thread::yield_now();
            self.next = Duration::from_micros(20);
        } else {
            std::thread::sleep(self.next);
            self.next = (self.next * 2).min(self.max);
        }
    }
}

/// Calls `poll` until it yields something or `timeout` has passed, sleeping between calls.
pub fn poll_for<T>(
    timeout: Duration,
    mut poll: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<Option<T>> {
    let deadline = std::time::Instant::now() + timeout;
    let mut backoff = Backoff::new(BUSY_WAIT);
    loop {
        if let Some(found) = poll()? {
            return Ok(Some(found));
        }
        if std::time::Instant::now() >= deadline {
            return Ok(None);
        }
        backoff.pause();
    }
}

/// Waits for a non-blocking request without spinning.
pub fn wait<'a, D: ?Sized, S: Scope<'a>>(mut request: Request<'a, D, S>) {
    let mut backoff = Backoff::new(BUSY_WAIT);
    loop {
        match request.test() {
            Ok(_) => return,
            Err(r) => request = r,
        }
        backoff.pause();
    }
}

/// Sends a buffer of any size as consecutive chunks; the receiver must know its length. Returns
/// once the buffer may be reused, sleeping (not spinning) while the receiver is busy.
pub fn send_bytes(to: &Process<'_>, tag: Tag, bytes: &[u8]) {
    for chunk in bytes.chunks(CHUNK) {
        mpi::request::scope(|scope| wait(to.immediate_send_with_tag(scope, chunk, tag)));
    }
}

/// Sends `bytes` as [`send_bytes`] does, running `meanwhile` while the transfer is under way
/// (rank 0 decodes the next rows while a worker takes these), and returns its result once the
/// buffer may be reused.
pub fn send_bytes_while<R>(to: &Process<'_>, tag: Tag, bytes: &[u8], meanwhile: impl FnOnce() -> R) -> R {
    if bytes.len() > CHUNK {
        let result = meanwhile();
        send_bytes(to, tag, bytes);
        return result;
    }
    mpi::request::scope(|scope| {
        let request = to.immediate_send_with_tag(scope, bytes, tag);
        let result = meanwhile();
        wait(request);
        result
    })
}

/// Serialises `value` as JSON and sends it (see [`send_bytes`]).
pub fn send_json<T: Serialize>(to: &Process<'_>, tag: Tag, value: &T) {
    let bytes = serde_json::to_vec(value).expect("protocol messages always serialise");
    mpi::request::scope(|scope| wait(to.immediate_send_with_tag(scope, &bytes[..], tag)));
}

/// Whether a message with `tag` from `from` has arrived (and can be received at once).
pub fn has_message(from: &Process<'_>, tag: Tag) -> bool {
    from.immediate_probe_with_tag(tag).is_some()
}

/// Receives a buffer sent by [`send_bytes`] into `buf`, whose length must match. Waits for each
/// chunk without spinning, then copies it.
pub fn receive_bytes(from: &Process<'_>, tag: Tag, buf: &mut [u8]) {
    for chunk in buf.chunks_mut(CHUNK) {
        let mut backoff = Backoff::new(BUSY_WAIT);
        while from.immediate_probe_with_tag(tag).is_none() {
            backoff.pause();
        }
        from.receive_into_with_tag(chunk, tag);
    }
}

/// The sizes of the messages [`send_bytes`] makes of `total` bytes sent `part` bytes a call, in
/// order: what a receiver that takes them one at a time ([`try_receive_bytes`]) expects.
pub fn message_sizes(total: usize, part: usize) -> Vec<usize> {
    let part = part.max(1);
    (0..total)
        .step_by(part)
        .flat_map(|at| {
            let len = part.min(total - at);
            (0..len).step_by(CHUNK).map(move |off| CHUNK.min(len - off))
        })
        .collect()
}

/// Receives one message sent by [`send_bytes`] into a buffer from `buffer` (of the message's
/// length) if it has arrived; `None` at once otherwise (the caller does something else and asks
/// again).
pub fn try_receive_bytes<B: std::ops::DerefMut<Target = [u8]>>(
    from: &Process<'_>,
    tag: Tag,
    buffer: impl FnOnce() -> B,
) -> Option<B> {
    from.immediate_probe_with_tag(tag)?;
    let mut buf = buffer();
    from.receive_into_with_tag(&mut buf[..], tag);
    Some(buf)
}

/// Receives a buffer sent by [`send_bytes`] like [`receive_bytes`], but gives up when `abort`
/// says so between polls (the sender failed or the job was cancelled); false when it gave up.
pub fn receive_bytes_unless(from: &Process<'_>, tag: Tag, buf: &mut [u8], abort: &mut dyn FnMut() -> bool) -> bool {
    for chunk in buf.chunks_mut(CHUNK) {
        let mut backoff = Backoff::new(BUSY_WAIT);
        while from.immediate_probe_with_tag(tag).is_none() {
            if abort() {
                return false;
            }
            backoff.pause();
        }
        from.receive_into_with_tag(chunk, tag);
    }
    true
}

/// A JSON message that has arrived: decodes it and names the sender.
fn decode<T: DeserializeOwned>(bytes: &[u8], tag: Tag, from: i32) -> anyhow::Result<T> {
    serde_json::from_slice(bytes).map_err(|e| anyhow::anyhow!("malformed message with tag {tag} from rank {from}: {e}"))
}

/// Receives one JSON message from `from` (any rank when `None`) if one is waiting.
pub fn try_receive_json<T: DeserializeOwned>(
    world: &SimpleCommunicator,
    from: Option<i32>,
    tag: Tag,
) -> anyhow::Result<Option<(T, i32)>> {
    let probed = match from {
        Some(r) => world.process_at_rank(r).immediate_matched_probe_with_tag(tag),
        None => world.any_process().immediate_matched_probe_with_tag(tag),
    };
    let Some(probed) = probed else { return Ok(None) };
    let (bytes, status) = probed.matched_receive_vec::<u8>();
    Ok(Some((decode(&bytes, tag, status.source_rank())?, status.source_rank())))
}

/// Waits (sleeping, see [`Backoff`]) for one JSON message from `from` (any rank when `None`).
/// `between_polls` runs while nothing has arrived: rank 0 uses it to pass on a cancel.
pub fn receive_json<T: DeserializeOwned>(
    world: &SimpleCommunicator,
    from: Option<i32>,
    tag: Tag,
    between_polls: &mut dyn FnMut(),
) -> anyhow::Result<(T, i32)> {
    let mut backoff = Backoff::new(BUSY_WAIT);
    loop {
        if let Some(got) = try_receive_json(world, from, tag)? {
            return Ok(got);
        }
        between_polls();
        backoff.pause();
    }
}

/// Rank 0 → one worker.
pub fn send_command(world: &SimpleCommunicator, rank: usize, command: &Command) {
    send_json(&world.process_at_rank(rank as i32), TAG_COMMAND, command);
}

/// A worker waits for rank 0's next command, sleeping up to [`IDLE_WAIT`] between polls;
/// `between_polls` runs while nothing has arrived (the worker reads cancels there).
pub fn receive_command(world: &SimpleCommunicator, between_polls: &mut dyn FnMut()) -> anyhow::Result<Command> {
    let mut backoff = Backoff::new(IDLE_WAIT);
    loop {
        if let Some((command, _)) = try_receive_json(world, Some(0), TAG_COMMAND)? {
            return Ok(command);
        }
        between_polls();
        backoff.pause();
    }
}

/// This process's host name as MPI reports it.
pub fn host_name() -> String {
    mpi::environment::processor_name().unwrap_or_else(|_| "unknown".into())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn message_sizes_follow_the_parts_and_add_up() {
        assert_eq!(message_sizes(10, 4), vec![4, 4, 2]);
        assert_eq!(message_sizes(8, 4), vec![4, 4]);
        assert_eq!(message_sizes(0, 4), Vec::<usize>::new());
        assert_eq!(message_sizes(3, 0), vec![1, 1, 1]);
        let big = message_sizes(2 * CHUNK + 5, 3 * CHUNK);
        assert_eq!(big, vec![CHUNK, CHUNK, 5]);
    }

    #[test]
    fn backoff_grows_to_its_ceiling_and_no_further() {
        let mut b = Backoff::new(Duration::from_millis(2));
        for _ in 0..12 {
            b.pause();
        }
        assert_eq!(b.next, Duration::from_millis(2));
        let t = Instant::now();
        b.pause();
        assert!(t.elapsed() >= Duration::from_millis(2), "a long wait sleeps");
    }
}
