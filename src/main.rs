//! `imgproc`: parse arguments, start the job (MPI only under `mpirun`), hand off, map errors to
//! the documented exit codes (see `cli::EXIT_CODES`).

use clap::Parser;
use imgproc::cli::{Cli, Command, UsageError};
use imgproc::commands::{self, CommandError};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn main() -> ExitCode {
    // Before any thread starts: it may set an environment variable for MPI_Init.
    imgproc::master::prefer_fast_transport();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.downcast_ref::<Printed>().is_none() {
                print_error(&e);
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
        Some(Command::Run(args)) if args.reference => commands::run_reference(&args),
        Some(Command::Run(args)) => {
            // Every rank parses the same arguments, so a usage error stops them all before MPI starts.
            args.job.chain()?;
            let cancel = cancel_on_signals()?;
            match imgproc::master::start(args.job.threads)? {
                Some(master) => printed_before_shutdown(commands::run_image(&master, &args, &cancel), master),
                None => Ok(()),
            }
        }
        Some(Command::Batch(args)) => {
            args.job.chain()?;
            let cancel = cancel_on_signals()?;
            match imgproc::master::start(args.job.threads)? {
                Some(master) => printed_before_shutdown(commands::run_batch(&master, &args, &cancel), master),
                None => Ok(()),
            }
        }
        Some(Command::Video(args)) => {
            args.job.chain()?;
            let cancel = cancel_on_signals()?;
            match imgproc::master::start(args.job.threads)? {
                Some(master) => printed_before_shutdown(commands::video(&master, &args, &cancel), master),
                None => Ok(()),
            }
        }
        Some(Command::Gui(args)) => imgproc::gui::launch(args),
        None => imgproc::gui::launch(Default::default()),
    }
}

fn print_error(e: &anyhow::Error) {
    match e.downcast_ref::<CommandError>() {
        Some(CommandError::ImagesFailed(_)) => {} // already listed one by one
        _ => eprintln!("imgproc: {e:#}"),
    }
}

/// Marks an error already shown to the user.
#[derive(Debug)]
struct Printed;

impl std::fmt::Display for Printed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(reported above)")
    }
}

/// Shows the job's error while every rank is still up, then shuts the ranks down. Once rank 0
/// exits non-zero, mpirun aborts the job and may drop output it has not forwarded yet: the
/// reason must reach it first.
fn printed_before_shutdown(result: anyhow::Result<()>, master: imgproc::master::Master) -> anyhow::Result<()> {
    if let Err(e) = &result {
        print_error(e);
    }
    drop(master);
    result.map_err(|e| e.context(Printed))
}

/// A flag that Ctrl+C (SIGINT) or SIGTERM sets. On rank 0 it cancels the job; workers ignore it
/// and follow rank 0 (mpirun passes the signal to every rank). A second signal ends the process
/// at once with code 130.
fn cancel_on_signals() -> anyhow::Result<Arc<AtomicBool>> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone())?;
        signal_hook::flag::register(signal, flag.clone())?;
    }
    Ok(flag)
}

fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UsageError>().is_some() {
        2
    } else if let Some(CommandError::CannotStart(_)) = e.downcast_ref::<CommandError>() {
        3
    } else if let Some(CommandError::Cancelled(_)) = e.downcast_ref::<CommandError>() {
        130
    } else {
        1
    }
}
