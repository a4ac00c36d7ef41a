//! Command-line arguments (clap). Turns flags into an `OpChain` and options; runs nothing.

use crate::chain::OpChain;
use crate::codec::DEFAULT_MAX_PIXELS;
use crate::ops::{GlobalNeed, Op, OpKind, ParamKind, ParamSpec};
use anyhow::Result;
use clap::builder::PossibleValuesParser;
use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand};
use std::path::PathBuf;

mod classify_args;
pub use classify_args::ClassifyArgs;

/// Exact distributed image filtering over MPI.
///
/// Run under `mpirun -hostfile hostfile imgproc ...` to use a cluster, or alone as one rank.
/// Without a subcommand, rank 0 opens the desktop GUI.
#[derive(Parser, Debug)]
#[command(name = "imgproc", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

pub const EXIT_CODES: &str = "Exit codes:
  0  everything succeeded
  1  a job or at least one image failed (each is listed with its reason)
  2  usage error: bad flags, unknown operation or bad parameter
  3  the job could not start: unwritable output folder, no inputs, no display for the GUI
  130  cancelled by Ctrl+C or SIGTERM: no partial output; a batch keeps what it finished
Under mpirun, Ctrl+C in its terminal reaches mpirun only: the job is cancelled the same way, but
Open MPI's mpirun then exits 1, its own code for a job it was signalled to end.
A rank that does not answer the shutdown within a second of the work's end is named, and the job
is ended with MPI_Abort and the code above (mpirun then exits with it).";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Filter one image, split by rows over all ranks.
    Run(RunArgs),
    /// Filter many images; each rank asks for the next one when it is done.
    Batch(BatchArgs),
    /// Filter a video or a sequence of frames; each rank decodes, filters and encodes whole chunks.
    Video(VideoArgs),
    /// Classify images with an ONNX model; each rank asks for the next ones when it is done.
    Classify(ClassifyArgs),
    /// List the operations and their parameters with defaults.
    Ops,
    /// Open the desktop GUI on rank 0 (what `imgproc` does without a subcommand).
    Gui(GuiArgs),
    /// Serve the web page and the HTTP API on rank 0; the other ranks run its jobs.
    Serve(ServeArgs),
    /// Manage the users of `imgproc serve --users FILE`.
    User(UserArgs),
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (keep it on loopback behind a TLS reverse proxy; see README).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Folder for the job store (imgproc.sqlite) and every job's files.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Users and their token hashes (`imgproc user add NAME --users FILE`); without it there
    /// is one user and no token.
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Seconds a finished job and its files are kept.
    #[arg(long, default_value_t = 24 * 3600, value_name = "SECS")]
    pub keep: u64,
    /// Refuse an uploaded image whose header declares more pixels (422), before any decode.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// Largest uploaded file, in bytes (413).
    #[arg(long, default_value_t = 4 << 30)]
    pub max_file_bytes: u64,
    /// Largest job (all its files), in bytes (413).
    #[arg(long, default_value_t = 8 << 30)]
    pub max_job_bytes: u64,
    /// Most files in one job.
    #[arg(long, default_value_t = 10_000)]
    pub max_files: usize,
    /// Jobs one user may have queued or running (429 past it).
    #[arg(long, default_value_t = 100)]
    pub max_user_jobs: u64,
    /// Upload bytes one user may have queued or running (429 past it).
    #[arg(long, default_value_t = 16 << 30)]
    pub max_user_bytes: u64,
    /// Seconds a client may pause while sending headers or a body before it is dropped.
    #[arg(long, default_value_t = 10)]
    pub idle_timeout: u64,
    /// An ONNX model to classify with (`POST /api/classify`, `POST /whatis`, classify jobs);
    /// its sidecar and labels as for `imgproc classify` (docs/CLASSIFY.md).
    #[arg(long, value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    /// The model's sidecar, when it is not `M.json` beside it.
    #[arg(long, value_name = "FILE", requires = "model")]
    pub sidecar: Option<PathBuf>,
    /// The labels file instead of the sidecar's.
    #[arg(long, value_name = "FILE", requires = "model")]
    pub labels: Option<PathBuf>,
    /// Labels answered per image [default: the sidecar's, else 5].
    #[arg(long, requires = "model", value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub top_k: Option<usize>,
    /// Images per forward pass in classify jobs.
    #[arg(long, default_value_t = 1, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=256))]
    pub classify_batch: usize,
    /// Descriptions of the labels for `/whatis`'s `info`: a JSON object or `LABEL<TAB>TEXT`
    /// lines, keyed by synset id or synonym. Nothing is looked up on any outside site.
    #[arg(long, value_name = "FILE", requires = "model")]
    pub info: Option<PathBuf>,
    /// Seconds `/api/classify` and `/whatis` wait for their job before answering 504 with the
    /// job's location.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub classify_wait: u64,
}

