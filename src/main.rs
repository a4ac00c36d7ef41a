//! `imgproc`: parse arguments, start the job (MPI only under `mpirun`), hand off, map errors to
//! the documented exit codes (see `cli::EXIT_CODES`).

use clap::Parser;
use imgproc::cli::{Cli, Command, UsageError};
use imgproc::commands::signals::{cancel_on_signals, CliCancel};
use imgproc::commands::{self, CliJob};
use imgproc::jobs::JobError;
use std::process::ExitCode;

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
    let command = match cli.command {
        None => return imgproc::gui::launch(Default::default()),
        Some(Command::Gui(args)) => return imgproc::gui::launch(args),
        Some(Command::Ops) => {
            print!("{}", imgproc::cli::ops_listing());
            return Ok(());
        }
        Some(Command::Serve(args)) => return imgproc::server::main(&args),
        Some(Command::User(args)) => return add_user(args),
        Some(Command::Run(args)) if args.reference => return commands::run_reference(&args),
        Some(command) => command,
    };
    let Some(job) = CliJob::of(command)? else { return Ok(()) };
    let cancel = cancel_on_signals()?;
    match imgproc::master::start(job.threads())? {
        Some(master) => printed_before_shutdown(job.run(&master, &cancel.flag), master, &cancel),
        None => Ok(()), // a worker whose job is over
    }
}

/// `imgproc user add NAME`: the token goes to stdout, once.
fn add_user(args: imgproc::cli::UserArgs) -> anyhow::Result<()> {
    match args.action {
        imgproc::cli::UserAction::Add { name, users } => {
            let token = imgproc::server::add_user(&users, &name)?;
            eprintln!("imgproc: {name} added to {} (only the token's hash is stored)", users.display());
            println!("{token}");
            Ok(())
        }
    }
}

fn print_error(e: &anyhow::Error) {
    match e.downcast_ref::<JobError>() {
        Some(JobError::ImagesFailed(_)) => {} // already listed one by one
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

/// Shows the job's error while every rank is still up, then shuts the ranks down with the exit
/// code this process will return (a rank that does not answer ends the job with that code, see
/// `Master::shut_down`). Once rank 0 exits non-zero, mpirun aborts the job and may drop output
/// it has not forwarded yet: the reason must reach it first. A job that ends non-zero, or while
/// mpirun itself ends it (Ctrl+C to mpirun, a rank that died), leaves without finalising MPI
/// (`Master::shut_down_and_leave`, `Master::shut_down_as_mpirun_ends`): mpirun would only kill
/// the ranks in it.
fn printed_before_shutdown(
    result: anyhow::Result<()>,
    master: imgproc::master::Master,
    cancel: &CliCancel,
) -> anyhow::Result<()> {
    if let Err(e) = &result {
        print_error(e);
    }
    let code = result.as_ref().err().map_or(0, exit_code);
    if cancel.mpirun_ending() {
        master.shut_down_as_mpirun_ends(code);
    }
    if code != 0 {
        master.shut_down_and_leave(code);
    }
    master.shut_down(code);
    result.map_err(|e| e.context(Printed))
}

fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UsageError>().is_some() {
        2
    } else if let Some(JobError::CannotStart(_)) = e.downcast_ref::<JobError>() {
        3
    } else if let Some(JobError::Cancelled(_)) = e.downcast_ref::<JobError>() {
        130
    } else {
        1
    }
}
