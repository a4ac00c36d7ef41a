//! Command-line arguments (clap). Turns flags into an `OpChain` and options; runs nothing.

use crate::chain::OpChain;
use crate::codec::DEFAULT_MAX_PIXELS;
use crate::ops::{Op, OP_NAMES};
use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

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
  130  cancelled by Ctrl+C or SIGTERM: no partial output; a batch keeps what it finished";

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Filter one image, split by rows over all ranks.
    Run(RunArgs),
    /// Filter many images; each rank asks for the next one when it is done.
    Batch(BatchArgs),
    /// List the operations and their parameters with defaults.
    Ops,
    /// Open the desktop GUI on rank 0 (what `imgproc` does without a subcommand).
    Gui(GuiArgs),
}

#[derive(Args, Debug, Default)]
pub struct GuiArgs {
    /// Start with this chain of operations instead of the last one used.
    #[arg(long, value_name = "OP[,OP...]")]
    pub op: Option<String>,
    /// Rank 0 only coordinates and takes no share of the work.
    #[arg(long)]
    pub coordinator_only: bool,
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
    #[arg(long, value_name = "DIR")]
    pub shared_dir: Option<PathBuf>,
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

/// Per-operation parameters; they apply to every use of that op in the chain unless the chain
/// sets the value inline (`blur:ksize=3`).
#[derive(Args, Debug, Clone, Default)]
pub struct OpParams {
    #[arg(long)]
    pub blur_ksize: Option<String>,
    #[arg(long)]
    pub gaussian_ksize: Option<String>,
    /// 0 derives sigma from the kernel size.
    #[arg(long)]
    pub gaussian_sigma: Option<String>,
    #[arg(long)]
    pub median_ksize: Option<String>,
    #[arg(long)]
    pub bilateral_d: Option<String>,
    #[arg(long)]
    pub bilateral_sigma_color: Option<String>,
    #[arg(long)]
    pub bilateral_sigma_space: Option<String>,
    #[arg(long)]
    pub canny_low: Option<String>,
    #[arg(long)]
    pub canny_high: Option<String>,
    #[arg(long)]
    pub canny_aperture: Option<String>,
    /// Use the L2 gradient norm.
    #[arg(long)]
    pub canny_l2: Option<String>,
    #[arg(long)]
    pub brightness_factor: Option<String>,
    #[arg(long)]
    pub brightness_offset: Option<String>,
    #[arg(long)]
    pub bw_threshold: Option<String>,
}

/// A usage mistake (exit code 2), told apart from failures while working.
#[derive(Debug, thiserror::Error)]
#[error("{0:#}")]
pub struct UsageError(pub anyhow::Error);

impl OpParams {
    /// The ops whose defaults the flags change.
    pub fn defaults(&self) -> Result<Vec<Op>> {
        let flags: [(&str, &str, &Option<String>); 14] = [
            ("blur", "ksize", &self.blur_ksize),
            ("gaussian", "ksize", &self.gaussian_ksize),
            ("gaussian", "sigma", &self.gaussian_sigma),
            ("median", "ksize", &self.median_ksize),
            ("bilateral", "d", &self.bilateral_d),
            ("bilateral", "sigma-color", &self.bilateral_sigma_color),
            ("bilateral", "sigma-space", &self.bilateral_sigma_space),
            ("canny", "low", &self.canny_low),
            ("canny", "high", &self.canny_high),
            ("canny", "aperture", &self.canny_aperture),
            ("canny", "l2", &self.canny_l2),
            ("brightness", "factor", &self.brightness_factor),
            ("brightness", "offset", &self.brightness_offset),
            ("bw", "threshold", &self.bw_threshold),
        ];
        let mut ops: Vec<Op> = Vec::new();
        for (name, key, value) in flags {
            let Some(value) = value else { continue };
            if !ops.iter().any(|o| o.name() == name) {
                ops.push(Op::default_for(name)?);
            }
            let op = ops.iter_mut().find(|o| o.name() == name).expect("just added");
            op.set_param(key, value)?;
        }
        Ok(ops)
    }
}

impl JobArgs {
    /// The chain, or a [`UsageError`] naming the bad part.
    pub fn chain(&self) -> Result<OpChain, UsageError> {
        let defaults = self.params.defaults().map_err(UsageError)?;
        OpChain::parse(&self.op, &defaults).map_err(UsageError)
    }
}

/// The text of `imgproc ops`.
pub fn ops_listing() -> String {
    let mut out = String::from("Operations (chain them with commas; set parameters inline as op:key=value):\n");
    for name in OP_NAMES {
        let op = Op::default_for(name).expect("named ops exist");
        let params: Vec<String> = op.params().into_iter().map(|(k, v)| format!("{k}={v}")).collect();
        let extra = match op.global_need() {
            crate::ops::GlobalNeed::None => String::new(),
            g => format!("  [global step: {g:?}]").to_lowercase(),
        };
        out.push_str(&format!(
            "  {name:<17} {}{extra}\n",
            if params.is_empty() { "-".into() } else { params.join(" ") }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_defaults_and_bad_values_are_usage_errors() {
        let params = OpParams { blur_ksize: Some("9".into()), ..Default::default() };
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
        let bad = JobArgs {
            params: OpParams { median_ksize: Some("4".into()), ..Default::default() },
            op: "median".into(),
            ..job
        };
        assert!(bad.chain().is_err());
    }

    #[test]
    fn ops_listing_names_every_op_with_its_defaults() {
        let text = ops_listing();
        for name in OP_NAMES {
            assert!(text.contains(name), "{name}");
        }
        assert!(text.contains("d=9 sigma-color=75 sigma-space=75"));
    }
}