#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    pub action: UserAction,
}

#[derive(Subcommand, Debug)]
pub enum UserAction {
    /// Add a user (or give one a new token): prints the token once, stores only its hash.
    Add {
        name: String,
        /// The users file `imgproc serve --users` reads.
        #[arg(long, default_value = "users.toml")]
        users: PathBuf,
    },
}

#[derive(Args, Debug, Default)]
pub struct GuiArgs {
    /// Start with this chain of operations instead of the last one used.
    #[arg(long, value_name = "OP[,OP...]")]
    pub op: Option<String>,
    /// Rank 0 only coordinates and takes no share of the work.
    #[arg(long)]
    pub coordinator_only: bool,
    /// The ONNX model Classify uses (instead of the last one chosen).
    #[arg(long, value_name = "M.onnx")]
    pub model: Option<PathBuf>,
    /// Open these files: one image, or several files and folders as a batch.
    pub inputs: Vec<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// The image to filter.
    pub input: PathBuf,
    /// Where to write the result; its extension picks the format.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Run the plain OpenCV calls on the whole image in this process (no MPI, no splitting):
    /// the reference that distributed results must equal.
    #[arg(long)]
    pub reference: bool,
    /// Decode the whole input on rank 0 and encode the whole output there, as before the
    /// streamed pipeline (for comparisons; the output is the same).
    #[arg(long)]
    pub whole_io: bool,
}

#[derive(Args, Debug)]
pub struct BatchArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// Image files and folders (a folder contributes its image files, not recursively).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output folder (created if missing). Outputs keep the input's name.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Output format for every image (png, jpg, bmp, tiff, webp...); default: the input's.
    #[arg(long)]
    pub format: Option<String>,
    /// A folder every node sees (NFS...) holding the inputs and the output folder: ranks then read
    /// and write files themselves and only indices travel over MPI.
    #[arg(long, value_name = "DIR", conflicts_with = "send_files")]
    pub shared_dir: Option<PathBuf>,
    /// Rank 0 reads every input and sends its bytes, and receives and writes every result, as for
    /// nodes without shared storage. Default: a worker that sees the inputs and the output folder
    /// (same host, or shared storage: checked at the start) reads and writes its own files.
    #[arg(long)]
    pub send_files: bool,
}

#[derive(Args, Debug)]
pub struct VideoArgs {
    #[command(flatten)]
    pub job: JobArgs,
    /// A video file, or frames: a folder of images (natural order: f2 before f10) or image files.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// A video file (.mp4 H.264, .mkv FFV1 lossless, .avi MJPG, .webm VP9) or a folder of frames.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Codec instead of the extension's: h264, ffv1, mjpeg, vp9.
    #[arg(long)]
    pub codec: Option<String>,
    /// Quality: CRF for h264 (default 20) and vp9 (32), q:v for mjpeg (3); lower is better.
    #[arg(long)]
    pub quality: Option<u32>,
    /// Frame rate of a video made from frames (e.g. 25, 30000/1001) [default: 25].
    #[arg(long)]
    pub fps: Option<String>,
    /// Image format of a frame-folder output.
    #[arg(long, default_value = "png")]
    pub format: String,
    /// Frames per chunk at most: a video is cut at the first keyframe after this many frames, or
    /// after fewer when a short video would otherwise leave a rank without a chunk.
    #[arg(long, default_value_t = 48, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub chunk_frames: usize,
    /// Rank 0 sends every worker its chunks' input and receives their segments, as for nodes
    /// without shared storage (a worker that cannot see the input or the output gets this anyway).
    #[arg(long)]
    pub send_input: bool,
    /// Leave the input's audio out.
    #[arg(long)]
    pub no_audio: bool,
}

/// Options shared by `run` and `batch`.
#[derive(Args, Debug, Clone)]
pub struct JobArgs {
    /// Operations applied left to right in one pass, e.g. `gray,gaussian,canny` or
    /// `median:ksize=7,brightness:factor=1.2`. See `imgproc ops`.
    #[arg(long, value_name = "OP[,OP...]")]
    pub op: String,
    #[command(flatten)]
    pub params: OpParams,
    /// Refuse images whose header declares more pixels than this, before decoding.
    #[arg(long, default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// OpenCV threads per rank [default: the cores of the rank's host ÷ the job's ranks on that host].
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub threads: Option<usize>,
    /// Rank 0 only coordinates and takes no share of the work.
    #[arg(long)]
    pub coordinator_only: bool,
    /// Print a JSON summary on stdout (per rank: rows or images, seconds per phase, bytes moved).
    #[arg(long)]
    pub json: bool,
}

