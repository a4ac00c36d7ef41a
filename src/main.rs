//! `imgproc`: parse arguments, start MPI where the command needs it, hand off, map errors to the
//! documented exit codes (see `cli::EXIT_CODES`).

use clap::Parser;
use imgproc::cli::{Cli, Command, UsageError};
use imgproc::commands::{self, CommandError};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            match e.downcast_ref::<CommandError>() {
                Some(CommandError::ImagesFailed(_)) => {} // already listed one by one
                _ => eprintln!("imgproc: {e:#}"),
            }
            ExitCode::from(exit_code(&e))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Ops) => {
            print!("{}", imgproc::cli::ops_listing());
            Ok(())
        }
        Some(Command::Run(args)) if args.reference => {
            imgproc::ops::set_opencv_threads(args.job.threads)?;
            commands::run_reference(&args)
        }
        Some(Command::Run(args)) => {
            // Every rank parses the same arguments, so a usage error stops them all before MPI starts.
            args.job.chain()?;
            imgproc::ops::set_opencv_threads(args.job.threads)?;
            match imgproc::master::start()? {
                Some(master) => commands::run_image(&master, &args),
                None => Ok(()),
            }
        }
        Some(Command::Batch(args)) => {
            args.job.chain()?;
            imgproc::ops::set_opencv_threads(args.job.threads)?;
            match imgproc::master::start()? {
                Some(master) => commands::run_batch(&master, &args),
                None => Ok(()),
            }
        }
        Some(Command::Gui(args)) => imgproc::gui::launch(args),
        None => imgproc::gui::launch(Default::default()),
    }
}

fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UsageError>().is_some() {
        2
    } else if let Some(CommandError::CannotStart(_)) = e.downcast_ref::<CommandError>() {
        3
    } else {
        1
    }
}
