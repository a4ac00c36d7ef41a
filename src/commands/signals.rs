//! The signals that cancel a CLI job: Ctrl+C (SIGINT) and SIGTERM to this process, and, on rank
//! 0 under `mpirun`, the first step of mpirun ending the job.
//!
//! Ctrl+C in the terminal of `mpirun` reaches only mpirun (Open MPI starts every rank in a
//! process group of its own), which never forwards SIGINT. Open MPI 4.1 ends the job in three
//! steps, measured here: SIGCONT to every rank at once, SIGTERM `odls_base_sigkill_timeout` (1 s)
//! later, SIGKILL as long again after that. Waiting for the SIGTERM costs a second, and leaves
//! a rank that then finalises MPI to be killed a second later still (mpirun no longer answers
//! MPI_Finalize). So rank 0 takes a SIGCONT that does not end a stop as mpirun ending the job and
//! cancels it then. mpirun ends a job the same way when a rank dies. A SIGCONT that ends a stop (Ctrl+Z, then `fg`: mpirun stops the ranks with
//! SIGSTOP and continues them with SIGCONT) is told apart by the time the process lost: a
//! watch thread that ticks every [`TICK`] sees a tick arrive [`STOPPED`] late or more.

use crate::cancel::CancelFlag;
use signal_hook::consts::{SIGCONT, SIGINT, SIGTERM};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the watch thread looks at the clock and at a SIGCONT that came.
const TICK: Duration = Duration::from_millis(50);
/// A tick this late means the process was stopped (no busy machine delays a sleeping thread
/// this long); a SIGCONT within [`RESUME_WINDOW`] of it ended that stop.
const STOPPED: Duration = Duration::from_millis(300);
const RESUME_WINDOW: Duration = Duration::from_secs(1);

/// The flag a CLI job watches, and whether mpirun is ending the job.
pub struct CliCancel {
    pub flag: CancelFlag,
    mpirun_ending: Arc<AtomicBool>,
}

impl CliCancel {
    /// True once mpirun began ending the job (a SIGCONT that ended no stop, see the module doc):
    /// mpirun then exits 1 whatever the ranks do, and answers no MPI_Finalize.
    pub fn mpirun_ending(&self) -> bool {
        self.mpirun_ending.load(Ordering::SeqCst)
    }
}

/// Installs the handlers. SIGINT or SIGTERM sets the flag (on rank 0 it cancels the job; workers
/// ignore it and follow rank 0); a second one ends the process at once with code 130. On rank 0
/// under mpirun, mpirun's first step in ending the job sets it too (see the module doc).
pub fn cancel_on_signals() -> anyhow::Result<CliCancel> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, flag.clone())?;
        signal_hook::flag::register(signal, flag.clone())?;
    }
    let mpirun_ending = Arc::new(AtomicBool::new(false));
    if crate::process::launched_by_mpirun() && crate::process::launcher_rank() == Some(0) {
        let continued = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(SIGCONT, continued.clone())?;
        let (flag, ending) = (flag.clone(), mpirun_ending.clone());
        std::thread::Builder::new()
            .name("mpirun-watch".into())
            .spawn(move || watch_for_mpirun_ending(&continued, &ending, &flag))?;
    }
    Ok(CliCancel { flag, mpirun_ending })
}

/// Ticks until a SIGCONT comes that ended no stop, then marks the job as ended by mpirun and
/// cancelled, and returns.
fn watch_for_mpirun_ending(continued: &AtomicBool, ending: &AtomicBool, cancel: &AtomicBool) {
    let mut last = Instant::now();
    let mut resumed: Option<Instant> = None;
    loop {
        std::thread::sleep(TICK);
        let now = Instant::now();
        if now - last >= STOPPED {
            resumed = Some(now);
        }
        last = now;
        if continued.swap(false, Ordering::SeqCst) && !ends_a_stop(resumed, now) {
            ending.store(true, Ordering::SeqCst);
            cancel.store(true, Ordering::SeqCst);
            return;
        }
    }
}

/// Whether a SIGCONT seen at `now` ended a stop, given when the watch last came back from one.
fn ends_a_stop(resumed: Option<Instant>, now: Instant) -> bool {
    resumed.is_some_and(|at| now - at <= RESUME_WINDOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sigcont_soon_after_a_stop_is_a_resume_and_any_other_ends_the_job() {
        let now = Instant::now() + Duration::from_secs(10);
        assert!(ends_a_stop(Some(now - Duration::from_millis(50)), now));
        assert!(!ends_a_stop(Some(now - Duration::from_secs(5)), now), "a stop long before");
        assert!(!ends_a_stop(None, now), "never stopped");
    }
}