/// Per-operation parameters: one flag `--<op>-<param>` for every parameter of every op in the
/// registry (`--blur-ksize`, `--bilateral-sigma-color`...). A flag applies to every use of its op in
/// the chain unless the chain sets the value inline (`blur:ksize=3`). The flags are built from the
/// registry at run time (see the `clap::Args` impl below), so a new parameter gets its flag, help
/// and checks without an edit here.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpParams {
    /// `(op, parameter, value as typed)` for each flag given, in the registry's order.
    pub values: Vec<(OpKind, &'static str, String)>,
}

/// A usage mistake (exit code 2), told apart from failures while working.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct UsageError(pub anyhow::Error);

impl OpParams {
    /// These flags plus `--<kind>-<param> <value>`, as if given on the command line.
    pub fn with(mut self, kind: OpKind, param: &'static str, value: impl Into<String>) -> Self {
        self.values.retain(|(k, p, _)| (*k, *p) != (kind, param));
        self.values.push((kind, param, value.into()));
        self
    }

    /// The ops whose defaults the flags change.
    pub fn defaults(&self) -> Result<Vec<Op>> {
        let mut ops: Vec<Op> = Vec::new();
        for (kind, key, value) in &self.values {
            let i = match ops.iter().position(|o| o.kind() == *kind) {
                Some(i) => i,
                None => {
                    ops.push(kind.default_op());
                    ops.len() - 1
                }
            };
            ops[i].set_param(key, value)?;
        }
        Ok(ops)
    }
}

/// Every parameter of every op, with its flag's long name (`bilateral-sigma-color`).
fn param_flags() -> impl Iterator<Item = (OpKind, &'static ParamSpec, String)> {
    OpKind::ALL
        .iter()
        .flat_map(|&kind| kind.spec().params.iter().map(move |p| (kind, p, format!("{}-{}", kind.name(), p.name))))
}

/// The flag of one parameter: help, range, unit and default from the registry. Values stay text
/// and are read by `Op::set_param`, as inline `op:key=value` ones are, so both fail alike.
fn param_arg(param: &ParamSpec, flag: String) -> Arg {
    let arg = Arg::new(flag.clone())
        .long(flag)
        .action(ArgAction::Set)
        .help_heading("Operation parameters (see `imgproc ops`)")
        .help(format!("{} [{}; default {}]", param.help, param.range_with_unit(), param.default_text()));
    match param.kind {
        // Negative numbers are values, not flags: a wrong sign is then reported with the range.
        ParamKind::Int { .. } => arg.value_name("INT").allow_negative_numbers(true),
        ParamKind::Float { .. } => arg.value_name("NUM").allow_negative_numbers(true),
        ParamKind::Choice(choices) => {
            let names: Vec<String> = param.choice_names().iter().map(|(n, _)| n.to_string()).collect();
            let value_name = if names.is_empty() { "INT" } else { "NAME" };
            arg.value_name(value_name)
                .value_parser(PossibleValuesParser::new(names.into_iter().chain(choices.iter().map(i64::to_string))))
        }
        ParamKind::Bool => arg.value_name("BOOL").value_parser(["true", "false"]),
    }
}

