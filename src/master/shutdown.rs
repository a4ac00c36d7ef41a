//! The end of the job on every rank. Rank 0 tells each worker to shut down and waits a bounded
//! time for each one's goodbye: MPI's finalisation waits for every rank, so one rank frozen by
//! its host (a node stuck on NFS, a SIGSTOP) would otherwise hold `mpirun`, and the user's
//! prompt, long after the work is done and journaled. A rank that is silent past
//! [`GOODBYE_WAIT`] is named and the job is ended with `MPI_Abort`, carrying the job's own exit
//! code: Open MPI's mpirun kills every rank and exits with that code (0 for a job that
//! succeeded), and `watcher.sh` reads the line printed here, so a finished job is not relaunched.
//! A job that ends non-zero, or that mpirun is ending itself, is left without finalising MPI
//! ([`Master::shut_down_and_leave`]).

use super::Master;
use crate::protocol::*;
use mpi::traits::*;
use std::time::{Duration, Instant};

/// How long rank 0 waits, once the work is done, for every worker's goodbye. An idle worker
/// answers within its poll interval (20 ms), one still on a cancelled second copy of a batch
/// item at the end of that item's chunk of rows (a tenth of a second of work): a second is
/// ample. Open MPI then takes up to its `odls_base_sigkill_timeout` (1 s by default) to kill a
/// stopped rank, which ignores the SIGTERM it is sent first.
pub const GOODBYE_WAIT: Duration = Duration::from_secs(1);

/// What rank 0 prints before ending the job for a silent rank; `watcher.sh` looks for it.
pub const SILENT_RANKS: &str = "did not answer the shutdown";

impl Master {
    /// Ends the job on every rank, then returns; `exit_code` is what this process exits with.
    /// A worker that does not say goodbye within [`GOODBYE_WAIT`] is named on stderr and the
    /// job is ended with `MPI_Abort(exit_code)`, which does not return.
    pub fn shut_down(mut self, exit_code: u8) {
        self.end_ranks(exit_code, Command::Shutdown);
    }

    /// [`Master::shut_down`] for a job that ends non-zero: every worker is told and waited for
    /// as usual, then every rank exits with `exit_code` at once, without finalising MPI
    /// (`Command::Leave`). Open MPI's mpirun answers a rank's non-zero exit by ending the job:
    /// SIGCONT to every rank, SIGTERM a second later, SIGKILL a second after that, and it no
    /// longer completes MPI_Finalize, so a rank that finalised would wait for those signals
    /// (mpirun returned 2.4 s after a Ctrl+C to rank 0, against 0.5 s now: docs/BENCHMARKS.md).
    pub fn shut_down_and_leave(mut self, exit_code: u8) -> ! {
        self.end_ranks(exit_code, Command::Leave(exit_code));
        std::process::exit(i32::from(exit_code))
    }

    /// [`Master::shut_down_and_leave`] while mpirun itself is ending the job (Ctrl+C to mpirun,
    /// or a rank that died: see `commands::signals`). A worker that does not say goodbye is not
    /// named: mpirun ends every rank anyway, and a crashed rank must stay a crash to
    /// `watcher.sh`, which takes the [`SILENT_RANKS`] line for the job's own end.
    pub fn shut_down_as_mpirun_ends(mut self, exit_code: u8) -> ! {
        if !std::mem::replace(&mut self.ended, true) && self.size() > 1 {
            self.say_goodbye(&Command::Leave(exit_code));
        }
        std::process::exit(i32::from(exit_code))
    }

    /// [`Master::shut_down`], once, telling every worker `how` to end; also what dropping the
    /// master does (with exit code 1).
    pub(super) fn end_ranks(&mut self, exit_code: u8, how: Command) {
        if std::mem::replace(&mut self.ended, true) || self.size() < 2 {
            return;
        }
        let mut silent = self.say_goodbye(&how);
        if silent.is_empty() {
            return;
        }
        silent.sort_unstable();
        let named: Vec<String> = silent.iter().map(|&r| format!("rank {r} ({})", self.ranks[r].host)).collect();
        eprintln!(
            "imgproc: {} {SILENT_RANKS} within {:.1} s: ending the job on every rank (exit {exit_code}); \
             the work that was reported done is written",
            named.join(", "),
            GOODBYE_WAIT.as_secs_f64()
        );
        // A silent rank may be frozen halfway through writing a copy whose item another rank
        // finished: nothing half-written stays behind.
        for dir in self.abandoned_dirs.borrow().iter() {
            if let Err(e) = crate::codec::remove_stale_temps(dir) {
                eprintln!("imgproc: {e:#}");
            }
        }
        self.world().abort(i32::from(exit_code))
    }

    /// Tells every worker `how` to end and waits up to [`GOODBYE_WAIT`] for their goodbyes;
    /// the workers that stayed silent.
    fn say_goodbye(&mut self, how: &Command) -> Vec<usize> {
        let deadline = Instant::now() + GOODBYE_WAIT;
        let mut silent = match self.settle_until(Some(deadline)) {
            Ok(owing) => owing,
            Err(e) => {
                eprintln!("imgproc: while shutting down: {e:#}");
                Vec::new()
            }
        };
        for rank in 1..self.size() {
            send_command(self.world(), rank, how);
        }
        let mut waiting: Vec<usize> = (1..self.size()).filter(|r| !silent.contains(r)).collect();
        let mut backoff = Backoff::new(BUSY_WAIT);
        while !waiting.is_empty() && Instant::now() < deadline {
            waiting
                .retain(|&r| !matches!(try_receive_json::<usize>(self.world(), Some(r as i32), TAG_BYE), Ok(Some(_))));
            backoff.pause();
        }
        silent.extend(waiting);
        silent
    }
}
