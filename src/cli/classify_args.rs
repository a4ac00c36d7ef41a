//! `imgproc classify`'s flags.

use crate::codec::DEFAULT_MAX_PIXELS;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct ClassifyArgs {
    /// The ONNX model; its sidecar `M.json` (input size, mean/std, labels...) sits beside it
    /// unless `--sidecar` names another (docs/CLASSIFY.md).
    #[arg(long, value_name = "M.onnx")]
    pub model: PathBuf,
    /// Image files, folders of them, and folders of class folders (`valid/n01443537/*.JPEG`:
    /// then top-1/top-5 accuracy is reported).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The results file: `.jsonl` (one JSON object a line) or `.csv`. A rerun of the same
    /// command classifies only what is not in it yet.
    #[arg(short, long)]
    pub output: PathBuf,
    /// The sidecar, when it is not `M.json` beside the model.
    #[arg(long, value_name = "FILE")]
    pub sidecar: Option<PathBuf>,
    /// The labels file instead of the sidecar's.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Labels reported per image [default: the sidecar's, else 5].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub top_k: Option<usize>,
    /// Images per forward pass (a short pass is padded, so every image's scores are the same
    /// whichever rank ran it).
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub batch_size: usize,
    /// Refuse images whose header declares more pixels than this, before decoding.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// OpenCV threads per rank [default: the cores of the rank's host ÷ the job's ranks on that host].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub threads: Option<usize>,
    /// Rank 0 only coordinates and classifies nothing itself.
    #[arg(long)]
    pub coordinator_only: bool,
    /// A folder every node sees holding the inputs: ranks read their images themselves.
    #[arg(long, value_name = "DIR", conflicts_with = "send_files")]
    pub shared_dir: Option<PathBuf>,
    /// Rank 0 reads every image and sends its bytes (and the model, to ranks that lack it).
    #[arg(long)]
    pub send_files: bool,
    /// Print a JSON summary on stdout (with the evaluation for class folders).
    #[arg(long)]
    pub json: bool,
}