impl Args for OpParams {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        param_flags().fold(cmd, |cmd, (_, param, flag)| cmd.arg(param_arg(param, flag)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for OpParams {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut params = OpParams::default();
        params.update_from_arg_matches(matches)?;
        Ok(params)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for (kind, param, flag) in param_flags() {
            if let Some(value) = matches.get_one::<String>(&flag) {
                *self = std::mem::take(self).with(kind, param.name, value.clone());
            }
        }
        Ok(())
    }
}

impl JobArgs {
    /// The chain, or a [`UsageError`] naming the bad part.
    pub fn chain(&self) -> Result<OpChain, UsageError> {
        let defaults = self.params.defaults().map_err(UsageError)?;
        OpChain::parse(&self.op, &defaults).map_err(UsageError)
    }
}

/// The text of `imgproc ops`: every op with its description and global step, every parameter
/// with its default, range, unit and help.
pub fn ops_listing() -> String {
    let mut out = String::from(
        "Operations, applied left to right: chain them with commas, set parameters inline as\n\
         op:key=value or for every use of an op with --<op>-<key> (e.g. --bilateral-sigma-color 50).\n",
    );
    for kind in OpKind::ALL {
        let spec = kind.spec();
        out.push_str(&format!("\n  {:<17} {}\n", spec.name, spec.description));
        match spec.global {
            GlobalNeed::None => {}
            GlobalNeed::Histogram => out.push_str(&format!("  {:<17} global step: the whole image's histogram\n", "")),
            GlobalNeed::Hysteresis => {
                out.push_str(&format!("  {:<17} global step: hysteresis across the whole image\n", ""))
            }
            GlobalNeed::Resample => {
                out.push_str(&format!("  {:<17} whole image: rank 0 gathers the rows and resizes them\n", ""))
            }
        }
        let kept = kind.keeps_text();
        out.push_str(&format!("  {:<17} keeps {kept}\n", ""));
        for p in spec.params {
            let setting = format!("{}={}", p.name, p.default_text());
            out.push_str(&format!("      {setting:<21} {:<28} {}\n", p.range_with_unit(), p.help));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::ParamValue;

    fn run_args(extra: &[&str]) -> Result<RunArgs, clap::Error> {
        let args = ["imgproc", "run"].iter().chain(extra).chain(&["in.png", "-o", "out.png"]);
        match Cli::try_parse_from(args)?.command {
            Some(Command::Run(run)) => Ok(run),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn flags_set_defaults_and_bad_values_are_usage_errors() {
        let params = OpParams::default().with(OpKind::Blur, "ksize", "9");
        let job = JobArgs {
            op: "blur,gray".into(),
            params,
            max_pixels: 1,
            threads: None,
            coordinator_only: false,
            json: false,
        };
        assert_eq!(job.chain().unwrap().0[0], Op::Blur { ksize: 9 });
        let bad = JobArgs { op: "sharpen".into(), ..job.clone() };
        assert!(bad.chain().is_err());
        let bad =
            JobArgs { params: OpParams::default().with(OpKind::Median, "ksize", "4"), op: "median".into(), ..job };
        let err = bad.chain().unwrap_err().to_string();
        assert!(err.contains("median: ksize"), "{err}");
    }

    #[test]
    fn every_parameter_of_every_op_can_be_set_from_the_cli() {
        for kind in OpKind::ALL {
            for param in kind.spec().params {
                let flag = format!("--{}-{}", kind.name(), param.name);
                let value = param.other_value();
                let run = run_args(&["--op", kind.name(), &flag, &value.to_string()])
                    .unwrap_or_else(|e| panic!("{flag} {value}: {e}"));
                let chain = run.job.chain().unwrap_or_else(|e| panic!("{flag} {value}: {e}"));
                assert_eq!(chain.0[0].get(param.name), value, "{flag}");
            }
        }
    }

    #[test]
    fn every_op_flag_is_in_the_help_with_its_range_and_default() {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let help = cmd.find_subcommand_mut("run").unwrap().render_help().to_string();
        for kind in OpKind::ALL {
            for param in kind.spec().params {
                assert!(help.contains(&format!("--{}-{}", kind.name(), param.name)), "{}.{}", kind.name(), param.name);
                assert!(help.contains(&param.default_text()), "{}.{}", kind.name(), param.name);
            }
        }
        assert!(help.contains("Operation parameters"));
        let options = help.split("Operation parameters").next().unwrap();
        assert!(options.contains("--max-pixels"), "the job's own options keep their heading");
    }

    #[test]
    fn choice_and_flag_values_are_checked_by_the_parser_and_negative_numbers_pass() {
        assert!(run_args(&["--op", "canny", "--canny-aperture", "4"]).is_err());
        assert!(run_args(&["--op", "canny", "--canny-l2", "yes"]).is_err());
        let run = run_args(&["--op", "brightness", "--brightness-offset", "-20"]).unwrap();
        assert_eq!(run.job.chain().unwrap().0[0].get("offset"), ParamValue::Float(-20.0));
        assert_eq!(run_args(&["--op", "blur"]).unwrap().job.params, OpParams::default());
    }

    #[test]
    fn ops_listing_shows_every_op_parameter_default_range_and_unit() {
        let text = ops_listing();
        for kind in OpKind::ALL {
            let spec = kind.spec();
            assert!(text.contains(spec.description), "{}", spec.name);
            for p in spec.params {
                assert!(text.contains(&format!("{}={}", p.name, p.default_text())), "{}.{}", spec.name, p.name);
                assert!(text.contains(&p.range_with_unit()) && text.contains(p.help), "{}.{}", spec.name, p.name);
            }
        }
        assert!(text.contains("sigma-color=75"));
        assert!(text.contains("interpolation=linear") && text.contains("nearest, linear, cubic, area or lanczos"));
        assert!(text.contains("keeps 16-bit samples and alpha") && text.contains("keeps 8-bit gray or colour only"));
        assert!(text.contains("1…64 px"));
        assert!(text.contains("global step: hysteresis"));
    }
}
