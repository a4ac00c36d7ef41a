//! How many OpenCV threads each rank uses, and making sure those threads can run.
//!
//! The default gives every host's cores to the ranks on it: `cores ÷ ranks on that host`, at
//! least one (rank 0 plans it from every rank's [`RankInfo`]). `--threads` overrides it.
//!
//! Why affinity is here: `mpirun` binds each rank to one core by default when it starts two ranks
//! or fewer (Open MPI's `--bind-to core`). OpenCV's threads then share that one core, and more
//! threads only add contention: one rank with 16 threads was slower than with 1. A rank that is
//! asked for more threads than its binding allows widens its own affinity to the host's cores.
//! No MPI in here: `master` and `worker` call it.

use crate::model::RankInfo;
use anyhow::{Context, Result};
use std::collections::HashMap;

/// Logical cores online on this host, whatever this process is bound to.
pub fn host_cores() -> usize {
    // SAFETY: sysconf has no preconditions.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if online > 0 {
        online as usize
    } else {
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    }
}

/// Cores this process may run on now (its affinity mask).
pub fn allowed_cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// OpenCV threads for each rank, in rank order: `threads` when given, else each host's cores
/// shared out evenly between the ranks on that host.
pub fn plan(ranks: &[RankInfo], threads: Option<usize>) -> Vec<usize> {
    let mut per_host: HashMap<&str, usize> = HashMap::new();
    for r in ranks {
        *per_host.entry(r.host.as_str()).or_default() += 1;
    }
    ranks.iter().map(|r| threads.unwrap_or_else(|| (r.cores / per_host[r.host.as_str()]).max(1)).max(1)).collect()
}

/// Makes this process use `n` OpenCV threads, widening its CPU affinity to every core of the host
/// when it is bound to fewer than `n` (see the module doc).
pub fn use_threads(n: usize) -> Result<()> {
    if n > allowed_cores() {
        unbind()?;
    }
    opencv::core::set_num_threads(n as i32).context("setting OpenCV's thread count")?;
    Ok(())
}

/// Lets this process and the threads it starts from now on run on every core of the host.
fn unbind() -> Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes inside it for indices below
    // CPU_SETSIZE; sched_setaffinity reads `size_of::<cpu_set_t>()` bytes of it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in 0..host_cores().min(libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error()).context("widening this rank's CPU affinity");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rank(rank: usize, host: &str, cores: usize) -> RankInfo {
        RankInfo { rank, host: host.into(), cores }
    }

    #[test]
    fn each_hosts_cores_are_shared_by_the_ranks_on_it() {
        let ranks = [rank(0, "a", 8), rank(1, "a", 8), rank(2, "b", 16), rank(3, "c", 4)];
        assert_eq!(plan(&ranks, None), vec![4, 4, 16, 4]);
    }

    #[test]
    fn more_ranks_than_cores_still_get_one_thread_each() {
        let ranks: Vec<_> = (0..5).map(|r| rank(r, "a", 2)).collect();
        assert_eq!(plan(&ranks, None), vec![1; 5]);
    }

    #[test]
    fn an_explicit_thread_count_wins_everywhere() {
        let ranks = [rank(0, "a", 8), rank(1, "b", 2)];
        assert_eq!(plan(&ranks, Some(3)), vec![3, 3]);
        assert_eq!(plan(&ranks, Some(0)), vec![1, 1], "at least one thread");
    }

    #[test]
    fn a_process_asked_for_more_threads_than_it_is_bound_to_is_unbound() {
        let host = host_cores();
        assert!(host >= 2, "this property needs a host with two cores or more");
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        unsafe { libc::CPU_SET(0, &mut one) };
        // Bind this test thread to one core, as mpirun would, then ask for two threads.
        assert_eq!(unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) }, 0);
        assert_eq!(allowed_cores(), 1);
        use_threads(2).unwrap();
        assert_eq!(allowed_cores(), host);
    }
}
